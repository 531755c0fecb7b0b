// SPDX-License-Identifier: MPL-2.0

//! One pool of inference workers per (model file, device, precision, pool size) in the
//! process (docs/architecture.md "Threads"). Each worker batches clips from the streams
//! assigned to it into one forward, run on its forward thread, which owns a copy of the
//! TorchScript module (libtorch's no-grad state is per thread). For a model with a `screen`,
//! the worker's own thread holds a second copy and screens the clips a forward would score too
//! late (`Shedding`) while the forward runs. A stream keeps its worker (`placement`): a model's
//! memo of per-frame work (and ours, `FrameCache`) lives in that worker.

mod attend;

use crate::meta::{ClipInfo, FramePlanes};
use crate::model::batching;
use crate::model::contract::{violent_probability, InputKind, ModelConfig, ModelMetadata};
use crate::model::device::device_name;
use crate::model::frame_cache::FrameCache;
use crate::model::frame_encoder;
use crate::model::inputs::{flow_input, moving_stripes, rgb_input, step_one_hot};
use crate::model::output::output_rows;
use crate::model::placement::Placement;
use crate::model::threads::set_thread_count_once;
use crate::MutexExt;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};
use tch::{CModule, Device, Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ModelKey {
    path: PathBuf,
    device: Device,
    fp16: bool,
    workers: usize,
}

/// What the element needs to know once the model is loaded.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    pub path: PathBuf,
    pub device: Device,
    pub fp16: bool,
    /// `None` when the file has no `metadata()` method.
    pub metadata: Option<ModelMetadata>,
    pub load_time: Duration,
}

/// The result of scoring one clip.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipScore {
    pub probability: f32,
    /// Forwards taken for this clip (1 for whole-frame models).
    pub steps: u32,
    /// Where the model looked last, relative (x, y, w, h), when it chose a region.
    pub region: Option<[f32; 4]>,
    /// Time of the forward that scored this clip (shared by its batch).
    pub forward_time: Duration,
    pub batch_size: usize,
    /// Frames of this clip that a frame encoder encoded for it (0 for models without one:
    /// see `ModelConfig::frame_encoder`).
    pub frames_encoded: u32,
    /// Scored by the model's `screen` rather than its forward (`ClipJob::screen_after`).
    pub screened: bool,
}

/// A clip sent to the worker; the outcome comes back on `reply` with the same `tag`.
pub struct ClipJob {
    pub clip: ClipInfo,
    pub config: Arc<ModelConfig>,
    pub tag: u64,
    pub reply: mpsc::Sender<JobOutcome>,
    /// The element (stream) the clip comes from, for fair batching.
    pub stream: u64,
    /// Most clips forwarded together, and how long the oldest clip may wait for more.
    pub batch_size: usize,
    pub batch_timeout: Duration,
    /// A clip that a full forward would score this long or later after it reached the worker
    /// is scored by the model's `screen` (`ModelConfig::screen`), and its stream with it for a
    /// while (`Shedding`); `None`: never.
    pub screen_after: Option<Duration>,
    /// The stream is in an event, or its last score reached the threshold: the decision is
    /// being made now, so a screened stream with such a clip gets its full forward before
    /// the others (`Shedding`).
    pub urgent: bool,
}

impl ClipJob {
    /// Whether this clip, queued at `arrived`, is to be screened in a batch formed at `now`
    /// when a full forward takes about `forward` now.
    /// An urgent clip is only overdue once it has waited `screen_after` itself: it would
    /// otherwise be screened again as soon as a long forward keeps it waiting.
    fn overdue(&self, arrived: Instant, now: Instant, forward: Duration) -> bool {
        let forward = if self.urgent { Duration::ZERO } else { forward };
        self.screenable() && too_late(self.screen_after, arrived, now, forward)
    }

    /// Whether this clip may be screened at all: its element screens, and the model has a
    /// screen.
    fn screenable(&self) -> bool {
        self.config.screen && self.screen_after.is_some()
    }
}

/// Streams screened at least this long. Screening single windows saves no verifier work: a
/// window shares 6 of the 8 frames its verifier encodes with the one before, and the memo
/// has them, so the next verified window encodes the skipped one's frames. Only a run of 4 or
/// more screened windows (about 1 s at 30 fps and clipbuffer's stride) spares frames.
const SCREEN_AT_LEAST: Duration = Duration::from_secs(2);
/// A worker with no overdue clip for this long gives one stream back its full forward ...
const CALM_BEFORE_RELEASE: Duration = Duration::from_secs(1);
/// ... when it also spent less than this share of the last `BUSY_WINDOW` scoring: a forward
/// that finds the cores taken by decoders and the other workers runs late however few clips
/// wait, and one stream given back costs about 8 % of a worker's time.
const RELEASE_BELOW_BUSY: f64 = 0.65;
const BUSY_WINDOW: Duration = Duration::from_secs(2);

/// A stream the worker has not had a clip of for this long is new to it again.
const STREAM_FORGOTTEN_AFTER: Duration = Duration::from_secs(10);

/// A queued clip as `Shedding::pick` sees it.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    stream: u64,
    /// A full forward would score it later than its `screen_after`.
    overdue: bool,
    /// It may be screened at all (`screen_after` set, the model has a screen).
    screenable: bool,
    urgent: bool,
}

/// Load shedding by streams: a stream with an overdue clip is screened, all its clips,
/// until the worker has kept up for a while; then the streams are given back their full
/// forward one at a time, the longest screened first, so that a released stream's cold
/// verifier windows come one stream at a time and the screened cameras take turns.
///
/// A screened stream with an urgent clip (`ClipJob::urgent`: in an event, or its last
/// score at the threshold) trades places with a stream that is not, at most once a second:
/// under load the verifier looks where an event may start or end, and the screen, which
/// decides as the cheap stage alone, looks at the quiet cameras.
///
/// A stream new to a worker that already serves another starts screened (a slow start):
/// when a box starts, every camera's first windows are cold, and their verifier work came
/// all at once, a second or more of forwards during which every camera of the worker waited
/// (most of the clips still dropped at 16 cameras fell there). A camera added to a running
/// box is taken in the same way, when the worker has room.
#[derive(Debug, Default)]
struct Shedding {
    /// Screened streams, in the order they were screened, and since when.
    screened: VecDeque<(u64, Instant)>,
    last_overdue: Option<Instant>,
    last_release: Option<Instant>,
    /// The worker's passes (start, end) within the last `BUSY_WINDOW`.
    passes: VecDeque<(Instant, Instant)>,
    /// When each stream last had a clip queued, for `STREAM_FORGOTTEN_AFTER`.
    seen: HashMap<u64, Instant>,
}

