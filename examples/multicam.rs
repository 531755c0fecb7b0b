// SPDX-License-Identifier: MPL-2.0

//! N cameras in one process: each input (an RTSP URL, or an MP4 file played in real time as
//! a stand-in for a camera) is recorded out-of-band from its own H.264 without re-encoding,
//! while a decoded branch behind a leaky queue feeds its own violenceclassify. The
//! classifiers share one pool of model workers (`inference-workers`, one per core unless
//! `--workers` says otherwise); each worker batches its cameras' clips into common forwards.
//!
//! Usage: multicam OUT_DIR MODEL INPUT... [--seconds N] [--workers N]
//! Prints each camera's statistics every few seconds and the recordings at the end.

use gst::prelude::*;
use std::time::{Duration, Instant};

fn camera(i: usize, input: &str, model: &str, out: &str, workers: usize) -> String {
    let source = if input.starts_with("rtsp://") {
        format!("rtspsrc location={input} latency=200 ! rtph264depay")
    } else {
        // A file stands in for a camera: paced to the clock like a live source, so that the
        // leaky queue only drops when analysis falls behind, as with a real camera.
        format!("filesrc location=\"{input}\" ! qtdemux ! h264parse ! identity sync=true")
    };
    format!(
        "{source} ! h264parse ! tee name=t{i} \
         t{i}. ! queue ! violencerecord source=cls{i} location=\"{out}/cam{i}-%05d.mp4\" event-log=\"{out}/cam{i}.jsonl\" \
         t{i}. ! queue leaky=downstream max-size-buffers=30 ! avdec_h264 ! videoconvert ! clipbuffer \
         ! violenceclassify name=cls{i} mode=async batch-size=8 inference-workers={workers} \
           model-location=\"{model}\" ! fakesink sync=true"
    )
}

/// Takes `name N` out of `args`, if it is there.
fn take_number(
    args: &mut Vec<String>,
    name: &str,
) -> Result<Option<u64>, Box<dyn std::error::Error>> {
    let Some(p) = args.iter().position(|a| a == name) else {
        return Ok(None);
    };
    let n = args.get(p + 1).ok_or(format!("{name} N"))?.parse()?;
    args.drain(p..p + 2);
    Ok(Some(n))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let seconds = take_number(&mut args, "--seconds")?;
    let workers = match take_number(&mut args, "--workers")? {
        Some(n) => n as usize,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    if args.len() < 3 {
        return Err("usage: multicam OUT_DIR MODEL INPUT... [--seconds N] [--workers N]".into());
    }
    let (out, model, inputs) = (&args[0], &args[1], &args[2..]);
    std::fs::create_dir_all(out)?;
    gst::init()?;
    gstviolence::plugin_register_static()?;
    let launch: Vec<String> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| camera(i, input, model, out, workers))
        .collect();
    let pipeline = gst::parse::launch(&launch.join(" "))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    pipeline.set_state(gst::State::Playing)?;
    let started = Instant::now();
    let mut last_report = Instant::now();
    let bus = pipeline.bus().unwrap();
    let mut recordings = Vec::new();
    loop {
        if seconds.is_some_and(|s| started.elapsed() >= Duration::from_secs(s)) {
            pipeline.send_event(gst::event::Eos::new());
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(200)) else {
            if last_report.elapsed() >= Duration::from_secs(5) {
                last_report = Instant::now();
                for i in 0..inputs.len() {
                    let cls = pipeline.by_name(&format!("cls{i}")).unwrap();
                    println!(
                        "cam{i}: {} clips scored, {} dropped, queue {}, latency {:.2} s",
                        cls.property::<u64>("clips-scored"),
                        cls.property::<u64>("clips-dropped"),
                        cls.property::<u32>("queue-length"),
                        cls.property::<u64>("latency") as f64 / 1e9
                    );
                }
            }
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                return Err(format!("{}: {:?}", e.error(), e.debug()).into())
            }
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure() {
                    match s.name().as_str() {
                        "violence-start" | "violence-end" => {
                            let src = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
                            println!(
                                "{src}: {} at {:.2} s",
                                s.name(),
                                s.get::<u64>("pts").unwrap_or(0) as f64 / 1e9
                            );
                        }
                        "violence-recording" if s.get::<&str>("action").ok() == Some("closed") => {
                            recordings.push(s.to_string());
                        }
                        _ => (),
                    }
                }
            }
            _ => (),
        }
    }
    pipeline.set_state(gst::State::Null)?;
    println!("{} recording(s) closed:", recordings.len());
    for r in recordings {
        println!("  {r}");
    }
    Ok(())
}
