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
    /// `<prefix>/<camera>/availability`: `online` or `offline`, retained; `offline` is also
    /// the last will.
    pub availability: String,
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
            availability: format!("{base}/availability"),
        })
    }
}

/// Home Assistant's MQTT discovery config for a camera: a binary sensor (device class
/// `safety`: on means unsafe) on the state topic, available as the availability topic says,
/// with the last event's JSON as attributes; one device per camera. Retained on
/// `<prefix>/binary_sensor/<camera>_violence/config`.
pub fn discovery(
    prefix: &str,
    camera: &str,
    topics: &Topics,
) -> Result<super::outbox::Message, String> {
    if prefix.is_empty() || prefix.contains(['+', '#', '\0']) {
        return Err(format!(
            "discovery-prefix '{prefix}' is empty or holds an MQTT wildcard"
        ));
    }
    // Home Assistant's node and object ids take [a-zA-Z0-9_-].
    let id: String = camera
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let config = json!({
        "name": "Violence",
        "unique_id": format!("gst_violence_{id}"),
        "object_id": format!("{id}_violence"),
        "device_class": "safety",
        "state_topic": topics.state,
        "payload_on": STATE_ON,
        "payload_off": STATE_OFF,
        "availability_topic": topics.availability,
        "payload_available": "online",
        "payload_not_available": "offline",
        "json_attributes_topic": topics.events,
        "device": {
            "identifiers": [format!("gst_violence_{id}")],
            "name": camera,
            "manufacturer": "gst-violence",
            "model": "violenceclassify",
            "sw_version": env!("CARGO_PKG_VERSION"),
        },
    });
    Ok(super::outbox::Message {
        topic: format!(
            "{}/binary_sensor/{id}_violence/config",
            prefix.trim_end_matches('/')
        ),
        payload: config.to_string().into_bytes(),
        retain: true,
    })
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

/// When an event happened and was queued, in UTC, so that a message delivered late (after a
/// broker outage) can still be dated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WallTimes {
    /// The wall-clock time of the event's frame (`pts`), ISO 8601; `None` without a clock.
    pub frame: Option<String>,
    /// When violencemqtt queued the message for the broker, ISO 8601.
    pub queued: String,
}

/// `t` as ISO 8601 UTC with milliseconds, e.g. `2026-12-05T11:30:00.123Z`.
pub fn iso8601_utc(t: std::time::SystemTime) -> String {
    let since = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (secs, millis) = (since.as_secs(), since.subsec_millis());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian), by 400-year eras.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Numbers a camera's messages for the consumer's check against QoS 1 redeliveries. Each
/// number is above the last and at least the milliseconds since 1970 when the message was
/// queued, so the numbers go on rising across restarts of the pipeline or of the process: a
/// consumer that drops a `seq` it has seen would otherwise drop the first events after every
/// reconnect as repeats of the previous run's.
#[derive(Debug, Default)]
pub struct Sequence {
    last: u64,
}

impl Sequence {
    /// The number of a message queued at `now` (milliseconds since 1970).
    pub fn next(&mut self, now_ms: u64) -> u64 {
        self.last = self.last.saturating_add(1).max(now_ms);
        self.last
    }
}

/// Milliseconds since 1970 (0 for a clock set before it).
pub fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis().min(u64::MAX as u128) as u64)
}

