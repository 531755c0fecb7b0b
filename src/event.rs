// SPDX-License-Identifier: MPL-2.0

//! The violence event structure shared by bus messages and downstream serialized custom
//! events (docs/architecture.md "Events"), written and read back in one place.

use crate::meta::Region;
use crate::violenceclassify::decision::{EndReason, ScoredClip, Transition};

pub const VIOLENCE_START: &str = "violence-start";
pub const VIOLENCE_END: &str = "violence-end";
pub const VIOLENCE_SCORE: &str = "violence-score";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Start,
    End,
    Score,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Start => VIOLENCE_START,
            EventKind::End => VIOLENCE_END,
            EventKind::Score => VIOLENCE_SCORE,
        }
    }
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            VIOLENCE_START => Some(EventKind::Start),
            VIOLENCE_END => Some(EventKind::End),
            VIOLENCE_SCORE => Some(EventKind::Score),
            _ => None,
        }
    }
}

/// One violence fact. Times are nanoseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ViolenceEvent {
    pub kind: EventKind,
    /// Start: first PTS of the first clip of the run. End: last PTS of the last clip with
    /// p ≥ θ_off. Score: first PTS of the scored clip.
    pub pts: u64,
    /// Running time of `pts`.
    pub running_time: u64,
    pub score: f32,
    /// First and last PTS of the clip that decided.
    pub clip_start: u64,
    pub clip_end: u64,
    /// In source pixels, when the model localizes.
    pub region: Option<Region>,
    pub stream_id: String,
    /// Running time from `running_time` to the decision.
    pub latency: u64,
    /// Attention steps of the deciding clip.
    pub steps: u32,
    /// End only: released, eos, flush or stall.
    pub reason: Option<String>,
    /// The deciding clip spans a scene cut (violenceclassify `scene-cut-guard`): a score
    /// that cannot start an event.
    pub scene_cut: bool,
}

/// What the announcing stream adds to a clip's times: who it is, where the model looked
/// last, and when the decision was taken (running time), for the event's latency.
#[derive(Debug, Clone, Copy)]
pub struct EventContext<'a> {
    pub stream_id: &'a str,
    pub region: Option<Region>,
    pub steps: u32,
    pub decided_at: u64,
}

impl ViolenceEvent {
    /// A `violence-score` event for one scored clip, at the clip's first frame.
    pub fn score(clip: &ScoredClip, context: EventContext) -> Self {
        Self::decided_by(
            EventKind::Score,
            clip.first_pts,
            clip.first_running_time,
            clip,
            context,
            None,
        )
    }

    /// The `violence-start` or `violence-end` event that announces a transition.
    pub fn from_transition(transition: Transition, context: EventContext) -> Self {
        match transition {
            Transition::Start { first, deciding } => Self::decided_by(
                EventKind::Start,
                first.first_pts,
                first.first_running_time,
                &deciding,
                context,
                None,
            ),
            Transition::End {
                last_hot,
                deciding,
                reason,
            } => Self::decided_by(
                EventKind::End,
                last_hot.last_pts,
                last_hot.last_running_time,
                // Ends without a releasing clip (EOS, flush, stall) report the last hot one.
                &deciding.unwrap_or(last_hot),
                context,
                Some(reason),
            ),
        }
    }

    fn decided_by(
        kind: EventKind,
        pts: u64,
        running_time: u64,
        deciding: &ScoredClip,
        context: EventContext,
        reason: Option<EndReason>,
    ) -> Self {
        ViolenceEvent {
            kind,
            pts,
            running_time,
            score: deciding.score,
            clip_start: deciding.first_pts,
            clip_end: deciding.last_pts,
            region: context.region,
            stream_id: context.stream_id.to_string(),
            latency: context.decided_at.saturating_sub(running_time),
            steps: context.steps,
            reason: reason.map(|r| r.as_str().to_string()),
            scene_cut: deciding.spans_cut,
        }
    }

    pub fn to_structure(&self) -> gst::Structure {
        let mut s = gst::Structure::builder(self.kind.name())
            .field("pts", self.pts)
            .field("running-time", self.running_time)
            .field("score", self.score as f64)
            .field("clip-start", self.clip_start)
            .field("clip-end", self.clip_end)
            .field("stream-id", &self.stream_id)
            .field("latency", self.latency)
            .field("steps", self.steps)
            .field("scene-cut", self.scene_cut)
            .build();
        if let Some(r) = self.region {
            s.set("region-x", r.x);
            s.set("region-y", r.y);
            s.set("region-width", r.width);
            s.set("region-height", r.height);
        }
        if let Some(reason) = &self.reason {
            s.set("reason", reason);
        }
        s
    }

