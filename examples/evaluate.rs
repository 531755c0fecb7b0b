// SPDX-License-Identifier: MPL-2.0

//! Evaluation of a model through the real pipeline (`make eval`): for every clip of a
//! `MANIFEST.tsv` (one split, default `val`; a manifest without a `split` column is
//! evaluated whole) it runs
//!   uridecodebin ! videoconvert ! clipbuffer ! violenceclassify mode=sync emit-scores=true ! fakesink
//! (with `opticalflow preset=fast` before clipbuffer when the model's `inputs` include
//! `flow`, as extract-clips --flow made its training clips) with the model's own clip settings, takes the maximum of the clip's window scores and
//! compares it with the model's `threshold` (from `metadata()`, chosen on training data).
//! A clip that errors or yields no score counts as wrong, never skipped: its score is the
//! worst one for its label (0 for a violent clip, 1 for a non-violent one).
//!
//! Events, as an NVR meets them, with violenceclassify's default decision
//! settings: per dataset, the normal clips that played without error on their own are
//! played again back to back as one stream (concat, every clip converted to the first
//! clip's size, frame rate and pixel format, then restamped to one segment), so that
//! hysteresis, min-consecutive, hold-time and clipbuffer's windows carry across clip
//! boundaries as on a camera; its `violence-start` events are false events,
//! reported per hour of footage with an exact Poisson 95 % upper bound. Each fight clip's
//! own run gives event recall (a `violence-start` in the clip) and the detection latency.
//!
//! Usage: evaluate DATA_DIR MODEL OUT_DIR [--split val|train|all] [--threshold P]
//!        [--every N] [--device cpu] [--normal FOOTAGE_DIR] [--calibration]
//!        [--front ELEMENTS]
//!
//! `--front` puts elements before clipbuffer in every run, e.g. `opticalflow !
//! hardattentioncrop region-source=motion` to score crops of where things move. A model
//! whose metadata says `people_crop` gets `persondetect model-location=models/people.pt`
//! in front unless `--front` already has a persondetect.
//!
//! `--calibration` also measures per-camera calibration through the element (see
//! `calibration_check`): footage clips learned on their first half and judged on the
//! second, and each dataset calibrated on its train normal clips with its val fights
//! played again (`calibration` in metrics.json).
//!
//! Continuous ordinary footage (`--normal DIR`, e.g. `normal-cctv`; its manifest needs
//! `path` and may leave out `label`): every clip of the split is played as its own stream,
//! as a camera would, and each `violence-start` is a false alarm, reported per clip and
//! overall per hour with the exact Poisson 95 % upper bound (`continuous_footage` in
//! metrics.json; `continuous` rows in events.tsv and windows.tsv).
//!
//! Writes OUT/scores.tsv (one row per clip), OUT/events.tsv (one row per violence-start),
//! OUT/windows.tsv (one row per window score, for replaying decision rules offline),
//! OUT/metrics.json and OUT/roc.png; prints two lines per dataset (clip metrics, events)
//! and, last, the overall figures.

use gstviolence_tools::{event_metrics, manifest};

use ab_glyph::{Font, FontRef, PxScale};
use gst::prelude::*;
use gstviolence::event::{EventKind, ViolenceEvent};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static FONT: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

struct ClipResult {
    row: manifest::Row,
    /// Its `violence-score` events, one per window.
    windows: Vec<ViolenceEvent>,
    /// The clip's `violence-start` events (played on its own).
    starts: Vec<ViolenceEvent>,
    error: Option<String>,
    seconds: f64,
}

impl ClipResult {
    /// The clip's score for the figures: the maximum window score, or the worst score for
    /// its label when it has none.
    fn score(&self) -> f32 {
        match (self.error.is_some(), self.windows.is_empty()) {
            (false, false) => self
                .windows
                .iter()
                .map(|w| w.score)
                .fold(f32::MIN, f32::max),
            _ if self.row.violent() => 0.0,
            _ => 1.0,
        }
    }

    /// The first event of the clip, when it started one and did not fail.
    fn first_start(&self) -> Option<event_metrics::FirstStart> {
        let first = self.starts.first().filter(|_| self.error.is_none())?;
        Some(event_metrics::FirstStart {
            latency: first.latency,
            decided_after_clip_start: first.running_time.saturating_add(first.latency),
        })
    }

    fn predicted(&self, threshold: f32) -> bool {
        if self.error.is_some() || self.windows.is_empty() {
            !self.row.violent()
        } else {
            self.score() >= threshold
        }
    }
}

/// What one pipeline run gave: window scores and `violence-start` events.
#[derive(Default)]
struct ClipRun {
    windows: Vec<ViolenceEvent>,
    starts: Vec<ViolenceEvent>,
    error: Option<String>,
    /// Running time (ns) played: the end of the last frame that reached the sink.
    played: u64,
}

/// The running time played at a sink pad: the end of the latest frame, in its segment.
type Played = Arc<Mutex<(gst::FormattedSegment<gst::ClockTime>, u64)>>;

fn track_played(pipeline: &gst::Element) -> Result<Played, String> {
    let played: Played = Arc::new(Mutex::new((gst::FormattedSegment::new(), 0)));
    let p = played.clone();
    pipeline
        .downcast_ref::<gst::Bin>()
        .and_then(|bin| bin.by_name("sink"))
        .and_then(|sink| sink.static_pad("sink"))
        .ok_or("no sink pad named sink")?
        .add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                let mut p = p.lock().unwrap();
                match &info.data {
                    Some(gst::PadProbeData::Event(ev)) => {
                        if let gst::EventView::Segment(s) = ev.view() {
                            if let Ok(seg) = s.segment().clone().downcast::<gst::ClockTime>() {
                                p.0 = seg;
                            }
                        }
                    }
                    Some(gst::PadProbeData::Buffer(buf)) => {
                        if let Some(rt) = buf.pts().and_then(|pts| p.0.to_running_time(pts)) {
                            let end = rt + buf.duration().unwrap_or(gst::ClockTime::ZERO);
                            p.1 = p.1.max(end.nseconds());
                        }
                    }
                    _ => (),
                }
                gst::PadProbeReturn::Ok
            },
        );
    Ok(played)
}

/// The analysis tail shared by the clip runs and the normal streams. The decision settings
/// are the element's defaults; `threshold` is set only when given on the command line.
/// A calibration file and the `calibration-mode` to use it in.
type Calibration<'a> = (&'a Path, &'a str);

fn analysis_tail(
    model: &str,
    device: &str,
    flow: bool,
    front: Option<&str>,
    threshold: Option<f32>,
    calibration: Option<Calibration>,
) -> String {
    // clipbuffer takes its inputs (rgb or rgb+flow) from the model.
    let flow = if flow {
        "opticalflow preset=fast ! "
    } else {
        ""
    };
    // `--front`: elements before clipbuffer (e.g. a crop of where things move).
    let front = front
        .filter(|f| !f.trim().is_empty())
        .map_or(String::new(), |f| format!("{f} ! "));
    let threshold = threshold.map_or(String::new(), |t| format!(" threshold={t}"));
    let calibration = calibration.map_or(String::new(), |(file, mode)| {
        format!(
            " calibration-location=\"{}\" calibration-mode={mode}",
            file.display()
        )
    });
    format!(
        "{front}{flow}clipbuffer ! violenceclassify name=classify mode=sync emit-scores=true \
         device={device} model-location=\"{model}\"{threshold}{calibration} ! fakesink name=sink sync=false"
    )
}

