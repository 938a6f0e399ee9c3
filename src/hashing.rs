//! A fixed pool of password-hashing threads, one per core.
//!
//! argon2id needs 19 MiB per hash. Run on tokio's blocking pool, every one of its (many) threads
//! would end up holding such a buffer in its own allocator arena, so the process would grow by
//! ~19 MiB per thread that ever hashed. A small dedicated pool bounds both the memory and the
//! parallelism (more parallel hashes than cores only adds latency).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::error::{ApiError, ApiResult};

type Job = Box<dyn FnOnce() + Send>;

pub struct HashingPool {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl HashingPool {
    pub fn new(threads: usize) -> Self {
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
        HashingPool { jobs: Mutex::new(tx) }
    }

    /// Runs `f` on a hashing thread and waits for its result without blocking the executor.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.jobs.lock().map_err(ApiError::internal)?.send(job).map_err(ApiError::internal)?;
        rx.await.map_err(ApiError::internal)
    }
}
