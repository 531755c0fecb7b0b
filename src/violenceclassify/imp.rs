// SPDX-License-Identifier: MPL-2.0

//! Lock order: `settings` → `results` → `running` → `stats`; `watchdog` is taken alone.
//! `results` is held while the streaming thread waits for the model, so that `running`
//! stays free for the watchdog, property reads and state changes meanwhile.

mod load;
mod stall;

use stall::Watchdog;

use super::calibration;
use super::decision::{EndReason, ScoredClip};
use super::scene_cut;
use super::scoring::{self, Applied, ClipSource, ScoringQueue, Stats, StatsTimer, Wait};
use super::settings::Settings;
use crate::clipshape::ClipShape;
use crate::event::{EventKind, ViolenceEvent};
use crate::meta::{add_region_meta, ClipInfo, ClipMeta, ViolenceMeta, ROI_VIOLENCE};
use crate::model::contract::ModelConfig;
use crate::model::device::device_name;
use crate::model::{ClipJob, JobOutcome, SharedModel};
use crate::query;
use crate::MutexExt;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use std::sync::{mpsc, Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "violenceclassify",
        gst::DebugColorFlags::empty(),
        Some("Violence classifier"),
    )
});

/// The element messages of a source that stopped, then resumed, delivering frames.
const STALL_STARTED: &str = "violence-stalled";
const STALL_RESUMED: &str = "violence-resumed";

/// Distinguishes the streams (elements) sharing a worker, for fair batching.
static NEXT_STREAM: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Everything that exists between start() and stop().
struct Running {
    model: Arc<SharedModel>,
    config: Arc<ModelConfig>,
    results_tx: mpsc::Sender<JobOutcome>,
    queue: ScoringQueue,
    stall_timeout: Option<Duration>,
    /// Resolved at the first buffer (auto mode asks upstream whether it is live).
    async_mode: Option<bool>,
    last_running_time: u64,
    last_activity: Instant,
    /// A stall was announced (`violence-stalled`) and no frame came since.
    stall_reported: bool,
    playing: bool,
    stream: u64,
    batch_size: usize,
    batch_timeout: Duration,
    /// By when a clip should be scored, or be screened (`screen-after`); `None`: never.
    screen_after: Option<Duration>,
    stats_timer: StatsTimer,
    scene_cut_guard: bool,
    /// Thumbnails of the frames of the last windows (scene cuts, calibration).
    thumbnails: scene_cut::ThumbnailCache,
}

impl Running {
    fn is_async(&self) -> bool {
        self.async_mode.unwrap_or(false)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.model.release(self.stream);
    }
}

#[derive(Default)]
pub struct ViolenceClassify {
    settings: Mutex<Settings>,
    running: Mutex<Option<Running>>,
    /// Outcomes from the worker; only the streaming thread reads it.
    results: Mutex<Option<mpsc::Receiver<JobOutcome>>>,
    /// The queue's statistics as of its last change, for property reads; they outlive
    /// `running` so that the counts can be read after the stream stopped.
    stats: Mutex<Stats>,
    watchdog: Mutex<Option<Watchdog>>,
}

/// What to tell the world after the state lock is released.
enum Output {
    Event(ViolenceEvent),
    Stats(gst::Structure),
}

impl ViolenceClassify {
    /// Running time of `pts`; the PTS itself where it has none (a timestamp before the
    /// segment), so that decisions and hold times still advance.
    fn running_time(&self, pts: gst::ClockTime) -> u64 {
        crate::running_time_ns(&self.obj().segment(), pts).unwrap_or(pts.nseconds())
    }

    fn clip_times(&self, clip: &ClipInfo) -> ScoredClip {
        ScoredClip {
            first_pts: clip.first_pts.nseconds(),
            last_pts: clip.last_pts.nseconds(),
            first_running_time: self.running_time(clip.first_pts),
            last_running_time: self.running_time(clip.last_pts),
            score: f32::NAN,
            spans_cut: false,
        }
    }

    fn upstream_is_live(&self) -> bool {
        let mut q = gst::query::Latency::new();
        self.obj().sink_pad().peer_query(&mut q) && q.result().0
    }

