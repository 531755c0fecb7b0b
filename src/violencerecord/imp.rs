use super::location;
use super::recorder::{Action, CloseReason, Config, Frame, Mark, Recorder, Signal};
use super::WriteErrorPolicy;
use crate::event::{EventKind, ViolenceEvent};
use crate::meta::{ViolenceMeta, ViolenceState};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
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
            max_files: 0,
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

/// One file being written: `appsrc ! muxer ! filesink` in its own bin.
struct Branch {
    bin: gst::Bin,
    appsrc: gst_app::AppSrc,
    location: String,
    first_pts: Option<gst::ClockTime>,
    last_pts: Option<gst::ClockTime>,
    end_pts: Option<gst::ClockTime>,
    frames: u64,
    reason: &'static str,
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
    /// The out-of-band source, its signal handler and the probe reading its level state.
    source: Option<(
        glib::WeakRef<gst::Element>,
        glib::SignalHandlerId,
        Option<gst::PadProbeId>,
    )>,
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

/// Branches whose muxer is finishing, by bin name.
#[derive(Default)]
struct Closing {
    branches: HashMap<String, Branch>,
    /// Branches taken out of `branches` whose file is being finalized and reported: EOS
    /// waits for these too, so the `closed` message always precedes the bin's EOS.
    finishing: usize,
}

pub struct ViolenceRecord {
    settings: Mutex<Settings>,
    state: Mutex<State>,
    closing: Mutex<Closing>,
    closed: Condvar,
    /// Files written, oldest first (for max-files).
    files: Mutex<VecDeque<String>>,
    log: Mutex<Option<std::fs::File>>,
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
            files: Mutex::new(VecDeque::new()),
            log: Mutex::new(None),
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

fn opt_ns(t: Option<gst::ClockTime>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| t.nseconds().into())
}

impl ViolenceRecord {
    fn on_sample(&self, sink: &gst_app::AppSink) -> Result<gst::FlowSuccess, gst::FlowError> {
        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
        let Some(buffer) = sample.buffer_owned() else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
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
                    branch.appsrc.set_caps(Some(&caps));
                }
                state.caps = Some(caps);
            }
        }
        let Some(ts) = buffer.pts().or(buffer.dts()) else {
            gst::debug!(CAT, imp = self, "buffer without timestamp, not recorded");
            return Ok(gst::FlowSuccess::Ok);
        };
        let Some(rt) = state.segment.to_running_time(ts) else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let rt = rt.nseconds();
        if let Some(meta) = buffer.meta::<ViolenceMeta>() {
            let info = meta.payload();
            let clip_start = info
                .clip_window
                .and_then(|(a, _)| state.segment.to_running_time(a))
                .map(|t| t.nseconds());
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
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let actions = state.recorder.eos();
        if let Err(e) = self.execute(&mut state, actions) {
            gst::warning!(CAT, imp = self, "finishing the last file at EOS: {e:?}");
        }
        drop(state);
        self.wait_closed();
    }

    /// Waits until every branch that was told to close has finalized its file.
    fn wait_closed(&self) {
        let closing = self.closing.lock().unwrap_or_else(|e| e.into_inner());
        let (closing, timeout) = self
            .closed
            .wait_timeout_while(closing, FINALIZE_TIMEOUT, |c| {
                !c.branches.is_empty() || c.finishing > 0
            })
            .unwrap_or_else(|e| e.into_inner());
        if timeout.timed_out() {
            gst::warning!(
                CAT,
                imp = self,
                "{} file(s) not finalized after {:?}",
                closing.branches.len(),
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
        let Some(branch) = state.branch.as_mut() else {
            return Ok(());
        };
        let pts = buffer.pts();
        // The file gets running time, so a segment change upstream keeps it monotonic.
        let mut out = buffer.copy();
        {
            let b = out.make_mut();
            b.set_pts(pts.and_then(|t| state.segment.to_running_time(t)));
            b.set_dts(buffer.dts().and_then(|t| state.segment.to_running_time(t)));
        }
        branch
            .first_pts
            .get_or_insert_with(|| pts.unwrap_or_default());
        if let Some(pts) = pts {
            branch.last_pts = Some(branch.last_pts.map_or(pts, |l| l.max(pts)));
            let end = pts + buffer.duration().unwrap_or_default();
            branch.end_pts = Some(branch.end_pts.map_or(end, |e| e.max(end)));
        }
        branch.frames += 1;
        if branch.appsrc.push_buffer(out).is_err() {
            gst::warning!(CAT, imp = self, "{} no longer takes data", branch.location);
        }
        Ok(())
    }

    fn write_error_policy(&self) -> WriteErrorPolicy {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .on_write_error
    }

    fn next_location(&self, state: &mut State) -> Result<String, gst::FlowError> {
        let pattern = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .location
            .clone();
        let index = state.file_index;
        state.file_index = state.file_index.wrapping_add(1);
        let now = glib::DateTime::now_local().map_err(|_| gst::FlowError::Error)?;
        location::format(&pattern, index, &now).map_err(|e| {
            gst::element_imp_error!(self, gst::ResourceError::Settings, ["{}", e]);
            gst::FlowError::Error
        })
    }

    fn open(
        &self,
        state: &mut State,
        location: String,
        first: &gst::Buffer,
    ) -> Result<Branch, gst::FlowError> {
        let settings = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let index = state.file_index;
        let make = |factory: &str| {
            gst::ElementFactory::make(factory).build().map_err(|_| {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::MissingPlugin,
                    ["element {} is not available", factory]
                );
                gst::FlowError::Error
            })
        };
        let appsrc = gst_app::AppSrc::builder()
            .format(gst::Format::Time)
            .is_live(false)
            .block(false)
            .build();
        appsrc.set_caps(state.caps.as_ref());
        let mux = make(&settings.muxer_factory)?;
        if mux.find_property("fragment-duration").is_some() && settings.fragment_duration > 0 {
            mux.set_property("fragment-duration", settings.fragment_duration);
        }
        let filesink = make("filesink")?;
        filesink.set_property("location", &location);
        filesink.set_property("async", false);
        filesink.set_property("sync", false);
        // Unbuffered: what the muxer wrote is on disk if the process is killed.
        filesink.set_property_from_str("buffer-mode", "unbuffered");
        let bin = gst::Bin::with_name(&format!("file-{index}"));
        let linked = bin
            .add_many([appsrc.upcast_ref(), &mux, &filesink])
            .map_err(|e| e.to_string())
            .and_then(|_| link_video(&appsrc, &mux, state.caps.as_ref()))
            .and_then(|_| mux.link(&filesink).map_err(|e| e.to_string()));
        if let Err(e) = linked {
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
        let obj = self.obj();
        if obj.add(&bin).is_err() || bin.sync_state_with_parent().is_err() {
            let _ = bin.set_state(gst::State::Null);
            let _ = obj.remove(&bin);
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
        gst::info!(CAT, imp = self, "opened {location}");
        let pts = first.pts();
        let rt = pts.and_then(|t| state.segment.to_running_time(t));
        let _ = obj.post_message(
            gst::message::Element::builder(
                gst::Structure::builder("violence-recording")
                    .field("action", "opened")
                    .field("location", &location)
                    .field("first-pts", pts)
                    .field("running-time", rt)
                    .build(),
            )
            .src(&*obj)
            .build(),
        );
        Ok(Branch {
            bin,
            appsrc,
            location,
            first_pts: None,
            last_pts: None,
            end_pts: None,
            frames: 0,
            reason: "",
        })
    }

    /// Tells the branch to finish; its EOS message (see handle_message) finalizes it.
    fn close(&self, mut branch: Branch, reason: CloseReason) {
        branch.reason = reason.as_str();
        let appsrc = branch.appsrc.clone();
        self.closing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .branches
            .insert(branch.bin.name().to_string(), branch);
        let _ = appsrc.end_of_stream();
    }

    /// The muxer of a closing branch has written everything: stop it, remove it, report.
    fn finalize(&self, name: &str, failed: bool) {
        let branch = {
            let mut closing = self.closing.lock().unwrap_or_else(|e| e.into_inner());
            let branch = closing.branches.remove(name);
            if branch.is_some() {
                closing.finishing += 1;
            }
            branch
        };
        let Some(branch) = branch else {
            return;
        };
        let _ = branch.bin.set_state(gst::State::Null);
        let _ = self.obj().remove(&branch.bin);
        if !failed {
            self.report_closed(&branch);
        }
        let mut closing = self.closing.lock().unwrap_or_else(|e| e.into_inner());
        closing.finishing -= 1;
        if closing.branches.is_empty() && closing.finishing == 0 {
            self.closed.notify_all();
        }
        drop(closing);
    }

    fn report_closed(&self, branch: &Branch) {
        let duration = match (branch.first_pts, branch.end_pts) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        gst::info!(
            CAT,
            imp = self,
            "closed {} ({} frames, {:?})",
            branch.location,
            branch.frames,
            duration
        );
        let obj = self.obj();
        let _ = obj.post_message(
            gst::message::Element::builder(
                gst::Structure::builder("violence-recording")
                    .field("action", "closed")
                    .field("location", &branch.location)
                    .field("first-pts", branch.first_pts)
                    .field("last-pts", branch.last_pts)
                    .field("duration", duration)
                    .field("frames", branch.frames)
                    .field("reason", branch.reason)
                    .build(),
            )
            .src(&*obj)
            .build(),
        );
        self.log_line(serde_json::json!({
            "time": wall_clock(),
            "event": "file",
            "file": branch.location,
            "first-pts": opt_ns(branch.first_pts),
            "last-pts": opt_ns(branch.last_pts),
            "duration": opt_ns(duration),
            "frames": branch.frames,
            "reason": branch.reason,
        }));
        let max_files = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .max_files;
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.push_back(branch.location.clone());
        while max_files > 0 && files.len() > max_files as usize {
            if let Some(old) = files.pop_front() {
                match std::fs::remove_file(&old) {
                    Ok(()) => gst::info!(CAT, imp = self, "max-files: removed {old}"),
                    Err(e) => gst::warning!(CAT, imp = self, "max-files: cannot remove {old}: {e}"),
                }
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
        let region = info
            .as_ref()
            .and_then(|e| e.region)
            .map(|r| serde_json::json!({"x": r.x, "y": r.y, "width": r.width, "height": r.height}));
        self.log_line(serde_json::json!({
            "time": wall_clock(),
            "event": match mark { Mark::Start => "start", Mark::End => "end" },
            "stream-time": opt_ns(stream_time),
            "running-time": rt,
            "score": info.as_ref().map(|e| e.score),
            "region": region,
            "stream-id": info.as_ref().map(|e| e.stream_id.clone()),
            "reconciled": info.is_none(),
            "file": state
                .branch
                .as_ref()
                .map(|b| b.location.clone())
                .or_else(|| state.open_wanted.clone()),
        }));
    }

    fn log_line(&self, value: serde_json::Value) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = log.as_mut() {
            let line = format!("{value}\n");
            if let Err(e) = file.write_all(line.as_bytes()) {
                gst::warning!(CAT, imp = self, "event log: {e}");
            }
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
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.recorder.signal(Signal {
            mark,
            rt: event.running_time,
            latency: event.latency,
            info: Some(event),
        });
    }

    fn connect_source(&self) -> Result<(), gst::StateChangeError> {
        let Some(name) = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .source
            .clone()
        else {
            return Ok(());
        };
        let mut top: gst::Object = self.obj().clone().upcast();
        while let Some(parent) = top.parent() {
            top = parent;
        }
        let found = top
            .downcast_ref::<gst::Bin>()
            .and_then(|b| b.by_name(&name))
            .filter(|e| e.factory().is_some_and(|f| f.name() == "violenceclassify"));
        let Some(element) = found else {
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
        let weak = self.obj().downgrade();
        let id = element.connect("violence-event", false, move |args| {
            let obj = weak.upgrade()?;
            let s = args.get(1)?.get::<gst::Structure>().ok()?;
            if let Some(event) = ViolenceEvent::from_structure(&s) {
                obj.imp().on_event(event);
            }
            None
        });
        gst::info!(CAT, imp = self, "out-of-band events from {name}");
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // Its level state (ViolenceMeta on its output) repairs what the signal could not
        // say, e.g. an event that began before this element was connected.
        let weak = self.obj().downgrade();
        let probe = element.static_pad("src").and_then(|pad| {
            pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                let (Some(obj), Some(buffer)) = (weak.upgrade(), info.buffer()) else {
                    return gst::PadProbeReturn::Ok;
                };
                let Some(meta) = buffer.meta::<ViolenceMeta>() else {
                    return gst::PadProbeReturn::Ok;
                };
                let segment = pad
                    .sticky_event::<gst::event::Segment>(0)
                    .and_then(|e| e.segment().downcast_ref::<gst::ClockTime>().cloned());
                let (Some(segment), Some(pts)) = (segment, buffer.pts()) else {
                    return gst::PadProbeReturn::Ok;
                };
                let rt = |t| segment.to_running_time(t).map(|t| t.nseconds());
                if let Some(now) = rt(pts) {
                    let info = meta.payload();
                    let clip_start = info.clip_window.and_then(|(a, _)| rt(a));
                    let mut state = obj.imp().state.lock().unwrap_or_else(|e| e.into_inner());
                    state
                        .recorder
                        .level(now, info.state == ViolenceState::Violent, clip_start);
                }
                gst::PadProbeReturn::Ok
            })
        });
        state.source = Some((element.downgrade(), id, probe));
        Ok(())
    }

    fn disconnect_source(&self) {
        let source = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .source
            .take();
        if let Some((weak, id, probe)) = source {
            if let Some(element) = weak.upgrade() {
                element.disconnect(id);
                if let (Some(pad), Some(probe)) = (element.static_pad("src"), probe) {
                    pad.remove_probe(probe);
                }
            }
        }
    }

    fn prepare(&self) -> Result<(), gst::StateChangeError> {
        let settings = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
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
        let log = match &settings.event_log {
            Some(path) => match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                Ok(f) => Some(f),
                Err(e) => {
                    gst::element_imp_error!(
                        self,
                        gst::ResourceError::OpenWrite,
                        ["event-log {}: {}", path, e]
                    );
                    return Err(gst::StateChangeError);
                }
            },
            None => None,
        };
        *self.log.lock().unwrap_or_else(|e| e.into_inner()) = log;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *state = State::default();
        state.recorder.set_config(settings.config());
        Ok(())
    }

    /// Removes what is left of branches (after a stop without EOS).
    fn cleanup(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let open = state.branch.take();
        drop(state);
        let closing: Vec<Branch> = self
            .closing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .branches
            .drain()
            .map(|(_, b)| b)
            .collect();
        for branch in open.into_iter().chain(closing) {
            let _ = branch.bin.set_state(gst::State::Null);
            let _ = self.obj().remove(&branch.bin);
            gst::info!(CAT, imp = self, "stopped with {} open", branch.location);
        }
        self.closed.notify_all();
        *self.log.lock().unwrap_or_else(|e| e.into_inner()) = None;
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
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.branch.as_ref().is_some_and(|b| b.bin.name() == name) {
            if let Some(b) = state.branch.take() {
                self.closing
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .branches
                    .insert(name.to_string(), b);
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

/// Links appsrc to the muxer's video pad (requested from the template that takes `caps`).
fn link_video(
    appsrc: &gst_app::AppSrc,
    mux: &gst::Element,
    caps: Option<&gst::Caps>,
) -> Result<(), String> {
    let templ = mux.pad_template_list().into_iter().find(|t| {
        t.direction() == gst::PadDirection::Sink && caps.is_some_and(|c| t.caps().can_intersect(c))
    });
    let Some(templ) = templ else {
        return Err("the muxer has no pad for these caps".into());
    };
    let sinkpad = match templ.presence() {
        gst::PadPresence::Request => mux.request_pad(&templ, None, None),
        _ => mux.static_pad(templ.name_template()),
    }
    .ok_or_else(|| format!("no {} pad on the muxer", templ.name_template()))?;
    let srcpad = appsrc.static_pad("src").ok_or("appsrc without src pad")?;
    srcpad
        .link(&sinkpad)
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

fn wall_clock() -> String {
    glib::DateTime::now_utc()
        .ok()
        .and_then(|t| {
            t.format("%Y-%m-%dT%H:%M:%S")
                .ok()
                .map(|s| format!("{s}.{:06}Z", t.microsecond()))
        })
        .unwrap_or_default()
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
                    .default_value(0)
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
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
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
            "max-files" => s.max_files = value.get().unwrap_or(0),
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
        let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
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
                            let in_band = imp
                                .settings
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .source
                                .is_none();
                            if let Some(e) = c
                                .structure()
                                .filter(|_| in_band)
                                .and_then(ViolenceEvent::from_structure)
                            {
                                imp.on_event(e);
                            }
                        }
                        gst::EventView::FlushStop(_) => {
                            let mut state = imp.state.lock().unwrap_or_else(|e| e.into_inner());
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
            gst::subclass::ElementMetadata::new(
                "Violence recorder",
                "Sink/Video/Bin",
                "Writes one finalized file per violence event from encoded, parsed video \
                 (in-band after an encoder, or out-of-band from a named violenceclassify), \
                 from the last keyframe at or before start - pre-roll to end + post-roll. \
                 Posts violence-recording messages (action=opened/closed). Never blocks \
                 upstream: files are written by their own muxer branch",
                "gst-violence",
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
