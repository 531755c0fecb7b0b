// SPDX-License-Identifier: MPL-2.0

//! Synthetic soak (`make soak`): a live pipeline with every element of the plugin
//! runs for SOAK_SECONDS, with an event every `--period` seconds (the test source switches
//! between a moving ball and a still pattern), sampling the resident set size every minute.
//!
//!   videotestsrc is-live=true ! videoconvert ! opticalflow ! clipbuffer ! violenceclassify
//!     ! tee  t. ! queue ! hardattentioncrop ! fakesink
//!            t. ! queue ! bboxoverlay ! videoconvert ! x264enc ! h264parse ! violencerecord
//!
//! Passes when the RSS at the end is within `--tolerance` percent (5) of the RSS after the
//! warm-up (2 minutes, or 10% of a shorter run), the pipeline posted no error, and events
//! were detected and recorded.
//!
//! Usage: soak --model MODEL.pt [--seconds 3600] [--period 20] [--tolerance 5] [--out DIR]

use gst::prelude::*;
use gstviolence_tools::rss::rss_kib;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut model, mut seconds, mut period, mut tolerance) = (String::new(), 3600u64, 20u64, 5.0);
    let mut out = "target/soak".to_string();
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--model" => model = v,
            "--seconds" => seconds = v.parse().expect("--seconds N"),
            "--period" => period = v.parse().expect("--period N"),
            "--tolerance" => tolerance = v.parse().expect("--tolerance PERCENT"),
            "--out" => out = v,
            _ => {
                eprintln!(
                    "usage: soak --model M [--seconds N] [--period S] [--tolerance P] [--out DIR]"
                );
                std::process::exit(2);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("output folder");
    gst::init().expect("gst init");
    gstviolence::plugin_register_static().expect("register the plugin");
    let launch = format!(
        "videotestsrc is-live=true pattern=ball name=src \
         ! video/x-raw,width=320,height=240,framerate=15/1 ! videoconvert ! opticalflow \
         ! clipbuffer ! violenceclassify name=cls model-location=\"{model}\" \
         ! tee name=t \
         t. ! queue leaky=downstream ! hardattentioncrop region-source=motion width=96 height=96 \
            ! fakesink sync=false \
         t. ! queue ! bboxoverlay ! videoconvert ! x264enc speed-preset=ultrafast tune=zerolatency \
            key-int-max=30 ! h264parse ! violencerecord location=\"{out}/ev-%05d.mp4\" max-files=5 \
            pre-roll=2000000000 post-roll=2000000000 event-log=\"{out}/events.jsonl\""
    );
    println!("pipeline: gst-launch-1.0 {launch}");
    let pipeline = gst::parse::launch(&launch)
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let src = pipeline.by_name("src").expect("src");
    pipeline.set_state(gst::State::Playing).expect("PLAYING");
    let bus = pipeline.bus().unwrap();
    let warmup = (seconds / 10).min(120);
    let t0 = Instant::now();
    let (mut starts, mut closed, mut error) = (0u64, 0u64, None::<String>);
    let (mut rss_warm, mut next_sample, mut moving) = (0u64, 60u64, true);
    println!("minute rss_mib events files_closed");
    while t0.elapsed() < Duration::from_secs(seconds) {
        let el = t0.elapsed().as_secs();
        // Still for half of each period, moving for the other half.
        let want_moving = (el / (period / 2).max(1)).is_multiple_of(2);
        if want_moving != moving {
            moving = want_moving;
            src.set_property_from_str("pattern", if moving { "ball" } else { "black" });
        }
        if rss_warm == 0 && el >= warmup {
            rss_warm = rss_kib();
            println!("warm-up ({warmup} s): rss {} MiB", rss_warm / 1024);
        }
        if el >= next_sample {
            println!("{} {} {starts} {closed}", el / 60, rss_kib() / 1024);
            next_sample += 60;
        }
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(200)) {
            match msg.view() {
                gst::MessageView::Error(e) => {
                    error = Some(format!("{} ({:?})", e.error(), e.debug()));
                    break;
                }
                gst::MessageView::Element(e) => match e.structure().map(|s| s.name().as_str()) {
                    Some("violence-start") => starts += 1,
                    Some("violence-recording") => {
                        let s = e.structure().unwrap();
                        if s.get::<String>("action").ok().as_deref() == Some("closed") {
                            closed += 1;
                        }
                    }
                    _ => (),
                },
                _ => (),
            }
        }
    }
    let rss_end = rss_kib();
    pipeline.set_state(gst::State::Null).expect("NULL");
    let growth = 100.0 * (rss_end as f64 - rss_warm as f64) / rss_warm.max(1) as f64;
    println!(
        "soak {seconds} s: rss after warm-up {} MiB, at the end {} MiB ({growth:+.2}%, \
         tolerance {tolerance}%), {starts} events, {closed} files closed, error: {}",
        rss_warm / 1024,
        rss_end / 1024,
        error.as_deref().unwrap_or("none")
    );
    let ok = error.is_none() && growth.abs() <= tolerance && starts > 0 && closed > 0;
    println!("{}", if ok { "soak passed" } else { "SOAK FAILED" });
    std::process::exit(i32::from(!ok));
}