impl Shedding {
    fn screens(&self, stream: u64) -> bool {
        self.screened.iter().any(|(s, _)| *s == stream)
    }

    /// A pass of the worker's, screen or forward, from `start` to `end`.
    fn record(&mut self, start: Instant, end: Instant) {
        self.passes.push_back((start, end));
    }

    /// The share of the last `BUSY_WINDOW` the worker spent scoring, its screens and its
    /// forward thread's forwards added up.
    fn busy(&mut self, now: Instant) -> f64 {
        let from = now.checked_sub(BUSY_WINDOW).unwrap_or(now);
        self.passes.retain(|(_, end)| *end > from);
        let busy: Duration = self
            .passes
            .iter()
            .map(|(start, end)| end.saturating_duration_since((*start).max(from)))
            .sum();
        busy.as_secs_f64() / BUSY_WINDOW.as_secs_f64()
    }

    /// Of the queued clips, in queue order, those to screen now: the overdue ones, every
    /// clip of a screened stream, and those of a stream new to a busy worker.
    fn pick(&mut self, clips: impl Iterator<Item = Candidate>, now: Instant) -> Vec<usize> {
        let calm = |last: Option<Instant>| {
            last.is_none_or(|t| now.saturating_duration_since(t) >= CALM_BEFORE_RELEASE)
        };
        let served_enough = self
            .screened
            .front()
            .is_some_and(|(_, since)| now.saturating_duration_since(*since) >= SCREEN_AT_LEAST);
        if served_enough
            && calm(self.last_overdue)
            && calm(self.last_release)
            && self.busy(now) < RELEASE_BELOW_BUSY
        {
            self.screened.pop_front();
            self.last_release = Some(now);
        }
        self.seen
            .retain(|_, last| now.saturating_duration_since(*last) < STREAM_FORGOTTEN_AFTER);
        // A stream that stopped leaves the screened ones, not to hold up the next release.
        let seen = &self.seen;
        self.screened
            .retain(|(stream, _)| seen.contains_key(stream));
        let clips: Vec<Candidate> = clips.collect();
        self.swap_for_urgent(&clips, now);
        let mut chosen = Vec::new();
        for (i, clip) in clips.into_iter().enumerate() {
            let Candidate {
                stream,
                overdue,
                screenable,
                ..
            } = clip;
            let known = self.seen.contains_key(&stream);
            let serving_others = self.seen.keys().any(|s| *s != stream);
            self.seen.insert(stream, now);
            if !known && serving_others && screenable && !self.screens(stream) {
                self.screened.push_back((stream, now));
            }
            if overdue {
                self.last_overdue = Some(now);
                if !self.screens(stream) {
                    self.screened.push_back((stream, now));
                }
            }
            if self.screens(stream) {
                chosen.push(i);
            }
        }
        chosen
    }

    /// Gives the first screened stream with an urgent clip its full forward, and screens in
    /// its place the first stream with a full forward and no urgent clip, if one is queued.
    fn swap_for_urgent(&mut self, clips: &[Candidate], now: Instant) {
        let since_release = self
            .last_release
            .map_or(CALM_BEFORE_RELEASE, |t| now.saturating_duration_since(t));
        if since_release < CALM_BEFORE_RELEASE {
            return;
        }
        let Some(urgent) = clips
            .iter()
            .find(|c| c.urgent && self.screens(c.stream))
            .map(|c| c.stream)
        else {
            return;
        };
        let urgent_streams: Vec<u64> = clips
            .iter()
            .filter(|c| c.urgent)
            .map(|c| c.stream)
            .collect();
        let quiet = clips.iter().find(|c| {
            c.screenable && !urgent_streams.contains(&c.stream) && !self.screens(c.stream)
        });
        self.screened.retain(|(s, _)| *s != urgent);
        if let Some(quiet) = quiet {
            self.screened.push_back((quiet.stream, now));
        }
        self.last_release = Some(now);
    }
}

/// Whether a clip queued at `arrived` would be scored `screen_after` or more after it
/// arrived, were a full forward of about `forward` started `now`. The forward counts for at
/// most half of `screen_after`: a clip that just arrived always gets a full forward, which
/// keeps the estimate of its time current.
fn too_late(
    screen_after: Option<Duration>,
    arrived: Instant,
    now: Instant,
    forward: Duration,
) -> bool {
    screen_after.is_some_and(|after| {
        now.saturating_duration_since(arrived) + forward.min(after / 2) >= after
    })
}

/// Which of the model's methods scores a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Forward,
    /// `screen`, for clips that waited too long (`ClipJob::screen_after`).
    Screen,
}

#[derive(Debug)]
pub struct JobOutcome {
    pub tag: u64,
    pub result: Result<ClipScore, String>,
}

enum Request {
    Infer(Box<ClipJob>),
    /// Forward zeros of this configuration once: warms up and checks the output shape; with
    /// `true`, the element may screen clips (async, `screen-after`), so the worker's screen
    /// copy is loaded for a model that declares one.
    Probe(
        Arc<ModelConfig>,
        bool,
        mpsc::Sender<Result<Duration, String>>,
    ),
}

/// A handle on a loaded model shared by every element that uses the same file, device and
/// pool size.
pub struct SharedModel {
    key: ModelKey,
    info: LoadedModel,
    workers: Workers,
    placement: Mutex<Placement>,
}

