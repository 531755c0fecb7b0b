// SPDX-License-Identifier: MPL-2.0

//! Which queued clips go into the next forward: the oldest clip of each stream, streams in
//! the order of their oldest clip, all with the configuration of the oldest clip, at most
//! `max` of them. A stream's next clip waits for the next forward: consecutive windows share
//! most of their frames, and a model that memoizes per-frame work (the default cascade)
//! finds them only once the previous window's forward has stored them. In one batch both
//! windows would encode the shared frames, and a backlog would grow on itself.

/// Indices into `backlog` (arrival order) of the next batch, in the order to forward them.
pub fn pick<T>(
    backlog: &[T],
    stream_of: impl Fn(&T) -> u64,
    compatible: impl Fn(&T, &T) -> bool,
    max: usize,
) -> Vec<usize> {
    let Some(oldest) = backlog.first() else {
        return Vec::new();
    };
    let mut picked: Vec<usize> = Vec::with_capacity(max.clamp(1, backlog.len()));
    for (i, job) in backlog.iter().enumerate() {
        if picked.len() == max.max(1) {
            break;
        }
        let stream = stream_of(job);
        if compatible(oldest, job) && !picked.iter().any(|&p| stream_of(&backlog[p]) == stream) {
            picked.push(i);
        }
    }
    picked
}

/// How many clips the next batch would hold now (compatible with the oldest, one per
/// stream).
pub fn batch_size_now<T>(
    backlog: &[T],
    stream_of: impl Fn(&T) -> u64,
    compatible: impl Fn(&T, &T) -> bool,
) -> usize {
    pick(backlog, stream_of, compatible, usize::MAX).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (stream, config, sequence)
    type Job = (u64, u8, u32);

    fn run(backlog: &[Job], max: usize) -> Vec<Job> {
        pick(backlog, |j| j.0, |a, b| a.1 == b.1, max)
            .into_iter()
            .map(|i| backlog[i])
            .collect()
    }

    #[test]
    fn one_clip_per_stream_oldest_streams_first() {
        // Stream 1 flooded the queue before streams 2 and 3 got one clip in each.
        let backlog = [
            (1, 0, 0),
            (1, 0, 1),
            (1, 0, 2),
            (1, 0, 3),
            (2, 0, 0),
            (3, 0, 0),
            (2, 0, 1),
        ];
        assert_eq!(run(&backlog, 8), vec![(1, 0, 0), (2, 0, 0), (3, 0, 0)]);
        assert_eq!(run(&backlog, 2), vec![(1, 0, 0), (2, 0, 0)]);
        assert_eq!(batch_size_now(&backlog, |j| j.0, |a, b| a.1 == b.1), 3);
    }

    #[test]
    fn draining_keeps_each_stream_in_order_and_never_batches_a_stream_twice() {
        let mut backlog: Vec<Job> = vec![
            (1, 0, 0),
            (1, 0, 1),
            (2, 0, 0),
            (1, 0, 2),
            (3, 0, 0),
            (2, 0, 1),
            (3, 0, 1),
        ];
        let mut served: Vec<Job> = Vec::new();
        while !backlog.is_empty() {
            let picked = pick(&backlog, |j| j.0, |a, b| a.1 == b.1, 8);
            let batch: Vec<Job> = picked.iter().map(|&i| backlog[i]).collect();
            for s in 1..=3 {
                assert!(batch.iter().filter(|j| j.0 == s).count() <= 1, "{batch:?}");
            }
            served.extend(&batch);
            backlog = (0..backlog.len())
                .filter(|i| !picked.contains(i))
                .map(|i| backlog[i])
                .collect();
        }
        assert_eq!(served.len(), 7);
        for s in 1..=3 {
            let seq: Vec<u32> = served.iter().filter(|j| j.0 == s).map(|j| j.2).collect();
            assert!(seq.windows(2).all(|w| w[0] < w[1]), "stream {s}: {seq:?}");
        }
    }

    #[test]
    fn only_the_oldest_configuration_and_at_least_one() {
        let backlog = [(1, 7, 0), (2, 9, 0), (3, 7, 0)];
        assert_eq!(run(&backlog, 8), vec![(1, 7, 0), (3, 7, 0)]);
        assert_eq!(run(&backlog, 0), vec![(1, 7, 0)]);
        assert_eq!(batch_size_now(&backlog, |j| j.0, |a, b| a.1 == b.1), 2);
        assert!(run(&[], 4).is_empty());
    }
}