/// Reads a score or start message of violenceclassify into `run`.
fn collect_event(msg: &gst::Message, run: &mut ClipRun) {
    if let gst::MessageView::Element(e) = msg.view() {
        if let Some(ev) = e.structure().and_then(ViolenceEvent::from_structure) {
            match ev.kind {
                EventKind::Score => run.windows.push(ev),
                EventKind::Start => run.starts.push(ev),
                EventKind::End => (),
            }
        }
    }
}

fn run_clip(uri: &str, tail: &str) -> ClipRun {
    run_clip_range(uri, tail, None)
}

/// Plays one manifest row of the folder `dir` on its own; a row whose file cannot be found
/// is a failed run. Errors are printed as they come.
fn run_row(row: &manifest::Row, dir: &Path, tail: &str) -> ClipRun {
    let run = match row.uri(dir) {
        Ok(uri) => run_clip(&uri, tail),
        Err(e) => ClipRun {
            error: Some(e),
            ..ClipRun::default()
        },
    };
    if let Some(e) = &run.error {
        eprintln!("error: {}: {e}", row.path);
    }
    run
}

/// `range`: play only [start, stop) of the clip (ns of stream time), through a flushing
/// seek before it plays; running time then starts at 0 at `start`.
fn run_clip_range(uri: &str, tail: &str, range: Option<(u64, u64)>) -> ClipRun {
    let launch = format!("uridecodebin uri=\"{uri}\" ! videoconvert ! {tail}");
    let mut run = ClipRun::default();
    let pipeline = match gst::parse::launch(&launch) {
        Ok(p) => p,
        Err(e) => {
            run.error = Some(e.to_string());
            return run;
        }
    };
    let played = match track_played(&pipeline) {
        Ok(p) => p,
        Err(e) => {
            run.error = Some(e);
            return run;
        }
    };
    if let Some((start, stop)) = range {
        if let Err(e) = seek_to(&pipeline, start, stop) {
            let _ = pipeline.set_state(gst::State::Null);
            run.error = Some(e);
            return run;
        }
    }
    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        run.error = Some(format!("cannot start: {e}"));
        return run;
    }
    let bus = pipeline.bus().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    run.error = Some("timed out after 300 s".to_string());
    while let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(
        deadline.saturating_duration_since(Instant::now()).as_secs(),
    )) {
        collect_event(&msg, &mut run);
        match msg.view() {
            gst::MessageView::Error(e) => {
                run.error = Some(format!("{}: {}", e.error(), e.debug().unwrap_or_default()));
                break;
            }
            gst::MessageView::Eos(_) => {
                run.error = run.windows.is_empty().then(|| "no score".to_string());
                break;
            }
            _ => (),
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    run.played = played.lock().unwrap().1;
    run
}

/// Prerolls `pipeline` and seeks it to [start, stop) ns.
fn seek_to(pipeline: &gst::Element, start: u64, stop: u64) -> Result<(), String> {
    pipeline
        .set_state(gst::State::Paused)
        .map_err(|e| format!("cannot preroll: {e}"))?;
    let (done, _, _) = pipeline.state(gst::ClockTime::from_seconds(60));
    done.map_err(|e| format!("no preroll: {e}"))?;
    pipeline
        .seek(
            1.0,
            gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
            gst::SeekType::Set,
            gst::ClockTime::from_nseconds(start),
            gst::SeekType::Set,
            gst::ClockTime::from_nseconds(stop),
        )
        .map_err(|e| format!("cannot seek to {start}..{stop} ns: {e}"))?;
    let (done, _, _) = pipeline.state(gst::ClockTime::from_seconds(60));
    done.map(|_| ())
        .map_err(|e| format!("no preroll after the seek: {e}"))
}

/// The normal clips of one dataset played back to back as one stream.
struct NormalStream {
    run: ClipRun,
    /// Running time (ns) at which each clip starts, in play order.
    clip_starts: Vec<u64>,
    /// Running time (ns) played: the end of the last frame.
    played: u64,
}

/// The raw format of a clip as decoded: the format the whole stream takes, as a camera has
/// one size and frame rate.
fn stream_format(uri: &str) -> Result<gst::Caps, String> {
    let pipeline = gst::parse::launch(&format!(
        "uridecodebin uri=\"{uri}\" ! videoconvert ! fakesink name=sink"
    ))
    .map_err(|e| e.to_string())?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline".to_string())?;
    let result = (|| {
        pipeline
            .set_state(gst::State::Paused)
            .map_err(|e| format!("cannot preroll: {e}"))?;
        let bus = pipeline.bus().ok_or("no bus")?;
        for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
            match msg.view() {
                gst::MessageView::AsyncDone(_) => {
                    let caps = pipeline
                        .by_name("sink")
                        .and_then(|s| s.static_pad("sink"))
                        .and_then(|p| p.current_caps())
                        .ok_or("no caps after preroll")?;
                    let info = gst_video::VideoInfo::from_caps(&caps)
                        .map_err(|_| format!("not raw video: {caps}"))?;
                    // Variable frame rate (0/1) cannot be resampled to: 25 fps then.
                    let fps = if info.fps().numer() > 0 {
                        info.fps()
                    } else {
                        gst::Fraction::new(25, 1)
                    };
                    return gst_video::VideoInfo::builder(
                        info.format(),
                        info.width(),
                        info.height(),
                    )
                    .fps(fps)
                    .par(gst::Fraction::new(1, 1))
                    .colorimetry(&info.colorimetry())
                    .chroma_site(info.chroma_site())
                    .build()
                    .and_then(|i| i.to_caps())
                    .map_err(|e| format!("{e}"));
                }
                gst::MessageView::Error(e) => return Err(e.error().to_string()),
                _ => (),
            }
        }
        Err("no preroll within 60 s".to_string())
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// Plays `uris` as one stream through concat into the analysis `tail`, so that the decision
/// state (hysteresis, min-consecutive, hold-time) carries across clip boundaries. Every clip
/// is converted, scaled (no borders, like clipbuffer's own scaling) and rate-converted to
/// the first clip's format and restamped to one segment, so the caps never change and
/// clipbuffer's windows run on across boundaries as on a camera. Decoders are created one
/// clip ahead and dropped once played; concat's sink pads are all requested up front so
/// that it never runs out of inputs early.
fn run_normal_stream(uris: &[String], tail: &str) -> NormalStream {
    let mut stream = NormalStream {
        run: ClipRun::default(),
        clip_starts: Vec::new(),
        played: 0,
    };
    let Some(first) = uris.first() else {
        return stream;
    };
    let caps = match stream_format(first) {
        Ok(c) => c,
        Err(e) => {
            stream.run.error = Some(format!("{first}: {e}"));
            return stream;
        }
    };
    match play_concatenated(uris, &caps, tail, &mut stream) {
        Ok(()) => (),
        Err(e) => stream.run.error = Some(e),
    }
    stream
}

/// State of the restamping probe after concat.
#[derive(Default)]
struct OneSegment {
    /// The segment of the clip playing now.
    clip_segment: gst::FormattedSegment<gst::ClockTime>,
    new_clip: bool,
    clip_starts: Vec<u64>,
}

impl OneSegment {
    fn restamp(&mut self, info: &mut gst::PadProbeInfo) -> gst::PadProbeReturn {
        match &mut info.data {
            Some(gst::PadProbeData::Event(ev)) => match ev.view() {
                gst::EventView::StreamStart(_) => self.new_clip = true,
                gst::EventView::Segment(s) => {
                    let Ok(segment) = s.segment().clone().downcast::<gst::ClockTime>() else {
                        return gst::PadProbeReturn::Ok;
                    };
                    if std::mem::take(&mut self.new_clip) {
                        let start = segment.to_running_time(segment.start());
                        self.clip_starts.push(start.map_or(0, |t| t.nseconds()));
                    }
                    self.clip_segment = segment;
                    // Every clip's segment becomes the same one (dropping a sticky event
                    // in a probe makes the pad retry it before every buffer).
                    let seqnum = ev.seqnum();
                    *ev = gst::event::Segment::builder(
                        &gst::FormattedSegment::<gst::ClockTime>::new(),
                    )
                    .seqnum(seqnum)
                    .build();
                }
                _ => (),
            },
            Some(gst::PadProbeData::Buffer(buffer)) => {
                let Some(running_time) = buffer
                    .pts()
                    .and_then(|pts| self.clip_segment.to_running_time(pts))
                else {
                    // Outside its clip's segment: it would not be shown.
                    return gst::PadProbeReturn::Drop;
                };
                let buffer = buffer.make_mut();
                buffer.set_pts(running_time);
                buffer.set_dts(gst::ClockTime::NONE);
            }
            _ => (),
        }
        gst::PadProbeReturn::Ok
    }
}

fn play_concatenated(
    uris: &[String],
    caps: &gst::Caps,
    tail: &str,
    stream: &mut NormalStream,
) -> Result<(), String> {
    let launch = format!(
        "concat name=joined ! videoconvert ! videoscale add-borders=false ! videorate \
         ! capsfilter name=format ! {tail}"
    );
    let pipeline = gst::parse::launch(&launch)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    let by_name = |name: &str| {
        pipeline
            .by_name(name)
            .ok_or_else(|| format!("no element {name}"))
    };
    by_name("format")?.set_property("caps", caps);
    let concat = by_name("joined")?;
    let concat_pads: Vec<gst::Pad> = (0..uris.len())
        .map(|_| concat.request_pad_simple("sink_%u"))
        .collect::<Option<_>>()
        .ok_or("concat gives no sink pad")?;
    // One segment, as a camera's stream has: after videorate (which restarts its timestamps
    // at each segment it sees), every frame is restamped to its running time (concat's
    // adjust-base keeps the clips adjacent) and every clip's segment is replaced by the same
    // one, starting at 0.
    // Elements that map a window's PTS to running time with the latest segment then see
    // consistent times across boundaries. The running time of each clip's first segment
    // marks where it starts.
    let restamp = Arc::new(Mutex::new(OneSegment::default()));
    let r = restamp.clone();
    by_name("format")?
        .static_pad("src")
        .ok_or("capsfilter has no src pad")?
        .add_probe(
            gst::PadProbeType::EVENT_DOWNSTREAM | gst::PadProbeType::BUFFER,
            move |_, info| r.lock().unwrap().restamp(info),
        );
    // Footage played and progress: the running time of the last frame at the sink.
    let played = track_played(pipeline.upcast_ref())?;
    // Which input plays now, told to this thread: it adds the next decoder and drops the
    // played ones (not from concat's streaming thread).
    concat.connect_notify(Some("active-pad"), |concat, _| {
        let index = concat
            .property::<Option<gst::Pad>>("active-pad")
            .and_then(|p| p.name().strip_prefix("sink_")?.parse::<u32>().ok());
        if let Some(index) = index {
            let s = gst::Structure::builder("active-input")
                .field("index", index)
                .build();
            let _ = concat.post_message(gst::message::Application::builder(s).src(concat).build());
        }
    });
    let mut decoders: Vec<Option<gst::Element>> = vec![None; uris.len()];
    let add_decoder = |decoders: &mut Vec<Option<gst::Element>>, i: usize| -> Result<(), String> {
        if i >= uris.len() || decoders[i].is_some() {
            return Ok(());
        }
        let decoder = gst::ElementFactory::make("uridecodebin")
            .property("uri", &uris[i])
            .build()
            .map_err(|e| e.to_string())?;
        let target = concat_pads[i].clone();
        decoder.connect_pad_added(move |_, pad| {
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let video = caps
                .structure(0)
                .is_some_and(|s| s.name().starts_with("video/"));
            // Audio and further video pads stay unlinked, as with `uridecodebin ! ...`.
            if video && !target.is_linked() {
                let _ = pad.link(&target);
            }
        });
        pipeline.add(&decoder).map_err(|e| e.to_string())?;
        decoder
            .sync_state_with_parent()
            .map_err(|e| e.to_string())?;
        decoders[i] = Some(decoder);
        Ok(())
    };
    add_decoder(&mut decoders, 0)?;
    add_decoder(&mut decoders, 1)?;
    let result = (|| {
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| format!("cannot start: {e}"))?;
        let bus = pipeline.bus().ok_or("no bus")?;
        let (mut progress, mut progress_at) = (0u64, Instant::now());
        loop {
            let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(1)) else {
                let now = played.lock().unwrap().1;
                if now != progress {
                    (progress, progress_at) = (now, Instant::now());
                } else if progress_at.elapsed() > Duration::from_secs(300) {
                    return Err(format!(
                        "stalled for 300 s at {:.1} s of footage",
                        now as f64 / 1e9
                    ));
                }
                continue;
            };
            collect_event(&msg, &mut stream.run);
            match msg.view() {
                gst::MessageView::Application(a) => {
                    if let Some(i) = a
                        .structure()
                        .filter(|s| s.name() == "active-input")
                        .and_then(|s| s.get::<u32>("index").ok())
                    {
                        let i = i as usize;
                        add_decoder(&mut decoders, i + 1)?;
                        for played in decoders.iter_mut().take(i) {
                            if let Some(d) = played.take() {
                                let _ = d.set_state(gst::State::Null);
                                let _ = pipeline.remove(&d);
                            }
                        }
                    }
                }
                gst::MessageView::Error(e) => {
                    let source = e.src().map(|s| s.path_string().to_string());
                    return Err(format!(
                        "{} ({}): {}",
                        e.error(),
                        source.unwrap_or_default(),
                        e.debug().unwrap_or_default()
                    ));
                }
                gst::MessageView::Eos(_) => return Ok(()),
                _ => (),
            }
        }
    })();
    let _ = pipeline.set_state(gst::State::Null);
    stream.played = played.lock().unwrap().1;
    stream.clip_starts = restamp.lock().unwrap().clip_starts.clone();
    result
}

/// Wilson score interval for k successes out of n, 95%.
fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let (z, n, p) = (1.959964, n as f64, k as f64 / n as f64);
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    (centre - half, centre + half)
}

