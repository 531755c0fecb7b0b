// SPDX-License-Identifier: MPL-2.0

//! violencerecord test support for the `record_*` tests. The synthetic frames carry their
//! index as a binary code burnt into the pixels after classification (so the motion model
//! does not see it); every file written is decoded and its frames read back by index.

use super::frame_index::{Decoded, FrameIndex};
use super::{model, run_pipeline, Outcome, Synthetic, FRAME_NS};
use gst::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Initializes GStreamer with every CRITICAL fatal (as `G_DEBUG=fatal-criticals` would):
/// a critical in the recorder (an element disposed outside NULL, ...) aborts these tests
/// where it happens instead of scrolling by.
pub fn init() {
    super::init();
    gst::glib::log_set_always_fatal(gst::glib::LogLevels::LEVEL_CRITICAL);
}

pub const W: u32 = 160;
pub const H: u32 = 120;
/// The frame index code of these tests' 160x120 frames.
pub const INDEX: FrameIndex = FrameIndex { block: 10 };
/// pre-roll and post-roll used by the tests: 10 frames each.
pub const ROLL_FRAMES: u64 = 10;
pub const ROLL_NS: u64 = ROLL_FRAMES * FRAME_NS;
pub const STRIDE: u64 = 2;
pub const T: u64 = 8;

pub fn read_index(data: &[u8], stride: usize) -> Option<u64> {
    INDEX.read(data, stride)
}

/// Burns the frame index (from the PTS) into every RGB buffer leaving `pad`.
pub fn burn_on(pad: &gst::Pad) {
    pad.add_probe(gst::PadProbeType::BUFFER, |_, info| {
        if let Some(gst::PadProbeData::Buffer(buffer)) = info.data.as_mut() {
            let index = buffer.pts().unwrap().nseconds() / FRAME_NS;
            let b = buffer.make_mut();
            let mut map = b.map_writable().unwrap();
            INDEX.burn(&mut map, 3 * W as usize, index);
        }
        gst::PadProbeReturn::Ok
    });
}

pub fn decode(path: &Path) -> Decoded {
    INDEX.decode(path)
}

pub fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-record")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "jsonl"))
        .collect();
    v.sort();
    v
}

/// A synthetic RGB stream with motion on the frames in any of `motion`.
pub fn frame(i: u64, motion: &[std::ops::Range<u64>]) -> gst::Buffer {
    let moving = motion.iter().any(|m| m.contains(&i));
    let v = Synthetic {
        width: W,
        height: H,
        frames: i + 1,
        motion: if moving { i..i + 1 } else { 0..0 },
    };
    v.frame(i)
}

pub fn caps() -> gst::Caps {
    Synthetic {
        width: W,
        height: H,
        frames: 1,
        motion: 0..0,
    }
    .caps()
}

/// The synthetic block appears in one frame, which the scene-cut guard would take for a cut
/// and let start an event one clip later; these tests need starts at known frames.
pub fn classify() -> String {
    format!(
        "clipbuffer stride={STRIDE} ! violenceclassify model-location={} mode=sync \
         min-consecutive=1 hold-time=0 stall-timeout=0 scene-cut-guard=false",
        model("motion.pt")
    )
}

pub const ENCODE: &str = "videoconvert ! x264enc speed-preset=ultrafast tune=zerolatency \
                      key-int-max=10 ! h264parse";

pub fn recorder(dir: &Path, extra: &str) -> String {
    format!(
        "violencerecord name=rec location={}/ev-%03d.mp4 pre-roll={ROLL_NS} \
         post-roll={ROLL_NS} event-log={}/events.jsonl {extra}",
        dir.display(),
        dir.display()
    )
}

pub struct Run {
    pub out: Outcome,
    pub elapsed: Duration,
}

/// `appsrc name=src ! <classify> name=cls ! ENCODE ! <violencerecord with extra>` writing into
/// `dir`, not started: the pipeline and its appsrc (test caps, time format), every frame
/// leaving the classifier carrying its index.
pub fn recording_pipeline(dir: &Path, extra: &str) -> (gst::Pipeline, gst_app::AppSrc) {
    init();
    let launch = format!(
        "appsrc name=src ! {} name=cls ! {ENCODE} ! {}",
        classify(),
        recorder(dir, extra)
    );
    let pipeline = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    burn_on(&pipeline.by_name("cls").unwrap().static_pad("src").unwrap());
    let src = test_appsrc(&pipeline);
    (pipeline, src)
}

