// SPDX-License-Identifier: MPL-2.0

//! Row-band parallelism over planar f32 buffers on a small persistent worker pool.
//!
//! The pool's threads live as long as the solver, so a parallel pass costs a wake-up and a
//! join (a few microseconds) instead of a thread spawn (30-60 µs measured here), and
//! `compute()` does not allocate with any thread count.

use crate::MutexExt;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Below this many pixels per band, waking a worker costs more than it saves.
const MIN_PIXELS_PER_BAND: usize = 12_000;
/// Upper bound on bands (and threads): per-band slots live on the stack.
const MAX_BANDS: usize = 8;
/// Spin iterations before a waiting thread blocks on the condition variable. Passes follow
/// each other within microseconds, so a short spin usually avoids the futex round trip.
const SPIN_LIMIT: usize = 500;

/// A job as the workers see it: called with the band index.
type Job<'a> = dyn Fn(usize) + Sync + 'a;

struct State {
    job: Option<&'static Job<'static>>,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    start: Condvar,
    done: Condvar,
    /// Bumped for every posted job; workers compare it with the last one they ran.
    generation: AtomicU64,
    /// Workers still running the current job.
    pending: AtomicUsize,
    panicked: AtomicUsize,
    /// Workers that have finished starting up.
    started: AtomicUsize,
}

/// `threads - 1` parked helper threads; the calling thread is the remaining one.
pub(crate) struct Workers {
    threads: usize,
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

/// How a pass is split: the pool and the number of row bands (1 = run inline).
#[derive(Clone, Copy)]
pub(crate) struct Bands<'a> {
    pub pool: &'a Workers,
    pub count: usize,
}

impl Workers {
    pub fn new(threads: usize) -> Self {
        let threads = threads.clamp(1, MAX_BANDS);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                job: None,
                shutdown: false,
            }),
            start: Condvar::new(),
            done: Condvar::new(),
            generation: AtomicU64::new(0),
            pending: AtomicUsize::new(0),
            panicked: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
        });
        let handles = (1..threads)
            .map(|index| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("flow-worker-{index}"))
                    .spawn(move || worker_loop(&shared, index))
                    .expect("spawn flow worker")
            })
            .collect::<Vec<_>>();
        // Wait for the workers to be up, so whatever their start-up allocates happens here
        // rather than during the first frames.
        while shared.started.load(Ordering::Acquire) < handles.len() {
            std::thread::yield_now();
        }
        Self {
            threads,
            shared,
            handles,
        }
    }

    /// Number of row bands worth using for a `width` x `height` job.
    pub fn bands(&self, width: usize, height: usize) -> Bands<'_> {
        let by_size = (width * height / MIN_PIXELS_PER_BAND).max(1);
        Bands {
            pool: self,
            count: self.threads.min(by_size).min(height.max(1)),
        }
    }

    /// Runs `job(i)` for every thread index i (0 on the calling thread) and returns when all
    /// have finished. Jobs must ignore indices they have no work for.
    fn run(&self, job: &Job<'_>) {
        if self.handles.is_empty() {
            job(0);
            return;
        }
        let shared = &*self.shared;
        // SAFETY: the workers only dereference this reference between the post below and
        // the moment `pending` returns to zero, and `Join` (whose drop waits for exactly
        // that, also while unwinding) outlives every use, so the borrow is never used
        // after `job`'s lifetime ends. Without erasing the lifetime a persistent thread
        // cannot run borrowed work; scoped threads cost a spawn per pass (30-60 µs, about
        // 1.5 ms per Accurate frame) and allocate.
        let job: &'static Job<'static> =
            unsafe { std::mem::transmute::<&Job<'_>, &'static Job<'static>>(job) };
        {
            let mut state = shared.state.locked();
            state.job = Some(job);
            shared.pending.store(self.handles.len(), Ordering::SeqCst);
            shared.generation.fetch_add(1, Ordering::SeqCst);
        }
        shared.start.notify_all();
        let join = Join(shared);
        job(0);
        drop(join);
        if shared.panicked.swap(0, Ordering::SeqCst) != 0 {
            panic!("a flow worker thread panicked");
        }
    }
}