    fn publish_stats(&self, queue: &ScoringQueue) {
        *self.stats.locked() = queue.stats();
    }

    /// Queues a clip and sends it to the model. Returns its tag, or `None` when it was
    /// dropped (async, queue full).
    fn submit(&self, run: &mut Running, clip: ClipInfo) -> Result<Option<u64>, String> {
        let mut times = self.clip_times(&clip);
        let thumbnails = (run.scene_cut_guard || run.queue.calibrates())
            .then(|| scene_cut::clip_thumbnails(&clip.rgb, &mut run.thumbnails))
            .flatten();
        let descriptor = thumbnails
            .as_deref()
            .filter(|_| run.queue.calibrates())
            .and_then(calibration::describe);
        if run.scene_cut_guard
            && thumbnails
                .as_deref()
                .is_some_and(|t| scene_cut::spans_cut(t, &clip.reframed))
        {
            gst::debug!(
                CAT,
                imp = self,
                "clip {} spans a scene cut: it cannot start an event",
                clip.first_pts
            );
            times.spans_cut = true;
        }
        let admitted = run.queue.admit(
            times,
            ClipSource {
                size: clip.source_size,
                crop: clip.crop,
            },
            run.is_async(),
            descriptor,
        );
        self.publish_stats(&run.queue);
        let Some(tag) = admitted else {
            gst::debug!(
                CAT,
                imp = self,
                "queue full ({} pending): clip {} dropped",
                run.queue.pending_len(),
                clip.first_pts
            );
            return Ok(None);
        };
        run.model.submit(ClipJob {
            clip,
            config: run.config.clone(),
            tag,
            reply: run.results_tx.clone(),
            stream: run.stream,
            batch_size: run.batch_size,
            batch_timeout: run.batch_timeout,
            // A stream that waits for each score (sync) is never behind: it is held instead.
            screen_after: run.screen_after.filter(|_| run.is_async()),
            urgent: run.queue.is_violent()
                || run
                    .queue
                    .latest()
                    .score
                    .is_some_and(|score| score >= run.queue.latest().threshold),
        })?;
        Ok(Some(tag))
    }

    /// Applies one outcome, then the held ones it lets through (in the stream's order), and
    /// collects what to announce.
    fn apply(
        &self,
        run: &mut Running,
        outcome: JobOutcome,
        decided_at: u64,
        out: &mut Vec<Output>,
    ) -> Result<(), String> {
        let mut next = Some(outcome);
        while let Some(outcome) = next {
            self.apply_one(run, outcome, decided_at, out)?;
            next = run.queue.take_ready();
        }
        Ok(())
    }

