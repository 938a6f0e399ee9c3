//! Starting and stopping the HTTP server.
//!
//! The accept loop is our own (hyper's HTTP/1 connection driver under the poem app) for two
//! guarantees poem's built-in server does not give: a client must send a request's headers within
//! `--header-read-timeout` (which also closes idle keep-alive connections), so half-sent requests
//! cannot pile up; and at shutdown, connections already accepted, or waiting in the kernel's
//! accept queue, still get their request answered instead of a reset.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use poem::endpoint::BoxEndpoint;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, EndpointExt, Response};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use crate::api::Services;
use crate::config::Config;
use crate::db::{self, Db};
use crate::infra::Infra;
use crate::projects::{self, service::ensure_dev_internal_project, INTERNAL_PROJECT_ID};

/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// A connection younger than this that has not been answered yet is given until then to send
/// its request after a shutdown signal (its client sent it right after connecting).
const FRESH_CONNECTION_GRACE: Duration = Duration::from_secs(2);

type App = Arc<BoxEndpoint<'static, Response>>;
type HyperBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

pub struct RunningServer {
    pub addr: SocketAddr,
    pub base_url: String,
    pub services: Arc<Services>,
    pub db: Db,
    /// Where the development mailbox's Inbucket API listens (`--dev-mailbox-listen`).
    pub mailbox_addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    stop_mailbox: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
    _lock: Option<db::FileLock>,
}

impl RunningServer {
    /// The database file this server runs on.
    pub fn db_path(&self) -> std::path::PathBuf {
        self.services.infra.config.db_path.clone()
    }

    /// Stops accepting connections, lets in-flight requests finish, then closes the database.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        self.close().await;
    }

    /// Waits until the server stops by itself (after SIGTERM / Ctrl-C).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
        self.close().await;
    }

    /// Runs the background jobs' last round (e.g. buffered activity), then checkpoints the database.
    async fn close(&mut self) {
        self.stop_mailbox.notify_one();
        self.services.infra.jobs.stop().await;
        self.db.close();
    }
}

/// Opens (and locks, and migrates) the database, seeds development data, binds and starts serving.
/// `shutdown_on_signal` makes SIGTERM / Ctrl-C stop the server gracefully.
pub async fn start(config: Config, shutdown_on_signal: bool) -> Result<RunningServer, String> {
    let lock = db::lock_database(&config.db_path)?;
    // Bound first: while the database is opened and migrated, `/health/live` answers and
    // `/health/ready` (and everything else) says 503, so orchestrators can tell "starting" from "dead".
    let listener = Arc::new(
        TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {} (--listen / STACKD_LISTEN): {e}", config.listen))?,
    );
    let addr = listener.local_addr().map_err(|e| format!("cannot determine the listening address: {e}"))?;
    tracing::info!(%addr, "starting: opening and migrating the database (ready once done)");
    let (stop_starting, starting_stopped) = oneshot::channel::<()>();
    let starting = tokio::spawn(serve(
        listener.clone(),
        starting_app(),
        config.header_read_timeout,
        config.max_connections,
        async move {
            let _ = starting_stopped.await;
        },
    ));
    let opened = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || open_database(&config))
            .await
            .map_err(|e| format!("cannot open the database: {e}"))
    };
    let _ = stop_starting.send(());
    let _ = starting.await;
    let (database, created_internal) = opened??;
    let base_url = config.base_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    if config.base_url.is_none() && addr.ip().is_unspecified() {
        tracing::warn!(
            %base_url,
            "listening on all interfaces without --base-url (STACKD_BASE_URL): token issuers will name {base_url}, \
             which clients cannot reach; set the public URL of this server"
        );
    }
    let (dev, header_timeout, jobs) = (config.dev, config.header_read_timeout, config.background_jobs);
    let max_connections = config.max_connections;
    let mailbox_listen = config.mail.dev_mailbox_listen;
    let infra = Infra::new(config, database.clone(), &base_url);
    let services = Services::new(infra);
    let stop_mailbox = Arc::new(tokio::sync::Notify::new());
    let mailbox_addr = match mailbox_listen {
        Some(listen) => {
            let stop = stop_mailbox.clone();
            let addr = crate::emails::mailbox::serve_inbucket(listen, services.emails.clone(), async move {
                stop.notified().await
            })
            .await
            .map_err(|e| {
                format!("cannot listen on {listen} (--dev-mailbox-listen / STACKD_DEV_MAILBOX_LISTEN): {e}")
            })?;
            Some(addr)
        }
        None => None,
    };
    if !dev && services.emails.uses_dev_mailbox() {
        tracing::warn!(
            "no SMTP server (--smtp-url / STACKD_SMTP_URL): e-mails of projects on the shared e-mail config are kept \
             in the development mailbox and not delivered"
        );
    }
    if dev {
        print_dev_banner(
            &base_url,
            created_internal,
            services.emails.uses_dev_mailbox(),
            mailbox_addr,
            services.infra.config.dashboard,
        );
    } else if services.projects.count().map_err(|e| format!("cannot read the database: {e}"))? == 0 {
        tracing::warn!(
            "the database has no project yet: create one with `stackd project create --name \"My app\" --db <this database>` \
             (it prints the project id and keys)"
        );
    }
    tracing::info!(%addr, %base_url, "stackd listening");
    if services.infra.config.dashboard {
        tracing::info!("admin dashboard at {base_url}/dashboard (sign in as a user of the internal project; --dashboard off turns it off)");
    }

    if jobs {
        services.start_jobs();
        if let Some(schedule) = services.infra.config.backups.clone() {
            let db_path = services.infra.config.db_path.clone();
            services.infra.jobs.every_until_stop("scheduled-backup", schedule.every, move || {
                let (db_path, schedule) = (db_path.clone(), schedule.clone());
                async move {
                    match tokio::task::spawn_blocking(move || crate::backup::scheduled(&db_path, &schedule)).await {
                        Ok(Ok(file)) => tracing::info!(file = %file.display(), "scheduled backup taken"),
                        Ok(Err(e)) => tracing::error!(error = %e, "scheduled backup failed"),
                        Err(e) => tracing::error!(error = %e, "scheduled backup failed"),
                    }
                }
            });
        }
    }
    let app: App = Arc::new(crate::api::app(&services).map_to_response().boxed());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
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
        serve(listener, app, header_timeout, max_connections, signal).await;
    });
    Ok(RunningServer {
        addr,
        base_url,
        db: services.infra.db.clone(),
        services,
        mailbox_addr,
        stop: Some(stop_tx),
        stop_mailbox,
        task,
        _lock: lock,
    })
}