/// The lines of `dir`/events.jsonl, parsed.
pub fn log_lines(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The appsrc named src of `pipeline`, set to push the test frames (caps, time format).
pub fn test_appsrc(pipeline: &gst::Pipeline) -> gst_app::AppSrc {
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    src.set_caps(Some(&caps()));
    src.set_format(gst::Format::Time);
    src
}

/// Plays `launch` (with an appsrc named src and a pad named by `burn_pad` = element name
/// whose src pad gets the index) over `frames` frames.
pub fn run(
    launch: &str,
    burn_element: &str,
    frames: u64,
    motion: &[std::ops::Range<u64>],
    pace: Option<Duration>,
) -> Run {
    init();
    let pipeline = gst::parse::launch(launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    burn_on(
        &pipeline
            .by_name(burn_element)
            .unwrap()
            .static_pad("src")
            .unwrap(),
    );
    let src = test_appsrc(&pipeline);
    let t0 = Instant::now();
    let out = run_pipeline(&pipeline, || {
        for i in 0..frames {
            if src.push_buffer(frame(i, motion)).is_err() {
                break;
            }
            if let Some(p) = pace {
                std::thread::sleep(p);
            }
        }
        let _ = src.end_of_stream();
    });
    Run {
        out,
        elapsed: t0.elapsed(),
    }
}

pub fn frame_of(pts: u64) -> u64 {
    pts / FRAME_NS
}

/// (start, end) frame of each event the classifier reported.
pub fn events(out: &Outcome) -> Vec<(u64, u64)> {
    let starts = out.events("violence-start");
    let ends = out.events("violence-end");
    assert_eq!(starts.len(), ends.len(), "{starts:?} {ends:?}");
    starts
        .iter()
        .zip(&ends)
        .map(|(s, e)| (frame_of(s.pts), frame_of(e.pts)))
        .collect()
}

/// Checks one file against the events it must cover.
pub fn check_file(path: &Path, start: u64, end: u64, last_frame: u64) -> Decoded {
    let d = decode(path);
    assert!(!d.indices.is_empty(), "{} is empty", path.display());
    assert!(
        d.first_is_key,
        "{} does not start with a keyframe",
        path.display()
    );
    let first = d.indices[0];
    let last = *d.indices.last().unwrap();
    eprintln!(
        "{}: frames {first}..={last}, event {start}..={end}",
        path.display()
    );
    assert!(
        first <= start.saturating_sub(ROLL_FRAMES),
        "{}: first frame {first}, start {start}",
        path.display()
    );
    assert!(
        last >= (end + ROLL_FRAMES).min(last_frame),
        "{}: last frame {last}, end {end}",
        path.display()
    );
    for w in d.indices.windows(2) {
        assert_eq!(w[1], w[0] + 1, "{}: frame missing", path.display());
    }
    d
}

pub fn recording_messages<'a>(out: &'a Outcome, action: &str) -> Vec<&'a gst::Structure> {
    out.named("violence-recording")
        .into_iter()
        .filter(|s| s.get::<String>("action").unwrap() == action)
        .collect()
}

pub fn in_band(name: &str, frames: u64, motion: &[std::ops::Range<u64>]) -> (PathBuf, Run) {
    in_band_with(name, frames, motion, "")
}

pub fn in_band_with(
    name: &str,
    frames: u64,
    motion: &[std::ops::Range<u64>],
    extra: &str,
) -> (PathBuf, Run) {
    let dir = out_dir(name);
    let launch = format!(
        "appsrc name=src ! {} name=cls ! {ENCODE} ! {}",
        classify(),
        recorder(&dir, extra)
    );
    let r = run(&launch, "cls", frames, motion, None);
    assert_eq!(r.out.error, None);
    (dir, r)
}

/// Frames in a file, decoded to EOS (no burnt index: for files written by gst-launch-1.0).
pub fn count_frames(path: &Path) -> usize {
    init();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! parsebin ! h264parse ! avdec_h264 ! appsink name=s sync=false",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("s")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let n = Arc::new(Mutex::new(0usize));
    let c = n.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                *c.lock().unwrap() += 1;
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let out = run_pipeline(&pipeline, || {});
    assert_eq!(out.error, None, "decoding {}", path.display());
    let frames = *n.lock().unwrap();
    frames
}

/// `H:MM:SS.fraction` as gst-discoverer-1.0 prints it.
pub fn parse_clock(s: &str) -> Option<u64> {
    let mut parts = s.trim().splitn(3, ':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    let seconds = h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0;
    Some(((seconds + s.parse::<f64>().ok()?) * 1e9).round() as u64)
}

/// The duration `gst-discoverer-1.0` reports, in ns.
pub fn discoverer_duration(path: &Path) -> u64 {
    let out = std::process::Command::new("gst-discoverer-1.0")
        .arg(path)
        .output()
        .expect("gst-discoverer-1.0 (Debian gstreamer1.0-plugins-base-apps; make setup)");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Duration: ").and_then(parse_clock))
        .unwrap_or_else(|| panic!("no duration from gst-discoverer-1.0: {text}"))
}
