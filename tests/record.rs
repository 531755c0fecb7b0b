// SPDX-License-Identifier: MPL-2.0

//! violencerecord in real pipelines. The synthetic frames carry their index as a binary
//! code burnt into the pixels after classification (so the motion model does not see it);
//! every file written is decoded and its frames read back by index.

#![allow(clippy::single_range_in_vec_init)] // motion intervals are slices of ranges

mod common;
use common::*;

/// Initializes GStreamer with every CRITICAL fatal (as `G_DEBUG=fatal-criticals` would):
/// a critical in the recorder (an element disposed outside NULL, ...) aborts these tests
/// where it happens instead of scrolling by.
fn init() {
    common::init();
    gst::glib::log_set_always_fatal(gst::glib::LogLevels::LEVEL_CRITICAL);
}
use gst::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const W: u32 = 160;
const H: u32 = 120;
const BITS: usize = 12;
const BLOCK: usize = 10;
/// pre-roll and post-roll used by the tests: 10 frames each.
const ROLL_FRAMES: u64 = 10;
const ROLL_NS: u64 = ROLL_FRAMES * FRAME_NS;
const STRIDE: u64 = 2;
const T: u64 = 8;

/// Writes `index` into an RGB frame: bit b is the block [10b, 10b+10) x [0, 10), white for
/// 1; the row below holds the inverted bits as a check.
fn burn(data: &mut [u8], stride: usize, index: u64) {
    for b in 0..BITS {
        let bit = (index >> b) & 1 == 1;
        for (row, value) in [(0, bit), (1, !bit)] {
            let v = if value { 255 } else { 0 };
            for y in row * BLOCK..(row + 1) * BLOCK {
                for x in b * BLOCK..(b + 1) * BLOCK {
                    data[y * stride + 3 * x..y * stride + 3 * x + 3].fill(v);
                }
            }
        }
    }
}

fn read_index(data: &[u8], stride: usize) -> Option<u64> {
    let mut index = 0;
    for b in 0..BITS {
        let at =
            |row: usize| data[(row * BLOCK + BLOCK / 2) * stride + 3 * (b * BLOCK + BLOCK / 2)];
        let (bit, check) = (at(0) > 128, at(1) > 128);
        if bit == check {
            return None;
        }
        if bit {
            index |= 1 << b;
        }
    }
    Some(index)
}

/// Burns the frame index (from the PTS) into every RGB buffer leaving `pad`.
fn burn_on(pad: &gst::Pad) {
    pad.add_probe(gst::PadProbeType::BUFFER, |_, info| {
        if let Some(gst::PadProbeData::Buffer(buffer)) = info.data.as_mut() {
            let index = buffer.pts().unwrap().nseconds() / FRAME_NS;
            let b = buffer.make_mut();
            let mut map = b.map_writable().unwrap();
            burn(&mut map, 3 * W as usize, index);
        }
        gst::PadProbeReturn::Ok
    });
}

/// What a file holds.
#[derive(Debug)]
struct Decoded {
    first_is_key: bool,
    indices: Vec<u64>,
}

fn decode(path: &Path) -> Decoded {
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! parsebin ! h264parse name=p ! avdec_h264 ! videoconvert \
         ! video/x-raw,format=RGB ! appsink name=s sync=false",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let first_key = Arc::new(Mutex::new(None::<bool>));
    let fk = first_key.clone();
    pipeline
        .by_name("p")
        .unwrap()
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
                fk.lock()
                    .unwrap()
                    .get_or_insert(!b.flags().contains(gst::BufferFlags::DELTA_UNIT));
            }
            gst::PadProbeReturn::Ok
        });
    let sink = pipeline
        .by_name("s")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let indices = Arc::new(Mutex::new(Vec::new()));
    let idx = indices.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let map = sample.buffer().unwrap().map_readable().unwrap();
                let i = read_index(&map, 3 * W as usize).expect("a readable frame index");
                idx.lock().unwrap().push(i);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let out = run_pipeline(&pipeline, || {});
    assert_eq!(out.error, None, "decoding {}", path.display());
    let indices = std::mem::take(&mut *indices.lock().unwrap());
    let first_is_key = first_key.lock().unwrap().unwrap_or(false);
    Decoded {
        first_is_key,
        indices,
    }
}

fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-record")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "jsonl"))
        .collect();
    v.sort();
    v
}

/// A synthetic RGB stream with motion on the frames in any of `motion`.
fn frame(i: u64, motion: &[std::ops::Range<u64>]) -> gst::Buffer {
    let moving = motion.iter().any(|m| m.contains(&i));
    let v = Synthetic {
        width: W,
        height: H,
        frames: i + 1,
        motion: if moving { i..i + 1 } else { 0..0 },
    };
    v.frame(i)
}

