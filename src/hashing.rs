//! A fixed pool of password-hashing threads, one per core, with a bounded queue.
//!
//! argon2id needs 19 MiB per hash. Run on tokio's blocking pool, every one of its (many) threads
//! would end up holding such a buffer in its own allocator arena, so the process would grow by
//! ~19 MiB per thread that ever hashed. A small dedicated pool bounds both the memory and the
//! parallelism (more parallel hashes than cores only adds latency). Sign-ins are unauthenticated
//! input, so the queue in front of the pool is bounded too: past `max_queued` waiting jobs a request
//! is shed with `503` + `Retry-After` instead of waiting behind minutes of work.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::error::{ApiError, ApiResult};

type Job = Box<dyn FnOnce() + Send>;

/// Jobs allowed to wait per hashing thread: 2.5–5 s of argon2id work at 20–40 ms per hash, enough
/// for bursts, too little to let a flood of sign-ins queue for minutes.
pub const QUEUED_PER_THREAD: usize = 128;

pub struct HashingPool {
    jobs: Mutex<mpsc::Sender<Job>>,
    queued: Arc<AtomicUsize>,
    max_queued: usize,
}

impl HashingPool {
    pub fn new(threads: usize) -> Self {
        Self::with_queue(threads, threads.max(1) * QUEUED_PER_THREAD)
    }

    pub fn with_queue(threads: usize, max_queued: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("stackd-hash-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // the pool was dropped
                    }
                })
                .expect("spawn hashing thread");
        }
        HashingPool { jobs: Mutex::new(tx), queued: Arc::new(AtomicUsize::new(0)), max_queued }
    }

    /// Runs `f` on a hashing thread and waits for its result without blocking the executor.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::Overloaded { retry_after_secs: 1 });
        }
        let (tx, rx) = oneshot::channel();
        let queued = self.queued.clone();
        let job: Job = Box::new(move || {
            queued.fetch_sub(1, Ordering::AcqRel);
            let _ = tx.send(f());
        });
        self.jobs.lock().map_err(ApiError::internal)?.send(job).map_err(ApiError::internal)?;
        rx.await.map_err(ApiError::internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_sheds_instead_of_growing() {
        let pool = Arc::new(HashingPool::with_queue(1, 2));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        // One job occupies the thread…
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let busy = {
            let (pool, gate) = (pool.clone(), gate.clone());
            tokio::spawn(async move {
                pool.run(move || {
                    started_tx.send(()).unwrap();
                    gate.lock().unwrap().recv().unwrap()
                })
                .await
            })
        };
        tokio::task::spawn_blocking(move || started.recv().unwrap()).await.unwrap();
        // …two may wait…
        let waiting: Vec<_> = (0..2)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.run(move || i).await })
            })
            .collect();
        while pool.queued.load(Ordering::Acquire) != 2 {
            tokio::task::yield_now().await;
        }
        // …and the next one is shed with 503.
        assert!(matches!(pool.run(|| 9).await, Err(ApiError::Overloaded { retry_after_secs: 1 })));
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        for w in waiting {
            w.await.unwrap().unwrap();
        }
        assert_eq!(pool.run(|| 7).await.unwrap(), 7, "space again once the queue drained");
    }
}