/// Opens (migrating) the database, seeds the development project and applies `--config`.
fn open_database(config: &Config) -> Result<(Db, bool), String> {
    let database = Db::open_limited(&config.db_path, config.synchronous_full, config.max_db_bytes)?;
    let created_internal = if config.dev {
        ensure_dev_internal_project(&database).map_err(|e| format!("cannot create the development project: {e}"))?
    } else {
        false
    };
    if let Some(file) = &config.project_config_file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read the project configuration {} (--config): {e}", file.display()))?;
        let (project, changes) = projects::apply::apply(&database, &text)
            .map_err(|e| format!("cannot apply the project configuration {} (--config): {e}", file.display()))?;
        for c in &changes {
            tracing::info!(project = %project, setting = %c.path, before = %c.before, after = %c.after, "configuration changed");
        }
        tracing::info!(project = %project, changes = changes.len(), file = %file.display(), "project configuration applied");
    }
    Ok((database, created_internal))
}

/// What answers while the database is being opened: alive, not ready. Connections are closed
/// after each answer, so no client keeps one that the real server will not serve.
fn starting_app() -> App {
    let app = poem::endpoint::make_sync(|req: poem::Request| {
        let builder = poem::Response::builder().header("connection", "close");
        if req.uri().path() == "/health/live" {
            return builder.content_type("application/json; charset=utf-8").body(r#"{"status":"ok"}"#);
        }
        builder
            .status(poem::http::StatusCode::SERVICE_UNAVAILABLE)
            .header("retry-after", "1")
            .content_type("application/json; charset=utf-8")
            .body(r#"{"status":"starting","message":"The server is opening its database. Try again shortly."}"#)
    });
    Arc::new(app.map_to_response().boxed())
}

/// What a connection past `--max-connections` gets before it is closed.
const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
content-type: application/json; charset=utf-8\r\ncontent-length: 69\r\nconnection: close\r\n\r\n\
{\"message\":\"The server has too many connections. Try again shortly.\"}";

async fn serve(
    listener: Arc<TcpListener>,
    app: App,
    header_timeout: Duration,
    max_connections: usize,
    signal: impl std::future::Future<Output = ()>,
) {
    let local = listener.local_addr().ok();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let spawn = |connections: &mut JoinSet<()>, stream: TcpStream, peer: SocketAddr| {
        if connections.len() >= max_connections {
            // Each open connection holds buffers: past the bound, a short 503 and close, written
            // by a task that lives at most a second.
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut stream = stream;
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    stream.write_all(TOO_MANY_CONNECTIONS).await?;
                    stream.shutdown().await?;
                    // Read what the client already sent before closing: closing with unread data
                    // makes the kernel reset the connection, and the client may lose the answer.
                    let mut sink = [0u8; 4096];
                    let mut drained = 0;
                    while drained < 64 * 1024 {
                        match stream.read(&mut sink).await? {
                            0 => break,
                            n => drained += n,
                        }
                    }
                    Ok::<_, std::io::Error>(())
                })
                .await;
            });
            return;
        }
        let conn = serve_connection(stream, peer, local, app.clone(), header_timeout, shutdown_rx.clone());
        connections.spawn(conn);
    };
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => spawn(&mut connections, stream, peer),
                // Out of file descriptors and the like: wait a little instead of spinning.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // Connections the kernel completed before the signal are accepted and answered too.
    while let Ok(Ok((stream, peer))) = tokio::time::timeout(Duration::ZERO, listener.accept()).await {
        spawn(&mut connections, stream, peer);
    }
    let _ = shutdown_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE + FRESH_CONNECTION_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(open = connections.len(), "closing connections still busy after the shutdown grace period");
        connections.shutdown().await;
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    app: App,
    header_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let accepted_at = Instant::now();
    let answered = Arc::new(AtomicBool::new(false));
    let local_addr = LocalAddr(local.map(Addr::SocketAddr).unwrap_or(Addr::Custom("tcp", "".into())));
    let remote_addr = RemoteAddr(Addr::SocketAddr(peer));
    let service = {
        let answered = answered.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let (app, local_addr, remote_addr) = (app.clone(), local_addr.clone(), remote_addr.clone());
            let answered = answered.clone();
            async move {
                let req = poem::Request::from((req, local_addr, remote_addr, poem::http::uri::Scheme::HTTP));
                let resp: hyper::Response<HyperBody> = app.get_response(req).await.into();
                answered.store(true, Ordering::Relaxed);
                Ok::<_, Infallible>(resp)
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
    // Accepted just before the signal and not answered yet: its request may still be on its way.
    // Keep serving it until it has been answered once, or the grace period is over.
    while !answered.load(Ordering::Relaxed) && accepted_at.elapsed() < FRESH_CONNECTION_GRACE {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
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

fn print_dev_banner(
    base_url: &str,
    created: bool,
    dev_mailbox: bool,
    mailbox_addr: Option<SocketAddr>,
    dashboard: bool,
) {
    let dashboard = if dashboard {
        format!("  Dashboard:                  {base_url}/dashboard (sign up there as a user of `internal`)")
    } else {
        "  Dashboard:                  off (--dashboard off)".to_string()
    };
    let mail = match (dev_mailbox, mailbox_addr) {
        (false, _) => "  E-mail:                     sent through STACKD_SMTP_URL".to_string(),
        (true, None) => "  E-mail:                     development mailbox (GET /api/v1/internal/dev-mailbox, admin key; links are logged)".to_string(),
        (true, Some(a)) => format!("  E-mail:                     development mailbox, Inbucket API at http://{a}/api/v1/mailbox/<name>"),
    };
    println!(
        "\nstackd development mode ({})\n\
         \n  Base URL (SDK baseUrl):     {base_url}\
         \n  Project id:                 {INTERNAL_PROJECT_ID}\
         \n  Publishable client key:     {}\
         \n  Secret server key:          {}\
         \n  Super secret admin key:     {}\
         \n{mail}\
         \n{dashboard}\
         \n  OAuth:                      GitHub, Google, Microsoft, Spotify sign in through the development\
         \n                              provider at {base_url}/dev-oauth (type any e-mail on its page)\
         \n\n  These keys and the development server secret are public: never use --dev in production.\n",
        if created { "created project `internal`" } else { "project `internal` already existed" },
        projects::DEV_PUBLISHABLE_CLIENT_KEY,
        projects::DEV_SECRET_SERVER_KEY,
        projects::DEV_SUPER_SECRET_ADMIN_KEY,
    );
}
