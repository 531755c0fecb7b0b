// SPDX-License-Identifier: MPL-2.0

//! Real-time trials of N cameras in one process, shared by `make bench-scale` (scale.rs) and
//! its alert-budget part (budget.rs): streams or NVR cameras played in real time from spread
//! points of a file, with the drops, latencies, decision delays, CPU and memory they cost.
#![allow(dead_code)]

use gst::prelude::*;
use gstviolence::event::ViolenceEvent;
use std::time::{Duration, Instant};

pub fn rss_mb() -> f64 {
    gstviolence_tools::rss::rss_kib() as f64 / 1024.0
}

/// CPU time (user + system, every thread, finished ones included) of this process, in
/// seconds, from /proc/self/stat. Linux counts it in USER_HZ ticks, 100 a second on every
/// architecture it exports to user space.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // Fields 14 (utime) and 15 (stime) of proc(5); field 3 is index 0 here.
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => panic!("cannot read the CPU time from /proc/self/stat"),
    }
}

/// The file URI of a path.
pub fn to_uri(path: &str) -> String {
    gst::glib::filename_to_uri(std::fs::canonicalize(path).unwrap(), None)
        .unwrap()
        .to_string()
}

pub fn decode(uri: &str) -> String {
    format!("uridecodebin uri={uri} ! videoconvert")
}

pub struct Trial {
    pub dropped: u64,
    /// Clips scored by the model's screen (violenceclassify `screen-after`), and all clips
    /// scored, since the classifiers started.
    pub screened: u64,
    pub scored: u64,
    pub max_latency: Duration,
    pub rss: f64,
    /// Latest running time (s) at which a stream's first violence-start reached the bus.
    pub start_seen: Option<f64>,
    pub starts: usize,
    /// Process CPU time per stream over wall time, in cores, after the warm-up.
    pub cpu_per_stream: f64,
    /// Files violencerecord opened (NVR form).
    pub files: usize,
    /// Per scored clip (classifiers with emit-scores=true): seconds from the clip's last
    /// frame to its decision, what the operator's alert budget judges.
    pub decision_delays: Vec<f64>,
    /// Clips each classifier scored: a camera far under the others did not keep up (or
    /// did not play).
    pub scored_per_camera: Vec<u64>,
}

impl Trial {
    /// Fewest and most clips scored by one camera (0, 0 without classifiers).
    pub fn scored_range(&self) -> (u64, u64) {
        let scored = self.scored_per_camera.iter().copied();
        (scored.clone().min().unwrap_or(0), scored.max().unwrap_or(0))
    }

    pub fn every_camera_played(&self) -> bool {
        every_camera_played(self.scored_range())
    }
}

/// Every camera analysed all along: none scored under 90 % of the busiest one's clips (a
/// camera that never prerolled after its seek, or fell behind, scores far fewer).
pub fn every_camera_played((fewest, most): (u64, u64)) -> bool {
    fewest * 10 >= most * 9
}

/// N real-time streams (synced sinks) for `seconds` after preroll: with a model, async and
/// sharing it; without, decode only (the same decoder and conversion into the sink).
pub fn streams(uri: &str, model: Option<&str>, n: usize, seconds: u64) -> Trial {
    streams_from(uri, model, n, seconds, &[], 1)
}

/// As `streams`, stream i starting at `starts[i]` of the file (a key-unit seek before
/// playing; the stream's running time still starts at 0), from the start where none is given,
/// the model served by `workers` inference threads.
pub fn streams_from(
    uri: &str,
    model: Option<&str>,
    n: usize,
    seconds: u64,
    starts: &[gst::ClockTime],
    workers: usize,
) -> Trial {
    let extra = format!("inference-workers={workers}");
    trial_from(stream_cameras(uri, model, n, &extra), seconds, starts)
}

/// The bins of N real-time streams of `uri`, decoded (and analysed with `model`, its
/// violenceclassify named clsI taking the `classify` properties too).
pub fn stream_cameras(uri: &str, model: Option<&str>, n: usize, classify: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            let analysis = model.map_or(String::new(), |m| {
                format!(
                    "clipbuffer ! violenceclassify name=cls{i} mode=async model-location={m} \
                     {classify} ! "
                )
            });
            format!("{} ! {analysis}fakesink sync=true", decode(uri))
        })
        .collect()
}

/// Where N independent streams of a file of `duration` start: spread evenly over it, each
/// leaving `seconds` (plus slack for preroll and the key-unit snap) before the end.
pub fn spread_starts(duration: gst::ClockTime, n: usize, seconds: u64) -> Vec<gst::ClockTime> {
    let usable = duration.saturating_sub(gst::ClockTime::from_seconds(seconds + 2));
    (0..n as u64).map(|i| usable * i / n as u64).collect()
}

