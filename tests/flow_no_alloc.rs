// SPDX-License-Identifier: MPL-2.0

//! compute() must not touch the heap once the solver exists, with one thread or with the
//! persistent worker pool.

use gstviolence::opticalflow::{FlowSolver, Preset};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts allocations.
// (A global allocator cannot be written without `unsafe`.)
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn frames(width: usize, height: usize) -> (Vec<u8>, Vec<u8>) {
    let texture = |x: usize, y: usize| {
        let (x, y) = (x as f32, y as f32);
        (128.0 + 50.0 * (0.31 * x + 0.17 * y).sin() + 40.0 * (0.11 * x - 0.23 * y).cos()) as u8
    };
    let prev = (0..width * height)
        .map(|i| texture(i % width, i / width))
        .collect();
    let cur = (0..width * height)
        .map(|i| texture((i % width) + 2, i / width + 1))
        .collect();
    (prev, cur)
}

// One test only: the counter is process-wide, so concurrent tests would pollute it.
#[test]
fn compute_does_not_allocate_after_the_first_call() {
    let (width, height) = (320, 180);
    let (prev, cur) = frames(width, height);
    let mut u = vec![0.0f32; width * height];
    let mut v = vec![0.0f32; width * height];
    for (preset, threads) in [
        (Preset::Fast, 1),
        (Preset::Accurate, 1),
        (Preset::Fast, 2),
        (Preset::Accurate, 2),
    ] {
        let mut solver = FlowSolver::new(width, height, preset, threads);
        solver.compute(&prev, width, &cur, width, &mut u, &mut v);
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..3 {
            solver.compute(&prev, width, &cur, width, &mut u, &mut v);
        }
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        assert_eq!(
            allocations, 0,
            "{preset:?} with {threads} threads: compute() allocated {allocations} times"
        );
    }
}