    fn apply_one(
        &self,
        run: &mut Running,
        outcome: JobOutcome,
        decided_at: u64,
        out: &mut Vec<Output>,
    ) -> Result<(), String> {
        let applied = run.queue.apply(outcome, decided_at);
        self.publish_stats(&run.queue);
        match applied? {
            Applied::Forgotten | Applied::Held => (),
            Applied::Skipped { first_pts, error } => {
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Decode,
                    [
                        "clip {} skipped: {}",
                        gst::ClockTime::from_nseconds(first_pts),
                        error
                    ]
                );
            }
            Applied::Scored {
                clip,
                batch_size,
                forward_time,
                screened,
                events,
            } => {
                gst::debug!(
                    CAT,
                    imp = self,
                    "clip {}..{} p={:.3} (batch {}, {:?}{})",
                    clip.first_pts,
                    clip.last_pts,
                    clip.score,
                    batch_size,
                    forward_time,
                    if screened { ", screened" } else { "" }
                );
                for event in events {
                    self.log_transition(&event);
                    out.push(Output::Event(event));
                }
            }
        }
        Ok(())
    }

    fn log_transition(&self, event: &ViolenceEvent) {
        let at = gst::ClockTime::from_nseconds(event.pts);
        match event.kind {
            EventKind::Start => {
                gst::info!(
                    CAT,
                    imp = self,
                    "violence starts at {at} (p={:.3})",
                    event.score
                )
            }
            EventKind::End => gst::info!(
                CAT,
                imp = self,
                "violence ends at {at} ({})",
                event.reason.as_deref().unwrap_or_default()
            ),
            EventKind::Score => (),
        }
    }

    /// Applies the outcomes that are ready, and blocks until those `wait` asks for arrive.
    fn collect(&self, wait: Wait, decided_at: u64, out: &mut Vec<Output>) -> Result<(), String> {
        let results = self.results.locked();
        let Some(rx) = results.as_ref() else {
            return Ok(());
        };
        loop {
            let waiting = {
                let running = self.running.locked();
                let Some(run) = running.as_ref() else {
                    return Ok(());
                };
                run.queue.awaits(wait)
            };
            let Some(outcome) = scoring::receive(rx, waiting, scoring::RESULT_TIMEOUT)? else {
                return Ok(());
            };
            let mut running = self.running.locked();
            let Some(run) = running.as_mut() else {
                return Ok(());
            };
            self.apply(run, outcome, decided_at, out)?;
        }
    }

    fn emit(&self, outputs: Vec<Output>) {
        let obj = self.obj();
        for output in outputs {
            match output {
                Output::Event(event) => {
                    let s = event.to_structure();
                    obj.emit_by_name::<()>("violence-event", &[&s]);
                    let _ = obj
                        .post_message(gst::message::Element::builder(s.clone()).src(&*obj).build());
                    if !obj
                        .src_pad()
                        .push_event(gst::event::CustomDownstream::new(s))
                    {
                        gst::debug!(
                            CAT,
                            imp = self,
                            "downstream did not take the {} event",
                            event.kind.name()
                        );
                    }
                }
                Output::Stats(s) => {
                    let _ = obj.post_message(gst::message::Element::builder(s).src(&*obj).build());
                }
            }
        }
    }

    /// Posts the stream's statistics every `stats-interval` of running time.
    fn stats_output(&self, run: &mut Running, now: u64, out: &mut Vec<Output>) {
        if !run.stats_timer.due(now) {
            return;
        }
        let stats = run.queue.stats();
        out.push(Output::Stats(
            gst::Structure::builder("violence-stats")
                .field("stream-id", run.queue.stream_id())
                .field("running-time", now)
                .field("clips-scored", stats.scored)
                .field("clips-dropped", stats.dropped)
                .field("clips-screened", stats.screened)
                .field("clips-failed", stats.failed)
                .field("queue-length", run.queue.pending_len() as u32)
                .field("latency", stats.latency)
                .field("max-latency", stats.max_latency)
                .field("last-batch-size", stats.last_batch)
                .field("frames-encoded", stats.frames_encoded)
                .build(),
        ));
    }

    fn model_error(&self, e: String) -> gst::FlowError {
        gst::element_imp_error!(self, gst::StreamError::Decode, ["{}", e]);
        gst::FlowError::Error
    }

    /// Scores a clip in the streaming thread's order; blocks in sync mode.
    fn handle_clip(
        &self,
        clip: ClipInfo,
        decided_at: u64,
        out: &mut Vec<Output>,
    ) -> Result<(), gst::FlowError> {
        let (tag, is_async) = {
            let mut running = self.running.locked();
            let Some(run) = running.as_mut() else {
                return Ok(());
            };
            let tag = self.submit(run, clip).map_err(|e| self.model_error(e))?;
            (tag, run.is_async())
        };
        let wait = match tag {
            Some(tag) if !is_async => Wait::Clip(tag),
            _ => Wait::ReadyOnly,
        };
        self.collect(wait, decided_at, out)
            .map_err(|e| self.model_error(e))
    }

    /// Ends an event in progress (EOS, flush, stall) and announces it.
    fn finish(&self, reason: EndReason, decided_at: Option<u64>) {
        let event = {
            let mut running = self.running.locked();
            let Some(run) = running.as_mut() else { return };
            let decided_at = decided_at.unwrap_or(run.last_running_time);
            run.queue.finish(reason, decided_at)
        };
        if let Some(event) = event {
            self.log_transition(&event);
            self.emit(vec![Output::Event(event)]);
        }
    }

    /// Learn modes: adds this stream's windows to the calibration file.
    fn save_calibration(&self, run: &mut Running) -> Result<(), gst::ErrorMessage> {
        let Some(calibration) = run.queue.take_calibration() else {
            return Ok(());
        };
        let saved = calibration
            .save_learned()
            .map_err(|e| gst::error_msg!(gst::ResourceError::Write, ["{}", e]))?;
        if let Some((file, added)) = saved {
            gst::info!(
                CAT,
                imp = self,
                "calibration: {added} windows added to {}",
                file.display()
            );
        }
        Ok(())
    }

    fn shape(&self) -> Option<ClipShape> {
        let running = self.running.locked();
        running.as_ref().map(|run| ClipShape {
            clip_length: run.config.clip_length,
            frame_step: run.config.frame_step,
            width: run.config.width,
            height: run.config.height,
            inputs: run.config.inputs.clone(),
            hard_attention: run.config.hard_attention(),
            people_crop: run.config.people_crop,
        })
    }
}