/// The file's duration (a preroll of its decoding pipeline).
pub fn duration(uri: &str) -> gst::ClockTime {
    let pipeline = gst::parse::launch(&format!("{} ! fakesink", decode(uri)))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    pipeline.set_state(gst::State::Paused).unwrap();
    let _ = pipeline.state(gst::ClockTime::from_seconds(60));
    let d = pipeline
        .query_duration::<gst::ClockTime>()
        .expect("the file's duration");
    pipeline.set_state(gst::State::Null).unwrap();
    d
}

/// (g) N cameras in the NVR form: each one's 640x360 sub-stream (`sub_uri`) decoded and
/// analysed (async, sharing the model), and its 1280x720 main stream (`main`, the same
/// scene) recorded by events without decoding, `violencerecord source=clsI` matching them
/// by running time; both paced by the clock from the same start. Files go to `out`.
pub fn nvr_streams(
    main: &str,
    sub_uri: &str,
    model: &str,
    n: usize,
    seconds: u64,
    out: &std::path::Path,
) -> Trial {
    trial(nvr_cameras(main, sub_uri, model, n, out, ""), seconds)
}

/// The bins of N cameras in the NVR form (see `nvr_streams`), each violenceclassify (clsI)
/// taking the `classify` properties too; `out` emptied for their files.
pub fn nvr_cameras(
    main: &str,
    sub_uri: &str,
    model: &str,
    n: usize,
    out: &std::path::Path,
    classify: &str,
) -> Vec<String> {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).unwrap();
    (0..n)
        .map(|i| {
            format!(
                "filesrc location={main} ! qtdemux ! h264parse ! identity sync=true ! queue \
                 ! violencerecord source=cls{i} location={}/cam{i}-%05d.mp4 max-files=2 \
                 {} ! clipbuffer ! violenceclassify name=cls{i} mode=async model-location={model} \
                 {classify} ! fakesink sync=true async=false",
                out.display(),
                decode(sub_uri)
            )
        })
        .collect()
}

/// Plays one bin per camera (its classifier named clsI) for `seconds` after preroll.
pub fn trial(cameras: Vec<String>, seconds: u64) -> Trial {
    trial_from(cameras, seconds, &[])
}