fn caps() -> gst::Caps {
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
fn classify() -> String {
    format!(
        "clipbuffer stride={STRIDE} ! violenceclassify model-location={} mode=sync \
         min-consecutive=1 hold-time=0 stall-timeout=0 scene-cut-guard=false",
        model("motion.pt")
    )
}

const ENCODE: &str = "videoconvert ! x264enc speed-preset=ultrafast tune=zerolatency \
                      key-int-max=10 ! h264parse";

fn recorder(dir: &Path, extra: &str) -> String {
    format!(
        "violencerecord name=rec location={}/ev-%03d.mp4 pre-roll={ROLL_NS} \
         post-roll={ROLL_NS} event-log={}/events.jsonl {extra}",
        dir.display(),
        dir.display()
    )
}

struct Run {
    out: Outcome,
    elapsed: Duration,
}

/// Plays `launch` (with an appsrc named src and a pad named by `burn_pad` = element name
/// whose src pad gets the index) over `frames` frames.
fn run(
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
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    src.set_caps(Some(&caps()));
    src.set_format(gst::Format::Time);
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

fn frame_of(pts: u64) -> u64 {
    pts / FRAME_NS
}

/// (start, end) frame of each event the classifier reported.
fn events(out: &Outcome) -> Vec<(u64, u64)> {
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
fn check_file(path: &Path, start: u64, end: u64, last_frame: u64) -> Decoded {
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

fn recording_messages<'a>(out: &'a Outcome, action: &str) -> Vec<&'a gst::Structure> {
    out.named("violence-recording")
        .into_iter()
        .filter(|s| s.get::<String>("action").unwrap() == action)
        .collect()
}

fn in_band(name: &str, frames: u64, motion: &[std::ops::Range<u64>]) -> (PathBuf, Run) {
    in_band_with(name, frames, motion, "")
}

fn in_band_with(
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

#[test]
fn in_band_one_event() {
    let (dir, r) = in_band("in-band", 150, &[50..70]);
    let ev = events(&r.out);
    assert_eq!(ev.len(), 1);
    let files = files_in(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let d = check_file(&files[0], ev[0].0, ev[0].1, 149);
    let closed = recording_messages(&r.out, "closed");
    assert_eq!(closed.len(), 1);
    assert_eq!(recording_messages(&r.out, "opened").len(), 1);
    assert_eq!(
        closed[0].get::<u64>("frames").unwrap(),
        d.indices.len() as u64
    );
    assert_eq!(closed[0].get::<String>("reason").unwrap(), "post-roll");
    // Finalized at end + post-roll, long before the stream ended.
    assert!(*d.indices.last().unwrap() < 120);
    let log = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["start", "end", "file"]);
    assert!(lines[0]["score"].as_f64().unwrap() >= 0.5);
    assert!(lines[2]["file"].as_str().unwrap().ends_with("ev-000.mp4"));
    assert_eq!(lines[0]["file"], lines[2]["file"]);
    assert!(lines[0]["time"].as_str().is_some());
}

#[test]
fn back_to_back_events_get_their_own_files() {
    let (dir, r) = in_band("back-to-back", 170, &[30..45, 100..115]);
    let ev = events(&r.out);
    assert_eq!(ev.len(), 2);
    let files = files_in(&dir);
    assert_eq!(files.len(), 2, "{files:?}");
    for (f, (s, e)) in files.iter().zip(&ev) {
        check_file(f, *s, *e, 169);
    }
    // Each file is opened then closed, and the first one ends (in stream time) before the
    // second begins. Finalization runs in the file's own branch, so under load the bus may
    // carry the first file's "closed" after the second's "opened".
    let recording = r.out.named("violence-recording");
    let actions = |location: &str| -> Vec<String> {
        recording
            .iter()
            .filter(|s| s.get::<String>("location").unwrap() == location)
            .map(|s| s.get::<String>("action").unwrap())
            .collect()
    };
    let mut closed = recording_messages(&r.out, "closed");
    assert_eq!(closed.len(), 2);
    let pts = |s: &gst::Structure, field: &str| s.get::<Option<gst::ClockTime>>(field).unwrap();
    closed.sort_by_key(|s| pts(s, "first-pts"));
    for c in &closed {
        assert_eq!(
            actions(&c.get::<String>("location").unwrap()),
            ["opened", "closed"]
        );
    }
    let (first_last, second_first) = (pts(closed[0], "last-pts"), pts(closed[1], "first-pts"));
    assert!(
        first_last < second_first,
        "{first_last:?} < {second_first:?}"
    );
}

#[test]
fn overlapping_events_share_one_file() {
    let (dir, r) = in_band("overlapping", 150, &[30..45, 62..75]);
    let ev = events(&r.out);
    assert_eq!(ev.len(), 2, "the classifier must see two events");
    assert!(ev[1].0 <= ev[0].1 + ROLL_FRAMES, "{ev:?}");
    let files = files_in(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    check_file(&files[0], ev[0].0, ev[1].1, 149);
}

#[test]
fn no_event_no_file_and_eos() {
    let (dir, r) = in_band("no-event", 100, &[]);
    assert!(events(&r.out).is_empty());
    assert!(files_in(&dir).is_empty());
    assert!(r.out.named("violence-recording").is_empty());
}

#[test]
fn eos_mid_event_finalizes_the_file() {
    let (dir, r) = in_band("eos-mid-event", 90, &[60..200]);
    let starts = r.out.events("violence-start");
    assert_eq!(starts.len(), 1);
    let files = files_in(&dir);
    assert_eq!(files.len(), 1);
    let d = check_file(&files[0], frame_of(starts[0].pts), 89, 89);
    assert_eq!(*d.indices.last().unwrap(), 89);
    let closed = recording_messages(&r.out, "closed");
    assert_eq!(closed[0].get::<String>("reason").unwrap(), "eos");
}

#[test]
fn out_of_band_from_a_tee_of_the_encoded_stream() {
    let dir = out_dir("out-of-band");
    // The camera's own H.264 is recorded; analysis decodes a copy (here: the raw frames
    // before encoding, as the decoder would give them) on another branch.
    let launch = format!(
        "appsrc name=src ! tee name=t \
         t. ! queue name=enc ! {ENCODE} ! queue ! {} \
         t. ! queue ! {} name=cls ! fakesink sync=false",
        recorder(&dir, "source=cls"),
        classify()
    );
    let r = run(&launch, "enc", 170, &[30..45, 100..115], None);
    assert_eq!(r.out.error, None);
    let ev = events(&r.out);
    assert_eq!(ev.len(), 2);
    let files = files_in(&dir);
    assert_eq!(files.len(), 2, "{files:?}");
    for (f, (s, e)) in files.iter().zip(&ev) {
        check_file(f, *s, *e, 169);
    }
}

#[test]
fn unknown_source_is_an_error() {
    let dir = out_dir("bad-source");
    let err = start_error(&format!(
        "videotestsrc num-buffers=5 ! x264enc ! h264parse ! {}",
        recorder(&dir, "source=nope")
    ));
    assert!(err.unwrap().contains("nope"));
}

#[test]
fn unwritable_location_is_an_error_not_a_hang() {
    let (_, r) = {
        let dir = out_dir("unwritable");
        let launch = format!(
            "appsrc name=src ! {} name=cls ! {ENCODE} ! violencerecord \
             location=/nonexistent/dir/ev-%d.mp4 pre-roll={ROLL_NS} post-roll={ROLL_NS}",
            classify(),
        );
        (dir, run(&launch, "cls", 100, &[30..45], None))
    };
    let err = r.out.error.expect("an error");
    assert!(err.contains("/nonexistent/dir/ev-0.mp4"), "{err}");
}

#[test]
fn an_unwritable_recording_folder_is_refused_at_start_before_any_event() {
    // /proc takes no new file, even from root; a folder that does not exist neither. No
    // event ever comes here: the check must not wait for one.
    for (location, folder) in [
        ("/proc/ev-%d.mp4", "/proc"),
        ("/nonexistent/ev-%d.mp4", "/nonexistent"),
    ] {
        let err = start_error(&format!(
            "videotestsrc num-buffers=5 ! x264enc ! h264parse ! violencerecord location={location}"
        ))
        .expect("an error at start");
        assert!(
            err.contains("recording folder") && err.contains(folder),
            "{err}"
        );
    }
}

#[test]
fn full_disk_loses_one_file_not_the_stream() {
    // ev-000.mp4 is /dev/full: every write fails with ENOSPC.
    let dir = out_dir("full-disk");
    std::os::unix::fs::symlink("/dev/full", dir.join("ev-000.mp4")).unwrap();
    let launch = format!(
        "appsrc name=src ! {} name=cls ! {ENCODE} ! {}",
        classify(),
        recorder(&dir, "")
    );
    let r = run(&launch, "cls", 170, &[30..45, 100..115], None);
    assert_eq!(r.out.error, None, "a failed file is a warning");
    let ev = events(&r.out);
    assert_eq!(ev.len(), 2);
    let closed = recording_messages(&r.out, "closed");
    assert_eq!(closed.len(), 1, "only the second file finished");
    check_file(&dir.join("ev-001.mp4"), ev[1].0, ev[1].1, 169);
}

#[test]
fn long_gop_asks_for_keyframes() {
    let dir = out_dir("long-gop");
    // x264enc with its default keyframe interval (250 frames = 10 s here).
    let launch = format!(
        "appsrc name=src ! {} name=cls ! videoconvert ! x264enc speed-preset=ultrafast ! \
         h264parse ! {}",
        classify(),
        recorder(&dir, "keyframe-interval=400000000 latency-budget=400000000")
    );
    let r = run(&launch, "cls", 200, &[120..140], None);
    assert_eq!(r.out.error, None);
    let ev = events(&r.out);
    assert_eq!(ev.len(), 1);
    let files = files_in(&dir);
    assert_eq!(files.len(), 1);
    let d = check_file(&files[0], ev[0].0, ev[0].1, 199);
    // Not from the stream's first IDR: the requested keyframes bounded the pre-roll.
    let first = d.indices[0];
    assert!(
        first + 3 * ROLL_FRAMES + 15 >= ev[0].0 && first > 0,
        "first frame {first}, start {}",
        ev[0].0
    );
}

#[test]
fn tee_with_a_synced_preview_is_not_blocked() {
    let dir = out_dir("tee-preview");
    let frames = 75;
    let launch = format!(
        "appsrc name=src ! {} ! tee name=t \
         t. ! queue ! fakesink sync=true \
         t. ! queue name=enc ! {ENCODE} ! {}",
        classify(),
        recorder(&dir, "")
    );
    let r = run(&launch, "enc", frames, &[20..35], None);
    assert_eq!(r.out.error, None);
    // The preview plays at 25 fps: about 3 s, not stalled.
    assert!(r.elapsed < Duration::from_secs(20), "{:?}", r.elapsed);
    let ev = events(&r.out);
    assert_eq!(ev.len(), 1);
    let files = files_in(&dir);
    assert_eq!(files.len(), 1);
    check_file(&files[0], ev[0].0, ev[0].1, frames - 1);
}

const CHILD_ENV: &str = "VIOLENCERECORD_CHILD_DIR";

/// Run by `sigkill_mid_event` in a child process, which it kills.
#[test]
#[ignore = "child process of sigkill_mid_event"]
fn sigkill_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let launch = format!(
        "appsrc name=src ! {} name=cls ! {ENCODE} ! {}",
        classify(),
        recorder(Path::new(&dir), "")
    );
    run(
        &launch,
        "cls",
        2000,
        &[40..2000],
        Some(Duration::from_millis(10)),
    );
}

#[test]
fn sigkill_mid_event_leaves_a_playable_file() {
    let dir = out_dir("sigkill");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "sigkill_child", "--ignored", "--nocapture"])
        .env(CHILD_ENV, &dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let file = dir.join("ev-000.mp4");
    // Wait until a few fragments are on disk.
    while std::fs::metadata(&file).map_or(0, |m| m.len()) < 20_000 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the child never recorded"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Motion from frame 40: the first violent clip starts at the first stride step whose
    // clip contains the pair (39, 40).
    let start = (41 - T).div_ceil(STRIDE) * STRIDE;
    let d = check_file(&file, start, 0, 0);
    assert!(
        *d.indices.last().unwrap() > start + 25,
        "only {} frames survived",
        d.indices.len()
    );
}

/// Frames in a file, decoded to EOS (no burnt index: for files written by gst-launch-1.0).
fn count_frames(path: &Path) -> usize {
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

/// `gst-launch-1.0 -e` with a live source, interrupted by SIGINT while violencerecord is in
/// the middle of an event: the process ends by itself, and the event's file is finalized
/// (reason "eos" in the event log) and decodes to EOS with every frame it logged.
#[test]
fn sigint_with_eos_mid_event_finalizes_the_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let plugin = root.join("target/release/libgstviolence.so");
    assert!(
        plugin.exists(),
        "{} is missing: run `cargo build --release --lib` first (`make test` does)",
        plugin.display()
    );
    let dir = out_dir("sigint");
    // The ball moves in every frame: one event from the first clip until the interrupt.
    let launch = format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width={W},height={H},framerate={FPS}/1 \
         ! videoconvert ! clipbuffer stride={STRIDE} ! violenceclassify model-location={} \
         min-consecutive=1 hold-time=0 ! {ENCODE} ! {}",
        model("motion.pt"),
        recorder(&dir, "")
    );
    let stderr = std::fs::File::create(dir.join("gst-launch.log")).unwrap();
    let mut child = std::process::Command::new("gst-launch-1.0")
        .arg("-e")
        .args(launch.split_whitespace())
        .env("GST_PLUGIN_PATH", plugin.parent().unwrap())
        // A registry of its own, so a stale one elsewhere cannot hide the plugin.
        .env("GST_REGISTRY", dir.join("registry.bin"))
        // What our elements did, for the failure message.
        .env("GST_DEBUG", "violencerecord:5,violenceclassify:4")
        .env("GST_DEBUG_NO_COLOR", "1")
        .env("G_DEBUG", "fatal-criticals")
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("run gst-launch-1.0");
    let t0 = Instant::now();
    let file = dir.join("ev-000.mp4");
    while std::fs::metadata(&file).map_or(0, |m| m.len()) < 20_000 {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "gst-launch-1.0 ended before recording ({status}): {}",
                std::fs::read_to_string(dir.join("gst-launch.log")).unwrap_or_default()
            );
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "gst-launch-1.0 never recorded"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1000));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let t1 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if t1.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.join("gst-launch.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "gst-launch-1.0 -e did not end within 20 s of SIGINT; last log lines:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(dir.join("gst-launch.log")).unwrap();
    assert!(
        status.success(),
        "gst-launch-1.0 exited with {status}: {log}"
    );
    // The event log says the file was closed at EOS, with how many frames.
    let lines = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let closed: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "file")
        .collect();
    assert_eq!(closed.len(), 1, "{lines}");
    assert_eq!(closed[0]["reason"], "eos", "{lines}");
    let logged = closed[0]["frames"].as_u64().unwrap() as usize;
    let frames = count_frames(&file);
    eprintln!(
        "{}: {frames} frames decoded, {logged} logged",
        file.display()
    );
    // At least the second of recording after 20 KB were on disk.
    assert!(frames >= FPS as usize, "only {frames} frames");
    assert_eq!(
        frames, logged,
        "frames decoded vs frames the recorder wrote"
    );
}

