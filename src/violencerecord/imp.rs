// SPDX-License-Identifier: MPL-2.0

//! Lock order: `settings` → `state` → `closing` → `rotation` → `log`. `closing` is taken
//! alone by the threads that finalize files, since a branch's EOS or error message may be
//! posted from a thread that holds `state`.

use super::branch::{Branch, BuildError, Closing, MuxerSpec};
use super::journal::{self, EventLog, Rotation};
use super::location;
use super::recorder::{Action, CloseReason, Config, Frame, Mark, Recorder, Signal};
use super::source::{self, Level, SourceConnection};
use super::WriteErrorPolicy;
use crate::event::{EventKind, ViolenceEvent};
use crate::meta::{ViolenceMeta, ViolenceState};
use crate::MutexExt;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::Duration;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "violencerecord",
        gst::DebugColorFlags::empty(),
        Some("Violence event recorder"),
    )
});

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
/// How long EOS waits for the muxers of open files to finish.
const FINALIZE_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_TIME: u64 = 3600 * SECOND;

const SINK_CAPS: &str = "video/x-h264, alignment=(string)au, \
     stream-format=(string){ avc, avc3, byte-stream }; \
     video/x-h265, alignment=(string)au, stream-format=(string){ hvc1, hev1, byte-stream }";

#[derive(Debug, Clone)]
struct Settings {
    location: String,
    pre_roll: u64,
    post_roll: u64,
    max_event_duration: u64,
    muxer_factory: String,
    fragment_duration: u32,
    max_files: u32,
    source: Option<String>,
    keyframe_interval: u64,
    latency_budget: u64,
    event_log: Option<String>,
    on_write_error: WriteErrorPolicy,
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
        }
    }
}

