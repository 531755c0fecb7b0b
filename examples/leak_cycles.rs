// SPDX-License-Identifier: MPL-2.0

//! Leak check (`make leaks`): cycles real pipelines with our elements through
//! PLAYING -> NULL -> PLAYING, and creates and destroys every element, measuring the
//! resident set size after `--rss-at` cycles and at the end. At exit it calls gst_deinit,
//! so that `GST_TRACERS=leaks` reports the objects still alive (scripts/leaks.sh counts ours).
//!
//! Usage: leak-cycles --model MOTION.pt [--cycles 1000] [--rss-at 100]
//!                    [--phases classify,record,flow,create] [--out DIR]
//!
//! Phases:
//! - classify: videotestsrc ! videoconvert ! opticalflow ! clipbuffer ! violenceclassify ! tee
//!   (bboxoverlay ! fakesink, hardattentioncrop ! fakesink); each cycle waits for 16 frames
//!   (two classified clips) to reach the sink;
//! - record: videotestsrc ! clipbuffer ! violenceclassify ! x264enc ! h264parse !
//!   violencerecord, the ball moves so every cycle starts an event and writes a file;
//! - flow: the classify pipeline without violenceclassify (for valgrind, which libtorch's
//!   forward makes very slow);
//! - create: every element of the plugin made and dropped (`--cycles` times each).
//!
//! Prints one line per phase: cycles, RSS after `--rss-at` cycles and at the end, growth
//! between them, seconds, and the RSS in MiB every `--rss-at` cycles (the trend).

use gst::prelude::*;
use gstviolence_tools::rss::rss_kib;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ELEMENTS: [&str; 6] = [
    "opticalflow",
    "clipbuffer",
    "violenceclassify",
    "bboxoverlay",
    "hardattentioncrop",
    "violencerecord",
];

const SRC: &str = "videotestsrc pattern=ball ! video/x-raw,width=160,height=120,framerate=25/1";

fn launch(phase: &str, model: &str, out: &str) -> Option<(String, u64)> {
    let analysis = "videoconvert ! opticalflow ! clipbuffer";
    let branches = "tee name=t t. ! queue ! bboxoverlay ! fakesink name=sink sync=false \
                    t. ! queue ! hardattentioncrop region-source=motion width=64 height=64 \
                    ! fakesink sync=false";
    Some(match phase {
        "classify" => (
            format!(
                "{SRC} ! {analysis} ! violenceclassify model-location=\"{model}\" mode=sync \
                 ! {branches}"
            ),
            16,
        ),
        "flow" => (format!("{SRC} ! {analysis} ! {branches}"), 16),
        "record" => (
            format!(
                "{SRC} ! videoconvert ! clipbuffer ! violenceclassify model-location=\"{model}\" \
                 mode=sync min-consecutive=1 hold-time=0 ! x264enc speed-preset=ultrafast \
                 tune=zerolatency key-int-max=10 ! h264parse ! identity name=sink \
                 ! violencerecord location=\"{out}/ev-%05d.mp4\" max-files=3 \
                 pre-roll=200000000 post-roll=200000000"
            ),
            24,
        ),
        _ => return None,
    })
}