#[test]
fn matroska_and_mpegts_muxers() {
    for (mux, ext) in [("matroskamux", "mkv"), ("mpegtsmux", "ts")] {
        let (dir, r) = in_band_with(
            &format!("mux-{mux}"),
            170,
            &[30..45, 100..115],
            &format!(
                "muxer-factory={mux} location={}/ev-%03d.{ext}",
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("target/test-record")
                    .join(format!("mux-{mux}"))
                    .display()
            ),
        );
        assert_eq!(files_in(&dir).len(), 2);
        assert_eq!(r.out.error, None);
        let ev = events(&r.out);
        let closed = recording_messages(&r.out, "closed");
        assert_eq!(closed.len(), 2, "{mux}");
        for (c, (s, e)) in closed.iter().zip(&ev) {
            let f = PathBuf::from(c.get::<String>("location").unwrap());
            check_file(&f, *s, *e, 169);
        }
    }
}

#[test]
fn max_files_keeps_the_newest() {
    let (dir, r) = in_band_with(
        "max-files",
        250,
        &[30..45, 100..115, 170..185],
        "max-files=2",
    );
    assert_eq!(events(&r.out).len(), 3);
    assert_eq!(recording_messages(&r.out, "closed").len(), 3);
    let names: Vec<String> = files_in(&dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["ev-001.mp4", "ev-002.mp4"]);
}

