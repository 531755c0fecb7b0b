//! Lock order: `settings` → `results` → `running` → `stats`; `watchdog` is taken alone.
//! `results` is held while the streaming thread waits for the model, so that `running`
//! stays free for the watchdog, property reads and state changes meanwhile.

use super::decision::{Decider, DecisionParams, EndReason, ScoredClip};
use super::scoring::{self, Applied, QueueParams, ScoringQueue, Stats, StatsTimer, Wait};
use super::{Mode, ModelErrorPolicy};
use crate::event::{EventKind, ViolenceEvent};
use crate::meta::{add_region_meta, ClipInfo, ClipMeta, ViolenceMeta, ROI_VIOLENCE};
use crate::model::contract::{inputs_to_string, parse_inputs, Colour, ModelConfig, Overrides};
use crate::model::device::device_name;
use crate::model::{self, ClipJob, DeviceRequest, JobOutcome, SharedModel};
use crate::query::{self, ClipShape};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use std::sync::{mpsc, Arc, Condvar, LazyLock, Mutex};
use std::time::{Duration, Instant};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "violenceclassify",
        gst::DebugColorFlags::empty(),
        Some("Violence classifier"),
    )
});

const DEFAULT_MIN_CONSECUTIVE: u32 = 2;
const DEFAULT_HOLD_TIME: u64 = 2_000_000_000;
const DEFAULT_STALL_TIMEOUT: u64 = 5_000_000_000;
const DEFAULT_MAX_PENDING: u32 = 2;
const DEFAULT_BATCH_SIZE: u32 = 8;
const DEFAULT_BATCH_TIMEOUT: u64 = 0;
const DEFAULT_STATS_INTERVAL: u64 = 1_000_000_000;
/// Distinguishes the streams (elements) sharing a worker, for fair batching.
static NEXT_STREAM: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[derive(Debug, Clone)]
struct Settings {
    model_location: Option<String>,
    device: DeviceRequest,
    fp16: bool,
    threshold: Option<f32>,
    release_threshold: Option<f32>,
    min_consecutive: u32,
    hold_time: u64,
    stall_timeout: u64,
    mode: Mode,
    emit_scores: bool,
    max_pending: u32,
    batch_size: u32,
    batch_timeout: u64,
    stats_interval: u64,
    on_model_error: ModelErrorPolicy,
    overrides: Overrides,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model_location: None,
            device: DeviceRequest::Auto,
            fp16: false,
            threshold: None,
            release_threshold: None,
            min_consecutive: DEFAULT_MIN_CONSECUTIVE,
            hold_time: DEFAULT_HOLD_TIME,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            mode: Mode::Auto,
            emit_scores: false,
            max_pending: DEFAULT_MAX_PENDING,
            batch_size: DEFAULT_BATCH_SIZE,
            batch_timeout: DEFAULT_BATCH_TIMEOUT,
            stats_interval: DEFAULT_STATS_INTERVAL,
            on_model_error: ModelErrorPolicy::Error,
            overrides: Overrides::default(),
        }
    }
}

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
    playing: bool,
    stream: u64,
    batch_size: usize,
    batch_timeout: Duration,
    stats_timer: StatsTimer,
}

impl Running {
    fn is_async(&self) -> bool {
        self.async_mode.unwrap_or(false)
    }
}

struct Watchdog {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        *self.stop.0.lock().unwrap() = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
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
    fn running_time(&self, pts: gst::ClockTime) -> u64 {
        let segment = self.obj().segment();
        segment
            .downcast_ref::<gst::ClockTime>()
            .and_then(|s| s.to_running_time(pts))
            .map_or(pts.nseconds(), gst::ClockTime::nseconds)
    }

    fn clip_times(&self, clip: &ClipInfo) -> ScoredClip {
        ScoredClip {
            first_pts: clip.first_pts.nseconds(),
            last_pts: clip.last_pts.nseconds(),
            first_running_time: self.running_time(clip.first_pts),
            last_running_time: self.running_time(clip.last_pts),
            score: f32::NAN,
        }
    }

