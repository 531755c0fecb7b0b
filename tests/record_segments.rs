// SPDX-License-Identifier: MPL-2.0

//! violencerecord `mode=segments`: splitmuxsink writes segments, those that overlap an
//! event (with its rolls) are kept and play, the others are deleted; splitmuxsink's own
//! max-files counts the kept segments.

#![allow(clippy::single_range_in_vec_init)] // motion intervals are slices of ranges

mod common;
use common::record::*;
use common::FRAME_NS;
use std::path::PathBuf;

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