#[test]
fn lost_end_event_is_reconciled_from_violence_meta() {
    let dir = out_dir("lost-end");
    let launch = format!(
        "appsrc name=src ! {} name=cls ! identity name=drop ! {ENCODE} ! {}",
        classify(),
        recorder(&dir, "")
    );
    init();
    // Lose violence-end on its way to the encoder, as a leaky queue might: replaced by an
    // event nobody reads. (Dropping it from the probe makes GStreamer before 1.24.8 print a
    // `gst_mini_object_unref: assertion` CRITICAL, which these tests treat as fatal.)
    let pipeline = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    pipeline
        .by_name("drop")
        .unwrap()
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, |_, info| {
            let is_end = info
                .event()
                .and_then(|e| e.structure())
                .is_some_and(|s| s.name() == "violence-end");
            if is_end {
                let lost = gst::Structure::new_empty("violence-end-lost");
                info.data = Some(gst::PadProbeData::Event(gst::event::CustomDownstream::new(
                    lost,
                )));
            }
            gst::PadProbeReturn::Ok
        });
    burn_on(&pipeline.by_name("cls").unwrap().static_pad("src").unwrap());
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    src.set_caps(Some(&caps()));
    src.set_format(gst::Format::Time);
    let out = run_pipeline(&pipeline, || {
        for i in 0..200 {
            let _ = src.push_buffer(frame(i, &[50..70]));
        }
        let _ = src.end_of_stream();
    });
    assert_eq!(out.error, None);
    let ev = events(&out);
    let closed = recording_messages(&out, "closed");
    assert_eq!(closed.len(), 1);
    assert_eq!(
        closed[0].get::<String>("reason").unwrap(),
        "post-roll",
        "closed from the level state, not at EOS"
    );
    check_file(&files_in(&dir)[0], ev[0].0, ev[0].1, 199);
}

/// A tmpfs of `bytes` (rounded up to pages) mounted on a fresh `target/test-record/<name>`,
/// unmounted on drop; `None` (the test says it skipped) where mounting is not permitted.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(name: &str, options: &str) -> Option<Tmpfs> {
        let dir = out_dir(name);
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&dir)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs on {} ({}): this test needs root",
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

const DISK_FRAMES: u64 = 260;
/// A short event, a long one that fills the disk, then one more.
const DISK_MOTION: [std::ops::Range<u64>; 3] = [30..45, 90..170, 215..225];

fn disk_launch(dir: &Path, log_dir: &Path, policy: &str) -> String {
    format!(
        "appsrc name=src ! {} name=cls ! {ENCODE} ! violencerecord name=rec \
         location={}/ev-%03d.mp4 pre-roll={ROLL_NS} post-roll={ROLL_NS} \
         event-log={}/events.jsonl on-write-error={policy}",
        classify(),
        dir.display(),
        log_dir.display()
    )
}