/// As `trial`, camera i's bin first seeked to `starts[i]` (none: from the start).
pub fn trial_from(cameras: Vec<String>, seconds: u64, starts: &[gst::ClockTime]) -> Trial {
    let n = cameras.len();
    let pipeline = gst::Pipeline::new();
    let mut classifiers = Vec::new();
    let mut bins = Vec::new();
    for (i, camera) in cameras.iter().enumerate() {
        let bin = gst::parse::bin_from_description(camera, false).unwrap();
        pipeline.add(&bin).unwrap();
        classifiers.extend(bin.by_name(&format!("cls{i}")));
        bins.push(bin);
    }
    pipeline.set_state(gst::State::Paused).unwrap();
    settle(&pipeline, gst::State::Paused);
    // A pipeline with a live part (the NVR form's main stream, paced by `identity sync=true`)
    // does not wait for preroll. Seeking a camera before its decoder has exposed its pads left
    // some of its tasks paused for good; and a sub-stream decoder still prerolling when the
    // pipeline went on to PLAYING committed its camera's bin to PAUSED, where it stayed (60 s
    // lost to every such trial). So every camera's sinks hold a frame first.
    for bin in &bins {
        wait_for_first_frames(bin, Duration::from_secs(30));
    }
    if starts.iter().any(|s| !s.is_zero()) {
        for (bin, start) in bins.iter().zip(starts) {
            // A camera's bin may still be settling from the previous seek (the NVR form's
            // two paths): a few tries, then the camera plays from the file's start.
            let seeked = !start.is_zero()
                && (0..5).any(|_| {
                    let ok = bin
                        .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT, *start)
                        .is_ok();
                    if !ok {
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    ok
                });
            if !start.is_zero() && !seeked {
                eprintln!(
                    "bench: {} did not seek to {start}: plays from the start",
                    bin.name()
                );
            }
        }
        settle(&pipeline, gst::State::Paused);
    }
    pipeline.set_state(gst::State::Playing).unwrap();
    // Model loading and preroll are not part of the trial.
    settle(&pipeline, gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    // What the cameras posted before the trial is not part of it, but for the files: an event
    // open from the first frames opens its file while the pipeline is still starting.
    let mut files = 0;
    while let Some(msg) = bus.pop() {
        files += usize::from(is_file_opened(&msg));
    }
    let started = Instant::now();
    let scored_before: Vec<u64> = classifiers
        .iter()
        .map(|c| c.property::<u64>("clips-scored"))
        .collect();
    let deadline = started + Duration::from_secs(seconds);
    // CPU is counted after a warm-up (first clips, the worker's first batches).
    let warm_up = started + Duration::from_secs(seconds / 4).min(Duration::from_secs(3));
    let mut cpu_start: Option<(f64, Instant)> = None;
    let mut rss: f64 = 0.0;
    let mut seen: Vec<String> = Vec::new();
    let mut start_seen: Option<f64> = None;
    let mut decision_delays = Vec::new();
    while Instant::now() < deadline {
        if cpu_start.is_none() && Instant::now() >= warm_up {
            cpu_start = Some((cpu_seconds(), Instant::now()));
        }
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(20)) {
            match msg.view() {
                gst::MessageView::Error(e) => panic!("{}", e.error()),
                gst::MessageView::Element(_) if is_file_opened(&msg) => files += 1,
                gst::MessageView::Element(e)
                    if e.structure().is_some_and(|s| s.name() == "violence-score") =>
                {
                    let ev = e
                        .structure()
                        .and_then(ViolenceEvent::from_structure)
                        .expect("our event");
                    // The event's latency runs from the clip's first frame to its decision.
                    let span = ev.clip_end.saturating_sub(ev.clip_start);
                    decision_delays.push(ev.latency.saturating_sub(span) as f64 / 1e9);
                }
                gst::MessageView::Element(e)
                    if e.structure().is_some_and(|s| s.name() == "violence-start") =>
                {
                    let source = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
                    if !seen.contains(&source) {
                        seen.push(source);
                        // Streams are synced to the clock: running time is wall time here.
                        // Expressed as a PTS of the file (the event gives the offset), so it
                        // compares with the motion's PTS.
                        let ev = e
                            .structure()
                            .and_then(ViolenceEvent::from_structure)
                            .expect("our event");
                        let now_rt = pipeline.current_running_time().map_or(0, |t| t.nseconds());
                        let now = (now_rt + ev.pts).saturating_sub(ev.running_time) as f64 / 1e9;
                        start_seen = Some(start_seen.map_or(now, |s: f64| s.max(now)));
                    }
                }
                _ => (),
            }
        }
        rss = rss.max(rss_mb());
    }
    let cpu_per_stream = cpu_start.map_or(0.0, |(cpu, at)| {
        (cpu_seconds() - cpu) / at.elapsed().as_secs_f64() / n as f64
    });
    let dropped = classifiers
        .iter()
        .map(|c| c.property::<u64>("clips-dropped"))
        .sum();
    let total = |name: &str| classifiers.iter().map(|c| c.property::<u64>(name)).sum();
    let (screened, scored) = (total("clips-screened"), total("clips-scored"));
    let max_latency = classifiers
        .iter()
        .map(|c| c.property::<u64>("max-latency"))
        .max()
        .unwrap_or(0);
    let scored_per_camera = classifiers
        .iter()
        .zip(&scored_before)
        .map(|(c, before)| c.property::<u64>("clips-scored") - before)
        .collect();
    pipeline.set_state(gst::State::Null).unwrap();
    Trial {
        dropped,
        screened,
        scored,
        max_latency: Duration::from_nanos(max_latency),
        rss,
        start_seen,
        starts: seen.len(),
        cpu_per_stream,
        files,
        decision_delays,
        scored_per_camera,
    }
}

/// violencerecord opened a file.
fn is_file_opened(msg: &gst::Message) -> bool {
    msg.structure().is_some_and(|s| {
        s.name() == "violence-recording" && s.get::<&str>("action").is_ok_and(|a| a == "opened")
    })
}

/// Waits (60 s at most) for `pipeline`'s state change towards `target`; says so when that
/// took more than 5 s, and which elements were not there yet.
fn settle(pipeline: &gst::Pipeline, target: gst::State) {
    let waited = Instant::now();
    let _ = pipeline.state(gst::ClockTime::from_seconds(60));
    if waited.elapsed() > Duration::from_secs(5) {
        eprintln!(
            "bench: the pipeline took {:.1} s to reach {target:?}; not there: {}",
            waited.elapsed().as_secs_f64(),
            not_in(pipeline, target).join(", ")
        );
    }
}

/// The elements of `pipeline` (at any depth) not in `state`, each with its state and the one
/// it is on the way to.
fn not_in(pipeline: &gst::Pipeline, state: gst::State) -> Vec<String> {
    pipeline
        .iterate_recurse()
        .into_iter()
        .flatten()
        .filter(|e| e.current_state() != state)
        .map(|e| {
            format!(
                "{} ({:?} -> {:?})",
                e.path_string(),
                e.current_state(),
                e.pending_state()
            )
        })
        .collect()
}

/// Waits until every sink of `bin` that keeps its last sample (fakesink) holds one.
fn wait_for_first_frames(bin: &gst::Bin, timeout: Duration) {
    let sinks: Vec<gst::Element> = bin
        .iterate_sinks()
        .into_iter()
        .flatten()
        .filter(|s| s.find_property("last-sample").is_some())
        .collect();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline
        && sinks
            .iter()
            .any(|s| s.property::<Option<gst::Sample>>("last-sample").is_none())
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    if Instant::now() >= deadline {
        eprintln!("bench: {} had no frame after {timeout:?}", bin.name());
    }
}
