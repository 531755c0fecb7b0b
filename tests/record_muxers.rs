// SPDX-License-Identifier: MPL-2.0

//! violencerecord's muxers: Matroska and MPEG-TS files, and every muxer mode's files report
//! their true duration to gst-discoverer-1.0 and ffprobe, and seek.

#![allow(clippy::single_range_in_vec_init)] // motion intervals are slices of ranges

mod common;
use common::record::*;
use common::FRAME_NS;
use gst::prelude::*;
use std::path::{Path, PathBuf};

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