#[test]
fn full_disk_keeps_finished_files_and_the_stream() {
    // The sizes the files have with room to spare.
    let roomy = out_dir("disk-roomy");
    let r = run(
        &disk_launch(&roomy, &roomy, "skip"),
        "cls",
        DISK_FRAMES,
        &DISK_MOTION,
        None,
    );
    assert_eq!(r.out.error, None);
    let sizes: Vec<u64> = files_in(&roomy)
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .collect();
    assert_eq!(sizes.len(), 3, "{sizes:?}");
    let page = |n: u64| n.div_ceil(4096) * 4096;
    // Room for the first file and a third of the second.
    let size = page(sizes[0]) + page(sizes[1] / 3);
    for policy in ["skip", "error"] {
        let Some(disk) = Tmpfs::mount(&format!("disk-full-{policy}"), &format!("size={size}"))
        else {
            return;
        };
        let logs = out_dir(&format!("disk-full-{policy}-log"));
        let r = run(
            &disk_launch(&disk.0, &logs, policy),
            "cls",
            DISK_FRAMES,
            &DISK_MOTION,
            None,
        );
        if policy == "skip" {
            assert_eq!(r.out.error, None, "skip: the stream goes on to EOS");
        }
        let closed = recording_messages(&r.out, "closed");
        // The file finished before the disk filled is intact and playable.
        assert!(!closed.is_empty(), "{policy}: no file finished");
        let first = PathBuf::from(closed[0].get::<String>("location").unwrap());
        assert_eq!(first, disk.0.join("ev-000.mp4"));
        let (start, end) = (
            frame_of(r.out.events("violence-start")[0].pts),
            frame_of(r.out.events("violence-end")[0].pts),
        );
        check_file(&first, start, end, DISK_FRAMES - 1);
        match policy {
            "skip" => {
                assert_eq!(
                    events(&r.out).len(),
                    3,
                    "skip: every event is still detected"
                );
            }
            _ => {
                let e = r.out.error.expect("error: an element error");
                assert!(e.contains("recording failed"), "{e}");
            }
        }
    }
}

#[test]
fn read_only_folder_is_a_clear_error_or_skipped() {
    for policy in ["error-on-open", "skip"] {
        let Some(disk) = Tmpfs::mount(&format!("disk-ro-{policy}"), "ro,size=1m") else {
            return;
        };
        let logs = out_dir(&format!("disk-ro-{policy}-log"));
        let r = run(
            &disk_launch(&disk.0, &logs, policy),
            "cls",
            DISK_FRAMES,
            &DISK_MOTION,
            None,
        );
        assert!(files_in(&disk.0).is_empty());
        if policy == "skip" {
            assert_eq!(r.out.error, None, "skip: the stream goes on to EOS");
            assert_eq!(events(&r.out).len(), 3, "every event is still detected");
            assert!(recording_messages(&r.out, "closed").is_empty());
        } else {
            let e = r.out.error.expect("an element error");
            assert!(
                e.contains(&format!("{}/ev-000.mp4", disk.0.display())),
                "{e}"
            );
        }
    }
}

/// With B-frames: the first decoding times precede the stream's segment, as with cameras.
const ENCODE_B: &str = "videoconvert ! x264enc speed-preset=ultrafast bframes=2 \
                        key-int-max=10 ! h264parse";

/// Every muxer mode of the element: (name, properties, file extension).
const MUXER_MODES: [(&str, &str, &str); 4] = [
    ("fragmented-mp4", "", "mp4"),
    ("mp4", "fragment-duration=0", "mp4"),
    ("matroska", "muxer-factory=matroskamux", "mkv"),
    ("mpegts", "muxer-factory=mpegtsmux", "ts"),
];

/// `H:MM:SS.fraction` as gst-discoverer-1.0 prints it.
fn parse_clock(s: &str) -> Option<u64> {
    let mut parts = s.trim().splitn(3, ':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    let seconds = h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0;
    Some(((seconds + s.parse::<f64>().ok()?) * 1e9).round() as u64)
}

/// The duration `gst-discoverer-1.0` reports, in ns.
fn discoverer_duration(path: &Path) -> u64 {
    let out = std::process::Command::new("gst-discoverer-1.0")
        .arg(path)
        .output()
        .expect("gst-discoverer-1.0 (Debian gstreamer1.0-plugins-base-apps; make setup)");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Duration: ").and_then(parse_clock))
        .unwrap_or_else(|| panic!("no duration from gst-discoverer-1.0: {text}"))
}

/// The container duration `ffprobe` reports, in ns; `None` where ffprobe is not installed.
fn ffprobe_duration(path: &Path) -> Option<u64> {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let seconds: f64 = text
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe {}: {text:?}", path.display()));
    Some((seconds * 1e9).round() as u64)
}

/// Seeks a paused decoder (accurately) to `fraction` of the file and reads the index burnt
/// into the frame shown there.
fn index_after_seek(path: &Path, fraction: f64) -> u64 {
    init();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! parsebin ! h264parse ! avdec_h264 ! videoconvert \
         ! video/x-raw,format=RGB ! appsink name=s sync=false",
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
    let paused = |what: &str| {
        let (res, state, _) = pipeline.state(gst::ClockTime::from_seconds(30));
        assert!(
            res.is_ok() && state == gst::State::Paused,
            "{} {what}: {res:?} {state:?}",
            path.display()
        );
    };
    pipeline.set_state(gst::State::Paused).unwrap();
    paused("preroll");
    let duration = pipeline
        .query_duration::<gst::ClockTime>()
        .expect("a duration");
    // From the first frame: an MPEG-TS file's timeline starts where its first PCR was.
    let first = sink.pull_preroll().expect("a first frame");
    let start = first
        .segment()
        .and_then(|s| s.downcast_ref::<gst::ClockTime>())
        .and_then(|s| s.to_stream_time(first.buffer()?.pts()?))
        .unwrap_or(gst::ClockTime::ZERO);
    let target =
        start + gst::ClockTime::from_nseconds((duration.nseconds() as f64 * fraction) as u64);
    pipeline
        .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE, target)
        .unwrap_or_else(|e| panic!("{}: seek to {target}: {e}", path.display()));
    paused("after the seek");
    let sample = sink.pull_preroll().expect("a frame after the seek");
    let map = sample.buffer().unwrap().map_readable().unwrap();
    let index = read_index(&map, 3 * W as usize).expect("a readable frame index");
    drop(map);
    pipeline.set_state(gst::State::Null).unwrap();
    index
}