impl Settings {
    fn config(&self) -> Config {
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

struct State {
    recorder: Recorder<gst::Buffer, ViolenceEvent>,
    /// An Open took effect: the file's location; the branch is made at the first frame
    /// written.
    open_wanted: Option<String>,
    branch: Option<Branch>,
    file_index: u32,
    segment: gst::FormattedSegment<gst::ClockTime>,
    caps: Option<gst::Caps>,
    source: Option<SourceConnection>,
}

impl Default for State {
    fn default() -> Self {
        State {
            recorder: Recorder::new(Config::default()),
            open_wanted: None,
            branch: None,
            file_index: 0,
            segment: gst::FormattedSegment::new(),
            caps: None,
            source: None,
        }
    }
}

impl State {
    fn running_time(&self, t: gst::ClockTime) -> Option<u64> {
        self.segment
            .to_running_time(t)
            .map(gst::ClockTime::nseconds)
    }
}

pub struct ViolenceRecord {
    settings: Mutex<Settings>,
    state: Mutex<State>,
    /// Branches whose muxer is finishing, by bin name.
    closing: Mutex<Closing<Branch>>,
    closed: Condvar,
    rotation: Mutex<Rotation>,
    log: Mutex<EventLog>,
    appsink: gst_app::AppSink,
    sinkpad: gst::GhostPad,
}

#[glib::object_subclass]
impl ObjectSubclass for ViolenceRecord {
    const NAME: &'static str = "GstViolenceRecord";
    type Type = super::ViolenceRecord;
    type ParentType = gst::Bin;

    fn with_class(klass: &Self::Class) -> Self {
        let appsink = gst_app::AppSink::builder()
            .name("ring")
            .sync(false)
            .async_(false)
            .qos(false)
            .enable_last_sample(false)
            .max_buffers(1)
            .caps(&gst::Caps::from_str_or_any(SINK_CAPS))
            .build();
        let sinkpad = match klass.pad_template("sink") {
            Some(templ) => gst::GhostPad::builder_from_template(&templ)
                .name("sink")
                .build(),
            None => gst::GhostPad::builder(gst::PadDirection::Sink)
                .name("sink")
                .build(),
        };
        ViolenceRecord {
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
            closing: Mutex::new(Closing::default()),
            closed: Condvar::new(),
            rotation: Mutex::new(Rotation::default()),
            log: Mutex::new(EventLog::default()),
            appsink,
            sinkpad,
        }
    }
}

trait CapsExt {
    fn from_str_or_any(s: &str) -> gst::Caps;
}

impl CapsExt for gst::Caps {
    fn from_str_or_any(s: &str) -> gst::Caps {
        s.parse().unwrap_or_else(|_| gst::Caps::new_any())
    }
}

fn clock(ns: u64) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(ns)
}

impl ViolenceRecord {
    fn on_sample(&self, sink: &gst_app::AppSink) -> Result<gst::FlowSuccess, gst::FlowError> {
        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
        let Some(buffer) = sample.buffer_owned() else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let mut state = self.state.locked();
        if let Some(segment) = sample
            .segment()
            .and_then(|s| s.downcast_ref::<gst::ClockTime>())
        {
            state.segment = segment.clone();
        }
        if let Some(caps) = sample.caps() {
            if state.caps.as_ref() != Some(&caps.to_owned()) {
                let caps = caps.to_owned();
                if let Some(branch) = &state.branch {
                    branch.set_caps(&caps);
                }
                state.caps = Some(caps);
            }
        }
        let Some(ts) = buffer.pts().or(buffer.dts()) else {
            gst::debug!(CAT, imp = self, "buffer without timestamp, not recorded");
            return Ok(gst::FlowSuccess::Ok);
        };
        let Some(rt) = state.running_time(ts) else {
            return Ok(gst::FlowSuccess::Ok);
        };
        if let Some(meta) = buffer.meta::<ViolenceMeta>() {
            let info = meta.payload();
            let clip_start = info
                .clip_window
                .and_then(|(first, _)| state.running_time(first));
            state
                .recorder
                .level(rt, info.state == ViolenceState::Violent, clip_start);
        }
        let key = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let actions = state.recorder.push(Frame {
            rt,
            key,
            data: buffer,
        });
        let request = self.execute(&mut state, actions)?;
        drop(state);
        if request {
            self.request_keyframe();
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn on_eos(&self) {
        let mut state = self.state.locked();
        let actions = state.recorder.eos();
        if let Err(e) = self.execute(&mut state, actions) {
            gst::warning!(CAT, imp = self, "finishing the last file at EOS: {e:?}");
        }
        drop(state);
        self.wait_closed();
    }

    /// Waits until every branch that was told to close has finalized its file.
    fn wait_closed(&self) {
        let closing = self.closing.locked();
        let (closing, timeout) = self
            .closed
            .wait_timeout_while(closing, FINALIZE_TIMEOUT, |c| !c.is_idle())
            .unwrap_or_else(|e| e.into_inner());
        if timeout.timed_out() {
            gst::warning!(
                CAT,
                imp = self,
                "{} file(s) not finalized after {:?}",
                closing.len(),
                FINALIZE_TIMEOUT
            );
        }
    }

    /// Carries out the recorder's decisions; returns whether to ask for a keyframe.
    fn execute(
        &self,
        state: &mut State,
        actions: Vec<Action<gst::Buffer, ViolenceEvent>>,
    ) -> Result<bool, gst::FlowError> {
        let mut request = false;
        for action in actions {
            match action {
                Action::Open => state.open_wanted = Some(self.next_location(state)?),
                Action::Write(buffer) => self.write(state, buffer)?,
                Action::Close(reason) => {
                    state.open_wanted = None;
                    if let Some(branch) = state.branch.take() {
                        self.close(branch, reason);
                    }
                }
                Action::RequestKeyframe => request = true,
                Action::Applied(mark, rt, info) => self.log_mark(state, mark, rt, info),
            }
        }
        Ok(request)
    }

    fn write(&self, state: &mut State, buffer: gst::Buffer) -> Result<(), gst::FlowError> {
        if state.branch.is_none() {
            let Some(location) = state.open_wanted.take() else {
                return Ok(());
            };
            let branch = match self.open(state, location, &buffer) {
                Ok(branch) => branch,
                // The warning is posted; the event goes unrecorded, the stream goes on.
                Err(_) if self.write_error_policy() == WriteErrorPolicy::Skip => return Ok(()),
                Err(e) => return Err(e),
            };
            state.branch = Some(branch);
        }
        let State {
            branch, segment, ..
        } = state;
        if let Some(branch) = branch.as_mut() {
            if !branch.push(&buffer, segment) {
                gst::warning!(CAT, imp = self, "{} no longer takes data", branch.location);
            }
        }
        Ok(())
    }

    fn write_error_policy(&self) -> WriteErrorPolicy {
        self.settings.locked().on_write_error
    }

    fn next_location(&self, state: &mut State) -> Result<String, gst::FlowError> {
        let pattern = self.settings.locked().location.clone();
        let index = state.file_index;
        state.file_index = state.file_index.wrapping_add(1);
        let now = glib::DateTime::now_local().map_err(|_| gst::FlowError::Error)?;
        location::format(&pattern, index, &now).map_err(|e| {
            gst::element_imp_error!(self, gst::ResourceError::Settings, ["{}", e]);
            gst::FlowError::Error
        })
    }

    /// Builds the branch of a new file, adds it and starts it; `first` is its first frame.
    fn open(
        &self,
        state: &mut State,
        location: String,
        first: &gst::Buffer,
    ) -> Result<Branch, gst::FlowError> {
        let settings = self.settings.locked().clone();
        let muxer = MuxerSpec {
            factory: &settings.muxer_factory,
            fragment_duration: settings.fragment_duration,
        };
        let branch = match Branch::build(state.file_index, location, muxer, state.caps.as_ref()) {
            Ok(branch) => branch,
            Err(BuildError::MissingElement(factory)) => {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::MissingPlugin,
                    ["element {} is not available", factory]
                );
                return Err(gst::FlowError::Error);
            }
            Err(BuildError::Link(e)) => {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Negotiation,
                    [
                        "cannot build appsrc ! {} ! filesink: {}",
                        settings.muxer_factory,
                        e
                    ]
                );
                return Err(gst::FlowError::NotNegotiated);
            }
        };
        let obj = self.obj();
        if obj.add(&branch.bin).is_err() || branch.bin.sync_state_with_parent().is_err() {
            branch.remove_from(obj.upcast_ref());
            let location = &branch.location;
            if settings.on_write_error == WriteErrorPolicy::Skip {
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::OpenWrite,
                    [
                        "cannot start writing {}: this event is not recorded",
                        location
                    ]
                );
            } else {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::OpenWrite,
                    ["cannot start writing {}", location]
                );
            }
            return Err(gst::FlowError::Error);
        }
        gst::info!(CAT, imp = self, "opened {}", branch.location);
        let opened = branch.opened_structure(first, &state.segment);
        let _ = obj.post_message(gst::message::Element::builder(opened).src(&*obj).build());
        Ok(branch)
    }

    /// Tells the branch to finish; its EOS message (see handle_message) finalizes it.
    fn close(&self, mut branch: Branch, reason: CloseReason) {
        branch.reason = reason.as_str();
        let appsrc = branch.appsrc().clone();
        self.closing.locked().insert(branch.name(), branch);
        let _ = appsrc.end_of_stream();
    }

    /// The muxer of a closing branch has written everything: stop it, remove it, report.
    fn finalize(&self, name: &str, failed: bool) {
        let Some(branch) = self.closing.locked().take(name) else {
            return;
        };
        branch.remove_from(self.obj().upcast_ref());
        if !failed {
            self.report_closed(&branch);
        }
        if self.closing.locked().finished() {
            self.closed.notify_all();
        }
    }

    fn report_closed(&self, branch: &Branch) {
        gst::info!(
            CAT,
            imp = self,
            "closed {} ({} frames, {:?})",
            branch.location,
            branch.span.frames,
            branch.span.duration()
        );
        let obj = self.obj();
        let closed = branch.closed_structure();
        let _ = obj.post_message(gst::message::Element::builder(closed).src(&*obj).build());
        self.log_line(journal::file_line(branch, &journal::wall_clock()));
        let max_files = self.settings.locked().max_files;
        let expired = self
            .rotation
            .locked()
            .add(branch.location.clone(), max_files);
        for old in expired {
            match std::fs::remove_file(&old) {
                Ok(()) => gst::info!(CAT, imp = self, "max-files: removed {old}"),
                Err(e) => gst::warning!(CAT, imp = self, "max-files: cannot remove {old}: {e}"),
            }
        }
    }

    fn log_mark(&self, state: &State, mark: Mark, rt: u64, info: Option<ViolenceEvent>) {
        let stream_time = info
            .as_ref()
            .and_then(|e| state.segment.to_stream_time(clock(e.pts)))
            .or_else(|| {
                state
                    .segment
                    .position_from_running_time(clock(rt))
                    .and_then(|p| state.segment.to_stream_time(p))
            });
        let file = state
            .branch
            .as_ref()
            .map(|b| b.location.as_str())
            .or(state.open_wanted.as_deref());
        let time = journal::wall_clock();
        self.log_line(journal::mark_line(
            mark,
            rt,
            info.as_ref(),
            stream_time,
            file,
            &time,
        ));
    }

    fn log_line(&self, value: serde_json::Value) {
        if let Err(e) = self.log.locked().write(&value) {
            gst::warning!(CAT, imp = self, "event log: {e}");
        }
    }

    fn request_keyframe(&self) {
        gst::debug!(CAT, imp = self, "asking upstream for a keyframe");
        let event = gst_video::UpstreamForceKeyUnitEvent::builder()
            .all_headers(true)
            .build();
        let _ = self.sinkpad.push_event(event);
    }

    /// A violence event, in-band or from the source element's signal.
    fn on_event(&self, event: ViolenceEvent) {
        let mark = match event.kind {
            EventKind::Start => Mark::Start,
            EventKind::End => Mark::End,
            EventKind::Score => return,
        };
        gst::debug!(
            CAT,
            imp = self,
            "{} at {}",
            event.kind.name(),
            clock(event.running_time)
        );
        let mut state = self.state.locked();
        state.recorder.signal(Signal {
            mark,
            rt: event.running_time,
            latency: event.latency,
            info: Some(event),
        });
    }

    fn connect_source(&self) -> Result<(), gst::StateChangeError> {
        let Some(name) = self.settings.locked().source.clone() else {
            return Ok(());
        };
        let obj = self.obj();
        let Some(element) = source::find(obj.upcast_ref(), &name) else {
            gst::element_imp_error!(
                self,
                gst::CoreError::Failed,
                [
                    "source: no violenceclassify named {} in this pipeline",
                    name
                ]
            );
            return Err(gst::StateChangeError);
        };
        let on_event = {
            let weak = obj.downgrade();
            move |event| {
                if let Some(obj) = weak.upgrade() {
                    obj.imp().on_event(event);
                }
            }
        };
        // Its level state (ViolenceMeta on its output) repairs what the signal could not
        // say, e.g. an event that began before this element was connected.
        let on_level = {
            let weak = obj.downgrade();
            move |level: Level| {
                if let Some(obj) = weak.upgrade() {
                    let mut state = obj.imp().state.locked();
                    state
                        .recorder
                        .level(level.now, level.violent, level.clip_start);
                }
            }
        };
        let connection = SourceConnection::connect(&element, on_event, on_level);
        gst::info!(CAT, imp = self, "out-of-band events from {name}");
        self.state.locked().source = Some(connection);
        Ok(())
    }

    fn disconnect_source(&self) {
        let source = self.state.locked().source.take();
        if let Some(connection) = source {
            connection.disconnect();
        }
    }

    fn prepare(&self) -> Result<(), gst::StateChangeError> {
        let settings = self.settings.locked().clone();
        let Some(factory) = gst::ElementFactory::find(&settings.muxer_factory) else {
            gst::element_imp_error!(
                self,
                gst::CoreError::MissingPlugin,
                ["muxer-factory {} is not available", settings.muxer_factory]
            );
            return Err(gst::StateChangeError);
        };
        let ours = gst::Caps::from_str_or_any(SINK_CAPS);
        let mut caps = gst::Caps::new_empty();
        for templ in factory.static_pad_templates() {
            if templ.direction() == gst::PadDirection::Sink {
                caps.merge(ours.intersect(&templ.caps()));
            }
        }
        if caps.is_empty() {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                [
                    "muxer-factory {} takes neither H.264 nor H.265",
                    settings.muxer_factory
                ]
            );
            return Err(gst::StateChangeError);
        }
        self.appsink.set_caps(Some(&caps));
        if let Err(e) = location::format(
            &settings.location,
            0,
            &glib::DateTime::now_local().map_err(|_| gst::StateChangeError)?,
        ) {
            gst::element_imp_error!(self, gst::ResourceError::Settings, ["{}", e]);
            return Err(gst::StateChangeError);
        }
        let log = EventLog::open(settings.event_log.as_deref()).map_err(|e| {
            gst::element_imp_error!(self, gst::ResourceError::OpenWrite, ["{}", e]);
            gst::StateChangeError
        })?;
        *self.log.locked() = log;
        let mut state = self.state.locked();
        *state = State::default();
        state.recorder.set_config(settings.config());
        Ok(())
    }

    /// Removes what is left of branches (after a stop without EOS).
    fn cleanup(&self) {
        let open = self.state.locked().branch.take();
        let closing = self.closing.locked().drain();
        let obj = self.obj();
        for branch in open.into_iter().chain(closing) {
            branch.remove_from(obj.upcast_ref());
            gst::info!(CAT, imp = self, "stopped with {} open", branch.location);
        }
        self.closed.notify_all();
        *self.log.locked() = EventLog::default();
    }

    /// The branch bin (a direct child of ours named file-N) that `src` belongs to.
    fn branch_of(&self, src: &gst::Object) -> Option<String> {
        let obj = self.obj();
        let mut cur = src.clone();
        loop {
            let parent = cur.parent()?;
            if parent == *obj.upcast_ref::<gst::Object>() {
                let name = cur.name();
                return name.starts_with("file-").then(|| name.to_string());
            }
            cur = parent;
        }
    }

    /// A branch failed: if it is the open file, stop writing to it. Runs on its own thread
    /// (the error may have been posted from a thread that holds the state lock).
    fn abandon_current(&self, name: &str) {
        let mut state = self.state.locked();
        if state.branch.as_ref().is_some_and(|b| b.name() == name) {
            if let Some(b) = state.branch.take() {
                self.closing.locked().insert(name.to_string(), b);
            }
        }
    }

    fn spawn_finalize(&self, name: String, failed: bool) {
        let weak = self.obj().downgrade();
        let spawned = std::thread::Builder::new()
            .name("violencerecord-close".into())
            .spawn(move || {
                if let Some(obj) = weak.upgrade() {
                    let imp = obj.imp();
                    if failed {
                        imp.abandon_current(&name);
                    }
                    imp.finalize(&name, failed);
                }
            });
        if let Err(e) = spawned {
            gst::warning!(CAT, imp = self, "cannot start the closing thread: {e}");
        }
    }
}