/// The worker threads and their queues. Dropping it closes the queues and waits for every
/// thread to finish its batch and free its model: threads still freeing libtorch memory
/// while the process ran its exit handlers crashed 3 of 4 runs of the budget benchmark
/// (a segmentation fault or "malloc(): unsorted double linked list corrupted" at exit).
struct Workers {
    /// One queue per worker thread.
    requests: Vec<mpsc::Sender<Request>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Set when the pool is dropped: the clips still queued have nobody waiting for them.
    closing: Arc<AtomicBool>,
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
        self.requests.clear();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for SharedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("SharedModel")
            .field("key", &self.key)
            .finish()
    }
}

static WORKERS: LazyLock<Mutex<HashMap<ModelKey, Weak<SharedModel>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Returns the pool of `workers` inference threads for (path, device, fp16), loading the
/// model (once per worker) on first use. Errors name the file and the problem.
pub fn acquire(
    path: &Path,
    device: Device,
    fp16: bool,
    workers: usize,
) -> Result<Arc<SharedModel>, String> {
    let shown = path.display().to_string();
    let canonical = std::fs::canonicalize(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("model file {shown} does not exist"),
        _ => format!("model file {shown} cannot be opened: {e}"),
    })?;
    if canonical.is_dir() {
        return Err(format!(
            "model file {shown} is a directory, not a TorchScript file"
        ));
    }
    let key = ModelKey {
        path: canonical.clone(),
        device,
        // Half precision only exists for us on CUDA.
        fp16: fp16 && device.is_cuda(),
        workers: workers.max(1),
    };
    let mut pools = WORKERS.locked();
    pools.retain(|_, w| w.strong_count() > 0);
    if let Some(existing) = pools.get(&key).and_then(Weak::upgrade) {
        return Ok(existing);
    }
    // The workers load their copies side by side; the first failure is the answer.
    // On an early return the threads already started are closed and joined with `workers`.
    let mut workers = Workers {
        requests: Vec::with_capacity(key.workers),
        threads: Vec::with_capacity(key.workers),
        closing: Arc::new(AtomicBool::new(false)),
    };
    let mut loading = Vec::with_capacity(key.workers);
    for index in 0..key.workers {
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let (thread_key, closing) = (key.clone(), workers.closing.clone());
        let thread = std::thread::Builder::new()
            // Linux keeps 15 bytes of a thread's name.
            .name(format!("vinfer-{}-{index}", device_name(device)))
            .spawn(move || worker_main(thread_key, rx, ready_tx, closing))
            .map_err(|e| format!("cannot start an inference thread for {shown}: {e}"))?;
        workers.requests.push(tx);
        workers.threads.push(thread);
        loading.push(ready_rx);
    }
    let mut info = None;
    for ready in loading {
        let loaded = ready
            .recv()
            .map_err(|_| format!("an inference thread for {shown} stopped while loading"))??;
        info.get_or_insert(loaded);
    }
    let shared = Arc::new(SharedModel {
        key: key.clone(),
        info: info.expect("at least one worker"),
        workers,
        placement: Mutex::new(Placement::new(key.workers)),
    });
    pools.insert(key, Arc::downgrade(&shared));
    Ok(shared)
}

impl SharedModel {
    pub fn info(&self) -> &LoadedModel {
        &self.info
    }

    /// Inference threads in the pool.
    pub fn workers(&self) -> usize {
        self.workers.requests.len()
    }

    /// Runs one forward of zeros shaped by `config` on every worker: warm-up, and the
    /// first-forward check of the contract. Blocks until done; the slowest forward. With
    /// `may_screen` (an element that may screen clips), a model with a `screen` gets its
    /// second copy on every worker now (about 120 MB each with the default).
    pub fn probe(&self, config: &Arc<ModelConfig>, may_screen: bool) -> Result<Duration, String> {
        let replies = self
            .workers
            .requests
            .iter()
            .map(|requests| {
                let (tx, rx) = mpsc::channel();
                requests
                    .send(Request::Probe(config.clone(), may_screen, tx))
                    .map_err(|_| self.gone())?;
                Ok(rx)
            })
            .collect::<Result<Vec<_>, String>>()?;
        let mut slowest = Duration::ZERO;
        for rx in replies {
            slowest = slowest.max(rx.recv().map_err(|_| self.gone())??);
        }
        Ok(slowest)
    }

    /// Queues a clip on its stream's worker (`placement`); never blocks.
    pub fn submit(&self, job: ClipJob) -> Result<(), String> {
        let worker = self.placement.locked().choose(job.stream);
        self.workers.requests[worker]
            .send(Request::Infer(Box::new(job)))
            .map_err(|_| self.gone())
    }

    /// Forgets a stream that stopped: new streams fill its place.
    pub fn release(&self, stream: u64) {
        self.placement.locked().release(stream);
    }

    fn gone(&self) -> String {
        format!(
            "the inference thread for {} has stopped",
            self.key.path.display()
        )
    }
}

fn load(key: &ModelKey) -> Result<(CModule, LoadedModel), String> {
    let shown = key.path.display();
    let started = Instant::now();
    let mut module = CModule::load_on_device(&key.path, key.device).map_err(|e| {
        format!(
            "model file {shown} is not a loadable TorchScript module: {}",
            frame_encoder::informative_line(&e.to_string())
        )
    })?;
    module
        .f_set_eval()
        .map_err(|e| format!("model file {shown}: set_eval failed: {e}"))?;
    if key.fp16 {
        module.to(key.device, Kind::Half, false);
    }
    let metadata = match module.method_is::<tch::IValue>("metadata", &[]) {
        Ok(tch::IValue::String(json)) => {
            Some(ModelMetadata::from_json(&json).map_err(|e| format!("model file {shown}: {e}"))?)
        }
        Ok(other) => {
            return Err(format!(
                "model file {shown}: metadata() returned {other:?}, not a JSON string"
            ))
        }
        Err(e) if e.to_string().contains("not defined") => None,
        Err(e) => {
            return Err(format!(
                "model file {shown}: metadata() failed: {}",
                frame_encoder::informative_line(&e.to_string())
            ))
        }
    };
    Ok((
        module,
        LoadedModel {
            path: key.path.clone(),
            device: key.device,
            fp16: key.fp16,
            metadata,
            load_time: started.elapsed(),
        },
    ))
}