/// Each finished file reports its true length to gst-discoverer-1.0 and ffprobe (within one
/// frame) and seeks, in every muxer mode: the first file starts with the stream, whose
/// B-frames are decoded before its segment starts; the second one starts mid-stream.
#[test]
fn every_muxer_mode_reports_its_duration_and_seeks() {
    let has_ffprobe = std::process::Command::new("ffprobe")
        .arg("-version")
        .output()
        .is_ok();
    if !has_ffprobe {
        eprintln!("ffprobe is not installed: checking gst-discoverer-1.0 only");
    }
    for (mode, props, ext) in MUXER_MODES {
        let name = format!("duration-{mode}");
        let dir = out_dir(&name);
        let launch = format!(
            "appsrc name=src ! {} name=cls ! {ENCODE_B} ! {} {props} location={}/ev-%03d.{ext}",
            classify(),
            recorder(&dir, ""),
            dir.display()
        );
        // Events long enough for files over 64 KB: GStreamer's tsdemux estimates the
        // duration of an MPEG-TS file from its PCRs and size, and gives none below that.
        let r = run(&launch, "cls", 340, &[5..125, 190..310], None);
        assert_eq!(r.out.error, None, "{mode}");
        let closed = recording_messages(&r.out, "closed");
        assert_eq!(closed.len(), 2, "{mode}");
        for c in closed {
            let path = PathBuf::from(c.get::<String>("location").unwrap());
            let frames = c.get::<u64>("frames").unwrap();
            let expected = frames * FRAME_NS;
            let reported = c.get::<Option<gst::ClockTime>>("duration").unwrap();
            assert_eq!(reported.map(|d| d.nseconds()), Some(expected), "{mode}");
            let decoded = decode(&path).indices;
            assert_eq!(decoded.len() as u64, frames, "{}", path.display());
            let discovered = discoverer_duration(&path);
            let probed = ffprobe_duration(&path);
            eprintln!(
                "{mode} {}: {frames} frames = {expected} ns; gst-discoverer-1.0 {discovered} ns, \
                 ffprobe {probed:?} ns",
                path.display()
            );
            assert!(
                discovered.abs_diff(expected) < FRAME_NS,
                "{mode} {}: gst-discoverer-1.0 says {discovered} ns for {expected} ns",
                path.display()
            );
            if let Some(probed) = probed {
                assert!(
                    probed.abs_diff(expected) < FRAME_NS,
                    "{mode} {}: ffprobe says {probed} ns for {expected} ns",
                    path.display()
                );
            }
            let middle = index_after_seek(&path, 0.5);
            let want = decoded[0] + frames / 2;
            assert!(
                middle.abs_diff(want) <= 1,
                "{mode} {}: a seek to 50 % shows frame {middle}, not {want}",
                path.display()
            );
        }
    }
}

/// `mode=segments`: a stock splitmuxsink child writes the stream in segments; those that
/// overlap an event with its pre-roll and post-roll stay, the others are deleted, and the
/// kept ones play and hold every frame of the events.
#[test]
fn segments_mode_keeps_only_the_segments_of_events() {
    let frames = 250;
    let (dir, r) = in_band_with(
        "segments",
        frames,
        &[30..45, 150..165],
        "mode=segments segment-duration=1000000000",
    );
    let ev = events(&r.out);
    assert_eq!(ev.len(), 2);
    let messages = |action: &str| -> Vec<(PathBuf, u64, u64)> {
        recording_messages(&r.out, action)
            .into_iter()
            .map(|s| {
                (
                    PathBuf::from(s.get::<String>("location").unwrap()),
                    s.get::<u64>("running-time-start").unwrap() / FRAME_NS,
                    s.get::<u64>("running-time-end").unwrap() / FRAME_NS,
                )
            })
            .collect()
    };
    let (kept, deleted) = (messages("kept"), messages("deleted"));
    eprintln!("kept {kept:?}\ndeleted {deleted:?}");
    assert!(!deleted.is_empty(), "segments between the events go");
    let windows: Vec<(u64, u64)> = ev
        .iter()
        .map(|(s, e)| {
            (
                s.saturating_sub(ROLL_FRAMES),
                (e + ROLL_FRAMES).min(frames - 1),
            )
        })
        .collect();
    for (path, a, b) in &deleted {
        assert!(!path.exists(), "{} was deleted", path.display());
        for (from, to) in &windows {
            assert!(
                b <= from || a > to,
                "{}: frames {a}..{b} overlap the event window {from}..={to}",
                path.display()
            );
        }
    }
    // Only the kept segments are left, each a playable file starting at a keyframe.
    let mut on_disk = files_in(&dir);
    let mut kept_paths: Vec<PathBuf> = kept.iter().map(|k| k.0.clone()).collect();
    on_disk.sort();
    kept_paths.sort();
    assert_eq!(on_disk, kept_paths);
    let mut recorded = std::collections::BTreeSet::new();
    for (path, a, _) in &kept {
        let d = decode(path);
        assert!(d.first_is_key, "{}", path.display());
        assert_eq!(
            d.indices[0],
            *a,
            "{} starts where splitmuxsink said",
            path.display()
        );
        for w in d.indices.windows(2) {
            assert_eq!(w[1], w[0] + 1, "{}: frame missing", path.display());
        }
        let expected = d.indices.len() as u64 * FRAME_NS;
        let discovered = discoverer_duration(path);
        assert!(
            discovered.abs_diff(expected) < FRAME_NS,
            "{}: gst-discoverer-1.0 says {discovered} ns for {expected} ns",
            path.display()
        );
        recorded.extend(d.indices);
    }
    for (from, to) in &windows {
        let missing: Vec<u64> = (*from..=*to).filter(|i| !recorded.contains(i)).collect();
        assert!(missing.is_empty(), "event frames not kept: {missing:?}");
    }
    // The event log lists each kept segment with its event.
    let log = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let segments: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "segment")
        .collect();
    assert_eq!(segments.len(), kept.len(), "{log}");
    let events_of: std::collections::BTreeSet<u64> = segments
        .iter()
        .flat_map(|s| s["events"].as_array().unwrap().clone())
        .map(|e| e.as_u64().unwrap())
        .collect();
    assert_eq!(events_of, [0, 1].into(), "{log}");
}