/// Waits for the workers to finish the current job when dropped.
struct Join<'a>(&'a Shared);

impl Drop for Join<'_> {
    fn drop(&mut self) {
        let shared = self.0;
        for _ in 0..SPIN_LIMIT {
            if shared.pending.load(Ordering::Acquire) == 0 {
                break;
            }
            std::hint::spin_loop();
        }
        let mut state = shared.state.locked();
        while shared.pending.load(Ordering::Acquire) != 0 {
            state = shared
                .done
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        state.job = None;
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shared.state.locked().shutdown = true;
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        self.shared.start.notify_all();
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

fn worker_loop(shared: &Shared, index: usize) {
    let mut seen = 0u64;
    shared.started.fetch_add(1, Ordering::Release);
    loop {
        for _ in 0..SPIN_LIMIT {
            if shared.generation.load(Ordering::Acquire) != seen {
                break;
            }
            std::hint::spin_loop();
        }
        let job = {
            let mut state = shared.state.locked();
            while shared.generation.load(Ordering::Acquire) == seen {
                state = shared
                    .start
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            seen = shared.generation.load(Ordering::Acquire);
            if state.shutdown {
                return;
            }
            state.job.expect("posted job")
        };
        if catch_unwind(AssertUnwindSafe(|| job(index))).is_err() {
            shared.panicked.fetch_add(1, Ordering::SeqCst);
        }
        if shared.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Take the lock so the notification cannot slip in between the main thread's
            // check of `pending` and its wait.
            drop(shared.state.locked());
            shared.done.notify_one();
        }
    }
}

/// Splits the rows of every output plane into `bands.count` contiguous bands and runs
/// `work(rows, band_slices)` for each band, one per thread. Each band slice starts at row
/// `rows.start` of its plane.
pub(crate) fn for_each_band<const N: usize, F>(
    bands: Bands,
    width: usize,
    height: usize,
    outputs: [&mut [f32]; N],
    work: F,
) where
    F: Fn(Range<usize>, [&mut [f32]; N]) + Sync,
{
    let plane_len = width * height;
    if bands.count <= 1 || height < 2 {
        work(0..height, outputs.map(|plane| &mut plane[..plane_len]));
        return;
    }
    let rows_per_band = height.div_ceil(bands.count.min(bands.pool.threads));
    let band_total = height.div_ceil(rows_per_band);
    let mut chunks = outputs.map(|plane| plane[..plane_len].chunks_mut(rows_per_band * width));
    let slots: [Mutex<Option<[&mut [f32]; N]>>; MAX_BANDS] = std::array::from_fn(|band| {
        Mutex::new(
            (band < band_total)
                .then(|| std::array::from_fn(|k| chunks[k].next().expect("one chunk per band"))),
        )
    });
    bands.pool.run(&|index: usize| {
        let Some(slot) = slots.get(index) else {
            return;
        };
        let slices = slot.locked().take();
        if let Some(slices) = slices {
            let start = index * rows_per_band;
            work(start..(start + rows_per_band).min(height), slices);
        }
    });
}

fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.locked().take()
}

/// Runs `a` and `b`, on two threads when `bands` allows it.
pub(crate) fn join<A: FnOnce() + Send, B: FnOnce() + Send>(bands: Bands, a: A, b: B) {
    if bands.count < 2 || bands.pool.threads < 2 {
        a();
        b();
        return;
    }
    let (a, b) = (Mutex::new(Some(a)), Mutex::new(Some(b)));
    bands.pool.run(&|index: usize| match index {
        0 => {
            if let Some(a) = take(&a) {
                a();
            }
        }
        1 => {
            if let Some(b) = take(&b) {
                b();
            }
        }
        _ => {}
    });
}

/// The rows each band covers, in the same split as `for_each_band`.
pub(crate) fn band_rows(bands: usize, height: usize) -> impl Iterator<Item = Range<usize>> {
    let rows_per_band = if bands <= 1 || height < 2 {
        height.max(1)
    } else {
        height.div_ceil(bands)
    };
    (0..height)
        .step_by(rows_per_band)
        .map(move |start| start..(start + rows_per_band).min(height))
}
