//! Starting and stopping the HTTP server.

use std::net::SocketAddr;
use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpListener};
use tokio::sync::oneshot;

use crate::config::Config;
use crate::db::Db;
use crate::projects::{self, INTERNAL_PROJECT_ID};
use crate::state::{AppState, State};

/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub struct RunningServer {
    pub addr: SocketAddr,
    pub base_url: String,
    pub state: State,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    flusher: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting connections, lets in-flight requests finish, then closes the database.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        self.close().await;
    }

    /// Waits until the server stops by itself (after SIGTERM / Ctrl-C).
    pub async fn wait(mut self) -> std::io::Result<()> {
        let result = (&mut self.task).await.unwrap_or(Ok(()));
        self.close().await;
        result
    }

    /// Writes what is still buffered, then checkpoints and closes the database.
    async fn close(&mut self) {
        self.flusher.abort();
        if let Err(e) = self.state.activity.flush(&self.state.db).await {
            tracing::warn!(error = %e, "could not write the last activity timestamps");
        }
        self.state.db.close();
    }
}

/// Opens the database (migrating it), seeds development data, binds and starts serving.
/// `shutdown_on_signal` makes SIGTERM / Ctrl-C stop the server gracefully.
pub async fn start(config: Config, shutdown_on_signal: bool) -> Result<RunningServer, String> {
    let db = Db::open(&config.db_path, config.synchronous_full)?;
    let created_internal = if config.dev {
        projects::ensure_dev_internal_project(&db).map_err(|e| format!("cannot create the development project: {e}"))?
    } else {
        false
    };
    let acceptor = TcpListener::bind(config.listen)
        .into_acceptor()
        .await
        .map_err(|e| format!("cannot listen on {} (--listen / STACKD_LISTEN): {e}", config.listen))?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .ok_or("cannot determine the listening address")?;
    let base_url = config.base_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let dev = config.dev;
    let state = AppState::new(config, db, &base_url);
    if dev {
        print_dev_banner(&base_url, created_internal);
    }
    tracing::info!(%addr, %base_url, "stackd listening");

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let app = crate::api::app(&state);
    let task = tokio::spawn(async move {
        let signal = async move {
            if shutdown_on_signal {
                tokio::select! {
                    _ = stop_rx => {}
                    _ = shutdown_signal() => {}
                }
            } else {
                let _ = stop_rx.await;
            }
            tracing::info!("shutting down: no new connections, finishing in-flight requests");
        };
        poem::Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(app, signal, Some(SHUTDOWN_GRACE)).await
    });
    let flusher = tokio::spawn(flush_activity_every_second(state.clone()));
    Ok(RunningServer { addr, base_url, state, stop: Some(stop_tx), task, flusher })
}

async fn flush_activity_every_second(state: State) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if let Err(e) = state.activity.flush(&state.db).await {
            tracing::warn!(error = %e, "could not write activity timestamps; will retry");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn print_dev_banner(base_url: &str, created: bool) {
    println!(
        "\nstackd development mode ({})\n\
         \n  Base URL (SDK baseUrl):     {base_url}\
         \n  Project id:                 {INTERNAL_PROJECT_ID}\
         \n  Publishable client key:     {}\
         \n  Secret server key:          {}\
         \n  Super secret admin key:     {}\
         \n\n  These keys and the development server secret are public: never use --dev in production.\n",
        if created { "created project `internal`" } else { "project `internal` already existed" },
        projects::DEV_PUBLISHABLE_CLIENT_KEY,
        projects::DEV_SECRET_SERVER_KEY,
        projects::DEV_SUPER_SECRET_ADMIN_KEY,
    );
}