/// splitmuxsink's own max-files, set on the child from the launch line, counts the kept
/// segments: the newest stay.
#[test]
fn segments_mode_takes_splitmuxsink_max_files_as_kept_segments() {
    let (dir, r) = in_band_with(
        "segments-max-files",
        250,
        &[30..45, 150..165],
        "mode=segments segment-duration=1000000000 splitmuxsink::max-files=2",
    );
    assert_eq!(r.out.error, None);
    let kept: Vec<PathBuf> = recording_messages(&r.out, "kept")
        .iter()
        .map(|s| PathBuf::from(s.get::<String>("location").unwrap()))
        .collect();
    assert!(kept.len() > 2, "{kept:?}");
    assert_eq!(files_in(&dir), kept[kept.len() - 2..].to_vec());
}

/// (codec type, start time, duration) of each stream of a file, from ffprobe; `None` where
/// ffprobe is not installed.
fn ffprobe_streams(path: &Path) -> Option<Vec<(String, f64, f64)>> {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,start_time,duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                let num = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
                (f[0].to_string(), num(f[1]), num(f[2]))
            })
            .collect(),
    )
}

/// Encoded audio on the `audio` request pad, from a live source beside live video: each
/// file has an audio track over the same span as its video (pre-roll to post-roll).
#[test]
fn audio_is_recorded_beside_the_video_with_the_same_rolls() {
    // The A-law source never ends: the video's EOS ends the recording.
    for (mux, ext, audio) in [
        ("mp4mux", "mp4", "num-buffers=660 ! avenc_aac ! aacparse"),
        ("matroskamux", "mkv", "! alawenc"),
    ] {
        let dir = out_dir(&format!("audio-{mux}"));
        let launch = format!(
            "appsrc name=src is-live=true ! {} name=cls ! {ENCODE} ! {} muxer-factory={mux} \
             location={}/ev-%03d.{ext} \
             audiotestsrc is-live=true samplesperbuffer=400 {audio} ! rec.audio",
            classify(),
            recorder(&dir, ""),
            dir.display()
        );
        let r = run(
            &launch,
            "cls",
            150,
            &[50..75],
            Some(Duration::from_millis(40)),
        );
        assert_eq!(r.out.error, None, "{mux}");
        assert!(
            r.elapsed < Duration::from_secs(60),
            "{mux}: EOS took {:?}",
            r.elapsed
        );
        let ev = events(&r.out);
        assert_eq!(ev.len(), 1, "{mux}");
        let files = files_in(&dir);
        assert_eq!(files.len(), 1, "{mux}: {files:?}");
        let d = check_file(&files[0], ev[0].0, ev[0].1, 149);
        let video = d.indices.len() as f64 * FRAME_NS as f64 / 1e9;
        let Some(streams) = ffprobe_streams(&files[0]) else {
            eprintln!("ffprobe is not installed: audio track not checked");
            continue;
        };
        eprintln!("{mux}: {streams:?}, video {video} s");
        let a = streams
            .iter()
            .find(|s| s.0 == "audio")
            .unwrap_or_else(|| panic!("{mux}: no audio track: {streams:?}"));
        let v = streams.iter().find(|s| s.0 == "video").unwrap();
        assert!(
            (a.1 - v.1).abs() < 0.1,
            "{mux}: audio starts at {} s, video at {} s",
            a.1,
            v.1
        );
        // Matroska leaves per-stream durations out: the file's span is the video's.
        if a.2.is_finite() {
            assert!(
                (a.2 - video).abs() < 0.15,
                "{mux}: {} s of audio for {video} s of video",
                a.2
            );
        }
    }
}

/// `mode=segments` with the audio pad: splitmuxsink's segments carry the audio too.
#[test]
fn segments_mode_records_audio_in_every_kept_segment() {
    let dir = out_dir("segments-audio");
    let launch = format!(
        "appsrc name=src is-live=true ! {} name=cls ! {ENCODE} ! {} mode=segments \
         segment-duration=1000000000 audiotestsrc is-live=true samplesperbuffer=400 \
         ! avenc_aac ! aacparse ! rec.audio",
        classify(),
        recorder(&dir, ""),
    );
    let r = run(
        &launch,
        "cls",
        100,
        &[40..55],
        Some(Duration::from_millis(40)),
    );
    assert_eq!(r.out.error, None);
    // The audio source never ends: the video's EOS ends the recording.
    assert!(
        r.elapsed < Duration::from_secs(60),
        "EOS took {:?}",
        r.elapsed
    );
    let kept = recording_messages(&r.out, "kept");
    assert!(!kept.is_empty());
    for k in kept {
        let path = PathBuf::from(k.get::<String>("location").unwrap());
        let Some(streams) = ffprobe_streams(&path) else {
            eprintln!("ffprobe is not installed: audio track not checked");
            return;
        };
        let video = streams.iter().find(|s| s.0 == "video").unwrap();
        let audio = streams
            .iter()
            .find(|s| s.0 == "audio")
            .unwrap_or_else(|| panic!("{}: no audio: {streams:?}", path.display()));
        assert!(
            (audio.2 - video.2).abs() < 0.15,
            "{}: {streams:?}",
            path.display()
        );
    }
}

