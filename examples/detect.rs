// SPDX-License-Identifier: MPL-2.0

//! The main job: runs
//!   uridecodebin ! videoconvert ! persondetect ! opticalflow ! clipbuffer ! violenceclassify ! tee
//!     tee. ! bboxoverlay ! compositor      (the full view, annotated: people, motion, score)
//!     tee. ! hardattentioncrop ! compositor (the zoomed view of the moving people, beside it)
//!   compositor ! videoconvert ! x264enc ! mp4mux ! filesink location=OUT/annotated.mp4
//! over a file or URL, writes every violence message to OUT/events.jsonl, the score of
//! every clip to OUT/scores.tsv and the annotated video (motion regions, score graph,
//! violence banner) to OUT/annotated.mp4, and prints a summary.
//!
//! Usage: detect INPUT MODEL OUT_DIR [extra violenceclassify properties...]
//!
//! The person detector is `models/people.pt` beside MODEL (its folder), or `PEOPLE_MODEL`.

use gst::prelude::*;
use gstviolence::event::{EventKind, ViolenceEvent};
use std::io::Write;

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: detect INPUT MODEL OUT_DIR [violenceclassify properties...]".into());
    }
    let (input, model, out_dir) = (&args[1], &args[2], std::path::Path::new(&args[3]));
    let extra = args[4..].join(" ");
    let uri = if input.contains("://") {
        input.clone()
    } else {
        gst::glib::filename_to_uri(std::fs::canonicalize(input)?, None)?.to_string()
    };
    std::fs::create_dir_all(out_dir)?;
    gst::init()?;
    gstviolence::plugin_register_static()?;

    let annotated = out_dir.join("annotated.mp4");
    let people = std::env::var("PEOPLE_MODEL").unwrap_or_else(|_| {
        std::path::Path::new(model)
            .with_file_name("people.pt")
            .display()
            .to_string()
    });
    // The zoomed view follows the moving people (the whole frame when nobody moves): the
    // default model does not localize; a hard-attention model's violence region would use
    // region-source=attention.
    let launch = format!(
        "uridecodebin uri=\"{uri}\" ! videoconvert ! persondetect model-location=\"{people}\" ! opticalflow \
         ! clipbuffer ! violenceclassify name=cls \
         model-location=\"{model}\" emit-scores=true {extra} ! tee name=t \
         t. ! queue ! bboxoverlay draw-graph=true ! comp.sink_0 \
         t. ! queue ! hardattentioncrop region-source=people margin=0.5 width=360 height=360 ! comp.sink_1 \
         compositor name=comp ! videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=veryfast ! mp4mux \
         ! filesink location=\"{}\"",
        annotated.display()
    );
    println!("pipeline: gst-launch-1.0 {launch}");
    let pipeline = gst::parse::launch(&launch)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    // The zoomed view goes right of the full one, whatever the input's width.
    let zoom_pad = pipeline
        .by_name("comp")
        .and_then(|c| c.static_pad("sink_1"))
        .ok_or("no compositor")?;
    let tee_sink = pipeline
        .by_name("t")
        .and_then(|t| t.static_pad("sink"))
        .ok_or("no tee")?;
    tee_sink.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if let Some(gst::PadProbeData::Event(e)) = &info.data {
            if let gst::EventView::Caps(c) = e.view() {
                if let Ok(width) = c
                    .caps()
                    .structure(0)
                    .map_or(Err(()), |s| s.get::<i32>("width").map_err(|_| ()))
                {
                    zoom_pad.set_property("xpos", width);
                }
            }
        }
        gst::PadProbeReturn::Ok
    });
    let started = std::time::Instant::now();
    pipeline.set_state(gst::State::Playing)?;
    let mut events_file = std::fs::File::create(out_dir.join("events.jsonl"))?;
    let mut scores_file = std::fs::File::create(out_dir.join("scores.tsv"))?;
    writeln!(scores_file, "clip_start_s\tclip_end_s\tp_violent")?;
    let mut events: Vec<ViolenceEvent> = Vec::new();
    let mut scores = 0usize;
    let mut peak = 0f32;
    let mut failure = None;
    for msg in pipeline.bus().unwrap().iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                let Some(ev) = e.structure().and_then(ViolenceEvent::from_structure) else {
                    continue;
                };
                match ev.kind {
                    EventKind::Score => {
                        scores += 1;
                        peak = peak.max(ev.score);
                        writeln!(
                            scores_file,
                            "{:.3}\t{:.3}\t{:.4}",
                            secs(ev.clip_start),
                            secs(ev.clip_end),
                            ev.score
                        )?;
                    }
                    EventKind::Start | EventKind::End => {
                        let json = serde_json::json!({
                            "kind": ev.kind.name(), "pts_s": secs(ev.pts), "running_time_s": secs(ev.running_time),
                            "score": ev.score, "clip_start_s": secs(ev.clip_start), "clip_end_s": secs(ev.clip_end),
                            "latency_s": secs(ev.latency), "reason": ev.reason, "stream_id": ev.stream_id,
                        });
                        writeln!(events_file, "{json}")?;
                        events.push(ev);
                    }
                }
            }
            gst::MessageView::Error(e) => {
                failure = Some(format!("{}: {}", e.error(), e.debug().unwrap_or_default()));
                break;
            }
            gst::MessageView::Eos(_) => break,
            _ => (),
        }
    }
    let cls = pipeline.by_name("cls").unwrap();
    let device: Option<String> = cls.property("device-used");
    pipeline.set_state(gst::State::Null)?;
    if let Some(f) = failure {
        return Err(f.into());
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("\n== summary ({input}) ==");
    println!(
        "model {model} on {}; {scores} clips scored in {elapsed:.1} s; peak p(violent) {peak:.3}",
        device.unwrap_or_default()
    );
    let mut open: Option<&ViolenceEvent> = None;
    let mut count = 0;
    for ev in &events {
        match ev.kind {
            EventKind::Start => open = Some(ev),
            EventKind::End => {
                count += 1;
                let start = open.take().map_or(f64::NAN, |s| secs(s.pts));
                println!(
                    "violence event {count}: {start:.2} s -> {:.2} s (ended: {}, detected {:.2} s after its start)",
                    secs(ev.pts),
                    ev.reason.as_deref().unwrap_or("?"),
                    events.iter().find(|e| e.kind == EventKind::Start && secs(e.pts) == start).map_or(0.0, |s| secs(s.latency))
                );
            }
            EventKind::Score => (),
        }
    }
    if count == 0 {
        println!("no violence event");
    }
    println!(
        "outputs: {0}/events.jsonl, {0}/scores.tsv, {0}/annotated.mp4",
        out_dir.display()
    );
    Ok(())
}