/// ROC points (false positive rate, true positive rate) from high to low thresholds, and
/// the area (ties count one half).
fn roc(items: &[(f32, bool)]) -> (Vec<(f64, f64)>, f64) {
    let pos = items.iter().filter(|i| i.1).count() as f64;
    let neg = items.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return (vec![(0.0, 0.0), (1.0, 1.0)], f64::NAN);
    }
    let mut sorted = items.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp, mut auc) = (0.0, 0.0, 0.0);
    let mut i = 0;
    while i < sorted.len() {
        let (mut dtp, mut dfp) = (0.0, 0.0);
        let s = sorted[i].0;
        while i < sorted.len() && sorted[i].0 == s {
            if sorted[i].1 {
                dtp += 1.0
            } else {
                dfp += 1.0
            }
            i += 1;
        }
        auc += dfp * (tp + dtp / 2.0);
        tp += dtp;
        fp += dfp;
        points.push((fp / neg, tp / pos));
    }
    (points, auc / (pos * neg))
}

fn metrics(results: &[&ClipResult], threshold: f32) -> (serde_json::Value, Vec<(f64, f64)>) {
    let (mut tp, mut fp, mut tn, mut fneg) = (0, 0, 0, 0);
    for r in results {
        match (r.row.violent(), r.predicted(threshold)) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (false, false) => tn += 1,
            (true, false) => fneg += 1,
        }
    }
    let n = results.len();
    let correct = tp + tn;
    let ratio = |a: usize, b: usize| {
        if b == 0 {
            f64::NAN
        } else {
            a as f64 / b as f64
        }
    };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fneg);
    let f1 = 2.0 * precision * recall / (precision + recall);
    let items: Vec<(f32, bool)> = results
        .iter()
        .map(|r| (r.score(), r.row.violent()))
        .collect();
    let (points, auc) = roc(&items);
    let (lo, hi) = wilson(correct, n);
    let errors = results.iter().filter(|r| r.error.is_some()).count();
    let nan_null = |x: f64| if x.is_finite() { json!(x) } else { json!(null) };
    (
        json!({
            "clips": n, "errors": errors, "accuracy": nan_null(ratio(correct, n)),
            "accuracy_wilson95": [nan_null(lo), nan_null(hi)],
            "precision": nan_null(precision), "recall": nan_null(recall), "f1": nan_null(f1),
            "roc_auc": nan_null(auc),
            "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fneg},
        }),
        points,
    )
}

