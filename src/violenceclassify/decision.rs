// SPDX-License-Identifier: MPL-2.0

//! Start and end of violence over time (docs/decisions.md), as pure logic on
//! clip scores and running times, so it can be tested without a pipeline.

/// One evaluated clip. Times are nanoseconds: PTS, and running time of its frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredClip {
    pub first_pts: u64,
    pub last_pts: u64,
    pub first_running_time: u64,
    pub last_running_time: u64,
    pub score: f32,
    /// Its frames span a scene cut (scene_cut.rs): it is scored, but cannot start an event.
    pub spans_cut: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionParams {
    /// θ_on: a clip at or above it counts towards a start.
    pub threshold: f32,
    /// θ_off ≤ θ_on: below it, the event starts to release.
    pub release_threshold: f32,
    pub min_consecutive: u32,
    /// How long p < θ_off must hold before the end, in running-time nanoseconds.
    pub hold_time: u64,
}

/// Why an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Released,
    Eos,
    Flush,
    Stall,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Released => "released",
            EndReason::Eos => "eos",
            EndReason::Flush => "flush",
            EndReason::Stall => "stall",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transition {
    /// `first` is the first clip of the qualifying run (its first PTS is the event's PTS);
    /// `deciding` is the clip that completed the run.
    Start {
        first: ScoredClip,
        deciding: ScoredClip,
    },
    /// `last_hot` is the last clip with p ≥ θ_off (its last PTS is the event's PTS);
    /// `deciding` the clip that released it, if a clip did.
    End {
        last_hot: ScoredClip,
        deciding: Option<ScoredClip>,
        reason: EndReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Idle {
        run_first: Option<ScoredClip>,
        run_length: u32,
    },
    Violent {
        last_hot: ScoredClip,
        /// Running time at which p < θ_off was first seen since `last_hot`.
        below_since: Option<u64>,
    },
}

#[derive(Debug, Clone)]
pub struct Decider {
    params: DecisionParams,
    phase: Phase,
}

const IDLE: Phase = Phase::Idle {
    run_first: None,
    run_length: 0,
};

impl Decider {
    pub fn new(params: DecisionParams) -> Self {
        debug_assert!(params.release_threshold <= params.threshold);
        Decider {
            params,
            phase: IDLE,
        }
    }

    pub fn params(&self) -> DecisionParams {
        self.params
    }

    pub fn is_violent(&self) -> bool {
        matches!(self.phase, Phase::Violent { .. })
    }

    /// Feeds the next evaluated clip, in stream order.
    pub fn on_clip(&mut self, clip: ScoredClip) -> Option<Transition> {
        let p = self.params;
        match &mut self.phase {
            Phase::Idle {
                run_first,
                run_length,
            } => {
                if clip.score < p.threshold || clip.spans_cut {
                    self.phase = IDLE;
                    return None;
                }
                let first = *run_first.get_or_insert(clip);
                *run_length += 1;
                if *run_length >= p.min_consecutive.max(1) {
                    self.phase = Phase::Violent {
                        last_hot: clip,
                        below_since: None,
                    };
                    return Some(Transition::Start {
                        first,
                        deciding: clip,
                    });
                }
                None
            }
            Phase::Violent {
                last_hot,
                below_since,
            } => {
                if clip.score >= p.release_threshold {
                    *last_hot = clip;
                    *below_since = None;
                    return None;
                }
                let since = *below_since.get_or_insert(clip.last_running_time);
                if clip.last_running_time.saturating_sub(since) >= p.hold_time {
                    return self.end(Some(clip), EndReason::Released);
                }
                None
            }
        }
    }

    /// Lets running time pass (a frame without a new clip): ends an event whose release
    /// has held for `hold_time`.
    pub fn on_time(&mut self, running_time: u64) -> Option<Transition> {
        match self.phase {
            Phase::Violent {
                below_since: Some(since),
                ..
            } if running_time.saturating_sub(since) >= self.params.hold_time => {
                self.end(None, EndReason::Released)
            }
            _ => None,
        }
    }

    /// Ends an event in progress (EOS, flush, stall) and resets.
    pub fn finish(&mut self, reason: EndReason) -> Option<Transition> {
        let t = self.end(None, reason);
        self.phase = IDLE;
        t
    }

    fn end(&mut self, deciding: Option<ScoredClip>, reason: EndReason) -> Option<Transition> {
        match std::mem::replace(&mut self.phase, IDLE) {
            Phase::Violent { last_hot, .. } => Some(Transition::End {
                last_hot,
                deciding,
                reason,
            }),
            Phase::Idle { .. } => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const FRAME: u64 = 40_000_000;

    /// Clip `i` covers frames [8i, 8i + 15] at 25 fps, like T=16, stride 8.
    pub(crate) fn clip(i: u64, score: f32) -> ScoredClip {
        let first = 8 * i * FRAME;
        let last = (8 * i + 15) * FRAME;
        ScoredClip {
            first_pts: first,
            last_pts: last,
            first_running_time: first,
            last_running_time: last,
            score,
            spans_cut: false,
        }
    }

    fn params(min_consecutive: u32, hold_time: u64) -> DecisionParams {
        DecisionParams {
            threshold: 0.6,
            release_threshold: 0.4,
            min_consecutive,
            hold_time,
        }
    }

    fn run(d: &mut Decider, scores: &[f32]) -> Vec<(usize, Transition)> {
        scores
            .iter()
            .enumerate()
            .filter_map(|(i, s)| d.on_clip(clip(i as u64, *s)).map(|t| (i, t)))
            .collect()
    }

    #[test]
    fn start_after_min_consecutive_with_first_clip_of_run() {
        let mut d = Decider::new(params(3, 0));
        let t = run(&mut d, &[0.9, 0.1, 0.7, 0.8, 0.9, 0.9]);
        assert_eq!(t.len(), 1);
        let (at, Transition::Start { first, deciding }) = t[0] else {
            panic!("{t:?}")
        };
        assert_eq!(at, 4);
        assert_eq!(first, clip(2, 0.7), "the run restarted after the 0.1 clip");
        assert_eq!(deciding, clip(4, 0.9));
        assert!(d.is_violent());
    }

    #[test]
    fn a_clip_across_a_scene_cut_cannot_start_an_event_but_keeps_one_going() {
        let cut = |i: u64, score: f32| ScoredClip {
            spans_cut: true,
            ..clip(i, score)
        };
        let mut d = Decider::new(params(2, 0));
        assert_eq!(d.on_clip(clip(0, 0.9)), None);
        assert_eq!(d.on_clip(cut(1, 0.95)), None, "the cut breaks the run");
        assert_eq!(d.on_clip(clip(2, 0.9)), None);
        let Some(Transition::Start { first, .. }) = d.on_clip(clip(3, 0.9)) else {
            panic!("two clips after the cut start the event")
        };
        assert_eq!(first, clip(2, 0.9));
        // Once violent, a hot clip across a cut keeps the event.
        assert_eq!(d.on_clip(cut(4, 0.9)), None);
        assert!(d.is_violent());
    }

    #[test]
    fn hysteresis_keeps_event_between_thresholds() {
        let mut d = Decider::new(params(1, 0));
        let t = run(&mut d, &[0.9, 0.5, 0.45, 0.3]);
        assert_eq!(t.len(), 2);
        let (
            at,
            Transition::End {
                last_hot,
                deciding,
                reason,
            },
        ) = t[1]
        else {
            panic!("{t:?}")
        };
        assert_eq!(at, 3);
        assert_eq!(last_hot, clip(2, 0.45), "0.45 >= release 0.4 is still hot");
        assert_eq!(deciding, Some(clip(3, 0.3)));
        assert_eq!(reason, EndReason::Released);
    }

    #[test]
    fn hold_time_delays_the_end_and_a_hot_clip_resets_it() {
        // Clips end 8 frames (320 ms) apart; hold 500 ms needs two more below clips.
        let mut d = Decider::new(params(1, 500_000_000));
        let t = run(&mut d, &[0.9, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1]);
        let ends: Vec<_> = t
            .iter()
            .filter(|(_, t)| matches!(t, Transition::End { .. }))
            .collect();
        assert_eq!(ends.len(), 1);
        assert_eq!(
            ends[0].0, 6,
            "clip 4 starts the hold at 4*320+600 ms; clip 6 is 640 ms later"
        );
        let Transition::End { last_hot, .. } = ends[0].1 else {
            unreachable!()
        };
        assert_eq!(last_hot, clip(3, 0.9));
    }

    #[test]
    fn on_time_ends_after_hold_without_new_clips() {
        let mut d = Decider::new(params(1, 1_000_000_000));
        d.on_clip(clip(0, 0.9));
        d.on_clip(clip(1, 0.1));
        let since = clip(1, 0.1).last_running_time;
        assert_eq!(d.on_time(since + 999_999_999), None);
        assert!(matches!(
            d.on_time(since + 1_000_000_000),
            Some(Transition::End {
                deciding: None,
                reason: EndReason::Released,
                ..
            })
        ));
        assert!(!d.is_violent());
    }

    #[test]
    fn finish_ends_only_an_event_in_progress() {
        let mut d = Decider::new(params(2, 0));
        d.on_clip(clip(0, 0.9));
        assert_eq!(
            d.finish(EndReason::Eos),
            None,
            "one hot clip of two is no event"
        );
        // The run was reset by finish: two more hot clips are needed.
        assert_eq!(d.on_clip(clip(1, 0.9)), None);
        assert!(d.on_clip(clip(2, 0.9)).is_some());
        let end = d.finish(EndReason::Stall).unwrap();
        assert!(
            matches!(end, Transition::End { reason: EndReason::Stall, last_hot, .. } if last_hot == clip(2, 0.9))
        );
        assert_eq!(d.finish(EndReason::Eos), None);
    }

    #[test]
    fn a_new_event_can_follow_an_end() {
        let mut d = Decider::new(params(1, 0));
        let t = run(&mut d, &[0.9, 0.1, 0.9, 0.1]);
        let kinds: Vec<_> = t
            .iter()
            .map(|(i, t)| (*i, matches!(t, Transition::Start { .. })))
            .collect();
        assert_eq!(kinds, vec![(0, true), (1, false), (2, true), (3, false)]);
    }
}
