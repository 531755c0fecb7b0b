// SPDX-License-Identifier: MPL-2.0

//! Which inference worker serves a stream. A stream keeps its worker, where the model's memo
//! of its recent frames lives (a window that finds its frames there costs about 2 new frames
//! instead of 8). A new stream goes to the worker with the fewest streams, so that streams
//! that come and go (cameras of an NVR) leave no worker
//! crowded. Moving a stream to a worker that has fallen less behind was measured and not
//! kept: on fight footage each move cost a cold window and the moves added to the backlog
//! they were meant to relieve (`docs/decisions.md`).

use std::collections::HashMap;

/// The streams of one pool and their workers.
#[derive(Debug)]
pub struct Placement {
    workers: usize,
    bound: HashMap<u64, usize>,
}

impl Placement {
    pub fn new(workers: usize) -> Self {
        Placement {
            workers: workers.max(1),
            bound: HashMap::new(),
        }
    }

    /// The worker for `stream`'s next clip.
    pub fn choose(&mut self, stream: u64) -> usize {
        if let Some(&worker) = self.bound.get(&stream) {
            return worker;
        }
        let mut streams = vec![0usize; self.workers];
        for &w in self.bound.values() {
            streams[w] += 1;
        }
        let worker = (0..self.workers).min_by_key(|&w| streams[w]).unwrap_or(0);
        self.bound.insert(stream, worker);
        worker
    }

    /// Forgets a stream that stopped.
    pub fn release(&mut self, stream: u64) {
        self.bound.remove(&stream);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_streams_spread_over_workers_and_fill_the_gaps_of_stopped_ones() {
        let mut p = Placement::new(2);
        let workers: Vec<usize> = (0..4).map(|s| p.choose(s)).collect();
        assert_eq!(workers, vec![0, 1, 0, 1]);
        // Streams 0 and 2 (both on worker 0) stop: the next two streams go there, where a
        // stream number taken modulo the pool would have put one of them on worker 1.
        p.release(0);
        p.release(2);
        assert_eq!(p.choose(4), 0);
        assert_eq!(p.choose(5), 0);
        assert_eq!(p.choose(6), 0, "a tie goes to the first worker");
        assert_eq!(p.choose(7), 1);
    }

    #[test]
    fn a_stream_keeps_its_worker() {
        let mut p = Placement::new(2);
        assert_eq!(p.choose(1), 0);
        assert_eq!(p.choose(2), 1);
        p.release(2);
        assert_eq!(p.choose(1), 0, "even with the other worker empty");
        let mut single = Placement::new(1);
        assert_eq!(single.choose(3), 0);
        assert_eq!(single.choose(4), 0);
    }
}