/// A small ROC plot: one curve per group, the chance diagonal, a legend.
/// A named ROC curve and its area.
type Curve = (String, Vec<(f64, f64)>, f64);

fn plot_roc(path: &Path, curves: &[Curve]) -> Result<(), String> {
    const W: usize = 520;
    const H: usize = 520;
    let (x0, y0, side) = (60usize, 20usize, 420usize);
    let mut img = vec![255u8; W * H * 3];
    let put = |img: &mut Vec<u8>, x: i64, y: i64, c: [u8; 3], a: f32| {
        if x >= 0 && y >= 0 && (x as usize) < W && (y as usize) < H {
            let i = (y as usize * W + x as usize) * 3;
            for k in 0..3 {
                img[i + k] = (img[i + k] as f32 * (1.0 - a) + c[k] as f32 * a) as u8;
            }
        }
    };
    let to_px = |fx: f64, fy: f64| {
        (
            x0 as f64 + fx * side as f64,
            y0 as f64 + (1.0 - fy) * side as f64,
        )
    };
    let line = |img: &mut Vec<u8>, a: (f64, f64), b: (f64, f64), c: [u8; 3], w: i64| {
        let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()) * 2.0)
            .ceil()
            .max(1.0) as usize;
        for s in 0..=steps {
            let t = s as f64 / steps as f64;
            let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
            for dx in -(w / 2)..=(w - 1) / 2 {
                for dy in -(w / 2)..=(w - 1) / 2 {
                    put(img, x.round() as i64 + dx, y.round() as i64 + dy, c, 1.0);
                }
            }
        }
    };
    for g in 0..=5 {
        let f = g as f64 / 5.0;
        let grid = [225, 225, 225];
        line(&mut img, to_px(f, 0.0), to_px(f, 1.0), grid, 1);
        line(&mut img, to_px(0.0, f), to_px(1.0, f), grid, 1);
    }
    line(
        &mut img,
        to_px(0.0, 0.0),
        to_px(1.0, 1.0),
        [170, 170, 170],
        1,
    );
    let black = [0, 0, 0];
    line(&mut img, to_px(0.0, 0.0), to_px(1.0, 0.0), black, 1);
    line(&mut img, to_px(0.0, 0.0), to_px(0.0, 1.0), black, 1);
    let colours = [
        [0, 0, 0],
        [31, 119, 180],
        [214, 39, 40],
        [44, 160, 44],
        [148, 103, 189],
        [255, 127, 14],
    ];
    for (i, (_, points, _)) in curves.iter().enumerate() {
        let c = colours[i % colours.len()];
        for p in points.windows(2) {
            line(&mut img, to_px(p[0].0, p[0].1), to_px(p[1].0, p[1].1), c, 3);
        }
    }
    let font = FontRef::try_from_slice(FONT).map_err(|e| e.to_string())?;
    let text = |img: &mut Vec<u8>, s: &str, x: f32, y: f32, c: [u8; 3]| {
        let scale = PxScale::from(14.0);
        let mut pen = x;
        for ch in s.chars() {
            let glyph = font
                .glyph_id(ch)
                .with_scale_and_position(scale, ab_glyph::point(pen, y));
            pen += font.as_scaled(scale).h_advance(glyph.id);
            if let Some(o) = font.outline_glyph(glyph) {
                let b = o.px_bounds();
                o.draw(|gx, gy, a| {
                    put(
                        img,
                        b.min.x as i64 + gx as i64,
                        b.min.y as i64 + gy as i64,
                        c,
                        a,
                    )
                });
            }
        }
    };
    use ab_glyph::ScaleFont;
    for g in 0..=5 {
        let f = g as f64 / 5.0;
        let (px, py) = to_px(f, 0.0);
        text(
            &mut img,
            &format!("{f:.1}"),
            px as f32 - 10.0,
            py as f32 + 18.0,
            black,
        );
        let (px, py) = to_px(0.0, f);
        text(
            &mut img,
            &format!("{f:.1}"),
            px as f32 - 32.0,
            py as f32 + 5.0,
            black,
        );
    }
    text(&mut img, "false positive rate", 200.0, 510.0, black);
    text(&mut img, "TPR", 8.0, 30.0, black);
    for (i, (name, _, auc)) in curves.iter().enumerate() {
        let c = colours[i % colours.len()];
        let y = 330.0 + 20.0 * i as f32;
        text(&mut img, &format!("{name}  AUC {auc:.3}"), 270.0, y, c);
    }
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), W as u32, H as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()
        .and_then(|mut w| w.write_image_data(&img))
        .map_err(|e| e.to_string())
}