#[glib::object_subclass]
impl ObjectSubclass for ViolenceClassify {
    const NAME: &'static str = "GstViolenceClassify";
    type Type = super::ViolenceClassify;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for ViolenceClassify {
    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            // Out-of-band consumers (violencerecord source=...) get every violence-start,
            // violence-end and violence-score structure here, from the thread that decided
            // it, at the same time as the bus message.
            vec![glib::subclass::Signal::builder("violence-event")
                .param_types([gst::Structure::static_type()])
                .build()]
        });
        SIGNALS.as_ref()
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(Settings::properties);
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let name = pspec.name();
        let mut settings = self.settings.locked();
        if let Err(e) = settings.set(name, value) {
            gst::error!(CAT, imp = self, "invalid {name}: {e}; value kept");
        } else if name == "emit-scores" {
            // The only setting that changes while running.
            if let Some(run) = self.running.locked().as_mut() {
                run.queue.set_emit_scores(settings.emit_scores);
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if let Some(value) = self.settings.locked().get(pspec.name()) {
            return value;
        }
        let stats = *self.stats.locked();
        match pspec.name() {
            "clips-scored" => stats.scored.to_value(),
            "clips-dropped" => stats.dropped.to_value(),
            "clips-screened" => stats.screened.to_value(),
            "frames-encoded" => stats.frames_encoded.to_value(),
            "clips-failed" => stats.failed.to_value(),
            "queue-length" => stats.queue_length.to_value(),
            "latency" => stats.latency.to_value(),
            "max-latency" => stats.max_latency.to_value(),
            "device-used" => self
                .running
                .locked()
                .as_ref()
                .map(|r| device_name(r.model.info().device))
                .to_value(),
            "clip-shape" => self.shape().map(|s| s.to_structure()).to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for ViolenceClassify {}

impl ElementImpl for ViolenceClassify {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::with_additional(
                "Violence classifier",
                "Filter/Analyzer/Video",
                "Scores clips from clipbuffer with a TorchScript model; posts violence-start, \
                 violence-end (and violence-score) messages and serialized events, and attaches \
                 ViolenceMeta to every frame; video passes unchanged",
                "gst-violence developers",
                &[("example-launch", super::EXAMPLE_LAUNCH)],
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::builder("video/x-raw").build();
            crate::src_sink_templates(&caps)
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::PausedToPlaying => {
                if let Some(run) = self.running.locked().as_mut() {
                    run.playing = true;
                    run.last_activity = Instant::now();
                }
            }
            gst::StateChange::PlayingToPaused => {
                if let Some(run) = self.running.locked().as_mut() {
                    run.playing = false;
                }
            }
            _ => (),
        }
        self.parent_change_state(transition)
    }
}

impl BaseTransformImpl for ViolenceClassify {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let run = self.load()?;
        *self.stats.locked() = Stats::default();
        *self.running.locked() = Some(run);
        self.start_watchdog();
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.watchdog.locked() = None;
        let run = self.running.locked().take();
        *self.results.locked() = None;
        match run {
            Some(mut run) => self.save_calibration(&mut run),
            None => Ok(()),
        }
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        if direction == gst::PadDirection::Sink && query::is_model_config_query(query) {
            return match self.shape() {
                Some(shape) => query::answer_model_config_query(query, &shape),
                None => false,
            };
        }
        BaseTransformImplExt::parent_query(self, direction, query)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let Some(clip) = query::read_eos_clip_event(&event) {
            // The last partial window at EOS; it is ours, nobody downstream needs it.
            let decided_at = self.clip_times(&clip).last_running_time;
            let mut out = Vec::new();
            if let Err(gst::FlowError::Error) = self.handle_clip(clip, decided_at, &mut out) {
                return false;
            }
            self.emit(out);
            return true;
        }
        match event.view() {
            gst::EventView::StreamStart(s) => {
                if let Some(run) = self.running.locked().as_mut() {
                    run.queue.set_stream_id(s.stream_id());
                }
            }
            gst::EventView::Eos(_) => {
                // Drain: every queued clip is scored before the end and EOS go on.
                let decided_at = self
                    .running
                    .locked()
                    .as_ref()
                    .map_or(0, |r| r.last_running_time);
                let mut out = Vec::new();
                if let Err(e) = self.collect(Wait::AllPending, decided_at, &mut out) {
                    self.emit(out);
                    let _ = self.model_error(e);
                } else {
                    self.emit(out);
                }
                self.finish(EndReason::Eos, None);
            }
            gst::EventView::FlushStop(_) => {
                let forwarded = self.parent_sink_event(event);
                if let Some(run) = self.running.locked().as_mut() {
                    run.queue.flush();
                }
                self.finish(EndReason::Flush, None);
                return forwarded;
            }
            _ => (),
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let running_time = buf.pts().map(|pts| self.running_time(pts));
        let needs_mode = self
            .running
            .locked()
            .as_ref()
            .is_some_and(|r| r.async_mode.is_none());
        if needs_mode {
            let live = self.upstream_is_live();
            gst::info!(
                CAT,
                imp = self,
                "mode=auto: upstream is {}live, running {}",
                if live { "" } else { "not " },
                if live { "async" } else { "sync" }
            );
            if let Some(run) = self.running.locked().as_mut() {
                run.async_mode = Some(live);
            }
        }
        let (decided_at, resumed) = {
            let mut running = self.running.locked();
            let Some(run) = running.as_mut() else {
                return Err(gst::FlowError::Flushing);
            };
            run.last_activity = Instant::now();
            if let Some(rt) = running_time {
                run.last_running_time = rt;
            }
            (
                run.last_running_time,
                std::mem::take(&mut run.stall_reported),
            )
        };
        if resumed {
            // Posted without the lock: a bus sync handler may read our properties.
            gst::info!(CAT, imp = self, "frames again after a stall");
            self.post_stall(STALL_RESUMED, decided_at, None);
        }
        let mut out = Vec::new();
        let clip = buf.meta::<ClipMeta>().map(|m| m.payload().clone());
        match clip {
            Some(clip) => self.handle_clip(clip, decided_at, &mut out)?,
            None => self
                .collect(Wait::ReadyOnly, decided_at, &mut out)
                .map_err(|e| self.model_error(e))?,
        }
        let info = {
            let mut running = self.running.locked();
            let Some(run) = running.as_mut() else {
                return Err(gst::FlowError::Flushing);
            };
            if let Some(event) = run.queue.on_time(decided_at) {
                self.log_transition(&event);
                out.push(Output::Event(event));
            }
            self.stats_output(run, decided_at, &mut out);
            run.queue.latest().clone()
        };
        self.emit(out);
        if let Some(region) = info.region {
            add_region_meta(buf, ROI_VIOLENCE, region, info.score.unwrap_or(0.0) as f64);
        }
        ViolenceMeta::add(buf, info);
        Ok(gst::FlowSuccess::Ok)
    }
}
