//! A small pool of parked threads that runs one job on every thread at once, for the matrix
//! kernels of one gradient (`--threads-per-chain`): the caller runs part 0 itself and waits for
//! the others, so a job may borrow from the caller's stack.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// A job: called once with each part index 0..threads.
type Job<'a> = &'a (dyn Fn(usize) + Sync);

/// What the caller and the workers share.
struct Shared {
    state: Mutex<State>,
    /// Wakes the workers when a job is posted or the pool closes.
    start: Condvar,
    /// Wakes the caller when the last worker finishes.
    done: Condvar,
}

/// The posted job and its progress.
struct State {
    /// Bumped for each job, so a worker runs each exactly once.
    generation: u64,
    /// The current job, its lifetime erased: valid until `remaining` reaches 0 (see `run`).
    job: Option<Job<'static>>,
    /// Workers still running the current job.
    remaining: usize,
    /// Set when a worker's part panicked.
    panicked: bool,
    /// Set when the pool is dropped.
    quit: bool,
}

/// `threads − 1` parked worker threads; [`Pool::run`] uses them and the calling thread.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Serializes jobs from callers that share the pool.
    running: Mutex<()>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pool({} threads)", self.threads())
    }
}

impl Pool {
    /// A pool running jobs on `threads` threads (the caller's and `threads − 1` workers).
    pub fn new(threads: usize) -> Pool {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                generation: 0,
                job: None,
                remaining: 0,
                panicked: false,
                quit: false,
            }),
            start: Condvar::new(),
            done: Condvar::new(),
        });
        let workers = (1..threads.max(1))
            .map(|part| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("bnnppl-gradient-{part}"))
                    .spawn(move || worker(&shared, part))
                    .expect("could not start a gradient thread")
            })
            .collect();
        Pool {
            shared,
            workers,
            running: Mutex::new(()),
        }
    }

    /// Number of parts a job is split into.
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Calls `job(part)` for every part 0..threads, part 0 on the calling thread, and returns
    /// when all have finished. A panic in any part is raised here.
    pub fn run(&self, job: &(dyn Fn(usize) + Sync)) {
        if self.workers.is_empty() {
            job(0);
            return;
        }
        let _one_at_a_time = self.running.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            // SAFETY: the reference is only used by workers between here and the moment
            // `remaining` is back to 0, which this function waits for before returning (even
            // when part 0 panics: the wait is in a guard's drop), so it never outlives `job`.
            st.job = Some(unsafe { std::mem::transmute::<Job<'_>, Job<'static>>(job) });
            st.generation += 1;
            st.remaining = self.workers.len();
            st.panicked = false;
        }
        self.shared.start.notify_all();
        let wait = WaitForWorkers(&self.shared);
        job(0);
        drop(wait);
        let panicked = self
            .shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .panicked;
        assert!(!panicked, "a gradient thread panicked");
    }
}

/// Waits until every worker has finished the current job, and clears it.
struct WaitForWorkers<'a>(&'a Shared);

impl Drop for WaitForWorkers<'_> {
    fn drop(&mut self) {
        let mut st = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        while st.remaining > 0 {
            st = self.0.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.job = None;
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .quit = true;
        self.shared.start.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// A worker's life: wait for a new job, run its part, report, until the pool closes.
fn worker(shared: &Shared, part: usize) {
    let mut seen = 0;
    loop {
        let job = {
            let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            while !st.quit && st.generation == seen {
                st = shared.start.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            if st.quit {
                return;
            }
            seen = st.generation;
            st.job
                .expect("internal: a job is posted with its generation")
        };
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(part))).is_ok();
        let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        st.panicked |= !ok;
        st.remaining -= 1;
        if st.remaining == 0 {
            shared.done.notify_all();
        }
    }
}

/// The part `part` of `0..n` split into `parts` contiguous ranges as even as possible (the
/// first `n % parts` one longer).
pub fn share(n: usize, parts: usize, part: usize) -> std::ops::Range<usize> {
    let parts = parts.max(1);
    let (base, extra) = (n / parts, n % parts);
    let start = part * base + part.min(extra);
    start..start + base + usize::from(part < extra)
}

/// A raw pointer to f64s that parts of one job write through, each to places no other part
/// touches while the job runs.
#[derive(Clone, Copy)]
pub struct Shared64(pub *mut f64);

// SAFETY: only used to hand disjoint ranges of one buffer to the parts of a job (each use says
// why its ranges are disjoint).
unsafe impl Send for Shared64 {}
// SAFETY: as above.
unsafe impl Sync for Shared64 {}

impl Shared64 {
    /// The f64s at `range` as a mutable slice.
    ///
    /// # Safety
    /// `range` lies inside the buffer, and no other live reference touches it.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, range: std::ops::Range<usize>) -> &mut [f64] {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(range.start), range.len()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_part_runs_once_per_job() {
        for threads in [1, 2, 3] {
            let pool = Pool::new(threads);
            assert_eq!(pool.threads(), threads);
            for _ in 0..50 {
                let hits: Vec<AtomicUsize> = (0..threads).map(|_| AtomicUsize::new(0)).collect();
                pool.run(&|part| {
                    hits[part].fetch_add(1, Ordering::SeqCst);
                });
                assert!(hits.iter().all(|h| h.load(Ordering::SeqCst) == 1));
            }
        }
    }

    #[test]
    fn a_panicking_part_is_raised_to_the_caller_and_the_pool_still_works() {
        let pool = Pool::new(2);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(&|part| assert!(part != 1, "part 1 fails"));
        }));
        assert!(r.is_err());
        let count = AtomicUsize::new(0);
        pool.run(&|_| {
            count.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn shares_cover_the_range_once_and_evenly() {
        for n in [0, 1, 7, 100, 101] {
            for parts in 1..5 {
                let ranges: Vec<_> = (0..parts).map(|p| share(n, parts, p)).collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[parts - 1].end, n);
                for w in ranges.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                    assert!(w[0].len() >= w[1].len() && w[0].len() <= w[1].len() + 1);
                }
            }
        }
    }
}
