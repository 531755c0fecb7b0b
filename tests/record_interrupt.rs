// SPDX-License-Identifier: MPL-2.0

//! violencerecord interrupted mid-event: EOS, SIGKILL of the process (the file written so
//! far still plays), SIGINT to `gst-launch-1.0 -e` (the file is finalized at EOS), and a
//! pipeline stopped without EOS (the event log closes the event, reason `stopped`).

#![allow(clippy::single_range_in_vec_init)] // motion intervals are slices of ranges

mod common;
use common::record::*;
use common::{holds_a_fragment, model, wait, FPS};
use gst::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
fn an_event_open_when_the_pipeline_stops_is_closed_in_the_event_log() {
    let dir = out_dir("open-at-stop");
    let (pipeline, src) = recording_pipeline(&dir, "");
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
    // And until the event's file holds its first complete fragment (a second of frames): its
    // first bytes are only the header, which plays nothing.
    let first_file = dir.join("ev-000.mp4");
    while !holds_a_fragment(&first_file) {
        assert!(Instant::now() < until, "nothing written to {first_file:?}");
        wait(Duration::from_millis(20));
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let lines = log_lines(&dir);
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
