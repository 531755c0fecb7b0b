// SPDX-License-Identifier: MPL-2.0

//! violencerecord and the events it records, in real pipelines (helpers in
//! common/record.rs: the frames carry their index, every file is decoded and checked frame
//! by frame): one file per event with its pre-roll and post-roll, overlapping events sharing
//! a file, out-of-band recording from a tee (from one classifier or from either of two),
//! keyframe requests on a long GOP, a synced preview beside the recorder, and an end event
//! lost on its way.

#![allow(clippy::single_range_in_vec_init)] // motion intervals are slices of ranges

mod common;
use common::record::*;
use common::run_pipeline;
use gst::prelude::*;
use std::time::Duration;

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

/// Two classifiers on one camera (`source=a,b`), each on its own branch of the raw frames.
fn two_sources(name: &str, second_branch: &str) -> (std::path::PathBuf, Run) {
    let dir = out_dir(name);
    let launch = format!(
        "appsrc name=src ! tee name=t \
         t. ! queue name=enc ! {ENCODE} ! queue ! {} \
         t. ! queue ! {} name=a ! fakesink sync=false \
         t. ! queue ! {second_branch} ! {} name=b ! fakesink sync=false",
        recorder(&dir, "source=a,b"),
        classify(),
        classify()
    );
    let r = run(&launch, "enc", 170, &[30..45, 100..115], None);
    assert_eq!(r.out.error, None);
    (dir, r)
}

#[test]
fn two_sources_deciding_the_same_events_record_each_once() {
    let (dir, r) = two_sources("two-sources-same", "identity");
    let mut ev = events(&r.out);
    assert_eq!(ev.len(), 4, "both classifiers decide both events: {ev:?}");
    ev.sort();
    ev.dedup();
    assert_eq!(ev.len(), 2, "{ev:?}");
    let files = files_in(&dir);
    assert_eq!(files.len(), 2, "{files:?}");
    for (f, (s, e)) in files.iter().zip(&ev) {
        check_file(f, *s, *e, 169);
    }
    let log = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let kinds: Vec<String> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event"].to_string())
        .collect();
    // A file line is written when the recording branch's frames reach the post-roll's end, a
    // start when a classifier decides: under load the second event can start before the
    // first file is closed, so the two kinds of line are checked each in their own order.
    let marks: Vec<&String> = kinds.iter().filter(|k| *k != "\"file\"").collect();
    assert_eq!(
        marks,
        ["\"start\"", "\"end\"", "\"start\"", "\"end\""],
        "one start and one end per event, not one per classifier"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "\"file\"").count(),
        2,
        "one file line per event: {kinds:?}"
    );
}

#[test]
fn either_source_records_and_a_quiet_one_holds_nothing() {
    // The second classifier sees flat grey frames: no motion, no event. The first one's
    // events are recorded as they would be with it alone.
    let (dir, r) = two_sources("two-sources-quiet", "videobalance contrast=0");
    let ev = events(&r.out);
    assert_eq!(ev.len(), 2, "{ev:?}");
    let files = files_in(&dir);
    assert_eq!(files.len(), 2, "{files:?}");
    for (f, (s, e)) in files.iter().zip(&ev) {
        check_file(f, *s, *e, 169);
    }
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
    let src = test_appsrc(&pipeline);
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
