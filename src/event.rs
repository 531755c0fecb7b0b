//! The violence event structure shared by bus messages and downstream serialized custom
//! events (DESIGN.md "Decisions over time"), written and read back in one place.

use crate::meta::Region;

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
}

impl ViolenceEvent {
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
        };
        let s = e.to_structure();
        assert_eq!(s.name(), "violence-end");
        assert_eq!(ViolenceEvent::from_structure(&s), Some(e.clone()));
        let no_region = ViolenceEvent {
            region: None,
            reason: None,
            kind: EventKind::Start,
            ..e
        };
        assert_eq!(
            ViolenceEvent::from_structure(&no_region.to_structure()),
            Some(no_region)
        );
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
