// SPDX-License-Identifier: MPL-2.0

//! Which inference worker serves a stream. A stream stays on its worker, where the model's
//! memo of its recent frames lives (a window that finds its frames there costs about 2 new
//! frames instead of 8). It moves only when its worker has fallen behind the least loaded
//! one by several clips: bursts of verified windows land unevenly, and on fight footage a
//! worker bound to the busy cameras held the others' clips past the alert budget while the
//! other worker had time to spare. A move costs the stream one cold window, so moves are
//! rationed, per stream and per pool.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Clips queued on a stream's worker beyond the least loaded worker's before it moves.
pub const MOVE_BACKLOG: usize = 3;
/// A stream that moved stays at least this long on its new worker.
pub const STREAM_COOLDOWN: Duration = Duration::from_secs(2);
/// At most one stream of a pool moves per this interval, so a backlog does not send every
/// stream of the busy worker over at once (which would only move the backlog).
pub const POOL_COOLDOWN: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy)]
struct Binding {
    worker: usize,
    moved_at: Option<Instant>,
}

/// The streams of one pool and their workers.
#[derive(Debug)]
pub struct Placement {
    workers: usize,
    bound: HashMap<u64, Binding>,
    last_move: Option<Instant>,
    moves: u64,
}

/// Where a stream's clip goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub worker: usize,
    /// The stream left another worker for this one (its next window starts cold).
    pub moved_from: Option<usize>,
}

impl Placement {
    pub fn new(workers: usize) -> Self {
        Placement {
            workers: workers.max(1),
            bound: HashMap::new(),
            last_move: None,
            moves: 0,
        }
    }

    /// The worker for `stream`'s next clip, given the clips queued on each worker (`queued`
    /// has one entry per worker). A new stream goes to the worker with the fewest streams
    /// (then the fewest queued clips).
    pub fn choose(&mut self, stream: u64, queued: &[usize], now: Instant) -> Choice {
        let least_loaded = least_by(self.workers, |w| (queued.get(w).copied().unwrap_or(0), 0));
        let Some(binding) = self.bound.get(&stream).copied() else {
            let mut streams = vec![0usize; self.workers];
            for b in self.bound.values() {
                streams[b.worker] += 1;
            }
            let worker = least_by(self.workers, |w| {
                (streams[w], queued.get(w).copied().unwrap_or(0))
            });
            self.bound.insert(
                stream,
                Binding {
                    worker,
                    moved_at: None,
                },
            );
            return Choice {
                worker,
                moved_from: None,
            };
        };
        let behind = queued.get(binding.worker).copied().unwrap_or(0);
        let best = queued.get(least_loaded).copied().unwrap_or(0);
        let rested = |since: Option<Instant>, cooldown| {
            since.is_none_or(|t| now.saturating_duration_since(t) >= cooldown)
        };
        if least_loaded != binding.worker
            && behind >= best + MOVE_BACKLOG
            && rested(binding.moved_at, STREAM_COOLDOWN)
            && rested(self.last_move, POOL_COOLDOWN)
        {
            self.bound.insert(
                stream,
                Binding {
                    worker: least_loaded,
                    moved_at: Some(now),
                },
            );
            self.last_move = Some(now);
            self.moves += 1;
            return Choice {
                worker: least_loaded,
                moved_from: Some(binding.worker),
            };
        }
        Choice {
            worker: binding.worker,
            moved_from: None,
        }
    }

    /// Forgets a stream that stopped.
    pub fn release(&mut self, stream: u64) {
        self.bound.remove(&stream);
    }

    /// Streams moved so far.
    pub fn moves(&self) -> u64 {
        self.moves
    }
}

/// The worker with the smallest key (the lowest index among equals).
fn least_by<K: Ord>(workers: usize, key: impl Fn(usize) -> K) -> usize {
    (0..workers).min_by_key(|&w| key(w)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_streams_spread_over_workers_and_fill_the_gaps_of_stopped_ones() {
        let now = Instant::now();
        let mut p = Placement::new(2);
        let idle = [0, 0];
        let workers: Vec<usize> = (0..4).map(|s| p.choose(s, &idle, now).worker).collect();
        assert_eq!(workers, vec![0, 1, 0, 1]);
        // Streams 0 and 2 (both on worker 0) stop: the next two streams go there, where a
        // stream number taken modulo the pool would have put one of them on worker 1.
        p.release(0);
        p.release(2);
        assert_eq!(p.choose(4, &idle, now).worker, 0);
        assert_eq!(p.choose(5, &idle, now).worker, 0);
        // Two streams each: the tie goes to the worker with fewer clips queued.
        assert_eq!(p.choose(6, &[5, 0], now).worker, 1);
        assert_eq!(p.choose(7, &[0, 5], now).worker, 0);
    }

    #[test]
    fn a_stream_keeps_its_worker_under_small_imbalance() {
        let now = Instant::now();
        let mut p = Placement::new(2);
        assert_eq!(p.choose(1, &[0, 0], now).worker, 0);
        for queued in [[1, 0], [2, 0], [MOVE_BACKLOG - 1, 0], [9, 8]] {
            let c = p.choose(1, &queued, now + Duration::from_secs(10));
            assert_eq!(
                c,
                Choice {
                    worker: 0,
                    moved_from: None
                },
                "{queued:?}"
            );
        }
        assert_eq!(p.moves(), 0);
    }

    #[test]
    fn a_stream_behind_moves_once_then_rests() {
        let t0 = Instant::now();
        let mut p = Placement::new(2);
        p.choose(1, &[0, 0], t0);
        let c = p.choose(1, &[MOVE_BACKLOG, 0], t0);
        assert_eq!(
            c,
            Choice {
                worker: 1,
                moved_from: Some(0)
            }
        );
        // Now worker 1 is behind, but the stream just moved: it stays.
        let soon = t0 + STREAM_COOLDOWN / 2;
        assert_eq!(p.choose(1, &[0, 9], soon).worker, 1);
        let later = t0 + STREAM_COOLDOWN;
        assert_eq!(p.choose(1, &[0, 9], later).moved_from, Some(1));
        assert_eq!(p.moves(), 2);
    }

    #[test]
    fn one_move_per_pool_interval_so_a_backlog_does_not_stampede() {
        let t0 = Instant::now();
        let mut p = Placement::new(2);
        for s in [0, 2, 4, 6] {
            // Streams 0, 2, 4, 6 on worker 0 (1, 3, 5 on worker 1).
            p.choose(s, &[0, 0], t0);
            p.choose(s + 1, &[0, 0], t0);
        }
        let busy = [8, 0];
        let moved: Vec<u64> = [0u64, 2, 4, 6]
            .into_iter()
            .filter(|&s| p.choose(s, &busy, t0).moved_from.is_some())
            .collect();
        assert_eq!(moved, vec![0]);
        let next = t0 + POOL_COOLDOWN;
        assert!(p.choose(2, &busy, next).moved_from.is_some());
        assert!(p.choose(4, &busy, next).moved_from.is_none());
    }

    #[test]
    fn a_single_worker_never_moves_anything() {
        let now = Instant::now();
        let mut p = Placement::new(1);
        p.choose(3, &[0], now);
        assert_eq!(p.choose(3, &[50], now + Duration::from_secs(60)).worker, 0);
        assert_eq!(p.moves(), 0);
    }
}
