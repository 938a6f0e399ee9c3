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

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
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
    /// How long jobs waited for a thread (see [`crate::metrics`]).
    pub wait_seconds: Histogram,
    /// Jobs refused because the queue was full.
    pub rejections: Counter,
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
                .spawn(move || {
                    // A burst of sign-ins takes the CPU that requests like `GET /users/me` leave
                    // idle instead of delaying them, and still gets all of it when nothing else runs.
                    crate::jobs::lower_thread_priority();
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // the pool was dropped
                        }
                    }
                })
                .expect("spawn hashing thread");
        }
        HashingPool {
            jobs: Mutex::new(tx),
            queued: Arc::new(AtomicUsize::new(0)),
            max_queued,
            wait_seconds: crate::metrics::latency_histogram(),
            rejections: Counter::default(),
        }
    }

    /// Jobs waiting for a thread now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Runs `f` on a hashing thread and waits for its result without blocking the executor.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            self.rejections.inc();
            return Err(ApiError::Overloaded { retry_after_secs: 1 });
        }
        let (tx, rx) = oneshot::channel();
        let queued = self.queued.clone();
        let (wait, enqueued) = (self.wait_seconds.clone(), std::time::Instant::now());
        let job: Job = Box::new(move || {
            queued.fetch_sub(1, Ordering::AcqRel);
            wait.observe(enqueued.elapsed().as_secs_f64());
            let _ = tx.send(f());
        });
        self.jobs.lock().map_err(ApiError::internal)?.send(job).map_err(ApiError::internal)?;
        rx.await.map_err(ApiError::internal)
    }
}

/// Keeps the process's memory near what it uses (call once, before other threads start).
///
/// glibc's malloc gives each thread that allocates a heap "arena" of its own (up to 8 per core) and,
/// after the first large block is freed, raises the size above which it uses mmap up to 32 MiB.
/// argon2id's 19 MiB block then lands in an arena, and the smaller allocations made around it keep
/// that arena from shrinking: under sign-in load four arenas held ~57 MiB each (290 MiB in all).
/// A fixed mmap threshold makes every block of 1 MiB or more its own mapping, returned to the
/// system when freed, and two arenas per core bound the rest.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        libc::mallopt(libc::M_ARENA_MAX, (2 * cores) as libc::c_int);
    }
}

/// Hands memory freed during start-up (building the OpenAPI document, migrations) back to the
/// system, so an idle server's resident size is what it keeps, not what it once used. The same goes
/// for the program's own code and constants: start-up runs much code once (the document alone
/// touches every schema's), and those clean, file-backed pages would otherwise stay mapped. They are
/// paged out of this process (`MADV_PAGEOUT`, Linux 5.4+; a no-op elsewhere) and come back on
/// demand, so what stays resident is what requests use.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
    #[cfg(target_os = "linux")]
    page_out_program_text();
}

#[cfg(target_os = "linux")]
fn page_out_program_text() {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else { return };
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return };
    for line in maps.lines() {
        // "start-end perms offset dev inode path": only read-only or executable mappings of the
        // program file itself (never writable data).
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else { continue };
        if perms.contains('w') || fields.nth(3).map(std::path::Path::new) != Some(exe.as_path()) {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else { continue };
        let (Ok(start), Ok(end)) = (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16)) else { continue };
        // SAFETY: MADV_PAGEOUT on a clean, file-backed, read-only mapping of our own executable
        // only drops resident pages; they are read back from the file on the next access.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT);
        }
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