    /// Reads an event back; `None` when the structure is not one of ours or is malformed.
    pub fn from_structure(s: &gst::StructureRef) -> Option<Self> {
        let kind = EventKind::from_name(s.name())?;
        let region = match (
            s.get::<u32>("region-x"),
            s.get::<u32>("region-y"),
            s.get::<u32>("region-width"),
            s.get::<u32>("region-height"),
        ) {
            (Ok(x), Ok(y), Ok(width), Ok(height)) => Some(Region {
                x,
                y,
                width,
                height,
            }),
            _ => None,
        };
        let score = s.get::<f64>("score").ok()?;
        if !(0.0..=1.0).contains(&score) {
            return None;
        }
        Some(ViolenceEvent {
            kind,
            pts: s.get("pts").ok()?,
            running_time: s.get("running-time").ok()?,
            score: score as f32,
            clip_start: s.get("clip-start").ok()?,
            clip_end: s.get("clip-end").ok()?,
            region,
            stream_id: s.get::<String>("stream-id").ok()?,
            latency: s.get("latency").ok()?,
            steps: s.get("steps").ok()?,
            reason: s.get::<String>("reason").ok(),
            // Absent in messages of older versions.
            scene_cut: s.get("scene-cut").unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        gst::init().unwrap();
        let e = ViolenceEvent {
            kind: EventKind::End,
            pts: 1,
            running_time: 2,
            score: 0.25,
            clip_start: 3,
            clip_end: 4,
            region: Some(Region {
                x: 1,
                y: 2,
                width: 3,
                height: 4,
            }),
            stream_id: "cam1".into(),
            latency: 5,
            steps: 2,
            reason: Some("eos".into()),
            scene_cut: true,
        };
        let s = e.to_structure();
        assert_eq!(s.name(), "violence-end");
        assert_eq!(ViolenceEvent::from_structure(&s), Some(e.clone()));
        let no_region = ViolenceEvent {
            region: None,
            reason: None,
            kind: EventKind::Start,
            scene_cut: false,
            ..e
        };
        assert_eq!(
            ViolenceEvent::from_structure(&no_region.to_structure()),
            Some(no_region)
        );
    }

    fn clip(first: u64, last: u64, score: f32) -> ScoredClip {
        ScoredClip {
            first_pts: first,
            last_pts: last,
            first_running_time: first + 1000,
            last_running_time: last + 1000,
            score,
            spans_cut: false,
        }
    }

    fn context(decided_at: u64) -> EventContext<'static> {
        EventContext {
            stream_id: "cam",
            region: None,
            steps: 1,
            decided_at,
        }
    }

    #[test]
    fn start_is_at_the_first_clip_of_the_run_with_the_deciding_score() {
        let first = clip(0, 600, 0.7);
        let deciding = clip(320, 920, 0.9);
        let e =
            ViolenceEvent::from_transition(Transition::Start { first, deciding }, context(5000));
        assert_eq!(e.kind, EventKind::Start);
        assert_eq!((e.pts, e.running_time), (0, 1000));
        assert_eq!((e.clip_start, e.clip_end, e.score), (320, 920, 0.9));
        assert_eq!(e.latency, 4000);
        assert_eq!(e.reason, None);
    }

    #[test]
    fn end_without_a_releasing_clip_reports_the_last_hot_one() {
        let last_hot = clip(320, 920, 0.8);
        let e = ViolenceEvent::from_transition(
            Transition::End {
                last_hot,
                deciding: None,
                reason: EndReason::Eos,
            },
            context(100),
        );
        assert_eq!(e.kind, EventKind::End);
        assert_eq!((e.pts, e.running_time), (920, 1920));
        assert_eq!((e.clip_start, e.score), (320, 0.8));
        assert_eq!(e.latency, 0, "a decision before the time saturates to 0");
        assert_eq!(e.reason.as_deref(), Some("eos"));
        let released = ViolenceEvent::from_transition(
            Transition::End {
                last_hot,
                deciding: Some(clip(640, 1240, 0.1)),
                reason: EndReason::Released,
            },
            context(3000),
        );
        assert_eq!((released.clip_start, released.score), (640, 0.1));
        assert_eq!(released.reason.as_deref(), Some("released"));
    }

    #[test]
    fn score_event_is_at_the_clip_start() {
        let e = ViolenceEvent::score(&clip(40, 640, 0.3), context(2000));
        assert_eq!(e.kind, EventKind::Score);
        assert_eq!((e.pts, e.running_time, e.latency), (40, 1040, 960));
        assert_eq!(e.stream_id, "cam");
    }

    #[test]
    fn foreign_or_broken_structures_are_none() {
        gst::init().unwrap();
        assert_eq!(
            ViolenceEvent::from_structure(&gst::Structure::new_empty("other")),
            None
        );
        let broken = gst::Structure::builder("violence-start")
            .field("pts", "x")
            .build();
        assert_eq!(ViolenceEvent::from_structure(&broken), None);
    }
}
