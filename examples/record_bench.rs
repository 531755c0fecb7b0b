// SPDX-License-Identifier: MPL-2.0

//! `make bench-record`: resident memory of a process that runs violencerecord over a long
//! 720p H.264 stream (faster than real time), with or without violence events.
//!
//!   record-bench [--events] [--minutes N] [--out DIR]
//!
//! With --events, a 20 s event starts every minute (in-band events injected after
//! h264parse). Prints VmRSS every 30 s of stream time and the spread after the first minute.

use gst::prelude::*;
use gstviolence::event::{EventKind, ViolenceEvent};
use gstviolence_tools::rss::rss_kib;
use std::sync::{Arc, Mutex};

const SECOND: u64 = 1_000_000_000;

fn event(kind: EventKind, t: u64) -> gst::Event {
    let e = ViolenceEvent {
        kind,
        pts: t,
        running_time: t,
        score: 0.9,
        clip_start: t,
        clip_end: t,
        region: None,
        stream_id: "bench".into(),
        latency: SECOND,
        steps: 1,
        reason: None,
        scene_cut: false,
    };
    gst::event::CustomDownstream::new(e.to_structure())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let events = args.iter().any(|a| a == "--events");
    let minutes: u64 = args
        .iter()
        .position(|a| a == "--minutes")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "target/bench-record".into());
    std::fs::create_dir_all(&out)?;
    gst::init()?;
    gstviolence::plugin_register_static()?;
    let frames = minutes * 60 * 25;
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers={frames} pattern=ball ! \
         video/x-raw,format=I420,width=1280,height=720,framerate=25/1 ! \
         x264enc speed-preset=ultrafast tune=zerolatency key-int-max=50 ! h264parse name=p ! \
         violencerecord location={out}/bench-%05d.mp4 max-files=3"
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    let samples = Arc::new(Mutex::new(Vec::<(u64, u64)>::new()));
    let s = samples.clone();
    let next_sample = Mutex::new(0u64);
    let pad = pipeline
        .by_name("p")
        .and_then(|p| p.static_pad("src"))
        .ok_or("no h264parse")?;
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        // Running time: encoders shift PTS by 1000 hours and compensate in the segment.
        let segment = pad
            .sticky_event::<gst::event::Segment>(0)
            .and_then(|e| e.segment().downcast_ref::<gst::ClockTime>().cloned());
        let Some(pts) = info
            .buffer()
            .and_then(|b| b.pts())
            .and_then(|t| segment?.to_running_time(t))
            .map(|t| t.nseconds())
        else {
            return gst::PadProbeReturn::Ok;
        };
        if events {
            // A 20 s event every minute, decided a second after it began.
            let in_minute = pts % (60 * SECOND);
            let minute = pts - in_minute;
            if in_minute == 11 * SECOND {
                let _ = pad.push_event(event(EventKind::Start, minute + 10 * SECOND));
            }
            if in_minute == 31 * SECOND {
                let _ = pad.push_event(event(EventKind::End, minute + 30 * SECOND));
            }
        }
        let mut next = next_sample.lock().unwrap();
        if pts >= *next {
            s.lock().unwrap().push((pts / SECOND, rss_kib()));
            *next += 30 * SECOND;
        }
        gst::PadProbeReturn::Ok
    });
    let t0 = std::time::Instant::now();
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let mut files = 0;
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                pipeline.set_state(gst::State::Null)?;
                return Err(format!("{} ({:?})", e.error(), e.debug()).into());
            }
            gst::MessageView::Element(e)
                if e.structure().is_some_and(|s| {
                    s.name() == "violence-recording"
                        && s.get::<String>("action").is_ok_and(|a| a == "closed")
                }) =>
            {
                files += 1;
            }
            _ => (),
        }
    }
    pipeline.set_state(gst::State::Null)?;
    let samples = samples.lock().unwrap().clone();
    println!(
        "{} min of 720p25 in {:.1} s, events: {}, files closed: {files}",
        minutes,
        t0.elapsed().as_secs_f64(),
        if events { "yes" } else { "no" }
    );
    for (t, rss) in &samples {
        println!("  t={t:>4} s  VmRSS {:>7} KiB", rss);
    }
    let steady: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= 60)
        .map(|(_, r)| *r)
        .collect();
    if let (Some(min), Some(max)) = (steady.iter().min(), steady.iter().max()) {
        println!(
            "  after the first minute: min {min} KiB, max {max} KiB, spread {} KiB",
            max - min
        );
    }
    Ok(())
}
