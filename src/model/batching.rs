// SPDX-License-Identifier: MPL-2.0

//! Which queued clips go into the next forward: round-robin over streams so that no stream
//! starves another, each stream's clips in their own order, all with the configuration of
//! the oldest clip, at most `max` of them.

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
    // Streams in order of their oldest clip; per stream, its compatible clips in order.
    let mut queues: Vec<(u64, Vec<usize>)> = Vec::new();
    for (i, job) in backlog.iter().enumerate() {
        if !compatible(oldest, job) {
            continue;
        }
        let stream = stream_of(job);
        match queues.iter_mut().find(|(s, _)| *s == stream) {
            Some((_, q)) => q.push(i),
            None => queues.push((stream, vec![i])),
        }
    }
    let mut picked = Vec::with_capacity(max);
    let mut round = 0;
    while picked.len() < max.max(1) {
        let before = picked.len();
        for (_, q) in &queues {
            if let Some(&i) = q.get(round) {
                if picked.len() < max.max(1) {
                    picked.push(i);
                }
            }
        }
        if picked.len() == before {
            break;
        }
        round += 1;
    }
    picked
}

/// How many clips compatible with the oldest are queued.
pub fn compatible_count<T>(backlog: &[T], compatible: impl Fn(&T, &T) -> bool) -> usize {
    backlog.first().map_or(0, |oldest| {
        backlog.iter().filter(|j| compatible(oldest, j)).count()
    })
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
    fn round_robin_keeps_each_stream_in_order() {
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
        assert_eq!(
            run(&backlog, 4),
            vec![(1, 0, 0), (2, 0, 0), (3, 0, 0), (1, 0, 1)]
        );
        assert_eq!(run(&backlog, 100).len(), 7);
        let all = run(&backlog, 100);
        for s in 1..=3 {
            let seq: Vec<u32> = all.iter().filter(|j| j.0 == s).map(|j| j.2).collect();
            assert!(
                seq.windows(2).all(|w| w[0] < w[1]),
                "stream {s} in order: {seq:?}"
            );
        }
    }

    #[test]
    fn only_the_oldest_configuration_and_at_least_one() {
        let backlog = [(1, 7, 0), (2, 9, 0), (3, 7, 0)];
        assert_eq!(run(&backlog, 8), vec![(1, 7, 0), (3, 7, 0)]);
        assert_eq!(run(&backlog, 0), vec![(1, 7, 0)]);
        assert_eq!(compatible_count(&backlog, |a, b| a.1 == b.1), 2);
        assert!(run(&[], 4).is_empty());
    }
}
