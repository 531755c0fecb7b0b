// SPDX-License-Identifier: MPL-2.0

//! Lock order: `settings` → `state` → `closing` → `rotation` → `log`. `closing` is taken
//! alone by the threads that finalize files, since a branch's EOS or error message may be
//! posted from a thread that holds `state`. The children of each mode: `settings` →
//! `splitmux` → `audio`, never held together with `state`, `closing`, `rotation` or `log`.
//! `applied_segments` is a leaf. `audio_arrived` is waited on with `state` held (mode=segments: the first video frame
//! waiting for audio); `closed` with `closing`.

mod audio;
mod files;
mod segments;
mod start;

use super::audio_ring::AudioRing;
use super::branch::{Branch, Closing};
use super::journal::{self, EventLog, Pairing, Rotation};
use super::recorder::{Action, Config, Frame, Mark, Recorder, Signal};
use super::segment_keeper::Keeper;
use super::settings::Settings;
use super::WriteErrorPolicy;
use crate::event::{EventKind, ViolenceEvent};
use crate::meta::{ViolenceMeta, ViolenceState};
use crate::sources::either::Either;
use crate::sources::SourceConnection;
use crate::MutexExt;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::Duration;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "violencerecord",
        gst::DebugColorFlags::empty(),
        Some("Violence event recorder"),
    )
});

/// How long EOS waits for the muxers of open files to finish.
const FINALIZE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stop waits for the threads that are removing finished branches.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(5);

const SINK_CAPS: &str = "video/x-h264, alignment=(string)au, \
     stream-format=(string){ avc, avc3, byte-stream }; \
     video/x-h265, alignment=(string)au, stream-format=(string){ hvc1, hev1, byte-stream }";

struct State {
    recorder: Recorder<gst::Buffer, ViolenceEvent>,
    /// An Open took effect: the file's location; the branch is made at the first frame
    /// written.
    open_wanted: Option<String>,
    branch: Option<Branch>,
    file_index: u32,
    segment: gst::FormattedSegment<gst::ClockTime>,
    caps: Option<gst::Caps>,
    sources: Vec<SourceConnection>,
    /// mode=segments: what to keep of splitmuxsink's segments.
    keeper: Option<Keeper>,
    /// mode=segments: kept segments on disk at most (0: all).
    max_kept: u32,
    /// Encoded audio from the audio pad, by running time.
    audio_ring: AudioRing<gst::Buffer>,
    audio_segment: gst::FormattedSegment<gst::ClockTime>,
    /// The audio's caps, once it flows: a file opened then gets an audio track.
    audio_caps: Option<gst::Caps>,
    /// mode=events: which marks the event log takes.
    pairing: Pairing,
    /// mode=segments: an audio buffer has gone into splitmuxsink in this run.
    audio_flowing: bool,
    /// mode=segments: whether the video waits no more for the audio (it came, it was given
    /// up, or the element stops).
    audio_decided: bool,
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
            sources: Vec::new(),
            keeper: None,
            max_kept: 0,
            audio_ring: AudioRing::default(),
            audio_segment: gst::FormattedSegment::new(),
            audio_caps: None,
            pairing: Pairing::default(),
            audio_flowing: false,
            audio_decided: false,
        }
    }
}

impl State {
    fn running_time(&self, t: gst::ClockTime) -> Option<u64> {
        crate::running_time_ns(self.segment.upcast_ref(), t)
    }
}

pub struct ViolenceRecord {
    settings: Mutex<Settings>,
    state: Mutex<State>,
    /// Branches whose muxer is finishing, by bin name.
    closing: Mutex<Closing<Branch>>,
    closed: Condvar,
    /// Signalled when audio reaches splitmuxsink, or the element stops (mode=segments).
    audio_arrived: Condvar,
    /// Out of PLAYING (an error, a stop without EOS): sinks no longer finish an EOS, so
    /// waiting for files to finalize is pointless; what they hold is taken at cleanup.
    leaving_playing: AtomicBool,
    /// mode=segments: splitmuxsink went through a run since its last reset, so the next run
    /// resets it first (set at PAUSED->READY).
    splitmux_dirty: AtomicBool,
    /// mode=segments: the location and segment-duration given to splitmuxsink, so that a
    /// change of ours in READY reaches it, and what the launch line set on it stays otherwise
    /// (a leaf lock: nothing else is taken under it).
    applied_segments: Mutex<(String, u64)>,
    rotation: Mutex<Rotation>,
    log: Mutex<EventLog>,
    /// source=a,b: the sources' events and level states merged, held while a merged event
    /// is recorded so that two sources' threads cannot reorder a start and an end.
    either: Mutex<Either>,
    /// mode=segments: the splitmuxsink child.
    splitmux: Mutex<Option<gst::Element>>,
    /// The audio pad's appsink and the pad, once requested.
    audio: Mutex<Option<(gst_app::AppSink, gst::GhostPad)>>,
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
            audio_arrived: Condvar::new(),
            leaving_playing: AtomicBool::new(false),
            splitmux_dirty: AtomicBool::new(false),
            applied_segments: Mutex::new((String::new(), 0)),
            rotation: Mutex::new(Rotation::default()),
            log: Mutex::new(EventLog::default()),
            either: Mutex::new(Either::default()),
            splitmux: Mutex::new(None),
            audio: Mutex::new(None),
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
        self.close_open_event(&mut state, "eos");
        drop(state);
        self.wait_closed();
        self.end_audio();
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

