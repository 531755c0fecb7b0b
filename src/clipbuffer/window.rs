// SPDX-License-Identifier: MPL-2.0

//! Which frames are sampled into a clip and when a clip is complete, as pure logic.
//!
//! Counting is in input frames: frame `i` (since the last reset) is sampled when
//! `i % frame_step == 0`; a clip is emitted on a sampled frame once the ring holds
//! `clip_length` samples and at least `stride` input frames have passed since the previous
//! clip (the first clip is emitted as soon as the ring is full). This is the same counting
//! as the Python reference loop, so the two produce the same clips.

use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowParams {
    pub clip_length: usize,
    pub frame_step: u64,
    pub stride: u64,
}

/// What to do with the frame just pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameAction {
    /// Not sampled: the frame only passes through.
    Skip,
    /// Sampled into the ring; no clip yet.
    Sample,
    /// Sampled, and the ring is now a clip to emit.
    SampleAndEmit,
}

/// What to emit at EOS (see `ClipWindow::at_eos`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EosAction {
    Nothing,
    /// No clip was emitted yet and the ring is at least half full: emit it, padded by
    /// repeating its last frame this many times.
    Padded(usize),
    /// Clips were emitted and at least half a stride of frames came after the last one:
    /// emit the last `clip_length` samples as a final full clip.
    Final,
}

/// Ring of sampled frames with the sampling and emission counters.
#[derive(Debug)]
pub struct ClipWindow<F> {
    params: WindowParams,
    ring: VecDeque<F>,
    frames_seen: u64,
    frames_since_clip: Option<u64>,
}

impl<F: Clone> ClipWindow<F> {
    pub fn new(params: WindowParams) -> Self {
        assert!(params.clip_length > 0 && params.frame_step > 0 && params.stride > 0);
        ClipWindow {
            params,
            ring: VecDeque::with_capacity(params.clip_length),
            frames_seen: 0,
            frames_since_clip: None,
        }
    }

    pub fn params(&self) -> WindowParams {
        self.params
    }

    /// Forgets every frame (flush, discontinuity, gap, caps change).
    pub fn reset(&mut self) {
        self.ring.clear();
        self.frames_seen = 0;
        self.frames_since_clip = None;
    }

    /// Whether the next input frame will be sampled (so it needs preparing).
    pub fn next_is_sampled(&self) -> bool {
        self.frames_seen.is_multiple_of(self.params.frame_step)
    }

    /// Accounts one input frame; `sample` is called only when the frame is sampled.
    pub fn push(&mut self, sample: impl FnOnce() -> F) -> FrameAction {
        let sampled = self.next_is_sampled();
        self.frames_seen += 1;
        if let Some(n) = self.frames_since_clip.as_mut() {
            *n += 1;
        }
        if !sampled {
            return FrameAction::Skip;
        }
        if self.ring.len() == self.params.clip_length {
            self.ring.pop_front();
        }
        self.ring.push_back(sample());
        let due = self
            .frames_since_clip
            .is_none_or(|n| n >= self.params.stride);
        if self.ring.len() == self.params.clip_length && due {
            self.frames_since_clip = Some(0);
            FrameAction::SampleAndEmit
        } else {
            FrameAction::Sample
        }
    }

    /// The frames of the current clip, oldest first.
    pub fn frames(&self) -> impl Iterator<Item = &F> {
        self.ring.iter()
    }

    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// The EOS policy: a last partial window is scored, padded, when at least half full.
    pub fn at_eos(&self) -> EosAction {
        let t = self.params.clip_length;
        match self.frames_since_clip {
            None if !self.ring.is_empty() && self.ring.len() * 2 >= t => {
                EosAction::Padded(t - self.ring.len())
            }
            Some(n) if n * 2 >= self.params.stride && n > 0 && self.ring.len() == t => {
                EosAction::Final
            }
            _ => EosAction::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(t: usize, step: u64, stride: u64) -> ClipWindow<u64> {
        ClipWindow::new(WindowParams {
            clip_length: t,
            frame_step: step,
            stride,
        })
    }

    /// Feeds frames 0..n and returns, per emitted clip, its frame indices.
    fn clips(w: &mut ClipWindow<u64>, n: u64) -> Vec<Vec<u64>> {
        let mut out = Vec::new();
        for i in 0..n {
            if w.push(|| i) == FrameAction::SampleAndEmit {
                out.push(w.frames().copied().collect());
            }
        }
        out
    }

    #[test]
    fn stride_and_length() {
        let mut w = window(4, 1, 2);
        let c = clips(&mut w, 9);
        assert_eq!(
            c,
            vec![vec![0, 1, 2, 3], vec![2, 3, 4, 5], vec![4, 5, 6, 7]]
        );
    }

    #[test]
    fn frame_step_samples_every_nth_frame() {
        let mut w = window(3, 2, 4);
        let c = clips(&mut w, 14);
        assert_eq!(c, vec![vec![0, 2, 4], vec![4, 6, 8], vec![8, 10, 12]]);
    }

    #[test]
    fn stride_not_multiple_of_step_waits_for_a_sampled_frame() {
        let mut w = window(2, 2, 3);
        let c = clips(&mut w, 10);
        // Clip at frame 2, then the next sampled frame at least 3 later is 6, then 10 > 9.
        assert_eq!(c, vec![vec![0, 2], vec![4, 6]]);
    }

    #[test]
    fn reset_starts_over() {
        let mut w = window(3, 1, 1);
        clips(&mut w, 2);
        w.reset();
        assert!(w.is_empty());
        let c = clips(&mut w, 3);
        assert_eq!(c, vec![vec![0, 1, 2]]);
    }

    #[test]
    fn eos_policy() {
        // Short stream: 3 of 4 frames, no clip yet -> padded by one.
        let mut w = window(4, 1, 2);
        clips(&mut w, 3);
        assert_eq!(w.at_eos(), EosAction::Padded(1));
        // Less than half: nothing.
        let mut w = window(8, 1, 2);
        clips(&mut w, 3);
        assert_eq!(w.at_eos(), EosAction::Nothing);
        // Empty: nothing.
        assert_eq!(window(2, 1, 1).at_eos(), EosAction::Nothing);
        // After clips, half a stride of new frames: one final full clip.
        let mut w = window(4, 1, 4);
        clips(&mut w, 6); // clip at frame 3, then frames 4, 5
        assert_eq!(w.at_eos(), EosAction::Final);
        let mut w = window(4, 1, 4);
        clips(&mut w, 5); // one frame after the clip: less than half a stride
        assert_eq!(w.at_eos(), EosAction::Nothing);
        let mut w = window(4, 1, 4);
        clips(&mut w, 4); // ended right on a clip
        assert_eq!(w.at_eos(), EosAction::Nothing);
    }
}
