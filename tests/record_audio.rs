// SPDX-License-Identifier: MPL-2.0

//! violencerecord with audio on its `audio` request pad: each file (or kept segment) has an
//! audio track over the span of its video, and a camera that sends no audio leaves
//! `mode=segments` recording video only after `audio-timeout`.

#![allow(clippy::single_range_in_vec_init)] // motion intervals are slices of ranges

mod common;
use common::record::*;
use common::{wait, FRAME_NS};
use gst::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// The bus of a live run until EOS (30 s at most): its warnings, the segments it kept, and
/// whether EOS came. An error fails the test, naming the run.
fn until_eos(pipeline: &gst::Pipeline, run: u32) -> (Vec<String>, Vec<PathBuf>, bool) {
    let (mut warnings, mut kept) = (Vec::new(), Vec::new());
    for msg in pipeline
        .bus()
        .unwrap()
        .iter_timed(gst::ClockTime::from_seconds(30))
    {
        match msg.view() {
            gst::MessageView::Warning(w) => {
                warnings.push(format!("{} ({:?})", w.error(), w.debug()))
            }
            gst::MessageView::Error(e) => panic!("run {run}: {} ({:?})", e.error(), e.debug()),
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                if s.name() == "violence-recording" && s.get::<String>("action").unwrap() == "kept"
                {
                    kept.push(PathBuf::from(s.get::<String>("location").unwrap()));
                }
            }
            gst::MessageView::Eos(_) => return (warnings, kept, true),
            _ => (),
        }
    }
    (warnings, kept, false)
}

/// `mode=segments` with the audio pad linked to a camera that sends no audio (its depayloader
/// never gets a packet): splitmuxsink would hold the video for it for good, and the tee with
/// it. After audio-timeout the audio input is ended with a warning, and the segments are
/// recorded, video only, up to the end of the stream. The same again when the pipeline is
/// played a second time from READY (the first run's stand-in for the audio must not stay).
#[test]
fn segments_mode_without_audio_records_video_only_after_audio_timeout() {
    live_segments_twice(
        "segments-no-audio",
        "audio-timeout=1000000000 appsrc name=silent is-live=true format=time \
         caps=audio/mpeg,mpegversion=4,stream-format=raw,rate=48000,channels=1 ! rec.audio",
        Duration::from_millis(20),
        gst::State::Ready,
        |run, warnings, kept| {
            assert!(
                warnings
                    .iter()
                    .any(|w| w.contains("no audio on the audio pad")),
                "run {run}: {warnings:?}"
            );
            for path in kept {
                assert!(count_frames(path) > 0, "{} plays", path.display());
            }
        },
    );
}

/// The audio of `mode=segments` in a pipeline played a second time, from READY and through
/// NULL: splitmuxsink's request pads are requested again after its reset, and the second
/// run's segments carry audio as the first run's do.
#[test]
fn segments_mode_played_again_from_ready_records_audio_again() {
    segments_audio_again("segments-audio-again", gst::State::Ready);
}

#[test]
fn segments_mode_played_again_through_null_records_audio_again() {
    segments_audio_again("segments-audio-again-null", gst::State::Null);
}

fn segments_audio_again(name: &str, between: gst::State) {
    live_segments_twice(
        name,
        "audiotestsrc is-live=true samplesperbuffer=400 ! avenc_aac ! aacparse ! rec.audio",
        Duration::from_millis(40),
        between,
        |run, _, kept| {
            for path in kept {
                let Some(streams) = ffprobe_streams(path) else {
                    eprintln!("ffprobe is not installed: audio track not checked");
                    return;
                };
                assert!(
                    streams.iter().any(|s| s.0 == "audio"),
                    "run {run}: {}: no audio: {streams:?}",
                    path.display()
                );
            }
        },
    );
}

/// A live `mode=segments` recording with `audio` (launch text feeding rec.audio) played twice,
/// stopped at `between` (READY or NULL) after each, 100 frames a run paced by `pace` with an
/// event in each: every run ends at EOS and keeps segments; `check` looks at each run's
/// warnings and kept segments.
fn live_segments_twice(
    name: &str,
    audio: &str,
    pace: Duration,
    between: gst::State,
    check: impl Fn(u32, &[String], &[PathBuf]),
) {
    init();
    let dir = out_dir(name);
    let launch = format!(
        "appsrc name=src is-live=true ! {} name=cls ! {ENCODE} ! {} mode=segments \
         segment-duration=1000000000 {audio}",
        classify(),
        recorder(&dir, ""),
    );
    let (pipeline, src) = common::appsrc_pipeline(&launch, &caps());
    src.set_format(gst::Format::Time);
    for run in 1..=2 {
        pipeline.set_state(gst::State::Playing).unwrap();
        for i in 0..100 {
            src.push_buffer(frame(i, &[40..55])).unwrap();
            wait(pace);
        }
        let _ = src.end_of_stream();
        let (warnings, kept, ended) = until_eos(&pipeline, run);
        pipeline.set_state(between).unwrap();
        assert!(
            ended,
            "run {run}: no EOS within 30 s: the video is held for the audio"
        );
        assert!(!kept.is_empty(), "run {run}: the event's segments are kept");
        check(run, &warnings, &kept);
    }
    pipeline.set_state(gst::State::Null).unwrap();
}
