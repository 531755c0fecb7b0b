// SPDX-License-Identifier: MPL-2.0

//! What `violencemqtt` publishes: the topics of a camera and the JSON of each event.

use crate::event::{EventKind, ViolenceEvent};
use gst::prelude::GstValueExt as _;
use serde_json::{json, Map, Value};

/// The name of the recording structure that `violencerecord` posts; published as well if
/// one travels in-band.
pub const VIOLENCE_RECORDING: &str = "violence-recording";

pub const STATE_ON: &str = "ON";
pub const STATE_OFF: &str = "OFF";

/// The topics of one camera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// `<prefix>/<camera>/events`: one JSON object per event.
    pub events: String,
    /// `<prefix>/<camera>/state`: `ON` or `OFF`, retained.
    pub state: String,
}

impl Topics {
    /// Fails when `prefix` holds a wildcard (`+`, `#`), which a published topic cannot.
    /// The camera name becomes one topic level: its `/`, `+` and `#` become `_`.
    pub fn new(prefix: &str, camera: &str) -> Result<Self, String> {
        if prefix.contains(['+', '#']) || prefix.contains('\0') {
            return Err(format!(
                "topic-prefix '{prefix}' holds an MQTT wildcard (+ or #)"
            ));
        }
        let camera = camera_level(camera);
        let prefix = prefix.trim_end_matches('/');
        let base = if prefix.is_empty() {
            camera
        } else {
            format!("{prefix}/{camera}")
        };
        Ok(Topics {
            events: format!("{base}/events"),
            state: format!("{base}/state"),
        })
    }
}

/// `name` as one topic level.
pub fn camera_level(name: &str) -> String {
    let level: String = name
        .chars()
        .map(|c| match c {
            '/' | '+' | '#' | '\0' => '_',
            c => c,
        })
        .collect();
    if level.is_empty() {
        "camera".into()
    } else {
        level
    }
}

/// The state an event leaves the camera in, for events that change it.
pub fn state_after(kind: EventKind) -> Option<&'static str> {
    match kind {
        EventKind::Start => Some(STATE_ON),
        EventKind::End => Some(STATE_OFF),
        EventKind::Score => None,
    }
}

/// The JSON of a violence event: the fields of the bus message (times in nanoseconds), the
/// region as an object (or null), and what the consumer needs to tell messages apart:
/// `camera` and `seq`, which counts the element's messages from 1 (a QoS 1 redelivery
/// repeats a `seq` already seen).
pub fn event_json(e: &ViolenceEvent, camera: &str, seq: u64) -> Value {
    let region = e.region.map_or(
        Value::Null,
        |r| json!({"x": r.x, "y": r.y, "width": r.width, "height": r.height}),
    );
    let mut v = json!({
        "kind": e.kind.name(),
        "camera": camera,
        "seq": seq,
        "pts": e.pts,
        "running-time": e.running_time,
        "score": e.score,
        "clip-start": e.clip_start,
        "clip-end": e.clip_end,
        "region": region,
        "stream-id": e.stream_id,
        "latency": e.latency,
        "steps": e.steps,
    });
    if let Some(reason) = &e.reason {
        v["reason"] = reason.clone().into();
    }
    v
}

/// The JSON of any other structure we publish (`violence-recording`): its name as `kind`
/// and its fields, numbers, strings and booleans as they are, anything else as text.
pub fn structure_json(s: &gst::StructureRef, camera: &str, seq: u64) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), s.name().as_str().into());
    m.insert("camera".into(), camera.into());
    m.insert("seq".into(), seq.into());
    for (name, value) in s.iter() {
        m.insert(name.to_string(), value_json(value));
    }
    Value::Object(m)
}

fn value_json(v: &glib::Value) -> Value {
    macro_rules! try_as {
        ($($t:ty),*) => {
            $(if let Ok(x) = v.get::<$t>() { return json!(x); })*
        };
    }
    // Clock times are plain u64 in a structure, and none is u64::MAX.
    if let Ok(x) = v.get::<u64>() {
        return if x == u64::MAX { Value::Null } else { x.into() };
    }
    try_as!(bool, i32, u32, i64, f64, f32);
    if let Ok(s) = v.get::<Option<String>>() {
        return s.map_or(Value::Null, Value::from);
    }
    v.serialize()
        .map_or(Value::Null, |s| Value::from(s.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::Region;

    fn event(kind: EventKind) -> ViolenceEvent {
        ViolenceEvent {
            kind,
            pts: 1_000,
            running_time: 2_000,
            score: 0.75,
            clip_start: 3_000,
            clip_end: 4_000,
            region: Some(Region {
                x: 1,
                y: 2,
                width: 3,
                height: 4,
            }),
            stream_id: "s/1".into(),
            latency: 500,
            steps: 2,
            reason: (kind == EventKind::End).then(|| "released".into()),
            scene_cut: false,
        }
    }

    #[test]
    fn topics_of_a_camera() {
        let t = Topics::new("gst-violence", "cam1").unwrap();
        assert_eq!(t.events, "gst-violence/cam1/events");
        assert_eq!(t.state, "gst-violence/cam1/state");
        let t = Topics::new("site/a/", "door/+#").unwrap();
        assert_eq!(t.events, "site/a/door___/events");
        assert_eq!(Topics::new("", "").unwrap().state, "camera/state");
        assert!(Topics::new("a/+", "cam").is_err());
        assert!(Topics::new("#", "cam").is_err());
    }

    #[test]
    fn event_json_has_the_fields_of_the_bus_message() {
        let v = event_json(&event(EventKind::End), "cam1", 7);
        assert_eq!(
            v,
            json!({
                "kind": "violence-end", "camera": "cam1", "seq": 7,
                "pts": 1000, "running-time": 2000, "score": 0.75,
                "clip-start": 3000, "clip-end": 4000,
                "region": {"x": 1, "y": 2, "width": 3, "height": 4},
                "stream-id": "s/1", "latency": 500, "steps": 2, "reason": "released",
            })
        );
        let start = ViolenceEvent {
            region: None,
            ..event(EventKind::Start)
        };
        let v = event_json(&start, "cam1", 1);
        assert_eq!(v["kind"], "violence-start");
        assert_eq!(v["region"], Value::Null);
        assert!(v.get("reason").is_none());
    }

    #[test]
    fn state_follows_start_and_end() {
        assert_eq!(state_after(EventKind::Start), Some("ON"));
        assert_eq!(state_after(EventKind::End), Some("OFF"));
        assert_eq!(state_after(EventKind::Score), None);
    }

    #[test]
    fn recording_structure_as_json() {
        gst::init().unwrap();
        let s = gst::Structure::builder(VIOLENCE_RECORDING)
            .field("action", "closed")
            .field("location", "ev-00000.mp4")
            .field("first-pts", Some(gst::ClockTime::from_nseconds(40)))
            .field("last-pts", None::<gst::ClockTime>)
            .field("frames", 12u64)
            .field("reason", "end")
            .build();
        let v = structure_json(&s, "cam1", 3);
        assert_eq!(
            v,
            json!({
                "kind": "violence-recording", "camera": "cam1", "seq": 3,
                "action": "closed", "location": "ev-00000.mp4", "first-pts": 40,
                "last-pts": null, "frames": 12, "reason": "end",
            })
        );
    }
}