impl ObjectImpl for ViolenceRecord {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
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
                    .blurb("Milliseconds per fragment for muxers that have a fragment-duration property (mp4mux): at most this much is lost when the process dies; 0 leaves the muxer's own (non-fragmented mp4mux is not crash-safe)")
                    .maximum(3_600_000)
                    .default_value(DEFAULT_FRAGMENT_DURATION)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-files")
                    .nick("Maximum files")
                    .blurb("Keep at most this many finished files written by this element in this run, deleting the oldest; 0 = keep all")
                    .default_value(DEFAULT_MAX_FILES)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("source")
                    .nick("Event source")
                    .blurb("Name of a violenceclassify in the same pipeline (searched from the top-level bin) whose violence-event signal drives recording out-of-band, matched by running time; in-band events are then ignored. Unset = in-band events")
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
                glib::ParamSpecEnum::builder_with_default("on-write-error", WriteErrorPolicy::default())
                    .nick("On write error")
                    .blurb("What a file that cannot be opened or written (read-only folder, full disk) does: error-on-open, error, or skip (a warning; files already finished stay intact and the stream goes on)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("event-log")
                    .nick("Event log")
                    .blurb("Path of a JSON Lines file (appended) with one line per start, end and finished file: wall-clock time, stream and running time, score, region and file path. Unset = no log")
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.locked();
        match pspec.name() {
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
            "on-write-error" => s.on_write_error = value.get().unwrap(),
            "event-log" => {
                s.event_log = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .filter(|n| !n.is_empty())
            }
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.locked();
        match pspec.name() {
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
            _ => pspec.default_value().clone(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        if obj.add(&self.appsink).is_err() {
            gst::error!(CAT, imp = self, "cannot add the ring sink");
            return;
        }
        if let Some(pad) = self.appsink.static_pad("sink") {
            let _ = self.sinkpad.set_target(Some(&pad));
            // In-band events, in stream order, before the frames they precede.
            let weak = obj.downgrade();
            pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                let Some(obj) = weak.upgrade() else {
                    return gst::PadProbeReturn::Ok;
                };
                let imp = obj.imp();
                if let Some(gst::PadProbeData::Event(event)) = &info.data {
                    match event.view() {
                        gst::EventView::CustomDownstream(c) => {
                            let in_band = imp.settings.locked().source.is_none();
                            if let Some(e) = c
                                .structure()
                                .filter(|_| in_band)
                                .and_then(ViolenceEvent::from_structure)
                            {
                                imp.on_event(e);
                            }
                        }
                        gst::EventView::FlushStop(_) => {
                            let mut state = imp.state.locked();
                            let actions = state.recorder.flush();
                            let _ = imp.execute(&mut state, actions);
                        }
                        _ => (),
                    }
                }
                gst::PadProbeReturn::Ok
            });
        }
        let _ = self.sinkpad.set_active(true);
        let _ = obj.add_pad(&self.sinkpad);
        let weak = obj.downgrade();
        let weak_eos = obj.downgrade();
        self.appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| match weak.upgrade() {
                    Some(obj) => obj.imp().on_sample(sink),
                    None => Err(gst::FlowError::Flushing),
                })
                .eos(move |_| {
                    if let Some(obj) = weak_eos.upgrade() {
                        obj.imp().on_eos();
                    }
                })
                .build(),
        );
    }
}