#[test]
fn an_event_open_when_the_pipeline_stops_is_closed_in_the_event_log() {
    init();
    let dir = out_dir("open-at-stop");
    let launch = format!(
        "appsrc name=src ! {} name=cls ! {ENCODE} ! {}",
        classify(),
        recorder(&dir, "")
    );
    let pipeline = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    src.set_caps(Some(&caps()));
    src.set_format(gst::Format::Time);
    pipeline.set_state(gst::State::Playing).unwrap();
    // Motion from frame 30 to the last one: the event is still going on when the camera
    // goes away (no EOS: the pipeline is stopped, as after an error).
    let log = dir.join("events.jsonl");
    let started = |log: &Path| std::fs::read_to_string(log).is_ok_and(|l| l.contains("\"start\""));
    for i in 0..120 {
        src.push_buffer(frame(i, &[30..120])).unwrap();
    }
    let until = Instant::now() + Duration::from_secs(20);
    while !started(&log) {
        assert!(Instant::now() < until, "no start in the event log");
        wait(Duration::from_millis(20));
    }
    // And until the event's file holds its first fragment (a second of frames).
    let first_file = dir.join("ev-000.mp4");
    let fragment = |f: &Path| std::fs::metadata(f).is_ok_and(|m| m.len() > 0);
    while !fragment(&first_file) {
        assert!(Instant::now() < until, "nothing written to {first_file:?}");
        wait(Duration::from_millis(20));
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let marks: Vec<_> = lines
        .iter()
        .filter(|l| l["event"] == "start" || l["event"] == "end")
        .map(|l| {
            (
                l["event"].as_str().unwrap().to_string(),
                l["reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        marks,
        [
            ("start".to_string(), serde_json::Value::Null),
            ("end".to_string(), "stopped".into())
        ],
        "{lines:?}"
    );
    let end = lines.iter().find(|l| l["event"] == "end").unwrap();
    assert!(end["running-time"].as_u64().unwrap() > 0, "{end}");
    // The file of the open event is listed too, and what reached it plays.
    let file = lines
        .iter()
        .find(|l| l["event"] == "file")
        .unwrap_or_else(|| panic!("no file line: {lines:?}"));
    assert_eq!(file["reason"], "stopped", "{file}");
    let path = PathBuf::from(file["file"].as_str().unwrap());
    assert!(count_frames(&path) > 0, "{}", path.display());
}

#[test]
fn segments_mode_with_an_unwritable_location_is_an_error_at_start_not_an_abort() {
    // Before the check, splitmuxsink failed inside the bin while PLAYING and the process
    // aborted (dispose in PLAYING) or hung; now the bin refuses to start, cleanly.
    for location in ["/proc/seg-%05d.mp4", "/nonexistent/seg-%05d.mp4"] {
        for on_error in ["error-on-open", "skip"] {
            let err = start_error(&format!(
                "videotestsrc num-buffers=30 ! x264enc ! h264parse ! violencerecord mode=segments \
                 location={location} on-write-error={on_error}"
            ))
            .expect("an error at start");
            assert!(
                err.contains("recording folder"),
                "{location} {on_error}: {err}"
            );
        }
    }
}

/// The launch of `in_band_with` again, on a folder that already holds a run's files: what a
/// pipeline restarted after camera loss, or a restarted service, does.
fn in_band_again(dir: &Path, frames: u64, motion: &[std::ops::Range<u64>], extra: &str) -> Run {
    let launch = format!(
        "appsrc name=src ! {} name=cls ! {ENCODE} ! {}",
        classify(),
        recorder(dir, extra)
    );
    let r = run(&launch, "cls", frames, motion, None);
    assert_eq!(r.out.error, None);
    r
}

fn file_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "file" || v["event"] == "segment")
        .map(|v| v["file"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_restarted_recording_goes_on_after_the_files_already_there() {
    let (dir, _) = in_band("restart-files", 150, &[50..70]);
    let first = dir.join("ev-000.mp4");
    let evidence = std::fs::read(&first).unwrap();
    in_band_again(&dir, 150, &[50..70], "");
    let names: Vec<String> = files_in(&dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["ev-000.mp4", "ev-001.mp4"]);
    assert_eq!(std::fs::read(&first).unwrap(), evidence, "not written over");
    let logged = file_lines(&dir);
    assert!(
        logged.len() == 2 && logged[1].ends_with("ev-001.mp4"),
        "{logged:?}"
    );
}

#[test]
fn a_restarted_segments_recording_keeps_the_earlier_segments() {
    let extra = "mode=segments segment-duration=1000000000";
    let (dir, _) = in_band_with("restart-segments", 120, &[30..45], extra);
    let earlier: Vec<(PathBuf, Vec<u8>)> = files_in(&dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    assert!(!earlier.is_empty());
    in_band_again(&dir, 120, &[30..45], extra);
    for (path, bytes) in &earlier {
        assert_eq!(
            &std::fs::read(path).unwrap(),
            bytes,
            "{} written over",
            path.display()
        );
    }
    let now = files_in(&dir);
    assert!(now.len() > earlier.len(), "{now:?}");
    let logged = file_lines(&dir);
    let unique: std::collections::BTreeSet<&String> = logged.iter().collect();
    assert_eq!(
        unique.len(),
        logged.len(),
        "every logged file is its own: {logged:?}"
    );
}

/// `mode=segments` with the audio pad linked to a camera that sends no audio (its depayloader
/// never gets a packet): splitmuxsink would hold the video for it for good, and the tee with
/// it. After audio-timeout the audio input is ended with a warning, and the segments are
/// recorded, video only, up to the end of the stream.
#[test]
fn segments_mode_without_audio_records_video_only_after_audio_timeout() {
    init();
    let dir = out_dir("segments-no-audio");
    let launch = format!(
        "appsrc name=src is-live=true ! {} name=cls ! {ENCODE} ! {} mode=segments \
         segment-duration=1000000000 audio-timeout=1000000000 \
         appsrc name=silent is-live=true format=time \
         caps=audio/mpeg,mpegversion=4,stream-format=raw,rate=48000,channels=1 ! rec.audio",
        classify(),
        recorder(&dir, ""),
    );
    let (pipeline, src) = common::appsrc_pipeline(&launch, &caps());
    src.set_format(gst::Format::Time);
    pipeline.set_state(gst::State::Playing).unwrap();
    for i in 0..100 {
        src.push_buffer(frame(i, &[40..55])).unwrap();
        wait(Duration::from_millis(20));
    }
    let _ = src.end_of_stream();
    let (mut warnings, mut kept, mut ended) = (Vec::new(), Vec::new(), false);
    for msg in pipeline
        .bus()
        .unwrap()
        .iter_timed(gst::ClockTime::from_seconds(30))
    {
        match msg.view() {
            gst::MessageView::Warning(w) => {
                warnings.push(format!("{} ({:?})", w.error(), w.debug()))
            }
            gst::MessageView::Error(e) => panic!("{} ({:?})", e.error(), e.debug()),
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                if s.name() == "violence-recording" && s.get::<String>("action").unwrap() == "kept"
                {
                    kept.push(PathBuf::from(s.get::<String>("location").unwrap()));
                }
            }
            gst::MessageView::Eos(_) => {
                ended = true;
                break;
            }
            _ => (),
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(ended, "no EOS within 30 s: the video is held for the audio");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("no audio on the audio pad")),
        "{warnings:?}"
    );
    assert!(!kept.is_empty(), "the event's segments are kept");
    for path in &kept {
        assert!(count_frames(path) > 0, "{} plays", path.display());
    }
}