/// One dataset's normal clips played as one stream.
struct NormalStreamResult {
    dataset: String,
    /// The clips played, in order.
    played: Vec<String>,
    /// Normal clips left out because they failed on their own.
    excluded: Vec<String>,
    stream: NormalStream,
}

/// One clip of continuous ordinary footage (`--normal`), played as its own stream, as a
/// camera: every `violence-start` in it is a false alarm.
struct FootageResult {
    row: manifest::Row,
    run: ClipRun,
}

/// False alarms per hour of continuous footage, per clip and over all of them.
fn footage_figures(footage: &[FootageResult], dir: &Path, split: &str) -> serde_json::Value {
    let rate_json = |events: usize, seconds: f64| {
        let rate = event_metrics::false_event_rate(events as u64, seconds);
        json!({
            "seconds": seconds,
            "false_events": events,
            "false_events_per_hour": rate.as_ref().map_or(json!(null), |r| nan_null(r.per_hour)),
            "false_events_per_hour_upper95":
                rate.as_ref().map_or(json!(null), |r| nan_null(r.per_hour_upper95)),
        })
    };
    let clips: Vec<serde_json::Value> = footage
        .iter()
        .map(|f| {
            let mut c = rate_json(f.run.starts.len(), f.run.played as f64 / 1e9);
            c["path"] = json!(f.row.path);
            c["windows"] = json!(f.run.windows.len());
            c["max_score"] = json!(f.run.windows.iter().map(|w| w.score).fold(0.0, f32::max));
            c["error"] = json!(f.run.error);
            c
        })
        .collect();
    let events = footage.iter().map(|f| f.run.starts.len()).sum();
    let seconds = footage.iter().map(|f| f.run.played as f64 / 1e9).sum();
    let mut overall = rate_json(events, seconds);
    overall["clips"] = json!(footage.len());
    overall["hours"] = json!(seconds / 3600.0);
    overall["errors"] = json!(footage.iter().filter(|f| f.run.error.is_some()).count());
    json!({
        "data": std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()),
        "split": split,
        "played_as": "each clip as its own stream, as a camera",
        "overall": overall,
        "clips": clips,
    })
}

/// Per-camera calibration measured through the element (`--calibration`):
/// (a) each continuous footage clip learned on its first half, false alarms counted on its
///     second half with and without the calibration;
/// (b) each dataset calibrated on its train normal clips (each played on its own, learned
///     into one file per dataset), and its val fight clips played again with it: event recall
///     against the uncalibrated run.
fn calibration_check(
    footage: &[FootageResult],
    footage_dir: Option<&Path>,
    results: &[ClipResult],
    data: &Path,
    out: &Path,
    tail_with: &dyn Fn(Option<Calibration>) -> String,
) -> Result<serde_json::Value, String> {
    let dir = out.join("calibration");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let fresh = |name: &str| {
        let file = dir.join(format!("{name}.json"));
        let _ = std::fs::remove_file(&file);
        file
    };
    let plain = tail_with(None);
    let mut halves = Vec::new();
    let (mut plain_total, mut calibrated_total, mut seconds_total) = (0usize, 0usize, 0f64);
    for f in footage
        .iter()
        .filter(|f| f.run.error.is_none() && f.run.played > 0)
    {
        let uri = f.row.uri(footage_dir.unwrap_or(data))?;
        let half = f.run.played / 2;
        // Beyond the end: the seek's stop is the clip's end.
        let end = f.run.played + 10_000_000_000;
        let stem = Path::new(&f.row.path)
            .file_stem()
            .map_or_else(|| "clip".into(), |s| s.to_string_lossy().into_owned());
        let file = fresh(&format!("footage-{stem}"));
        let learn = run_clip_range(&uri, &tail_with(Some((&file, "learn"))), Some((0, half)));
        if let Some(e) = learn.error {
            return Err(format!("{}: learning the first half: {e}", f.row.path));
        }
        let before = run_clip_range(&uri, &plain, Some((half, end)));
        let after = run_clip_range(&uri, &tail_with(Some((&file, "apply"))), Some((half, end)));
        if let Some(e) = before.error.or(after.error) {
            return Err(format!("{}: second half: {e}", f.row.path));
        }
        eprintln!(
            "calibration {}: learned {:.1} s; second half {:.1} s: {} false alarms, {} calibrated",
            f.row.path,
            learn.played as f64 / 1e9,
            after.played as f64 / 1e9,
            before.starts.len(),
            after.starts.len()
        );
        plain_total += before.starts.len();
        calibrated_total += after.starts.len();
        seconds_total += after.played as f64 / 1e9;
        halves.push(json!({
            "path": f.row.path, "learned_seconds": learn.played as f64 / 1e9,
            "second_half_seconds": after.played as f64 / 1e9,
            "false_alarms": before.starts.len(), "false_alarms_calibrated": after.starts.len(),
            "file": file,
        }));
    }
    let mut datasets = serde_json::Map::new();
    let train = manifest::read(data, "train")?;
    let mut names: Vec<String> = results.iter().map(|r| r.row.dataset.clone()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let file = fresh(&format!("dataset-{name}"));
        let normals: Vec<&manifest::Row> = train
            .iter()
            .filter(|r| r.dataset == name && !r.violent())
            .collect();
        if normals.is_empty() {
            continue;
        }
        let mut learned = 0f64;
        for row in &normals {
            let run = run_clip(&row.uri(data)?, &tail_with(Some((&file, "learn"))));
            learned += run.played as f64 / 1e9;
        }
        let calibrated = tail_with(Some((&file, "apply")));
        let fights: Vec<&ClipResult> = results
            .iter()
            .filter(|r| r.row.dataset == name && r.row.violent())
            .collect();
        let (mut before, mut after) = (0usize, 0usize);
        for r in &fights {
            before += usize::from(r.first_start().is_some());
            let run = run_clip(&r.row.uri(data)?, &calibrated);
            after += usize::from(run.error.is_none() && !run.starts.is_empty());
        }
        let recall = |k: usize| nan_null(k as f64 / fights.len() as f64);
        eprintln!(
            "calibration {name}: {} train normal clips ({learned:.0} s); val fight events {before} -> {after} of {}",
            normals.len(),
            fights.len()
        );
        datasets.insert(
            name,
            json!({
                "train_normal_clips": normals.len(), "learned_seconds": learned,
                "val_fights": fights.len(),
                "event_recall": recall(before), "event_recall_calibrated": recall(after),
                "file": file,
            }),
        );
    }
    Ok(json!({
        "footage_halves": {
            "clips": halves,
            "second_half_seconds": seconds_total,
            "false_alarms": plain_total,
            "false_alarms_calibrated": calibrated_total,
        },
        "datasets_calibrated_on_train_normals": datasets,
    }))
}