/// Cycles one pipeline; returns (RSS after `rss_at` cycles, RSS at the end).
fn state_cycles(
    phase: &str,
    model: &str,
    out: &str,
    cycles: u64,
    rss_at: u64,
) -> Result<(u64, u64, Vec<u64>), String> {
    let (line, frames) = launch(phase, model, out).ok_or(format!("unknown phase {phase}"))?;
    let pipeline = gst::parse::launch(&line)
        .map_err(|e| format!("{phase}: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    pipeline
        .by_name("sink")
        .and_then(|s| s.static_pad("sink"))
        .ok_or("no sink")?
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            c.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    let bus = pipeline.bus().unwrap();
    let (mut rss_mark, mut trend) = (0, Vec::new());
    for cycle in 1..=cycles {
        let before = count.load(Ordering::Relaxed);
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| format!("{phase} cycle {cycle}: {e}"))?;
        let t0 = Instant::now();
        while count.load(Ordering::Relaxed) < before + frames {
            if let Some(m) = bus.pop_filtered(&[gst::MessageType::Error]) {
                let _ = pipeline.set_state(gst::State::Null);
                return Err(format!("{phase} cycle {cycle}: {m:?}"));
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let _ = pipeline.set_state(gst::State::Null);
                return Err(format!("{phase} cycle {cycle}: no frames for 20 s"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        pipeline
            .set_state(gst::State::Null)
            .map_err(|e| format!("{phase} cycle {cycle}: {e}"))?;
        // Drop what the cycle posted (state changes, element messages).
        while bus.pop().is_some() {}
        if cycle == rss_at {
            rss_mark = rss_kib();
        }
        if cycle.is_multiple_of(rss_at) {
            trend.push(rss_kib() / 1024);
        }
    }
    Ok((rss_mark, rss_kib(), trend))
}

fn create_cycles(cycles: u64, rss_at: u64) -> Result<(u64, u64, Vec<u64>), String> {
    let (mut rss_mark, mut trend) = (0, Vec::new());
    for cycle in 1..=cycles {
        for name in ELEMENTS {
            let e = gst::ElementFactory::make(name)
                .build()
                .map_err(|e| format!("{name}: {e}"))?;
            drop(e);
        }
        if cycle == rss_at {
            rss_mark = rss_kib();
        }
        if cycle.is_multiple_of(rss_at) {
            trend.push(rss_kib() / 1024);
        }
    }
    Ok((rss_mark, rss_kib(), trend))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut model, mut cycles, mut rss_at) = (String::new(), 1000u64, 100u64);
    let mut phases = "classify,record,create".to_string();
    let mut inject = String::new();
    let mut out = std::env::temp_dir()
        .join(format!("leak-cycles-{}", std::process::id()))
        .to_string_lossy()
        .into_owned();
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--model" => model = v,
            "--cycles" => cycles = v.parse().expect("--cycles N"),
            "--rss-at" => rss_at = v.parse().expect("--rss-at N"),
            "--phases" => phases = v,
            "--out" => out = v,
            // Self-check of the leak detection: leaks one element on purpose.
            "--inject-leak" => inject = v,
            _ => {
                eprintln!("usage: leak-cycles --model M [--cycles N] [--rss-at N] [--phases a,b] [--out DIR] [--inject-leak ELEMENT]");
                std::process::exit(2);
            }
        }
    }
    std::fs::create_dir_all(&out).expect("output folder");
    gst::init().expect("gst init");
    gstviolence::plugin_register_static().expect("register the plugin");
    let rss_at = rss_at.min(cycles);
    let mut failed = false;
    println!("phase cycles rss_at_{rss_at}_kib rss_end_kib growth_percent seconds rss_mib_every_{rss_at}");
    for phase in phases.split(',') {
        let t0 = Instant::now();
        let r = if phase == "create" {
            create_cycles(cycles, rss_at)
        } else {
            state_cycles(phase, &model, &out, cycles, rss_at)
        };
        match r {
            Ok((mark, end, trend)) => println!(
                "{phase} {cycles} {mark} {end} {:.2} {:.0} {}",
                100.0 * (end as f64 - mark as f64) / mark.max(1) as f64,
                t0.elapsed().as_secs_f64(),
                trend
                    .iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Err(e) => {
                eprintln!("FAILED: {e}");
                failed = true;
            }
        }
    }
    if !inject.is_empty() {
        let e = gst::ElementFactory::make(&inject).build().expect("element");
        std::mem::forget(e);
    }
    let _ = std::fs::remove_dir_all(&out);
    // Everything of ours is dropped: the leaks tracer reports what is still alive.
    unsafe { gst::deinit() };
    std::process::exit(i32::from(failed));
}