    /// Loads the model and resolves its configuration: everything start() needs.
    fn load(&self) -> Result<Running, gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let Some(location) = settings.model_location.clone() else {
            return Err(gst::error_msg!(
                gst::ResourceError::NotFound,
                ["model-location is not set: give the path of a TorchScript model file"]
            ));
        };
        let model = self.open_model(&settings, &location)?;
        let config = self.resolve_config(&model, &settings, &location)?;
        let warmup = model
            .probe(&config)
            .map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ["{}", e]))?;
        let params = decision_params(&settings, &config, &location)?;
        gst::info!(
            CAT,
            imp = self,
            "model {} on {} ({}loaded in {:?}, warm-up forward {:?}): inputs={} T={} step={} {}x{} threshold={} release={}",
            location,
            device_name(model.info().device),
            if model.info().fp16 { "fp16, " } else { "" },
            model.info().load_time,
            warmup,
            inputs_to_string(&config.inputs),
            config.clip_length,
            config.frame_step,
            config.width,
            config.height,
            params.threshold,
            params.release_threshold
        );
        let (results_tx, results_rx) = mpsc::channel();
        *self.results.lock().unwrap() = Some(results_rx);
        Ok(Running {
            model,
            config,
            results_tx,
            queue: ScoringQueue::new(
                Decider::new(params),
                QueueParams {
                    max_pending: settings.max_pending as usize,
                    skip_failed: settings.on_model_error == ModelErrorPolicy::Skip,
                    emit_scores: settings.emit_scores,
                },
            ),
            stall_timeout: (settings.stall_timeout > 0)
                .then(|| Duration::from_nanos(settings.stall_timeout)),
            async_mode: match settings.mode {
                Mode::Sync => Some(false),
                Mode::Async => Some(true),
                Mode::Auto => None,
            },
            last_running_time: 0,
            last_activity: Instant::now(),
            playing: false,
            stream: NEXT_STREAM.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            batch_size: settings.batch_size as usize,
            batch_timeout: Duration::from_nanos(settings.batch_timeout),
            stats_timer: StatsTimer::new(settings.stats_interval),
        })
    }

    /// The shared model for the file and the device the settings ask for.
    fn open_model(
        &self,
        settings: &Settings,
        location: &str,
    ) -> Result<Arc<SharedModel>, gst::ErrorMessage> {
        let device = settings.device.resolve().map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::Settings,
                ["model file {}: {}", location, e]
            )
        })?;
        if settings.device == DeviceRequest::Auto {
            gst::info!(CAT, imp = self, "device=auto chose {}", device_name(device));
        }
        if settings.fp16 && !device.is_cuda() {
            gst::warning!(
                CAT,
                imp = self,
                "fp16 only applies on CUDA; running in fp32 on {}",
                device_name(device)
            );
        }
        let path = std::path::Path::new(location);
        model::acquire(path, device, settings.fp16).map_err(|e| {
            let kind = if path.exists() {
                gst::ResourceError::OpenRead
            } else {
                gst::ResourceError::NotFound
            };
            gst::error_msg!(kind, ["{}", e])
        })
    }

    /// The model's metadata() with the properties set on this element applied over it.
    fn resolve_config(
        &self,
        model: &SharedModel,
        settings: &Settings,
        location: &str,
    ) -> Result<Arc<ModelConfig>, gst::ErrorMessage> {
        let info = model.info();
        let mut overrides = settings.overrides.clone();
        overrides.threshold = settings.threshold;
        let (config, notes) = model::resolve(info.metadata.as_ref(), &overrides).map_err(|e| {
            gst::error_msg!(
                gst::LibraryError::Settings,
                ["model file {}: {}", location, e]
            )
        })?;
        for note in &notes {
            gst::info!(CAT, imp = self, "model file {location}: {note}");
        }
        if info.metadata.as_ref().is_some_and(|m| m.interim) {
            gst::warning!(
                CAT,
                imp = self,
                "model file {location} is an interim model, not trained for accuracy"
            );
        }
        Ok(Arc::new(config))
    }

    fn upstream_is_live(&self) -> bool {
        let mut q = gst::query::Latency::new();
        self.obj().sink_pad().peer_query(&mut q) && q.result().0
    }

    fn publish_stats(&self, queue: &ScoringQueue) {
        *self.stats.lock().unwrap() = queue.stats();
    }

    /// Queues a clip and sends it to the model. Returns its tag, or `None` when it was
    /// dropped (async, queue full).
    fn submit(&self, run: &mut Running, clip: ClipInfo) -> Result<Option<u64>, String> {
        let admitted = run
            .queue
            .admit(self.clip_times(&clip), clip.source_size, run.is_async());
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
        })?;
        Ok(Some(tag))
    }

    /// Applies one outcome and collects what to announce.
    fn apply(
        &self,
        run: &mut Running,
        outcome: JobOutcome,
        decided_at: u64,
        out: &mut Vec<Output>,
    ) -> Result<(), String> {
        let applied = run.queue.apply(outcome, decided_at);
        self.publish_stats(&run.queue);
        match applied? {
            Applied::Forgotten => (),
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
                events,
            } => {
                gst::debug!(
                    CAT,
                    imp = self,
                    "clip {}..{} p={:.3} (batch {}, {:?})",
                    clip.first_pts,
                    clip.last_pts,
                    clip.score,
                    batch_size,
                    forward_time
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
                gst::info!(CAT, imp = self, "violence starts at {at} (p={:.3})", event.score)
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
        let results = self.results.lock().unwrap();
        let Some(rx) = results.as_ref() else {
            return Ok(());
        };
        loop {
            let waiting = {
                let running = self.running.lock().unwrap();
                let Some(run) = running.as_ref() else {
                    return Ok(());
                };
                run.queue.awaits(wait)
            };
            let Some(outcome) = scoring::receive(rx, waiting, scoring::RESULT_TIMEOUT)? else {
                return Ok(());
            };
            let mut running = self.running.lock().unwrap();
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
                .field("clips-failed", stats.failed)
                .field("queue-length", run.queue.pending_len() as u32)
                .field("latency", stats.latency)
                .field("max-latency", stats.max_latency)
                .field("last-batch-size", stats.last_batch)
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
            let mut running = self.running.lock().unwrap();
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
            let mut running = self.running.lock().unwrap();
            let Some(run) = running.as_mut() else { return };
            let decided_at = decided_at.unwrap_or(run.last_running_time);
            run.queue.finish(reason, decided_at)
        };
        if let Some(event) = event {
            self.log_transition(&event);
            self.emit(vec![Output::Event(event)]);
        }
    }

    /// Watchdog tick: ends an event whose stream stopped delivering frames.
    fn check_stall(&self) {
        let stalled = {
            let running = self.running.lock().unwrap();
            running.as_ref().is_some_and(|run| {
                run.playing
                    && run.queue.is_violent()
                    && run
                        .stall_timeout
                        .is_some_and(|t| run.last_activity.elapsed() >= t)
            })
        };
        if stalled {
            let obj = self.obj();
            let now = obj.current_running_time().map(gst::ClockTime::nseconds);
            gst::info!(CAT, imp = self, "no frame for longer than stall-timeout");
            self.finish(EndReason::Stall, now);
        }
    }

    fn start_watchdog(&self) {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let weak = self.obj().downgrade();
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("violence-watchdog".into())
            .spawn(move || loop {
                let (lock, cvar) = &*thread_stop;
                let stopped = cvar
                    .wait_timeout(lock.lock().unwrap(), Duration::from_millis(50))
                    .unwrap()
                    .0;
                if *stopped {
                    return;
                }
                drop(stopped);
                let Some(obj) = weak.upgrade() else { return };
                obj.imp().check_stall();
            })
            .ok();
        *self.watchdog.lock().unwrap() = Some(Watchdog { stop, thread });
    }

    fn shape(&self) -> Option<ClipShape> {
        let running = self.running.lock().unwrap();
        running.as_ref().map(|run| ClipShape {
            clip_length: run.config.clip_length,
            frame_step: run.config.frame_step,
            width: run.config.width,
            height: run.config.height,
            inputs: run.config.inputs.clone(),
            hard_attention: run.config.hard_attention(),
        })
    }
}

/// θ_on from the resolved configuration, θ_off from the settings (θ_on when unset), and the
/// timing of the decisions.
fn decision_params(
    settings: &Settings,
    config: &ModelConfig,
    location: &str,
) -> Result<DecisionParams, gst::ErrorMessage> {
    let threshold = config.threshold;
    let release = settings.release_threshold.unwrap_or(threshold);
    if release > threshold {
        return Err(gst::error_msg!(
            gst::LibraryError::Settings,
            [
                "model file {}: release-threshold {} is above threshold {}",
                location,
                release,
                threshold
            ]
        ));
    }
    Ok(DecisionParams {
        threshold,
        release_threshold: release,
        min_consecutive: settings.min_consecutive,
        hold_time: settings.hold_time,
    })
}

#[glib::object_subclass]
impl ObjectSubclass for ViolenceClassify {
    const NAME: &'static str = "GstViolenceClassify";
    type Type = super::ViolenceClassify;
    type ParentType = gst_base::BaseTransform;
}

fn parse_triple(s: &str) -> Result<[f32; 3], String> {
    let values: Vec<f32> = s
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<f32>()
                .map_err(|_| format!("'{v}' is not a number"))
        })
        .collect::<Result<_, _>>()?;
    match values.as_slice() {
        [v] => Ok([*v; 3]),
        [a, b, c] => Ok([*a, *b, *c]),
        _ => Err(format!("'{s}' needs 1 or 3 comma-separated numbers")),
    }
}