fn show_footage(name: &str, f: &serde_json::Value) -> String {
    let n = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    format!(
        "{name}: {} false alarms in {:.1} s{} = {:.1}/h [95% upper {:.1}/h]{}",
        f["false_events"],
        n(&f["seconds"]),
        f["clips"]
            .as_u64()
            .map_or(String::new(), |c| format!(" ({c} clips)")),
        n(&f["false_events_per_hour"]),
        n(&f["false_events_per_hour_upper95"]),
        match f["errors"].as_u64() {
            Some(e) if e > 0 => format!(" (clip errors: {e})"),
            _ => String::new(),
        }
    )
}

fn nan_null(x: f64) -> serde_json::Value {
    if x.is_finite() {
        json!(x)
    } else {
        json!(null)
    }
}

fn median_max_json(m: Option<(f64, f64)>) -> serde_json::Value {
    match m {
        Some((median, max)) => json!({"median": median, "max": max}),
        None => json!({"median": null, "max": null}),
    }
}

/// How the events were decided: violenceclassify's default decision properties.
fn event_settings() -> serde_json::Value {
    let defaults = gst::ElementFactory::make("violenceclassify").build().ok();
    let number = |name: &str| -> serde_json::Value {
        let Some(value) = defaults.as_ref().map(|e| e.property_value(name)) else {
            return json!(null);
        };
        value
            .get::<u32>()
            .map(|v| json!(v))
            .or_else(|_| value.get::<u64>().map(|v| json!(v)))
            .or_else(|_| value.get::<f64>().map(|v| json!(v)))
            .unwrap_or(json!(null))
    };
    json!({
        "element": "violenceclassify mode=sync with its default decision properties \
                    (threshold -1 is the model's threshold, or --threshold when given)",
        "min_consecutive": number("min-consecutive"),
        "hold_time_ns": number("hold-time"),
        "release_threshold": number("release-threshold"),
        "normal_stream": "the normal clips of a dataset played back to back through concat \
                          as one stream, each converted to the first clip's size, frame rate \
                          and pixel format; violence-start events counted",
        "latency_s": "the violence-start event's latency field: running time from the first \
                      frame of the run that started the event to the decision",
        "decided_after_clip_start_s": "running time from the fight clip's start to the \
                                       decision (event running time + latency)",
    })
}

/// Event figures over normal streams and fight clips (one dataset's, or all of them).
fn event_figures(streams: &[&NormalStreamResult], clips: &[&ClipResult]) -> serde_json::Value {
    let false_events: usize = streams.iter().map(|s| s.stream.run.starts.len()).sum();
    let seconds: f64 = streams.iter().map(|s| s.stream.played as f64 / 1e9).sum();
    let rate = event_metrics::false_event_rate(false_events as u64, seconds);
    let errors: Vec<String> = streams
        .iter()
        .filter_map(|s| {
            let e = s.stream.run.error.as_ref()?;
            Some(format!("{}: {e}", s.dataset))
        })
        .collect();
    let fights: Vec<Option<event_metrics::FirstStart>> = clips
        .iter()
        .filter(|r| r.row.violent())
        .map(|r| r.first_start())
        .collect();
    let d = event_metrics::fight_detections(&fights);
    let (lo, hi) = wilson(d.detected, d.clips);
    json!({
        "normal_stream": {
            "clips": streams.iter().map(|s| s.played.len()).sum::<usize>(),
            "left_out": streams.iter().flat_map(|s| s.excluded.iter()).collect::<Vec<_>>(),
            "seconds": seconds,
            "hours": seconds / 3600.0,
            "false_events": false_events,
            "false_events_per_hour": rate.as_ref().map_or(json!(null), |r| nan_null(r.per_hour)),
            "false_events_per_hour_upper95":
                rate.as_ref().map_or(json!(null), |r| nan_null(r.per_hour_upper95)),
            "errors": errors,
        },
        "fight_clips": {
            "clips": d.clips,
            "detected": d.detected,
            "event_recall": d.recall.map_or(json!(null), nan_null),
            "event_recall_wilson95": [nan_null(lo), nan_null(hi)],
            "latency_s": median_max_json(d.latency_s),
            "decided_after_clip_start_s": median_max_json(d.decided_after_clip_start_s),
        },
    })
}

fn show_events(name: &str, e: &serde_json::Value) -> String {
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let (n, c) = (&e["normal_stream"], &e["fight_clips"]);
    let errors = n["errors"].as_array().map_or(0, Vec::len);
    format!(
        "{name} events: {} false in {:.4} h of normal footage ({} clips) = {:.1}/h [95% upper {:.1}/h]; \
         event recall {:.3} ({}/{}), latency median {:.2} s max {:.2} s, decided after clip start \
         median {:.2} s max {:.2} s{}",
        n["false_events"],
        f(&n["hours"]),
        n["clips"],
        f(&n["false_events_per_hour"]),
        f(&n["false_events_per_hour_upper95"]),
        f(&c["event_recall"]),
        c["detected"],
        c["clips"],
        f(&c["latency_s"]["median"]),
        f(&c["latency_s"]["max"]),
        f(&c["decided_after_clip_start_s"]["median"]),
        f(&c["decided_after_clip_start_s"]["max"]),
        if errors > 0 {
            format!(" (normal stream errors: {errors})")
        } else {
            String::new()
        }
    )
}

/// One row of events.tsv / windows.tsv: dataset, how it was played, path, label, then the
/// event `at` ns into its clip, its latency, score and scene-cut flag.
fn write_row(
    f: &mut impl Write,
    (dataset, played_as, path, label): (&str, &str, &str, &str),
    at: u64,
    ev: &ViolenceEvent,
) -> std::io::Result<()> {
    writeln!(
        f,
        "{dataset}\t{played_as}\t{path}\t{label}\t{:.3}\t{:.3}\t{:.4}\t{}",
        at as f64 / 1e9,
        ev.latency as f64 / 1e9,
        ev.score,
        u8::from(ev.scene_cut)
    )
}