    fn write_error_policy(&self) -> WriteErrorPolicy {
        self.settings.locked().on_write_error
    }

    fn log_mark(&self, state: &mut State, mark: Mark, rt: u64, info: Option<ViolenceEvent>) {
        if !state.pairing.admit(mark) {
            gst::debug!(
                CAT,
                imp = self,
                "{mark:?} at {rt} not logged: no start open"
            );
            return;
        }
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

    /// Every start in the log gets its end: at EOS or when the element stops (camera lost,
    /// pipeline stopped) with an event still going on, an end line with that reason, at the
    /// last frame seen.
    fn close_open_event(&self, state: &mut State, reason: &str) {
        if !state.pairing.finish() {
            return;
        }
        gst::info!(
            CAT,
            imp = self,
            "event still open at {reason}: logged as ended"
        );
        self.log_line(journal::unfinished_end_line(
            state.recorder.newest(),
            reason,
            &journal::wall_clock(),
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
        if self.segments_event(&event) {
            return;
        }
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
}

impl ObjectImpl for ViolenceRecord {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(Settings::properties);
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if !self.settings.locked().set(pspec.name(), value) {
            gst::warning!(CAT, imp = self, "unknown property {}", pspec.name());
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        self.settings
            .locked()
            .get(pspec.name())
            .unwrap_or_else(|| pspec.default_value().clone())
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
                            let in_band = imp.settings.locked().source_names().is_empty();
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
                            state.pairing.resume();
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
                 upstream: files are written by their own muxer branch. An optional audio \
                 request pad records encoded audio in the same files; mode=segments \
                 writes through a stock splitmuxsink and keeps the segments of events",
                "gst-violence",
                &[("example-launch", super::EXAMPLE_LAUNCH)],
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::from_str_or_any(SINK_CAPS);
            let video = gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &caps,
            );
            // Optional encoded audio, recorded in the same files (muxer-factory must take it).
            let audio = gst::PadTemplate::new(
                "audio",
                gst::PadDirection::Sink,
                gst::PadPresence::Request,
                &gst::Caps::from_str_or_any(audio::AUDIO_CAPS),
            );
            video.into_iter().chain(audio).collect()
        });
        TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        _name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        (templ.name_template() == "audio")
            .then(|| self.request_audio_pad(templ))
            .flatten()
    }

    fn release_pad(&self, pad: &gst::Pad) {
        self.release_audio_pad(pad);
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
            gst::StateChange::PausedToPlaying => {
                self.leaving_playing.store(false, Ordering::SeqCst)
            }
            // An EOS being finished on the streaming thread stops waiting for the muxers.
            gst::StateChange::PlayingToPaused => {
                self.leaving_playing.store(true, Ordering::SeqCst);
                let _closing = self.closing.locked();
                self.closed.notify_all();
            }
            gst::StateChange::ReadyToPaused => {
                // A run from READY starts afresh, also after an earlier run (a pipeline
                // taken back to READY and played again).
                self.reset_run();
                self.restart_segments()?;
                self.start_segments();
                self.connect_source()?
            }
            // Branches go before the bin changes its children's states (see cleanup).
            gst::StateChange::PausedToReady => {
                self.disconnect_source();
                let mut state = self.state.locked();
                // A video thread waiting for the audio must let go before the pads stop.
                state.audio_decided = true;
                self.audio_arrived.notify_all();
                self.close_open_event(&mut state, "stopped");
                drop(state);
                self.cleanup();
            }
            _ => (),
        }
        let res = self.parent_change_state(transition);
        if transition == gst::StateChange::PausedToReady {
            // splitmuxsink has closed its file: what no EOS decided is decided now. The event
            // log stays open for a next run from READY; it closes at READY->NULL.
            self.finish_segments(true);
            self.splitmux_dirty.store(true, Ordering::SeqCst);
        }
        if transition == gst::StateChange::ReadyToNull {
            // Whatever opened while stopping.
            self.cleanup();
            self.close_log();
        }
        res
    }
}

impl BinImpl for ViolenceRecord {
    fn handle_message(&self, msg: gst::Message) {
        if self.segments_message(&msg) {
            // Fragment messages and the EOS go on as splitmuxsink posted them.
            self.parent_handle_message(msg);
            return;
        }
        let branch = msg.src().and_then(|s| self.branch_of(s));
        if branch.is_none() && msg.src().is_some_and(|s| self.in_removed_branch(s)) {
            gst::debug!(CAT, imp = self, "after its branch was removed: {msg:?}");
            return;
        }
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