impl GstObjectImpl for ViolenceRecord {}

impl ElementImpl for ViolenceRecord {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::with_additional(
                "Violence recorder",
                "Sink/Video/Bin",
                "Writes one finalized file per violence event from encoded, parsed video \
                 (in-band after an encoder, or out-of-band from a named violenceclassify), \
                 from the last keyframe at or before start - pre-roll to end + post-roll. \
                 Posts violence-recording messages (action=opened/closed). Never blocks \
                 upstream: files are written by their own muxer branch",
                "gst-violence",
                &[("example-launch", super::EXAMPLE_LAUNCH)],
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::from_str_or_any(SINK_CAPS);
            gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &caps,
            )
            .map(|t| vec![t])
            .unwrap_or_default()
        });
        TEMPLATES.as_ref()
    }

    fn send_event(&self, event: gst::Event) -> bool {
        // The file branches' appsrcs make GstBin flag this bin as a source, so an EOS the
        // application sends to the pipeline (gst-launch-1.0 -e on Ctrl-C) would be pushed
        // straight into the open file and our sink, racing the frames still on their way.
        // The stream's own EOS arrives through the sink pad and closes the file in order.
        if event.type_() == gst::EventType::Eos {
            gst::debug!(
                CAT,
                imp = self,
                "EOS sent to the element: waiting for the stream's"
            );
            return true;
        }
        self.parent_send_event(event)
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::NullToReady => self.prepare()?,
            gst::StateChange::ReadyToPaused => self.connect_source()?,
            _ => (),
        }
        let res = self.parent_change_state(transition);
        match transition {
            gst::StateChange::PausedToReady => {
                self.disconnect_source();
                self.cleanup();
            }
            gst::StateChange::ReadyToNull => self.cleanup(),
            _ => (),
        }
        res
    }
}

impl BinImpl for ViolenceRecord {
    fn handle_message(&self, msg: gst::Message) {
        let branch = msg.src().and_then(|s| self.branch_of(s));
        match (msg.view(), branch) {
            (gst::MessageView::Eos(_), Some(name)) => {
                // A muxer finished its file; not the bin's EOS.
                self.spawn_finalize(name, false);
            }
            (gst::MessageView::Error(e), Some(name))
                if self.write_error_policy() == WriteErrorPolicy::Error =>
            {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::Write,
                    ("recording failed: {}", e.error()),
                    ["{:?}", e.debug()]
                );
                self.spawn_finalize(name, true);
            }
            (gst::MessageView::Error(e), Some(name)) => {
                // A file failed (disk full, ...): what was written stays; the stream goes on.
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::Write,
                    ("recording failed: {}", e.error()),
                    ["{:?}", e.debug()]
                );
                self.spawn_finalize(name, true);
            }
            _ => self.parent_handle_message(msg),
        }
    }
}