/// One row per event of `kind` (violence-start for events.tsv, violence-score for
/// windows.tsv): of each clip played on its own (fight clips; every clip for windows), and of
/// each normal stream, with the clip it fell in and the time into that clip. `scene_cut`:
/// the deciding window spans a cut (the scene-cut guard), so that decision rules can be
/// replayed offline on windows.tsv.
fn write_event_rows(
    path: &Path,
    kind: EventKind,
    clips: &[ClipResult],
    streams: &[NormalStreamResult],
    footage: &[FootageResult],
    footage_name: &str,
) -> std::io::Result<()> {
    let pick = |run_windows, run_starts| match kind {
        EventKind::Start => run_starts,
        _ => run_windows,
    };
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        f,
        "dataset\tplayed_as\tpath\tlabel\t{}_in_clip_s\tlatency_s\tscore\tscene_cut",
        if kind == EventKind::Start {
            "start"
        } else {
            "window"
        }
    )?;
    for r in clips {
        for ev in pick(r.windows.as_slice(), r.starts.as_slice()) {
            let row = (
                r.row.dataset.as_str(),
                "clip",
                r.row.path.as_str(),
                r.row.label.as_str(),
            );
            write_row(&mut f, row, ev.running_time, ev)?;
        }
    }
    for s in streams {
        for ev in pick(
            s.stream.run.windows.as_slice(),
            s.stream.run.starts.as_slice(),
        ) {
            let clip = event_metrics::clip_at(&s.stream.clip_starts, ev.running_time);
            let (path, into) = match clip.and_then(|i| Some((s.played.get(i)?, i))) {
                Some((path, i)) => (path.as_str(), ev.running_time - s.stream.clip_starts[i]),
                None => ("?", ev.running_time),
            };
            write_row(
                &mut f,
                (s.dataset.as_str(), "normal-stream", path, "nofight"),
                into,
                ev,
            )?;
        }
    }
    for c in footage {
        for ev in pick(c.run.windows.as_slice(), c.run.starts.as_slice()) {
            let row = (
                footage_name,
                "continuous",
                c.row.path.as_str(),
                c.row.label.as_str(),
            );
            write_row(&mut f, row, ev.running_time, ev)?;
        }
    }
    f.flush()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let (mut split, mut threshold, mut every, mut device) =
        ("val".to_string(), None::<f32>, 1usize, "cpu".to_string());
    let mut normal_dir = None::<std::path::PathBuf>;
    let mut calibrate = false;
    let mut front = None::<String>;
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--split" => split = it.next().ok_or("--split needs a value")?,
            "--threshold" => {
                threshold = Some(it.next().ok_or("--threshold needs a value")?.parse()?)
            }
            "--every" => {
                every = it
                    .next()
                    .ok_or("--every needs a value")?
                    .parse::<usize>()?
                    .max(1)
            }
            "--device" => device = it.next().ok_or("--device needs a value")?,
            "--calibration" => calibrate = true,
            "--front" => front = Some(it.next().ok_or("--front needs elements")?),
            "--normal" => normal_dir = Some(it.next().ok_or("--normal needs a folder")?.into()),
            _ => positional.push(arg),
        }
    }
    if positional.len() != 3 {
        return Err("usage: evaluate DATA_DIR MODEL OUT_DIR [--split val|train|all] [--threshold P] [--every N] [--device cpu] [--normal FOOTAGE_DIR] [--calibration] [--front ELEMENTS]".into());
    }
    let (data, model, out) = (
        Path::new(&positional[0]),
        std::fs::canonicalize(&positional[1])?,
        Path::new(&positional[2]),
    );
    std::fs::create_dir_all(out)?;
    gst::init()?;
    gstviolence::plugin_register_static()?;
    // Holding the shared worker keeps the model loaded across the per-clip pipelines, and
    // gives the model's own threshold.
    let worker = gstviolence::model::acquire(
        &model,
        device
            .parse::<gstviolence::model::DeviceRequest>()?
            .resolve()?,
        false,
        1,
    )?;
    let meta = worker.info().metadata.clone().unwrap_or_default();
    // The events use the element's own threshold, unless one is given here.
    let element_threshold = threshold;
    let threshold = threshold.or(meta.threshold).unwrap_or(0.5);
    let flow = meta
        .inputs
        .as_ref()
        .is_some_and(|i| i.contains(&gstviolence::model::InputKind::Flow));
    // A model trained on people crops is served behind persondetect (its clipbuffer cuts the
    // frames around the people), as it was extracted for training.
    let front = match front {
        Some(f) if f.contains("persondetect") || !meta.people_crop => Some(f),
        f if meta.people_crop => {
            let people = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/people.pt");
            let detect = format!("persondetect model-location=\"{}\"", people.display());
            println!("the model was trained on people crops: {detect} before clipbuffer");
            Some(match f {
                Some(f) if !f.trim().is_empty() => format!("{detect} ! {f}"),
                _ => detect,
            })
        }
        f => f,
    };
    let model_str = model.to_string_lossy().to_string();
    let tail_with = |calibration: Option<Calibration>| {
        analysis_tail(
            &model_str,
            &device,
            flow,
            front.as_deref(),
            element_threshold,
            calibration,
        )
    };
    let tail = tail_with(None);
    let rows: Vec<manifest::Row> = manifest::read(data, &split)?
        .into_iter()
        .step_by(every)
        .collect();
    if rows.is_empty() {
        return Err(format!("no clip of split '{split}' in {}", data.display()).into());
    }
    // A manifest without a split column is evaluated whole.
    if rows.iter().all(|r| r.split == "all") {
        split = "all".to_string();
    }
    eprintln!(
        "evaluating {} on {} {split} clips of {} (threshold {threshold}{})",
        model.display(),
        rows.len(),
        data.display(),
        if flow {
            ", opticalflow for its flow input"
        } else {
            ""
        }
    );
    let started = Instant::now();
    let mut results = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        let t = Instant::now();
        let run = run_row(&row, data, &tail);
        results.push(ClipResult {
            row,
            windows: run.windows,
            starts: run.starts,
            error: run.error,
            seconds: t.elapsed().as_secs_f64(),
        });
        if (i + 1) % 25 == 0 {
            let el = started.elapsed().as_secs_f64();
            eprintln!("[{}] {:.1} clips/s", i + 1, (i + 1) as f64 / el);
        }
    }
    let wall = started.elapsed().as_secs_f64();

    // Per dataset, its normal clips as one stream; a clip that failed on its own is left out.
    let mut datasets: Vec<String> = results.iter().map(|r| r.row.dataset.clone()).collect();
    datasets.sort();
    datasets.dedup();
    let mut streams = Vec::new();
    for dataset in datasets {
        let (mut played, mut excluded, mut uris) = (Vec::new(), Vec::new(), Vec::new());
        for r in results
            .iter()
            .filter(|r| r.row.dataset == dataset && !r.row.violent())
        {
            match (r.error.is_none(), r.row.uri(data)) {
                (true, Ok(uri)) => {
                    played.push(r.row.path.clone());
                    uris.push(uri);
                }
                _ => excluded.push(r.row.path.clone()),
            }
        }
        if uris.is_empty() {
            continue;
        }
        eprintln!(
            "{dataset}: {} normal clips as one stream{}",
            uris.len(),
            if excluded.is_empty() {
                String::new()
            } else {
                format!(" ({} failed on their own, left out)", excluded.len())
            }
        );
        let t = Instant::now();
        let stream = run_normal_stream(&uris, &tail);
        if let Some(e) = &stream.run.error {
            eprintln!("error: {dataset} normal stream: {e}");
        }
        eprintln!(
            "{dataset}: {:.1} s of footage in {:.1} s",
            stream.played as f64 / 1e9,
            t.elapsed().as_secs_f64()
        );
        streams.push(NormalStreamResult {
            dataset,
            played,
            excluded,
            stream,
        });
    }
    // Continuous ordinary footage, each clip as its own camera.
    let footage_rows = match &normal_dir {
        Some(dir) => manifest::read_normal(dir, &split)?,
        None => Vec::new(),
    };
    let footage_name = normal_dir
        .as_deref()
        .and_then(|d| {
            std::fs::canonicalize(d)
                .ok()?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "normal".to_string());
    let mut footage = Vec::new();
    for row in footage_rows {
        let t = Instant::now();
        let run = run_row(&row, normal_dir.as_deref().unwrap_or(data), &tail);
        eprintln!(
            "{footage_name}/{}: {:.1} s of footage, {} false alarms, in {:.1} s",
            row.path,
            run.played as f64 / 1e9,
            run.starts.len(),
            t.elapsed().as_secs_f64()
        );
        footage.push(FootageResult { row, run });
    }
    let calibration_json = if calibrate {
        Some(calibration_check(
            &footage,
            normal_dir.as_deref(),
            &results,
            data,
            out,
            &tail_with,
        )?)
    } else {
        None
    };
    drop(worker);
    write_event_rows(
        &out.join("events.tsv"),
        EventKind::Start,
        &results,
        &streams,
        &footage,
        &footage_name,
    )?;
    write_event_rows(
        &out.join("windows.tsv"),
        EventKind::Score,
        &results,
        &streams,
        &footage,
        &footage_name,
    )?;

    let mut f = std::fs::File::create(out.join("scores.tsv"))?;
    writeln!(
        f,
        "path\tlabel\tdataset\tsplit\twindows\tmax_score\tpredicted\tcorrect\tseconds\terror"
    )?;
    for r in &results {
        let pred = r.predicted(threshold);
        writeln!(
            f,
            "{}\t{}\t{}\t{}\t{}\t{:.5}\t{}\t{}\t{:.3}\t{}",
            r.row.path,
            r.row.label,
            r.row.dataset,
            r.row.split,
            r.windows.len(),
            r.score(),
            if pred { "violent" } else { "nonviolent" },
            u8::from(pred == r.row.violent()),
            r.seconds,
            r.error.as_deref().unwrap_or("-").replace(['\t', '\n'], " ")
        )?;
    }
    let mut groups: BTreeMap<String, Vec<&ClipResult>> = BTreeMap::new();
    for r in &results {
        groups.entry(r.row.dataset.clone()).or_default().push(r);
    }
    let mut per_dataset = serde_json::Map::new();
    let mut curves = Vec::new();
    let show = |name: &str, m: &serde_json::Value| {
        let g = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
        let c = &m["confusion"];
        format!(
            "{name}: accuracy {:.3} [95% {:.3}, {:.3}] precision {:.3} recall {:.3} F1 {:.3} AUC {:.3} \
             (n={}, errors {}, tp {} fp {} tn {} fn {})",
            g("accuracy"),
            m["accuracy_wilson95"][0].as_f64().unwrap_or(f64::NAN),
            m["accuracy_wilson95"][1].as_f64().unwrap_or(f64::NAN),
            g("precision"),
            g("recall"),
            g("f1"),
            g("roc_auc"),
            m["clips"],
            m["errors"],
            c["tp"],
            c["fp"],
            c["tn"],
            c["fn"]
        )
    };
    for (name, rs) in &groups {
        let (m, points) = metrics(rs, threshold);
        println!("{}", show(name, &m));
        curves.push((
            name.clone(),
            points,
            m["roc_auc"].as_f64().unwrap_or(f64::NAN),
        ));
        let mut m = m;
        let events = event_figures(
            &streams
                .iter()
                .filter(|s| &s.dataset == name)
                .collect::<Vec<_>>(),
            rs,
        );
        println!("{}", show_events(name, &events));
        m["events"] = events;
        per_dataset.insert(name.clone(), m);
    }
    let all: Vec<&ClipResult> = results.iter().collect();
    let (mut overall, points) = metrics(&all, threshold);
    overall["events"] = event_figures(&streams.iter().collect::<Vec<_>>(), &all);
    curves.insert(
        0,
        (
            "overall".into(),
            points,
            overall["roc_auc"].as_f64().unwrap_or(f64::NAN),
        ),
    );
    plot_roc(&out.join("roc.png"), &curves)?;
    let footage_json = normal_dir
        .as_deref()
        .map(|dir| footage_figures(&footage, dir, &split));
    let clips_per_s = results.len() as f64 / wall;
    let report = json!({
        "model": model, "model_name": meta.name, "data": std::fs::canonicalize(data)?,
        "split": split, "threshold": threshold, "decision": "max window score >= threshold",
        "front": front,
        "clips_per_second": clips_per_s, "wall_seconds": wall,
        "events": event_settings(),
        "overall": overall, "datasets": per_dataset,
        "continuous_footage": footage_json,
        "calibration": calibration_json,
    });
    std::fs::write(
        out.join("metrics.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!(
        "{clips_per_s:.2} clips/s ({} clips in {wall:.0} s); wrote {d}/metrics.json, {d}/scores.tsv, {d}/roc.png, {d}/events.tsv, {d}/windows.tsv",
        results.len(),
        d = out.display()
    );
    println!("{}", show("overall", &overall));
    println!("{}", show_events("overall", &overall["events"]));
    if let Some(f) = &footage_json {
        for c in f["clips"].as_array().into_iter().flatten() {
            let mut line = show_footage(c["path"].as_str().unwrap_or("?"), c);
            line.push_str(&format!(
                ", max window score {:.3}",
                c["max_score"].as_f64().unwrap_or(f64::NAN)
            ));
            if let Some(e) = c["error"].as_str() {
                line.push_str(&format!(" (error: {e})"));
            }
            println!("  {line}");
        }
        println!(
            "{}",
            show_footage(
                &format!("{footage_name} (continuous footage)"),
                &f["overall"]
            )
        );
    }
    if let Some(c) = &calibration_json {
        let h = &c["footage_halves"];
        println!(
            "calibration, footage learned on first halves: {} false alarms in {:.1} s of second halves, {} uncalibrated",
            h["false_alarms_calibrated"],
            h["second_half_seconds"].as_f64().unwrap_or(f64::NAN),
            h["false_alarms"]
        );
        for (name, d) in c["datasets_calibrated_on_train_normals"]
            .as_object()
            .into_iter()
            .flatten()
        {
            println!(
                "calibration, {name} calibrated on its train normal clips: val event recall {:.3} (uncalibrated {:.3})",
                d["event_recall_calibrated"].as_f64().unwrap_or(f64::NAN),
                d["event_recall"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    let acc = overall["accuracy"].as_f64().unwrap_or(f64::NAN);
    let auc = overall["roc_auc"].as_f64().unwrap_or(f64::NAN);
    println!("overall accuracy {acc:.4} AUC {auc:.4}");
    Ok(())
}