/// Inference threads of the process still running (started and not yet returned, their
/// model freed): for tests and diagnostics.
pub fn live_workers() -> usize {
    LIVE_WORKERS.load(Ordering::SeqCst)
}

static LIVE_WORKERS: AtomicUsize = AtomicUsize::new(0);

/// Counts a worker thread from its start to the end of its last drop.
struct LiveWorker;

impl LiveWorker {
    fn start() -> Self {
        LIVE_WORKERS.fetch_add(1, Ordering::SeqCst);
        LiveWorker
    }
}

impl Drop for LiveWorker {
    fn drop(&mut self) {
        LIVE_WORKERS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Per-thread libtorch settings of an inference thread; the returned guard must live as
/// long as the thread scores.
fn inference_thread_setup() -> tch::NoGradGuard {
    set_thread_count_once();
    // The TorchScript graph executor's profiling and fusion pass (thread-local) made a small
    // model 14x slower on the CPU here (61 ms against 4.4 ms per clip);
    // VIOLENCE_JIT_OPTIMIZE=1 turns it back on for models that gain from it.
    tch::jit::set_graph_executor_optimize(
        std::env::var("VIOLENCE_JIT_OPTIMIZE").is_ok_and(|v| v == "1"),
    );
    // Gradients are never needed; the guard is per thread.
    tch::no_grad_guard()
}

/// What a worker hands its forward thread.
enum ForwardJob {
    Batch(Arc<ModelConfig>, Vec<ClipJob>),
    Probe(Arc<ModelConfig>, mpsc::Sender<Result<Duration, String>>),
}

/// A worker's forward thread: the full forwards, on its own copy of the model, so that the
/// worker keeps taking clips and screening the overdue ones while a forward runs (a cold
/// verified window took up to 0.9 s under load, and every camera of the worker waited behind
/// it). Reports when each forward ran on `done`.
fn forward_main(
    key: ModelKey,
    jobs: mpsc::Receiver<ForwardJob>,
    loaded: mpsc::SyncSender<Result<(LoadedModel, i64), String>>,
    done: mpsc::Sender<(Instant, Instant)>,
) {
    let _no_grad = inference_thread_setup();
    let module = match load(&key) {
        Ok((module, info)) => {
            let _ = loaded.send(Ok((info, os_thread_id())));
            module
        }
        Err(e) => {
            let _ = loaded.send(Err(e));
            return;
        }
    };
    let mut runner = Runner::new(module, key);
    // Ends when the worker drops its sender, after the forward in progress.
    for job in jobs {
        match job {
            ForwardJob::Batch(config, batch) => {
                let started = Instant::now();
                runner.run_batch(&config, batch, Pass::Forward);
                let _ = done.send((started, Instant::now()));
            }
            ForwardJob::Probe(config, reply) => {
                let _ = reply.send(runner.probe_caught(&config));
            }
        }
    }
}

/// How much the forward threads of a worker that screens yield on a CPU: the niceness added
/// to theirs (`VIOLENCE_FORWARD_NICE`, 0 to 19, default 10). When decoders, screens and
/// forwards want more than the cores, the forwards wait rather than the screens, which
/// keep every camera scored. 16 ordinary NVR cameras on the slow 2-core machines, runs
/// alternating within 30 minutes: 0, 2, 137 and 168 clips dropped with 0; 3, 5 and 26
/// with 5; 1, 1, 1 and 33 with 10 (docs/benchmarks.md).
fn forward_nice() -> i32 {
    std::env::var("VIOLENCE_FORWARD_NICE")
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .map_or(DEFAULT_FORWARD_NICE, |n| n.clamp(0, 19))
}

const DEFAULT_FORWARD_NICE: i32 = 10;

/// The calling thread's id, for `lower_priority` (0 where threads cannot be told apart).
fn os_thread_id() -> i64 {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no arguments and cannot fail.
    return unsafe { libc::syscall(libc::SYS_gettid) };
    #[cfg(not(target_os = "linux"))]
    return 0;
}

/// Adds `by` to the niceness of the process's thread `thread` (Linux schedules each thread
/// on its own); anything else, or a failure, leaves it as it was.
fn lower_priority(thread: i64, by: i32) {
    if by == 0 || thread == 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: getpriority and setpriority only read and set a thread's scheduling
    // priority; an unknown id is an error, ignored.
    unsafe {
        let thread = thread as libc::id_t;
        let now = libc::getpriority(libc::PRIO_PROCESS, thread);
        libc::setpriority(libc::PRIO_PROCESS, thread, (now + by).min(19));
    }
}

/// How often a worker looks for finished forwards and overdue clips while a forward runs.
const POLL: Duration = Duration::from_millis(10);

fn worker_main(
    key: ModelKey,
    requests: mpsc::Receiver<Request>,
    ready: mpsc::SyncSender<Result<LoadedModel, String>>,
    closing: Arc<AtomicBool>,
) {
    // Declared first, so dropped last: after the model, every tensor of this thread and the
    // forward thread, which is joined before.
    let _live = LiveWorker::start();
    let _no_grad = inference_thread_setup();
    let (forward_tx, forward_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let (loaded_tx, loaded_rx) = mpsc::sync_channel(1);
    let forward_key = key.clone();
    let forward_thread = std::thread::Builder::new()
        .name(format!("vfwd-{}", device_name(key.device)))
        .spawn(move || forward_main(forward_key, forward_rx, loaded_tx, done_tx));
    let forward_thread = match forward_thread {
        Ok(thread) => thread,
        Err(e) => {
            let _ = ready.send(Err(format!(
                "cannot start a forward thread for {}: {e}",
                key.path.display()
            )));
            return;
        }
    };
    let stop = |forward_tx: mpsc::Sender<ForwardJob>| {
        drop(forward_tx);
        let _ = forward_thread.join();
    };
    let (info, forward_thread_id) = match loaded_rx.recv() {
        Ok(Ok(loaded)) => loaded,
        Ok(Err(e)) => {
            let _ = ready.send(Err(e));
            return stop(forward_tx);
        }
        Err(_) => {
            let _ = ready.send(Err(format!(
                "the forward thread for {} stopped while loading",
                key.path.display()
            )));
            return stop(forward_tx);
        }
    };
    // The worker's own copy only serves the screen of a model that declares one, loaded by
    // the first probe of an element that may screen (`probe_both`).
    let mut screener = None;
    let mut forward_niced = false;
    let _ = ready.send(Ok(info));
    drop(ready);
    let mut backlog: Vec<(Instant, ClipJob)> = Vec::new();
    let mut shedding = Shedding::default();
    // Whether the forward thread holds a batch.
    let mut forwarding = false;
    // A running mean of the full forwards' times.
    let mut forward_time = Duration::ZERO;
    let compatible = |a: &(Instant, ClipJob), b: &(Instant, ClipJob)| *a.1.config == *b.1.config;
    // How long the oldest clip may still wait for its batch to fill: its stream decides how
    // full a batch should be and for how long.
    let batch_wait = |backlog: &[(Instant, ClipJob)]| match backlog.first() {
        Some((arrived, job))
            if batching::batch_size_now(backlog, |j| j.1.stream, compatible)
                < job.batch_size.max(1) =>
        {
            (*arrived + job.batch_timeout).saturating_duration_since(Instant::now())
        }
        _ => Duration::ZERO,
    };
    loop {
        // Wait for a clip when nothing is queued or running; poll while a forward runs, or
        // while a batch may still fill; otherwise take whatever is queued now.
        let first = if backlog.is_empty() && !forwarding {
            requests
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected)
        } else if forwarding {
            requests.recv_timeout(POLL)
        } else {
            requests.recv_timeout(batch_wait(&backlog).min(POLL))
        };
        let mut received = Vec::new();
        match first {
            Ok(request) => received.push(request),
            Err(mpsc::RecvTimeoutError::Timeout) => (),
            Err(mpsc::RecvTimeoutError::Disconnected) => return stop(forward_tx),
        }
        received.extend(requests.try_iter());
        for request in received {
            match request {
                Request::Infer(job) => backlog.push((Instant::now(), *job)),
                Request::Probe(config, may_screen, reply) => {
                    let probed = probe_both(&mut screener, &key, &forward_tx, config, may_screen);
                    if screener.is_some() && !forward_niced && key.device == Device::Cpu {
                        // The screen keeps every camera scored; the verifier's forwards are
                        // what a box short of CPU can do without.
                        lower_priority(forward_thread_id, forward_nice());
                        forward_niced = true;
                    }
                    let _ = reply.send(probed);
                }
            }
        }
        for (started, ended) in done_rx.try_iter() {
            // Mostly the last few forwards: a gate that opens changes the cost at once.
            forward_time = (forward_time * 3 + (ended - started)) / 4;
            shedding.record(started, ended);
            forwarding = false;
        }
        if closing.load(Ordering::SeqCst) {
            return stop(forward_tx); // the backlog's streams have all stopped
        }
        if backlog.is_empty() {
            continue;
        }
        // Every clip that a full forward would score too late, and every clip of the streams
        // being screened, is screened here, oldest first, all of a stream's together: a box
        // behind catches up in a few steps. A stream whose clip is in the forward is screened
        // too: its screened results overtake that clip's, and the element holds them until it
        // comes back (`ScoringQueue::take_ready`), so that the stream neither waits nor drops
        // clips behind a long forward.
        let mut to_screen = Vec::new();
        if screener.is_some() {
            let now = Instant::now();
            // A stream is screened after a clip of it was overdue, or when it is new to a
            // worker that serves others; either needs a screen.
            let queued = backlog.iter().map(|(arrived, job)| Candidate {
                stream: job.stream,
                overdue: job.overdue(*arrived, now, forward_time),
                screenable: job.screenable(),
                urgent: job.urgent,
            });
            let picked = shedding.pick(queued, now);
            to_screen = take_entries(&mut backlog, &picked);
        }
        // The forward thread gets its next batch before the screen pass, not after it: under
        // load a pass took up to 0.5 s, and the forwarded cameras waited for it meanwhile.
        if !forwarding && !backlog.is_empty() && batch_wait(&backlog).is_zero() {
            let max = backlog[0].1.batch_size.max(1);
            let picked = batching::pick(&backlog, |j| j.1.stream, compatible, max);
            let config = backlog[picked[0]].1.config.clone();
            let batch = take(&mut backlog, &picked);
            forwarding = true;
            if let Err(mpsc::SendError(ForwardJob::Batch(_, batch))) =
                forward_tx.send(ForwardJob::Batch(config, batch))
            {
                let error = format!("the forward thread for {} has stopped", key.path.display());
                for job in batch {
                    let _ = job.reply.send(JobOutcome {
                        tag: job.tag,
                        result: Err(error.clone()),
                    });
                }
                forwarding = false;
            }
        }
        let (Some(runner), Some((_, first))) = (screener.as_mut(), to_screen.first()) else {
            continue;
        };
        // One pass: up to SCREEN_BATCH_MAX clips of the oldest clip's configuration; the
        // rest go back to the queue, to be screened next time round.
        let config = first.config.clone();
        let mut pass = Vec::new();
        for entry in to_screen {
            if pass.len() < SCREEN_BATCH_MAX && *entry.1.config == *config {
                pass.push(entry.1);
            } else {
                backlog.push(entry);
            }
        }
        backlog.sort_by_key(|(arrived, _)| *arrived);
        let started = Instant::now();
        runner.run_batch(&config, pass, Pass::Screen);
        shedding.record(started, Instant::now());
    }
}

/// The first-forward check on the forward thread's copy, then on the worker's own (its
/// screen) when it has one: the slower of the two, or the first error. The worker's copy is
/// loaded here, once, for a model with a screen and an element that may screen.
fn probe_both(
    screener: &mut Option<Runner>,
    key: &ModelKey,
    forward_tx: &mpsc::Sender<ForwardJob>,
    config: Arc<ModelConfig>,
    may_screen: bool,
) -> Result<Duration, String> {
    let stopped = || format!("the forward thread for {} has stopped", key.path.display());
    let (tx, rx) = mpsc::channel();
    forward_tx
        .send(ForwardJob::Probe(config.clone(), tx))
        .map_err(|_| stopped())?;
    let forward = rx.recv().map_err(|_| stopped())??;
    if screener.is_none() && may_screen && config.screen {
        let (module, _) = load(key)?;
        *screener = Some(Runner::new(module, key.clone()));
    }
    match screener {
        Some(runner) => Ok(forward.max(runner.probe_caught(&config)?)),
        None => Ok(forward),
    }
}

/// Most clips screened in one pass: a screen is cheap, but its input is a whole clip each,
/// and its results come back at the end of the pass (under load at 16 NVR cameras, passes of
/// 6 to 8 clips took 0.1 to 0.5 s).
const SCREEN_BATCH_MAX: usize = 8;

/// Removes the clips at `indices` from `backlog`, in the order of `indices`.
fn take(backlog: &mut Vec<(Instant, ClipJob)>, indices: &[usize]) -> Vec<ClipJob> {
    take_entries(backlog, indices)
        .into_iter()
        .map(|(_, job)| job)
        .collect()
}

/// `take`, with each clip's arrival.
fn take_entries(
    backlog: &mut Vec<(Instant, ClipJob)>,
    indices: &[usize],
) -> Vec<(Instant, ClipJob)> {
    let mut taken: Vec<Option<(Instant, ClipJob)>> = Vec::with_capacity(backlog.len());
    let mut rest = Vec::with_capacity(backlog.len());
    for (i, entry) in backlog.drain(..).enumerate() {
        if indices.contains(&i) {
            taken.push(Some(entry));
        } else {
            taken.push(None);
            rest.push(entry);
        }
    }
    *backlog = rest;
    indices
        .iter()
        .map(|&i| taken[i].take().expect("taken once"))
        .collect()
}

/// A clip's output row, forwards taken, region looked at, and frames newly encoded.
type Scored = (Vec<f32>, u32, Option<[f32; 4]>, u32);

struct Runner {
    module: CModule,
    key: ModelKey,
    /// Features of the last frames a frame encoder saw, of every stream this model serves.
    frames: FrameCache,
}

/// Four clips of 16 frames for each of four streams: a window's predecessors are in it.
const FRAME_CACHE_FRAMES: usize = 256;

impl Runner {
    fn new(module: CModule, key: ModelKey) -> Self {
        Runner {
            module,
            key,
            frames: FrameCache::new(FRAME_CACHE_FRAMES),
        }
    }

    fn kind(&self) -> Kind {
        if self.key.fp16 {
            Kind::Half
        } else {
            Kind::Float
        }
    }

    fn probe(&self, config: &ModelConfig) -> Result<Duration, String> {
        let started = Instant::now();
        let t = config.clip_length as i64;
        let (h, w) = (config.height as i64, config.width as i64);
        let opts = (self.kind(), self.key.device);
        let inputs: Vec<Tensor> = config
            .inputs
            .iter()
            .map(|kind| match kind {
                InputKind::Rgb => Tensor::zeros([1, 3, t, h, w], opts),
                InputKind::Flow => Tensor::zeros([1, 2, t, h, w], opts),
                InputKind::Step => step_one_hot(1, 0, config.max_steps, opts),
            })
            .collect();
        let rows = self.forward(config, &inputs, 1).and_then(|rows| {
            match violent_probability(config, &rows[0]) {
                Some(_) => Ok(()),
                None => Err(format!("non-finite outputs {:?}", rows[0])),
            }
        });
        if rows.is_ok() {
            // Zeros take a data-dependent model's quiet path only (the cascade's gate stays
            // shut); moving stripes take the path motion takes, so TorchScript optimizes that
            // branch now rather than on a stream's first moving clip (about 100 ms late there).
            // Only a warm-up: a model that fails on moving clips fails on them at run time,
            // under the element's error policy, not at load.
            let moving: Vec<Tensor> = config
                .inputs
                .iter()
                .zip(&inputs)
                .map(|(kind, input)| match kind {
                    InputKind::Rgb | InputKind::Flow => moving_stripes(input),
                    InputKind::Step => input.shallow_clone(),
                })
                .collect();
            let _ = self.forward(config, &moving, 1);
        }
        let rows = rows.and_then(|()| match config.frame_encoder {
            true => {
                frame_encoder::check_contract(&self.module, config, self.key.device, self.kind())
            }
            false => Ok(()),
        });
        let rows = rows.and_then(|()| match config.screen {
            true => self.check_screen(config, &inputs),
            false => Ok(()),
        });
        rows.map_err(|e| {
            format!(
                "model file {} rejects the configuration {} at its first forward: {e}",
                self.key.path.display(),
                describe(config)
            )
        })?;
        Ok(started.elapsed())
    }

    /// `probe`, with a panic in it reported as a load error rather than ending the thread.
    fn probe_caught(&self, config: &ModelConfig) -> Result<Duration, String> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.probe(config)))
            .unwrap_or_else(|payload| {
                Err(format!(
                    "model file {} panicked at its first forward: {}",
                    self.key.path.display(),
                    panic_message(&*payload)
                ))
            })
    }

    /// Forward and check of the output: [B, output_len], returned as rows of f32.
    fn forward(
        &self,
        config: &ModelConfig,
        inputs: &[Tensor],
        batch: usize,
    ) -> Result<Vec<Vec<f32>>, String> {
        let output = frame_encoder::call(&self.module, None, inputs)?;
        output_rows(config, output, batch)
    }

    /// The first-forward check of a declared `screen`: it exists and answers in `forward`'s
    /// form.
    fn check_screen(&self, config: &ModelConfig, inputs: &[Tensor]) -> Result<(), String> {
        let output = frame_encoder::call(&self.module, Some("screen"), inputs)
            .map_err(|e| format!("metadata declares screen, but {e}"))?;
        let rows = output_rows(config, output, 1).map_err(|e| format!("screen(): {e}"))?;
        match violent_probability(config, &rows[0]) {
            Some(_) => Ok(()),
            None => Err(format!("screen(): non-finite outputs {:?}", rows[0])),
        }
    }

    /// Scores with the frame encoder: rows as `forward`'s, and each clip's new frames.
    fn encode_once(
        &mut self,
        config: &ModelConfig,
        batch: &[ClipJob],
    ) -> Result<(Vec<Vec<f32>>, Vec<u32>), String> {
        let (device, kind) = (self.key.device, self.kind());
        let clips = rgb_planes(batch);
        let (output, new_frames) =
            frame_encoder::score(&self.module, &mut self.frames, config, &clips, device, kind)?;
        Ok((output_rows(config, output, batch.len())?, new_frames))
    }

    fn run_batch(&mut self, config: &ModelConfig, batch: Vec<ClipJob>, pass: Pass) {
        let started = Instant::now();
        // A panic in tch or in our tensor code (a model whose frame features change width
        // between calls makes `Tensor::stack` panic) fails this batch's clips, not the thread:
        // a dead worker would leave its streams waiting for results until stall-timeout.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.score_batch(config, &batch, pass)
        }))
        .unwrap_or_else(|payload| {
            // Features stored before the panic may not fit the ones stored after it.
            self.frames.clear();
            Err(format!("scoring panicked: {}", panic_message(&*payload)))
        });
        let forward_time = started.elapsed();
        let size = batch.len();
        match outcome {
            Ok(results) => {
                for (job, (row, steps, region, frames_encoded)) in batch.into_iter().zip(results) {
                    let result = violent_probability(config, &row)
                        .map(|probability| ClipScore {
                            probability,
                            steps,
                            region,
                            forward_time,
                            batch_size: size,
                            frames_encoded,
                            screened: pass == Pass::Screen,
                        })
                        .ok_or_else(|| {
                            format!(
                                "model file {} returned non-finite outputs {row:?}",
                                self.key.path.display()
                            )
                        });
                    let _ = job.reply.send(JobOutcome {
                        tag: job.tag,
                        result,
                    });
                }
            }
            Err(e) => {
                let message = format!("model file {}: {e}", self.key.path.display());
                for job in batch {
                    let _ = job.reply.send(JobOutcome {
                        tag: job.tag,
                        result: Err(message.clone()),
                    });
                }
            }
        }
    }

    fn score_batch(
        &mut self,
        config: &ModelConfig,
        batch: &[ClipJob],
        pass: Pass,
    ) -> Result<Vec<Scored>, String> {
        if pass == Pass::Screen {
            // Only plain-forward models declare a screen (`contract::resolve`).
            let inputs = self.build_inputs(config, batch)?;
            let output = frame_encoder::call(&self.module, Some("screen"), &inputs)?;
            let rows = output_rows(config, output, batch.len())?;
            Ok(rows.into_iter().map(|row| (row, 1, None, 0)).collect())
        } else if config.hard_attention() {
            let rows = self.attend(config, batch)?;
            Ok(rows
                .into_iter()
                .map(|(row, steps, region)| (row, steps, region, 0))
                .collect())
        } else if config.frame_encoder {
            let (rows, new_frames) = self.encode_once(config, batch)?;
            Ok(rows
                .into_iter()
                .zip(new_frames)
                .map(|(row, new)| (row, 1, None, new))
                .collect())
        } else {
            let inputs = self.build_inputs(config, batch)?;
            let rows = self.forward(config, &inputs, batch.len())?;
            Ok(rows.into_iter().map(|row| (row, 1, None, 0)).collect())
        }
    }

    fn build_inputs(&self, config: &ModelConfig, batch: &[ClipJob]) -> Result<Vec<Tensor>, String> {
        let opts = (self.kind(), self.key.device);
        config
            .inputs
            .iter()
            .map(|kind| match kind {
                InputKind::Rgb => {
                    rgb_input(config, &rgb_planes(batch), self.key.device, self.kind())
                }
                InputKind::Flow => {
                    let flows: Vec<_> = batch.iter().map(|job| job.clip.flow.as_ref()).collect();
                    flow_input(config, &flows, self.key.device, self.kind())
                }
                InputKind::Step => Ok(step_one_hot(batch.len() as i64, 0, config.max_steps, opts)),
            })
            .collect()
    }
}

