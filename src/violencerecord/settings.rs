// SPDX-License-Identifier: MPL-2.0

//! The properties of `violencerecord` and the settings they hold.

use super::recorder::Config;
use super::{RecordMode, WriteErrorPolicy};
use gst::glib;
use gst::prelude::*;

const SECOND: u64 = 1_000_000_000;
const DEFAULT_LOCATION: &str = "violence-%05d.mp4";
const DEFAULT_PRE_ROLL: u64 = 5 * SECOND;
const DEFAULT_POST_ROLL: u64 = 5 * SECOND;
const DEFAULT_MAX_EVENT_DURATION: u64 = 600 * SECOND;
const DEFAULT_MUXER: &str = "mp4mux";
const DEFAULT_FRAGMENT_DURATION: u32 = 1000;
const DEFAULT_MAX_FILES: u32 = 0;
const DEFAULT_KEYFRAME_INTERVAL: u64 = 2 * SECOND;
const DEFAULT_LATENCY_BUDGET: u64 = 2 * SECOND;
/// Ring bound beyond pre-roll + latency, for GOPs that upstream does not shorten on request.
const MAX_GOP: u64 = 30 * SECOND;
const MAX_TIME: u64 = 3600 * SECOND;
const DEFAULT_SEGMENT_DURATION: u64 = 10 * SECOND;
const DEFAULT_AUDIO_TIMEOUT: u64 = 3 * SECOND;

#[derive(Debug, Clone)]
pub struct Settings {
    pub location: String,
    pub pre_roll: u64,
    pub post_roll: u64,
    pub max_event_duration: u64,
    pub muxer_factory: String,
    pub fragment_duration: u32,
    pub max_files: u32,
    pub source: Option<String>,
    pub keyframe_interval: u64,
    pub latency_budget: u64,
    pub event_log: Option<String>,
    pub on_write_error: WriteErrorPolicy,
    pub mode: RecordMode,
    pub segment_duration: u64,
    pub audio_timeout: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            location: DEFAULT_LOCATION.into(),
            pre_roll: DEFAULT_PRE_ROLL,
            post_roll: DEFAULT_POST_ROLL,
            max_event_duration: DEFAULT_MAX_EVENT_DURATION,
            muxer_factory: DEFAULT_MUXER.into(),
            fragment_duration: DEFAULT_FRAGMENT_DURATION,
            max_files: DEFAULT_MAX_FILES,
            source: None,
            keyframe_interval: DEFAULT_KEYFRAME_INTERVAL,
            latency_budget: DEFAULT_LATENCY_BUDGET,
            event_log: None,
            on_write_error: WriteErrorPolicy::default(),
            mode: RecordMode::default(),
            segment_duration: DEFAULT_SEGMENT_DURATION,
            audio_timeout: DEFAULT_AUDIO_TIMEOUT,
        }
    }
}

impl Settings {
    /// The violenceclassify names of `source`, in order (none: in-band events).
    pub fn source_names(&self) -> Vec<String> {
        crate::sources::names(self.source.as_deref())
    }

    /// What the recorder logic needs of the settings.
    pub fn config(&self) -> Config {
        Config {
            pre_roll: self.pre_roll,
            post_roll: self.post_roll,
            max_event_duration: self.max_event_duration,
            keyframe_interval: self.keyframe_interval,
            min_latency_budget: self.latency_budget,
            max_gop: MAX_GOP,
        }
    }
}