/// The JSON of a violence event: the fields of the bus message (times in nanoseconds), the
/// region as an object (or null), the wall-clock times (`utc`: the frame's, null without a
/// clock; `queued-utc`: when it was queued), and what the consumer needs to tell messages
/// apart: `camera` and `seq` ([`Sequence`]; a QoS 1 redelivery repeats a `seq` already seen).
pub fn event_json(e: &ViolenceEvent, camera: &str, seq: u64, times: &WallTimes) -> Value {
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
        "scene-cut": e.scene_cut,
        "utc": times.frame,
        "queued-utc": times.queued,
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

    #[test]
    fn sequence_rises_across_restarts_and_within_a_millisecond() {
        let mut first_run = Sequence::default();
        let a = first_run.next(1_000);
        let b = first_run.next(1_000);
        let c = first_run.next(999);
        assert_eq!(
            (a, b, c),
            (1_000, 1_001, 1_002),
            "above the last, clock or not"
        );
        assert_eq!(first_run.next(5_000), 5_000, "catches up with the clock");
        // A restart a second later starts above everything the first run sent.
        let mut second_run = Sequence::default();
        assert!(second_run.next(6_000) > 5_000);
        assert_eq!(
            Sequence::default().next(0),
            1,
            "a clock before 1970 still counts from 1"
        );
    }
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
        assert_eq!(t.availability, "gst-violence/cam1/availability");
        let t = Topics::new("site/a/", "door/+#").unwrap();
        assert_eq!(t.events, "site/a/door___/events");
        assert_eq!(Topics::new("", "").unwrap().state, "camera/state");
        assert!(Topics::new("a/+", "cam").is_err());
        assert!(Topics::new("#", "cam").is_err());
    }

    #[test]
    fn event_json_has_the_fields_of_the_bus_message() {
        let times = WallTimes {
            frame: Some("2026-12-05T11:30:00.123Z".into()),
            queued: "2026-12-05T11:30:01.500Z".into(),
        };
        let v = event_json(&event(EventKind::End), "cam1", 7, &times);
        assert_eq!(
            v,
            json!({
                "kind": "violence-end", "camera": "cam1", "seq": 7,
                "pts": 1000, "running-time": 2000, "score": 0.75,
                "clip-start": 3000, "clip-end": 4000,
                "region": {"x": 1, "y": 2, "width": 3, "height": 4},
                "stream-id": "s/1", "latency": 500, "steps": 2, "reason": "released",
                "scene-cut": false,
                "utc": "2026-12-05T11:30:00.123Z", "queued-utc": "2026-12-05T11:30:01.500Z",
            })
        );
        let start = ViolenceEvent {
            region: None,
            scene_cut: true,
            ..event(EventKind::Start)
        };
        let v = event_json(&start, "cam1", 1, &WallTimes::default());
        assert_eq!(v["kind"], "violence-start");
        assert_eq!(v["region"], Value::Null);
        assert_eq!(v["scene-cut"], true);
        assert_eq!(v["utc"], Value::Null);
        assert!(v.get("reason").is_none());
    }

    #[test]
    fn utc_times_are_iso_8601() {
        let at = |secs: u64, millis: u64| {
            iso8601_utc(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(secs * 1000 + millis),
            )
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day of a century leap year) 12:34:56.789.
        assert_eq!(at(951_827_696, 789), "2000-02-29T12:34:56.789Z");
        assert_eq!(at(1_796_469_000, 5), "2026-12-05T11:10:00.005Z");
        assert_eq!(at(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
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

    #[test]
    fn discovery_config_points_home_assistant_at_our_topics() {
        let topics = Topics::new("gst-violence", "front door").unwrap();
        let m = discovery("homeassistant", "front door", &topics).unwrap();
        assert_eq!(
            m.topic,
            "homeassistant/binary_sensor/front_door_violence/config"
        );
        assert!(m.retain);
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v["state_topic"], "gst-violence/front door/state");
        assert_eq!(
            v["availability_topic"],
            "gst-violence/front door/availability"
        );
        assert_eq!(v["json_attributes_topic"], "gst-violence/front door/events");
        assert_eq!(
            (v["payload_on"].as_str(), v["payload_off"].as_str()),
            (Some("ON"), Some("OFF"))
        );
        assert_eq!(v["unique_id"], "gst_violence_front_door");
        assert_eq!(v["device"]["name"], "front door");
        assert!(discovery("home/#", "cam", &topics).is_err());
    }
}