fn describe(config: &ModelConfig) -> String {
    format!(
        "inputs={} clip-length={} size={}x{}",
        super::contract::inputs_to_string(&config.inputs),
        config.clip_length,
        config.width,
        config.height
    )
}

fn rgb_planes(batch: &[ClipJob]) -> Vec<&FramePlanes> {
    batch.iter().map(|job| &job.clip.rgb).collect()
}

/// The first line of the text a panic was raised with: tch's panics carry libtorch's whole
/// C++ backtrace after it, escaped onto the same line.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    let text = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    let end = [text.find('\n'), text.find("\\n")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(text.len());
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Queued clips (stream, overdue), each one screenable.
    fn queued(clips: &[(u64, bool)]) -> impl Iterator<Item = Candidate> + '_ {
        clips.iter().map(|&(stream, overdue)| Candidate {
            stream,
            overdue,
            screenable: true,
            urgent: false,
        })
    }

    /// A worker that already serves `streams`, so that none of them starts screened.
    fn serving(streams: &[u64], now: Instant) -> Shedding {
        let mut shedding = Shedding::default();
        shedding.seen.extend(streams.iter().map(|&s| (s, now)));
        shedding
    }

    #[test]
    fn streams_are_screened_from_an_overdue_clip_and_given_back_one_at_a_time() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut shedding = serving(&[1, 2, 3], t0);
        // Streams 1 and 2 fall behind; 3 keeps up. Every clip of 1 and 2 is screened.
        let chosen = shedding.pick(
            queued(&[(1, true), (3, false), (2, true), (1, false)]),
            at(0),
        );
        assert_eq!(chosen, vec![0, 2, 3]);
        assert_eq!(
            shedding.pick(queued(&[(1, false), (2, false), (3, false)]), at(1500)),
            vec![0, 1]
        );
        // Calm for a second and screened 2 s: stream 1, screened first, is given back first,
        // then stream 2 only after another calm second.
        assert_eq!(
            shedding.pick(queued(&[(1, false), (2, false)]), at(2000)),
            vec![1]
        );
        assert_eq!(
            shedding.pick(queued(&[(1, false), (2, false)]), at(2500)),
            vec![1]
        );
        assert_eq!(
            shedding.pick(queued(&[(2, false)]), at(3000)),
            Vec::<usize>::new()
        );
        // An overdue clip holds the next release for a calm second.
        let mut shedding = serving(&[1, 2, 3], t0);
        shedding.pick(queued(&[(1, true), (2, true)]), at(0));
        assert_eq!(
            shedding.pick(queued(&[(1, false), (3, true)]), at(2500)),
            vec![1]
        );
        let all = [(1, false), (2, false), (3, false)];
        assert_eq!(shedding.pick(queued(&all), at(3000)), vec![1, 2]);
        assert_eq!(shedding.pick(queued(&all), at(3500)), vec![2]);
    }

    #[test]
    fn a_stream_new_to_a_busy_worker_starts_screened() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut shedding = Shedding::default();
        // All cameras start at once: the first clip in the queue gets a full forward, the
        // other new streams start screened; a clip that may not be screened never is.
        let unscreenable = Candidate {
            stream: 4,
            overdue: false,
            screenable: false,
            urgent: false,
        };
        let first = queued(&[(1, false), (2, false), (3, false), (2, false)]);
        assert_eq!(
            shedding.pick(first.chain([unscreenable]), at(0)),
            vec![1, 2, 3]
        );
        // They are given back one at a time, as overdue streams are.
        assert_eq!(
            shedding.pick(queued(&[(1, false), (2, false), (3, false)]), at(2000)),
            vec![2]
        );
        assert_eq!(
            shedding.pick(queued(&[(1, false), (3, false)]), at(2500)),
            vec![1]
        );
        assert_eq!(
            shedding.pick(queued(&[(1, false), (3, false)]), at(3000)),
            Vec::<usize>::new()
        );
        // A stream seen again after 10 s away is new again; one alone on its worker is not.
        assert_eq!(
            shedding.pick(queued(&[(1, false), (2, false), (5, false)]), at(12_500)),
            vec![1, 2]
        );
        // Streams 2 and 5 stop while screened: 2 is given back in turn, and 5, not seen for
        // 10 s, is forgotten rather than left to hold up the next release.
        assert_eq!(
            shedding.pick(queued(&[(1, false)]), at(23_000)),
            Vec::<usize>::new()
        );
        assert!(shedding.screened.is_empty());
        let mut alone = Shedding::default();
        assert_eq!(
            alone.pick(queued(&[(5, false)]), at(0)),
            Vec::<usize>::new()
        );
        assert_eq!(
            alone.pick(queued(&[(5, false)]), at(20_000)),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn a_screened_stream_with_an_urgent_clip_trades_places_with_a_quiet_one() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let clip = |stream, urgent| Candidate {
            stream,
            overdue: false,
            screenable: true,
            urgent,
        };
        let mut shedding = serving(&[1, 2, 3], t0);
        shedding.pick(queued(&[(1, true), (2, true)]), at(0));
        // Stream 2's last score reached the threshold: it gets the full forward, and stream
        // 3, forwarded and quiet, is screened instead; stream 1 stays screened.
        let queue = [clip(1, false), clip(2, true), clip(3, false)];
        assert_eq!(shedding.pick(queue.into_iter(), at(300)), vec![0, 2]);
        assert!(!shedding.screens(2) && shedding.screens(3));
        // At most one trade a second.
        let queue = [clip(1, true), clip(2, true), clip(3, false)];
        assert_eq!(shedding.pick(queue.into_iter(), at(800)), vec![0, 2]);
        // Then stream 1 is given back; no stream is quiet, so none is screened in its place.
        let queue = [clip(1, true), clip(2, true)];
        assert_eq!(
            shedding.pick(queue.into_iter(), at(1300)),
            Vec::<usize>::new()
        );
        assert_eq!(shedding.screened.len(), 1);
    }

    #[test]
    fn a_busy_worker_gives_no_stream_back() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut shedding = serving(&[1, 2, 3], t0);
        shedding.pick(queued(&[(1, true)]), at(0));
        // 1.4 s of the 2 s before 3 s spent in passes: busy 0.7, stream 1 stays screened.
        shedding.record(at(1000), at(1700));
        shedding.record(at(2000), at(2700));
        assert!((shedding.busy(at(3000)) - 0.7).abs() < 1e-6);
        assert_eq!(shedding.pick(queued(&[(1, false)]), at(3000)), vec![0]);
        // Half a second later the first pass counts from 1.5 s only: busy 0.45, given back.
        assert_eq!(
            shedding.pick(queued(&[(1, false)]), at(3500)),
            Vec::<usize>::new()
        );
        assert_eq!(shedding.passes.len(), 2);
        assert!(shedding.busy(at(10_000)) == 0.0 && shedding.passes.is_empty());
    }

    #[test]
    fn a_clip_is_screened_when_a_forward_would_score_it_too_late() {
        let arrived = Instant::now();
        let ms = Duration::from_millis;
        let after = Some(ms(500));
        assert!(!too_late(after, arrived, arrived + ms(499), ms(0)));
        assert!(too_late(after, arrived, arrived + ms(500), ms(0)));
        assert!(!too_late(
            None,
            arrived,
            arrived + Duration::from_secs(60),
            ms(0)
        ));
        // A forward of 200 ms would end past the budget 300 ms after arrival.
        assert!(!too_late(after, arrived, arrived + ms(299), ms(200)));
        assert!(too_late(after, arrived, arrived + ms(300), ms(200)));
        // However slow the forwards, one counts for half the budget: a clip that just arrived
        // is forwarded in full.
        assert!(!too_late(after, arrived, arrived, Duration::from_secs(5)));
        assert!(too_late(
            after,
            arrived,
            arrived + ms(250),
            Duration::from_secs(5)
        ));
        // A clock read before the clip arrived (another thread's) is no wait at all.
        assert!(!too_late(
            after,
            arrived + Duration::from_secs(1),
            arrived,
            ms(0)
        ));
    }
}