impl Settings {
    pub fn properties() -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecString::builder("location")
                .nick("File location")
                .blurb("Pattern of the file names: the last %d conversion (e.g. %05d) is the file index, counted from 0; other % conversions are strftime ones in local time, e.g. cam1-%Y%m%d-%H%M%S-%03d.mp4")
                .default_value(Some(DEFAULT_LOCATION))
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt64::builder("pre-roll")
                .nick("Pre-roll")
                .blurb("Nanoseconds recorded before the start of an event; the file starts at the last keyframe at or before start - pre-roll")
                .maximum(MAX_TIME)
                .default_value(DEFAULT_PRE_ROLL)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt64::builder("post-roll")
                .nick("Post-roll")
                .blurb("Nanoseconds recorded after the end of an event; the file is finalized then. An event that starts within it extends the same file")
                .maximum(MAX_TIME)
                .default_value(DEFAULT_POST_ROLL)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt64::builder("max-event-duration")
                .nick("Maximum event duration")
                .blurb("Nanoseconds: a file that grows longer is finalized at the next keyframe and the event goes on in a new file; 0 = no limit")
                .maximum(24 * MAX_TIME)
                .default_value(DEFAULT_MAX_EVENT_DURATION)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("muxer-factory")
                .nick("Muxer factory")
                .blurb("Muxer of the files: mp4mux (fragmented, see fragment-duration), matroskamux or mpegtsmux; each keeps what was written playable after a crash")
                .default_value(Some(DEFAULT_MUXER))
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("fragment-duration")
                .nick("Fragment duration")
                .blurb("Milliseconds per fragment for muxers that have a fragment-duration property (mp4mux, written in fragment-mode first-moov-then-finalise: a regular MP4 once finished), the files' in mode=events and each segment's in mode=segments (unless splitmuxsink::muxer-properties sets one): at most this much is lost when the process dies; 0 leaves the muxer's own (non-fragmented mp4mux is not crash-safe)")
                .maximum(3_600_000)
                .default_value(DEFAULT_FRAGMENT_DURATION)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("max-files")
                .nick("Maximum files")
                .blurb("Keep at most this many finished files in the recording folder, deleting the oldest: the files this element writes and those earlier runs left there under the same location pattern (a pipeline restarted after a camera loss stays within the limit; files whose names the pattern formats at some time: its strftime conversions as digits of their width or the locale's day and month names; not listed: a folder with conversions in its own name, a pattern with %c, %x, %X or %r); mode=segments counts kept segments; 0 = keep all")
                .default_value(DEFAULT_MAX_FILES)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("source")
                .nick("Event source")
                .blurb("Name of a violenceclassify in the same pipeline (searched from the top-level bin) whose violence-event signal drives recording out-of-band, matched by running time; in-band events are then ignored. Several names separated by commas: an event runs while any of them is in one (e.g. two models on one camera). Unset = in-band events")
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt64::builder("keyframe-interval")
                .nick("Keyframe interval")
                .blurb("Nanoseconds without a keyframe after which upstream is asked for one (force-key-unit), so that pre-roll can start close to start - pre-roll and the ring stays small; 0 = never ask")
                .maximum(MAX_TIME)
                .default_value(DEFAULT_KEYFRAME_INTERVAL)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt64::builder("latency-budget")
                .nick("Latency budget")
                .blurb("Nanoseconds of detection latency the ring covers before events report a larger one; the ring holds pre-roll + max(this, reported start latency) + one GOP, bounded by 30 s more")
                .maximum(MAX_TIME)
                .default_value(DEFAULT_LATENCY_BUDGET)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt64::builder("audio-timeout")
                .nick("Audio timeout")
                .blurb("mode=segments with the audio pad: nanoseconds the first video frame waits for the first audio buffer; with none by then (a camera without audio) the segments are recorded without audio, with a warning, instead of splitmuxsink holding the video for ever. 0 = wait for ever")
                .maximum(MAX_TIME)
                .default_value(DEFAULT_AUDIO_TIMEOUT)
                .mutable_ready()
                .build(),
            glib::ParamSpecEnum::builder_with_default("on-write-error", WriteErrorPolicy::default())
                .nick("On write error")
                .blurb("What a file that cannot be opened or written (read-only folder, full disk) does: error-on-open, error, or skip (a warning; files already finished stay intact and the stream goes on)")
                .mutable_playing()
                .build(),
            glib::ParamSpecEnum::builder_with_default("mode", RecordMode::default())
                .nick("Mode")
                .blurb("events: one file per event from an in-memory ring (muxer-factory, fragment-duration). segments: a stock splitmuxsink child named splitmuxsink writes the stream in segments (its properties reachable as splitmuxsink::max-size-time=..., its format-location signals on the child), location is its location pattern (%d only), and only the segments that overlap an event with pre-roll and post-roll are kept: the others are deleted once the stream has passed their end + pre-roll + latency budget (or when the element stops, with or without EOS). Kept segments are posted (violence-recording action=kept) and logged (event-log). max-files counts kept segments (splitmuxsink's max-files, when set, is taken as ours)")
                .build(),
            glib::ParamSpecUInt64::builder("segment-duration")
                .nick("Segment duration")
                .blurb("mode=segments: nanoseconds per segment, given to splitmuxsink as max-size-time with send-keyframe-requests (splitmuxsink::max-size-time on the launch line wins); segments start at keyframes, so they are at least one GOP long")
                .minimum(SECOND / 10)
                .maximum(MAX_TIME)
                .default_value(DEFAULT_SEGMENT_DURATION)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("event-log")
                .nick("Event log")
                .blurb("Path of a JSON Lines file (appended) with one line per start, end and finished file: wall-clock time, stream and running time, score, region and file path. Unset = no log")
                .build(),
        ]
    }

    /// Sets a property; false when this element has no property of that name.
    pub fn set(&mut self, name: &str, value: &glib::Value) -> bool {
        let s = self;
        match name {
            "location" => {
                s.location = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| DEFAULT_LOCATION.into())
            }
            "pre-roll" => s.pre_roll = value.get().unwrap_or(DEFAULT_PRE_ROLL),
            "post-roll" => s.post_roll = value.get().unwrap_or(DEFAULT_POST_ROLL),
            "max-event-duration" => {
                s.max_event_duration = value.get().unwrap_or(DEFAULT_MAX_EVENT_DURATION)
            }
            "muxer-factory" => {
                s.muxer_factory = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| DEFAULT_MUXER.into())
            }
            "fragment-duration" => {
                s.fragment_duration = value.get().unwrap_or(DEFAULT_FRAGMENT_DURATION)
            }
            "max-files" => s.max_files = value.get().unwrap_or(DEFAULT_MAX_FILES),
            "source" => {
                s.source = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .filter(|n| !n.is_empty())
            }
            "keyframe-interval" => {
                s.keyframe_interval = value.get().unwrap_or(DEFAULT_KEYFRAME_INTERVAL)
            }
            "latency-budget" => s.latency_budget = value.get().unwrap_or(DEFAULT_LATENCY_BUDGET),
            "on-write-error" => s.on_write_error = value.get().unwrap_or_default(),
            "mode" => s.mode = value.get().unwrap_or_default(),
            "segment-duration" => {
                s.segment_duration = value.get().unwrap_or(DEFAULT_SEGMENT_DURATION)
            }
            "audio-timeout" => s.audio_timeout = value.get().unwrap_or(DEFAULT_AUDIO_TIMEOUT),
            "event-log" => {
                s.event_log = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .filter(|n| !n.is_empty())
            }
            _ => return false,
        }
        true
    }

    /// The value of a property; `None` when this element has no property of that name.
    pub fn get(&self, name: &str) -> Option<glib::Value> {
        let s = self;
        let value = match name {
            "location" => s.location.to_value(),
            "pre-roll" => s.pre_roll.to_value(),
            "post-roll" => s.post_roll.to_value(),
            "max-event-duration" => s.max_event_duration.to_value(),
            "muxer-factory" => s.muxer_factory.to_value(),
            "fragment-duration" => s.fragment_duration.to_value(),
            "max-files" => s.max_files.to_value(),
            "source" => s.source.to_value(),
            "keyframe-interval" => s.keyframe_interval.to_value(),
            "latency-budget" => s.latency_budget.to_value(),
            "event-log" => s.event_log.to_value(),
            "on-write-error" => s.on_write_error.to_value(),
            "mode" => s.mode.to_value(),
            "segment-duration" => s.segment_duration.to_value(),
            "audio-timeout" => s.audio_timeout.to_value(),
            _ => return None,
        };
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_property_reads_back_as_its_default() {
        gst::init().unwrap();
        let settings = Settings::default();
        for pspec in Settings::properties() {
            let name = pspec.name();
            let value = settings
                .get(name)
                .unwrap_or_else(|| panic!("{name} has no value"));
            let default = pspec.default_value();
            assert_eq!(
                value.serialize().ok(),
                default.serialize().ok(),
                "{}",
                pspec.name()
            );
        }
    }

    #[test]
    fn cleared_strings_fall_back_to_their_defaults() {
        let mut s = Settings::default();
        assert!(s.set("location", &"x-%d.mkv".to_value()));
        assert!(s.set("location", &None::<String>.to_value()));
        assert_eq!(s.location, DEFAULT_LOCATION);
        assert!(s.set("source", &"".to_value()));
        assert_eq!(s.source, None, "an empty name means in-band events");
        assert!(s.set("source", &"default, people,".to_value()));
        assert_eq!(s.source_names(), ["default", "people"]);
        assert!(!s.set("no-such-property", &1u32.to_value()));
        assert_eq!(s.config().pre_roll, DEFAULT_PRE_ROLL);
    }
}