fn triple_to_string(v: Option<[f32; 3]>) -> Option<String> {
    v.map(|[a, b, c]| format!("{a},{b},{c}"))
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
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("model-location")
                    .nick("Model location")
                    .blurb("Path of the TorchScript model file (with a metadata() method per the model contract)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("device")
                    .nick("Device")
                    .blurb("Where the model runs: auto (CUDA if libtorch sees a GPU, else CPU), cpu, cuda or cuda:N")
                    .default_value(Some("auto"))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("fp16")
                    .nick("Half precision")
                    .blurb("Run the model in float16 (CUDA only; ignored with a warning on the CPU)")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("threshold")
                    .nick("Threshold")
                    .blurb("θ_on: p(violent) at or above it counts towards a start. -1: the model's threshold (0.5 when it has none)")
                    .minimum(-1.0)
                    .maximum(1.0)
                    .default_value(-1.0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("release-threshold")
                    .nick("Release threshold")
                    .blurb("θ_off ≤ θ_on: p(violent) below it releases an event (hysteresis). -1: equal to threshold")
                    .minimum(-1.0)
                    .maximum(1.0)
                    .default_value(-1.0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("min-consecutive")
                    .nick("Minimum consecutive clips")
                    .blurb("Consecutive scored clips at or above threshold needed to start an event (dropped clips neither count nor break the run)")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_MIN_CONSECUTIVE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("hold-time")
                    .nick("Hold time")
                    .blurb("Nanoseconds of running time that p(violent) must stay below release-threshold before the event ends")
                    .minimum(0)
                    .maximum(u64::MAX / 2)
                    .default_value(DEFAULT_HOLD_TIME)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("stall-timeout")
                    .nick("Stall timeout")
                    .blurb("Nanoseconds (wall clock, in PLAYING) without frames after which an event in progress ends; 0 disables")
                    .minimum(0)
                    .maximum(u64::MAX / 2)
                    .default_value(DEFAULT_STALL_TIMEOUT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("mode", Mode::Auto)
                    .nick("Mode")
                    .blurb("Whether the stream waits for each clip's score (sync) or never blocks (async)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("emit-scores")
                    .nick("Emit scores")
                    .blurb("Post a violence-score message and event for every scored clip")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-pending")
                    .nick("Maximum pending clips")
                    .blurb("Async mode: clips of this stream waiting for the model; a clip beyond it is dropped and counted")
                    .minimum(1)
                    .maximum(64)
                    .default_value(DEFAULT_MAX_PENDING)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("batch-size")
                    .nick("Batch size")
                    .blurb("Most clips (from all streams sharing the model) forwarded together when this stream's clip is the oldest queued")
                    .minimum(1)
                    .maximum(256)
                    .default_value(DEFAULT_BATCH_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("batch-timeout")
                    .nick("Batch timeout")
                    .blurb("Nanoseconds this stream's oldest queued clip may wait for others to fill a batch; 0 forwards what is queued at once")
                    .maximum(10_000_000_000)
                    .default_value(DEFAULT_BATCH_TIMEOUT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("stats-interval")
                    .nick("Statistics interval")
                    .blurb("Nanoseconds of running time between two violence-stats messages (queue length, drops, latency); 0 disables them")
                    .maximum(u64::MAX / 2)
                    .default_value(DEFAULT_STATS_INTERVAL)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("on-model-error", ModelErrorPolicy::Error)
                    .nick("On model error")
                    .blurb("What a failed forward (exception, NaN or infinite outputs) does: an element error, or skip the clip with a warning")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("clips-failed")
                    .nick("Clips failed")
                    .blurb("Clips whose forward failed and were skipped (on-model-error=skip) (read-only)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt::builder("queue-length")
                    .nick("Queue length")
                    .blurb("Clips of this stream waiting for the model (read-only)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("latency")
                    .nick("Detection latency")
                    .blurb("Nanoseconds of running time from the first frame of the last scored clip to the frame its score was applied on (read-only)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("max-latency")
                    .nick("Maximum detection latency")
                    .blurb("Largest detection latency so far, in nanoseconds (read-only)")
                    .read_only()
                    .build(),
                glib::ParamSpecString::builder("inputs")
                    .nick("Model inputs")
                    .blurb("Overrides the model's inputs, in order: rgb, flow, step joined by + (e.g. rgb+flow). Unset: from metadata(), else rgb")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("clip-length")
                    .nick("Clip length")
                    .blurb("Overrides the model's clip_length (frames). 0: from metadata()")
                    .maximum(1024)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("frame-step")
                    .nick("Frame step")
                    .blurb("Overrides the model's frame_step (input frames between samples). 0: from metadata(), else 1")
                    .maximum(1000)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("width")
                    .nick("Input width")
                    .blurb("Overrides the model's input width in pixels. 0: from metadata()")
                    .maximum(4096)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("height")
                    .nick("Input height")
                    .blurb("Overrides the model's input height in pixels. 0: from metadata()")
                    .maximum(4096)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("mean")
                    .nick("Mean")
                    .blurb("Overrides the per-channel mean on the 0..1 scale, 'r,g,b' or one value. Unset: from metadata(), else 0.45")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("std")
                    .nick("Standard deviation")
                    .blurb("Overrides the per-channel std on the 0..1 scale, 'r,g,b' or one value. Unset: from metadata(), else 0.225")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("colour")
                    .nick("Colour order")
                    .blurb("Overrides the model's channel order: rgb or bgr. Unset: from metadata(), else rgb")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("clips-scored")
                    .nick("Clips scored")
                    .blurb("Clips the model has scored for this element since it started (read-only)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("clips-dropped")
                    .nick("Clips dropped")
                    .blurb("Clips dropped in async mode because max-pending clips were waiting (read-only)")
                    .read_only()
                    .build(),
                glib::ParamSpecString::builder("device-used")
                    .nick("Device used")
                    .blurb("The device the model runs on once started, e.g. cpu or cuda:0 (read-only)")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let opt_u32 = |v: &glib::Value| Some(v.get::<u32>().unwrap()).filter(|v| *v > 0);
        let opt_f32 = |v: &glib::Value| Some(v.get::<f64>().unwrap() as f32).filter(|v| *v >= 0.0);
        let name = pspec.name();
        let text = || {
            value
                .get::<Option<String>>()
                .unwrap()
                .filter(|t| !t.trim().is_empty())
        };
        let invalid = |e: String| gst::error!(CAT, imp = self, "invalid {name}: {e}; value kept");
        match name {
            "model-location" => s.model_location = text(),
            "device" => match text().as_deref().unwrap_or("auto").parse() {
                Ok(d) => s.device = d,
                Err(e) => invalid(e),
            },
            "fp16" => s.fp16 = value.get().unwrap(),
            "threshold" => s.threshold = opt_f32(value),
            "release-threshold" => s.release_threshold = opt_f32(value),
            "min-consecutive" => s.min_consecutive = value.get().unwrap(),
            "hold-time" => s.hold_time = value.get().unwrap(),
            "stall-timeout" => s.stall_timeout = value.get().unwrap(),
            "mode" => s.mode = value.get().unwrap(),
            "emit-scores" => {
                s.emit_scores = value.get().unwrap();
                if let Some(run) = self.running.lock().unwrap().as_mut() {
                    run.queue.set_emit_scores(s.emit_scores);
                }
            }
            "max-pending" => s.max_pending = value.get().unwrap(),
            "batch-size" => s.batch_size = value.get().unwrap(),
            "batch-timeout" => s.batch_timeout = value.get().unwrap(),
            "stats-interval" => s.stats_interval = value.get().unwrap(),
            "on-model-error" => s.on_model_error = value.get().unwrap(),
            "inputs" => match text().map(|t| parse_inputs(&t)).transpose() {
                Ok(v) => s.overrides.inputs = v,
                Err(e) => invalid(e),
            },
            "clip-length" => s.overrides.clip_length = opt_u32(value),
            "frame-step" => s.overrides.frame_step = opt_u32(value),
            "width" => s.overrides.width = opt_u32(value),
            "height" => s.overrides.height = opt_u32(value),
            "mean" | "std" => match text().map(|t| parse_triple(&t)).transpose() {
                Ok(v) if name == "mean" => s.overrides.mean = v,
                Ok(v) => s.overrides.std = v,
                Err(e) => invalid(e),
            },
            "colour" => match text().as_deref() {
                None => s.overrides.colour = None,
                Some("rgb") => s.overrides.colour = Some(Colour::Rgb),
                Some("bgr") => s.overrides.colour = Some(Colour::Bgr),
                Some(other) => invalid(format!("'{other}' is not rgb or bgr")),
            },
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "model-location" => s.model_location.to_value(),
            "device" => s.device.to_string().to_value(),
            "fp16" => s.fp16.to_value(),
            "threshold" => s.threshold.map_or(-1.0, f64::from).to_value(),
            "release-threshold" => s.release_threshold.map_or(-1.0, f64::from).to_value(),
            "min-consecutive" => s.min_consecutive.to_value(),
            "hold-time" => s.hold_time.to_value(),
            "stall-timeout" => s.stall_timeout.to_value(),
            "mode" => s.mode.to_value(),
            "emit-scores" => s.emit_scores.to_value(),
            "max-pending" => s.max_pending.to_value(),
            "batch-size" => s.batch_size.to_value(),
            "batch-timeout" => s.batch_timeout.to_value(),
            "stats-interval" => s.stats_interval.to_value(),
            "on-model-error" => s.on_model_error.to_value(),
            "clips-failed" => self.stats.lock().unwrap().failed.to_value(),
            "queue-length" => self.stats.lock().unwrap().queue_length.to_value(),
            "latency" => self.stats.lock().unwrap().latency.to_value(),
            "max-latency" => self.stats.lock().unwrap().max_latency.to_value(),
            "inputs" => s
                .overrides
                .inputs
                .as_deref()
                .map(inputs_to_string)
                .to_value(),
            "clip-length" => s.overrides.clip_length.unwrap_or(0).to_value(),
            "frame-step" => s.overrides.frame_step.unwrap_or(0).to_value(),
            "width" => s.overrides.width.unwrap_or(0).to_value(),
            "height" => s.overrides.height.unwrap_or(0).to_value(),
            "mean" => triple_to_string(s.overrides.mean).to_value(),
            "std" => triple_to_string(s.overrides.std).to_value(),
            "colour" => s
                .overrides
                .colour
                .map(|c| match c {
                    Colour::Rgb => "rgb",
                    Colour::Bgr => "bgr",
                })
                .to_value(),
            "clips-scored" => self.stats.lock().unwrap().scored.to_value(),
            "clips-dropped" => self.stats.lock().unwrap().dropped.to_value(),
            "device-used" => self
                .running
                .lock()
                .unwrap()
                .as_ref()
                .map(|r| device_name(r.model.info().device))
                .to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for ViolenceClassify {}

impl ElementImpl for ViolenceClassify {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Violence classifier",
                "Filter/Analyzer/Video",
                "Scores clips from clipbuffer with a TorchScript model; posts violence-start, \
                 violence-end (and violence-score) messages and serialized events, and attaches \
                 ViolenceMeta to every frame; video passes unchanged",
                "gst-violence developers",
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
                if let Some(run) = self.running.lock().unwrap().as_mut() {
                    run.playing = true;
                    run.last_activity = Instant::now();
                }
            }
            gst::StateChange::PlayingToPaused => {
                if let Some(run) = self.running.lock().unwrap().as_mut() {
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
        *self.stats.lock().unwrap() = Stats::default();
        *self.running.lock().unwrap() = Some(run);
        self.start_watchdog();
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.watchdog.lock().unwrap() = None;
        *self.running.lock().unwrap() = None;
        *self.results.lock().unwrap() = None;
        Ok(())
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
                if let Some(run) = self.running.lock().unwrap().as_mut() {
                    run.queue.set_stream_id(s.stream_id());
                }
            }
            gst::EventView::Eos(_) => {
                // Drain: every queued clip is scored before the end and EOS go on.
                let decided_at = self
                    .running
                    .lock()
                    .unwrap()
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
                if let Some(run) = self.running.lock().unwrap().as_mut() {
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
            .lock()
            .unwrap()
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
            if let Some(run) = self.running.lock().unwrap().as_mut() {
                run.async_mode = Some(live);
            }
        }
        let decided_at = {
            let mut running = self.running.lock().unwrap();
            let Some(run) = running.as_mut() else {
                return Err(gst::FlowError::Flushing);
            };
            run.last_activity = Instant::now();
            if let Some(rt) = running_time {
                run.last_running_time = rt;
            }
            run.last_running_time
        };
        let mut out = Vec::new();
        let clip = buf.meta::<ClipMeta>().map(|m| m.payload().clone());
        match clip {
            Some(clip) => self.handle_clip(clip, decided_at, &mut out)?,
            None => self
                .collect(Wait::ReadyOnly, decided_at, &mut out)
                .map_err(|e| self.model_error(e))?,
        }
        let info = {
            let mut running = self.running.lock().unwrap();
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
