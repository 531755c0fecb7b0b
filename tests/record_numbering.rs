// SPDX-License-Identifier: MPL-2.0

//! violencerecord's file numbering: max-files keeps the newest files, and a restarted
//! pipeline (camera loss, a restarted service) goes on after the files already in the
//! folder, in both modes, never writing over earlier evidence.

#![allow(clippy::single_range_in_vec_init)] // motion intervals are slices of ranges

mod common;
use common::record::*;
use gst::prelude::*;
use std::path::{Path, PathBuf};

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
    let names = file_names(&dir);
    assert_eq!(names, ["ev-001.mp4", "ev-002.mp4"]);
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
    log_lines(dir)
        .into_iter()
        .filter(|v| v["event"] == "file" || v["event"] == "segment")
        .map(|v| v["file"].as_str().unwrap().to_string())
        .collect()
}

/// The names of the files in `dir`, sorted.
fn file_names(dir: &Path) -> Vec<String> {
    files_in(dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// Every file in `dir` with its bytes: what a later run must leave as it is.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files_in(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

fn assert_unchanged(files: &[(PathBuf, Vec<u8>)]) {
    for (path, bytes) in files {
        assert_eq!(
            &std::fs::read(path).unwrap(),
            bytes,
            "{} written over",
            path.display()
        );
    }
}

#[test]
fn a_restarted_recording_goes_on_after_the_files_already_there() {
    let (dir, _) = in_band("restart-files", 150, &[50..70]);
    let first = dir.join("ev-000.mp4");
    let evidence = std::fs::read(&first).unwrap();
    in_band_again(&dir, 150, &[50..70], "");
    let names = file_names(&dir);
    assert_eq!(names, ["ev-000.mp4", "ev-001.mp4"]);
    assert_eq!(std::fs::read(&first).unwrap(), evidence, "not written over");
    let logged = file_lines(&dir);
    assert!(
        logged.len() == 2 && logged[1].ends_with("ev-001.mp4"),
        "{logged:?}"
    );
}

/// max-files bounds the folder, not one run: a pipeline restarted after every camera loss
/// would otherwise grow it without end. The restart deletes the oldest file of the earlier
/// run first and numbers its own after the highest one there.
#[test]
fn max_files_counts_the_files_an_earlier_run_left() {
    let (dir, _) = in_band_with(
        "max-files-restart",
        250,
        &[30..45, 100..115, 170..185],
        "max-files=2",
    );
    assert_eq!(file_names(&dir), ["ev-001.mp4", "ev-002.mp4"]);
    let evidence = std::fs::read(dir.join("ev-002.mp4")).unwrap();
    in_band_again(&dir, 150, &[50..70], "max-files=2");
    assert_eq!(file_names(&dir), ["ev-002.mp4", "ev-003.mp4"]);
    assert_eq!(
        std::fs::read(dir.join("ev-002.mp4")).unwrap(),
        evidence,
        "the newer file of the earlier run is untouched"
    );
}

#[test]
fn a_restarted_segments_recording_keeps_the_earlier_segments() {
    let extra = "mode=segments segment-duration=1000000000";
    // A late event: the first segments are deleted, a gap before the kept ones, which a
    // restart at the first free index would write over.
    let (dir, _) = in_band_with("restart-segments", 120, &[70..85], extra);
    let earlier = snapshot(&dir);
    assert!(!earlier.is_empty());
    assert!(
        !dir.join("ev-000.mp4").exists(),
        "the first segment is kept: no gap to test {earlier:?}"
    );
    in_band_again(&dir, 120, &[70..85], extra);
    assert_unchanged(&earlier);
    let now = files_in(&dir);
    assert!(now.len() > earlier.len(), "{now:?}");
    let logged = file_lines(&dir);
    let unique: std::collections::BTreeSet<&String> = logged.iter().collect();
    assert_eq!(
        unique.len(),
        logged.len(),
        "every logged file is its own: {logged:?}"
    );
    // Both runs append to one event log: the second run's event numbers on after the
    // first's, so each index names one event and its segments.
    let lines = log_lines(&dir);
    let starts: Vec<u64> = lines
        .iter()
        .filter(|v| v["event"] == "start")
        .map(|v| v["index"].as_u64().unwrap())
        .collect();
    assert_eq!(starts, [0, 1], "{lines:?}");
    let second: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|v| v["event"] == "segment" && v["events"] == serde_json::json!([1]))
        .collect();
    assert!(!second.is_empty(), "{lines:?}");
}

/// One pipeline taken back to READY and played again (an application pausing the recording
/// without tearing the pipeline down): the second run's event is logged (start, end, its
/// file) in the same event log, after the first run's, and its file is a new one.
#[test]
fn a_pipeline_played_again_from_ready_logs_its_second_run() {
    let dir = out_dir("ready-again");
    let (pipeline, src) = recording_pipeline(&dir, "");
    let log = dir.join("events.jsonl");
    let files_logged = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"event\":\"file\""))
            .count()
    };
    for run in 1..=2 {
        pipeline.set_state(gst::State::Playing).unwrap();
        for i in 0..150 {
            src.push_buffer(frame(i, &[50..70])).unwrap();
        }
        let _ = src.end_of_stream();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while files_logged() < run {
            assert!(
                std::time::Instant::now() < until,
                "run {run}: no file logged: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        pipeline.set_state(gst::State::Ready).unwrap();
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let lines = log_lines(&dir);
    let kinds: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["start", "end", "file", "start", "end", "file"],
        "{lines:?}"
    );
    assert_eq!(
        file_lines(&dir),
        ["ev-000.mp4", "ev-001.mp4"].map(|f| dir.join(f).display().to_string())
    );
    for path in files_in(&dir) {
        assert!(count_frames(&path) > 0, "{}", path.display());
    }
}

/// The same in mode=segments: splitmuxsink (1.22) played again from READY failed on its first
/// GOP ("Queued GOP time is negative"), so the element resets it before the second run. Both
/// runs' segments are kept, listed with their own event, and play; the second run writes none
/// over the first's.
#[test]
fn a_segments_pipeline_played_again_from_ready_records_its_second_run() {
    segments_played_again("ready-again-segments", gst::State::Ready);
}

/// The same through NULL (an application restarting the pipeline it keeps after a camera
/// loss): splitmuxsink, holding its request pads, does not reliably reset on its way there.
#[test]
fn a_segments_pipeline_played_again_from_null_records_its_second_run() {
    segments_played_again("null-again-segments", gst::State::Null);
}

/// Two runs of one segments pipeline, stopped after each at `between` (READY or NULL).
fn segments_played_again(name: &str, between: gst::State) {
    let dir = out_dir(name);
    let (pipeline, src) = recording_pipeline(&dir, "mode=segments segment-duration=1000000000");
    // An application naming the segments itself, on the child it got at READY: the same
    // child serves the second run, so its handler still names the files.
    pipeline.set_state(gst::State::Ready).unwrap();
    let child = pipeline
        .by_name("rec")
        .unwrap()
        .dynamic_cast::<gst::ChildProxy>()
        .unwrap()
        .child_by_name("splitmuxsink")
        .unwrap();
    let named = std::sync::atomic::AtomicU32::new(0);
    let folder = dir.clone();
    child.connect("format-location", false, move |_| {
        let n = named.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Some(format!("{}/app-{n:03}.mp4", folder.display()).to_value())
    });
    let first_run = two_runs(&pipeline, &src, between, 50..70);
    assert!(!first_run.is_empty());
    assert_unchanged(&first_run);
    let lines = log_lines(&dir);
    let segments = |event: u64| -> Vec<String> {
        lines
            .iter()
            .filter(|v| v["event"] == "segment" && v["events"] == serde_json::json!([event]))
            .map(|v| v["file"].as_str().unwrap().to_string())
            .collect()
    };
    let (first, second) = (segments(0), segments(1));
    assert!(!first.is_empty() && !second.is_empty(), "{lines:?}");
    assert!(second.iter().all(|f| !first.contains(f)), "{lines:?}");
    let listed: Vec<PathBuf> = first.iter().chain(&second).map(PathBuf::from).collect();
    assert_eq!(files_in(&dir), listed, "on disk: the listed segments");
    assert!(
        listed
            .iter()
            .all(|p| p.file_name().unwrap().to_string_lossy().starts_with("app-")),
        "named by the application's handler in both runs: {listed:?}"
    );
    for path in &listed {
        assert!(count_frames(path) > 0, "{}", path.display());
    }
}

/// `location` changed in READY between two runs of a segments pipeline: the second run writes
/// under the new pattern; before, splitmuxsink kept the old one and started again at index 0,
/// writing over the first run's kept segments.
#[test]
fn a_segments_location_changed_in_ready_applies_to_the_next_run() {
    let dir = out_dir("segments-new-location");
    let (pipeline, src) = recording_pipeline(&dir, "mode=segments segment-duration=1000000000");
    let mut first_run = Vec::new();
    for run in 1..=2 {
        play_to_eos(&pipeline, &src, run, 50..70);
        pipeline.set_state(gst::State::Ready).unwrap();
        if run == 1 {
            first_run = snapshot(&dir);
            let rec = pipeline.by_name("rec").unwrap();
            rec.set_property("location", format!("{}/new-%03d.mp4", dir.display()));
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(!first_run.is_empty());
    assert_unchanged(&first_run);
    let names = file_names(&dir);
    assert!(names.iter().any(|n| n.starts_with("new-")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("ev-")), "{names:?}");
}

/// One run of a recording pipeline: 150 frames with motion in `motion`, then EOS; an error
/// fails the test, naming the run.
fn play_to_eos(
    pipeline: &gst::Pipeline,
    src: &gst_app::AppSrc,
    run: u32,
    motion: std::ops::Range<u64>,
) {
    pipeline.set_state(gst::State::Playing).unwrap();
    for i in 0..150 {
        src.push_buffer(frame(i, std::slice::from_ref(&motion)))
            .unwrap();
    }
    let _ = src.end_of_stream();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(30),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .unwrap_or_else(|| panic!("run {run}: no EOS"));
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("run {run}: {} {:?}", e.error(), e.debug());
    }
}

/// A segments pipeline whose event lasts to the end of the stream keeps its last segment; a
/// filesink opens (empties) its file at NULL->READY, and splitmuxsink's sink kept that
/// segment's name, so coming back through NULL emptied the kept evidence. Both ways back.
#[test]
fn the_kept_last_segment_survives_a_second_run_from_ready() {
    kept_last_segment_survives("last-kept-ready", gst::State::Ready);
}

#[test]
fn the_kept_last_segment_survives_a_second_run_from_null() {
    kept_last_segment_survives("last-kept-null", gst::State::Null);
}

fn kept_last_segment_survives(name: &str, between: gst::State) {
    let dir = out_dir(name);
    let (pipeline, src) = recording_pipeline(&dir, "mode=segments segment-duration=1000000000");
    let first_run = two_runs(&pipeline, &src, between, 100..150);
    let last = first_run.last().map(|(p, _)| p.clone());
    assert!(
        last.is_some_and(|p| p.ends_with("ev-005.mp4")),
        "the event reaches the last segment: {:?}",
        first_run.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    assert_unchanged(&first_run);
}

/// A `splitmuxsink::location` from the launch line: a later run numbers on after that
/// pattern's files, not after ours (which matches none of them), and writes over none.
#[test]
fn a_later_run_numbers_after_a_launch_line_splitmuxsink_location() {
    let dir = out_dir("launch-line-location");
    let extra = format!(
        "mode=segments segment-duration=1000000000 splitmuxsink::location={}/cam-%03d.mp4",
        dir.display()
    );
    let (pipeline, src) = recording_pipeline(&dir, &extra);
    play_to_eos(&pipeline, &src, 1, 50..70);
    pipeline.set_state(gst::State::Ready).unwrap();
    let first_run = snapshot(&dir);
    assert!(file_names(&dir).iter().all(|n| n.starts_with("cam-")));
    play_to_eos(&pipeline, &src, 2, 100..150);
    pipeline.set_state(gst::State::Null).unwrap();
    assert_unchanged(&first_run);
    assert!(
        files_in(&dir).len() > first_run.len(),
        "{:?}",
        file_names(&dir)
    );
}

/// A start that fails half-way through the reset (a location splitmuxsink cannot take, set
/// in READY) leaves the reset to the next start, which then numbers on after the first run's
/// segments instead of writing over them.
#[test]
fn a_failed_start_leaves_the_reset_to_the_next_one() {
    let dir = out_dir("failed-restart");
    let (pipeline, src) = recording_pipeline(&dir, "mode=segments segment-duration=1000000000");
    play_to_eos(&pipeline, &src, 1, 50..70);
    pipeline.set_state(gst::State::Ready).unwrap();
    let first_run = snapshot(&dir);
    let rec = pipeline.by_name("rec").unwrap();
    let good: String = rec.property("location");
    rec.set_property("location", format!("{}/bad.mp4", dir.display()));
    assert!(pipeline.set_state(gst::State::Playing).is_err());
    let _ = pipeline.set_state(gst::State::Ready);
    // The failed start's error, read and done with.
    let bus = pipeline.bus().unwrap();
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Error(e) = msg.view() {
            let debug = e.debug().unwrap_or_default();
            assert!(debug.contains("must hold one %d"), "{debug}");
        }
    }
    rec.set_property("location", good);
    play_to_eos(&pipeline, &src, 2, 100..150);
    pipeline.set_state(gst::State::Null).unwrap();
    assert_unchanged(&first_run);
    assert!(
        files_in(&dir).len() > first_run.len(),
        "{:?}",
        file_names(&dir)
    );
    assert!(!dir.join("bad.mp4").exists());
}

/// Two runs of a recording pipeline into the folder of `dir`'s recorder, stopped at `between`
/// (READY or NULL) after each, then NULL: the files after the first run, with their bytes.
fn two_runs(
    pipeline: &gst::Pipeline,
    src: &gst_app::AppSrc,
    between: gst::State,
    motion: std::ops::Range<u64>,
) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(
        pipeline
            .by_name("rec")
            .unwrap()
            .property::<String>("location"),
    )
    .parent()
    .unwrap()
    .to_path_buf();
    let mut first_run = Vec::new();
    for run in 1..=2 {
        play_to_eos(pipeline, src, run, motion.clone());
        pipeline.set_state(between).unwrap();
        if run == 1 {
            first_run = snapshot(&dir);
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    first_run
}
