//! Background jobs: registered by the domains that own them, started with the server and stopped
//! when it shuts down — after one last run for jobs that flush what memory holds ([`Jobs::every`]),
//! without one for jobs whose work is durable and waits for the next start ([`Jobs::every_until_stop`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

type Tick = Box<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

#[derive(Default)]
pub struct Jobs {
    running: Mutex<Vec<(&'static str, JoinHandle<()>)>>,
    stop: Mutex<Option<watch::Sender<bool>>>,
    stopping: AtomicBool,
}

impl Jobs {
    /// Runs `tick` every `every` until shutdown, and once more after shutdown was requested.
    /// `tick` logs its own failures; a failed run is simply tried again at the next tick.
    pub fn every<F, Fut>(&self, name: &'static str, every: Duration, tick: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spawn(name, every, true, tick)
    }

    /// Runs `tick` every `every` until shutdown, with no last run: for work that is durable and
    /// resumes at the next start. A running tick should check [`Jobs::is_stopping`] between items.
    pub fn every_until_stop<F, Fut>(&self, name: &'static str, every: Duration, tick: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spawn(name, every, false, tick)
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    fn spawn<F, Fut>(&self, name: &'static str, every: Duration, final_run: bool, tick: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let tick: Tick = Box::new(move || Box::pin(tick()));
        let mut stop_rx = {
            let mut stop = self.stop.lock().expect("jobs lock");
            stop.get_or_insert_with(|| watch::channel(false).0).subscribe()
        };
        let handle = tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = interval.tick() => tick().await,
                    _ = stop_rx.changed() => break,
                }
            }
            if final_run {
                tick().await;
            }
        });
        self.running.lock().expect("jobs lock").push((name, handle));
    }

    /// Asks every job to stop, and waits for each one's last run.
    pub async fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        if let Some(stop) = self.stop.lock().expect("jobs lock").take() {
            let _ = stop.send(true);
        }
        let running = std::mem::take(&mut *self.running.lock().expect("jobs lock"));
        for (name, handle) in running {
            if let Err(e) = handle.await {
                tracing::warn!(job = name, error = %e, "background job ended abnormally");
            }
        }
    }
}

/// Lowers the calling thread's scheduling priority (nice 10; Linux schedules threads individually),
/// so background and bulk CPU work yields to request handling. Best effort; elsewhere a no-op.
pub fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its integer arguments; `gettid` names the calling thread.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}
