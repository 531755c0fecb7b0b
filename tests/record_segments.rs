// SPDX-License-Identifier: MPL-2.0

//! violencerecord `mode=segments`: splitmuxsink writes segments, those that overlap an
//! event (with its rolls) are kept and play, the others are deleted; splitmuxsink's own
//! max-files counts the kept segments.

#![allow(clippy::single_range_in_vec_init)] // motion intervals are slices of ranges

mod common;
use common::record::*;
use common::{FPS, FRAME_NS};
use gst::prelude::*;
use std::path::PathBuf;

/// `mode=segments`: a stock splitmuxsink child writes the stream in segments; those that
/// overlap an event with its pre-roll and post-roll stay, the others are deleted, and the
/// kept ones play and hold every frame of the events.
#[test]
fn segments_mode_keeps_only_the_segments_of_events() {
    keeps_only_the_segments_of_events("segments", "");
}

/// The same with splitmuxsink finishing each segment on a thread of its own: its closed
/// message may come after the next segment opened, and every segment is still decided once.
#[test]
fn segments_mode_with_async_finalize_keeps_only_the_segments_of_events() {
    keeps_only_the_segments_of_events("segments-async", "splitmuxsink::async-finalize=true");
}

fn keeps_only_the_segments_of_events(name: &str, extra: &str) {
    let frames = 250;
    let (dir, r) = in_band_with(
        name,
        frames,
        &[30..45, 150..165],
        &format!("mode=segments segment-duration=1000000000 {extra}"),
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

/// splitmuxsink's max-files becomes ours at the first start (the child's is set to 0, or its
/// own rotation would overwrite kept segments): a second start from READY keeps counting
/// with it instead of falling back to keeping every segment.
#[test]
fn splitmuxsink_max_files_holds_for_a_second_run() {
    init();
    let dir = out_dir("segments-max-files-again");
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src ! h264parse ! violencerecord name=rec mode=segments \
         location={}/ev-%03d.mp4 splitmuxsink::max-files=3",
        dir.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let rec = pipeline.by_name("rec").unwrap();
    for run in 1..=2 {
        pipeline.set_state(gst::State::Paused).unwrap();
        let child = rec
            .dynamic_cast_ref::<gst::ChildProxy>()
            .unwrap()
            .child_by_name("splitmuxsink")
            .unwrap();
        assert_eq!(rec.property::<u32>("max-files"), 3, "run {run}");
        assert_eq!(child.property::<u32>("max-files"), 0, "run {run}");
        pipeline.set_state(gst::State::Ready).unwrap();
    }
    pipeline.set_state(gst::State::Null).unwrap();
}

/// Plays `frames` frames (motion in `motion`) into `mode=segments` with 1 s segments written
/// in fragments of `fragment_ms`, then stops the pipeline without EOS, as after an error or a
/// lost camera, once the segment being written (`ev-<last>.mp4`) holds a fragment (or, with
/// `fragment_ms` 1000, once it exists: its 25 frames never complete one). The event log's
/// lines after the stop.
fn stopped_without_eos(
    name: &str,
    frames: u64,
    motion: &[std::ops::Range<u64>],
    fragment_ms: u32,
) -> (PathBuf, Vec<serde_json::Value>) {
    use gst::prelude::*;
    let dir = out_dir(name);
    let (pipeline, src) = recording_pipeline(
        &dir,
        &format!("mode=segments segment-duration=1000000000 fragment-duration={fragment_ms}"),
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    for i in 0..frames {
        src.push_buffer(frame(i, motion)).unwrap();
    }
    let last = dir.join(format!(
        "ev-{:03}.mp4",
        (frames - 1) * FRAME_NS / 1_000_000_000
    ));
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let due = |last: &std::path::Path| match fragment_ms {
        1000 => last.exists(),
        _ => common::holds_a_fragment(last),
    };
    while !due(&last) {
        assert!(
            std::time::Instant::now() < until,
            "nothing written to {last:?}"
        );
        common::wait(std::time::Duration::from_millis(20));
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let lines = log_lines(&dir);
    (dir, lines)
}

/// The logged segments, each checked to play with consecutive frames.
fn logged_segments(lines: &[serde_json::Value]) -> Vec<PathBuf> {
    let mut kept: Vec<PathBuf> = lines
        .iter()
        .filter(|l| l["event"] == "segment")
        .map(|l| PathBuf::from(l["file"].as_str().unwrap()))
        .collect();
    for path in &kept {
        let d = decode(path);
        assert!(d.first_is_key, "{}", path.display());
        for w in d.indices.windows(2) {
            assert_eq!(w[1], w[0] + 1, "{}: frame missing", path.display());
        }
    }
    kept.sort();
    kept
}

/// A stop without EOS (an error, a lost camera) decides the segments no EOS did: those that
/// were still within an event's reach, and the one being written, are deleted when no event
/// reaches them; only the segments of events stay on disk.
#[test]
fn segments_mode_stopped_without_eos_leaves_only_the_segments_of_events() {
    let (dir, lines) = stopped_without_eos("segments-stopped", 200, &[30..60], 200);
    let kept = logged_segments(&lines);
    assert!(!kept.is_empty(), "{lines:?}");
    assert_eq!(
        files_in(&dir),
        kept,
        "only the kept segments are left: {lines:?}"
    );
    let ends: Vec<_> = lines.iter().filter(|l| l["event"] == "end").collect();
    assert_eq!(ends.len(), 1, "{lines:?}");
    assert_eq!(ends[0]["reason"], "released", "{lines:?}");
}

/// A stop without EOS in the middle of an event keeps the segment being written, which
/// plays up to its last fragment, and logs the event as ended there.
#[test]
fn segments_mode_stopped_mid_event_keeps_the_segment_being_written_playable() {
    let (dir, lines) = stopped_without_eos("segments-stopped-mid-event", 200, &[30..200], 200);
    let kept = logged_segments(&lines);
    assert_eq!(
        files_in(&dir),
        kept,
        "only the kept segments are left: {lines:?}"
    );
    let last = dir.join("ev-007.mp4");
    assert_eq!(kept.last(), Some(&last), "{lines:?}");
    assert!(
        decode(&last).indices.len() >= FPS as usize / 2,
        "{}: its fragments play",
        last.display()
    );
    let end = lines
        .iter()
        .rfind(|l| l["event"] == "end")
        .unwrap_or_else(|| panic!("no end: {lines:?}"));
    assert_eq!(end["reason"], "stopped", "{lines:?}");
    assert_eq!(end["index"], 0, "paired with its start: {end}");
    assert!(
        end["running-time"].as_u64().unwrap() >= 7_000_000_000,
        "{end}"
    );
}

/// A stop without EOS before the segment being written holds a complete fragment: it plays
/// nothing, so it is deleted, not listed, even in the middle of an event; the event is still
/// logged as ended.
#[test]
fn segments_mode_stopped_before_a_fragment_deletes_the_segment_being_written() {
    let (dir, lines) = stopped_without_eos("segments-stopped-early", 200, &[30..200], 1000);
    let kept = logged_segments(&lines);
    assert_eq!(
        files_in(&dir),
        kept,
        "only the kept segments are left: {lines:?}"
    );
    assert!(!dir.join("ev-007.mp4").exists(), "{lines:?}");
    assert_eq!(kept.last(), Some(&dir.join("ev-006.mp4")), "{lines:?}");
    let end = lines.iter().rfind(|l| l["event"] == "end");
    assert_eq!(
        end.map(|e| &e["reason"]),
        Some(&"stopped".into()),
        "{lines:?}"
    );
}
