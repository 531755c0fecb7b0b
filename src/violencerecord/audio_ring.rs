// SPDX-License-Identifier: MPL-2.0

//! The encoded audio beside the video of `violencerecord`: held by running time while the
//! video ring holds the frames a file may start from, and written to a file up to where
//! its video is, so that both tracks share the file's pre-roll and post-roll.

use std::collections::VecDeque;

/// Audio older than the oldest video frame by more than this is dropped.
const MARGIN: u64 = 1_000_000_000;
/// Bound on what is held when no video bounds it (video not started, or stalled).
pub const MAX_SPAN: u64 = 60_000_000_000;

/// Encoded audio buffers by running time (ns), in arrival order.
#[derive(Debug)]
pub struct AudioRing<B> {
    held: VecDeque<(u64, B)>,
}

impl<B> Default for AudioRing<B> {
    fn default() -> Self {
        AudioRing {
            held: VecDeque::new(),
        }
    }
}

impl<B: Clone> AudioRing<B> {
    pub fn push(&mut self, rt: u64, buffer: B) {
        self.held.push_back((rt, buffer));
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// What a file still needs: buffers after `sent` (the last written, if any) and before
    /// `upto` (where the file's video is), oldest first.
    pub fn pending(&self, sent: Option<u64>, upto: u64) -> Vec<(u64, B)> {
        self.held
            .iter()
            .filter(|(rt, _)| sent.is_none_or(|s| *rt > s) && *rt < upto)
            .cloned()
            .collect()
    }

    /// Drops what no file can take any more: older than the oldest video frame held (less
    /// a margin), and already written to the open file if there is one (`sent`: `None`
    /// for no file, `Some(None)` for an open file that has had none). Bounded by
    /// [`MAX_SPAN`] behind the newest audio in any case.
    pub fn trim(&mut self, oldest_video: Option<u64>, sent: Option<Option<u64>>) {
        let newest = self.held.back().map_or(0, |(rt, _)| *rt);
        let hard = newest.saturating_sub(MAX_SPAN);
        while let Some((rt, _)) = self.held.front() {
            let rt = *rt;
            let behind_video = oldest_video.is_some_and(|v| rt.saturating_add(MARGIN) < v);
            let written = match sent {
                None => true,
                Some(s) => s.is_some_and(|s| rt <= s),
            };
            if rt < hard || (behind_video && written) {
                self.held.pop_front();
            } else {
                break;
            }
        }
    }

    pub fn clear(&mut self) {
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn ring(rts: impl IntoIterator<Item = u64>) -> AudioRing<u64> {
        let mut r = AudioRing::default();
        for rt in rts {
            r.push(rt * MS, rt);
        }
        r
    }

    #[test]
    fn pending_is_after_what_was_sent_and_before_the_video() {
        let r = ring((0..10).map(|i| i * 20));
        let got: Vec<u64> = r.pending(None, 65 * MS).iter().map(|p| p.1).collect();
        assert_eq!(got, [0, 20, 40, 60]);
        let got: Vec<u64> = r
            .pending(Some(40 * MS), 100 * MS)
            .iter()
            .map(|p| p.1)
            .collect();
        assert_eq!(got, [60, 80]);
    }

    #[test]
    fn trim_keeps_what_the_video_ring_could_start_a_file_with() {
        let mut r = ring((0..200).map(|i| i * 20));
        // Oldest video frame at 2.5 s: audio from 1.5 s stays.
        r.trim(Some(2500 * MS), None);
        assert_eq!(r.held.front().unwrap().1, 1500);
        // An open file that has had audio up to 1.6 s: 1.62 s on stay.
        r.trim(Some(3000 * MS), Some(Some(1600 * MS)));
        assert_eq!(r.held.front().unwrap().1, 1620);
        // One that has had none keeps everything.
        r.trim(Some(3900 * MS), Some(None));
        assert_eq!(r.held.front().unwrap().1, 1620);
        r.clear();
        assert!(r.is_empty());
    }

    #[test]
    fn trim_is_bounded_without_video() {
        let mut r = ring((0..5).map(|i| i * 20_000));
        r.trim(None, None);
        assert_eq!(r.len(), 4, "older than 60 s behind the newest");
    }
}
