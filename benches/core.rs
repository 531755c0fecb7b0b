// SPDX-License-Identifier: MPL-2.0

//! make bench-core: the plugin's overhead over the model's own forwards, on a 720p30 H.264
//! file, all measured in this run:
//!   full       uridecodebin ! videoconvert ! clipbuffer ! violenceclassify mode=sync ! fakesink
//!              (and the same with a queue after the decoder)
//!   decode     uridecodebin ! videoconvert ! fakesink
//!   forwards   the bare tch forwards of the same clips (captured from the full run)
//! overhead = (full - decode - forwards) / forwards.
//!
//! Then, as a user sees it, for each served model (the default and the zoo's previous one):
//! frames/s of `uridecodebin ! queue ! videoconvert ! clipbuffer ! violenceclassify mode=sync
//! ! fakesink` against decode only (same queue) in this run, and against the Python/OpenCV
//! peer on the same model (frames/s measured by scripts/bench_core.sh just before).
//!
//! Usage: core VIDEO MODEL [RUNS=3] [SERVED_MODEL=PEER_FPS ...]

use gst::prelude::*;
use gstviolence::meta::{ClipInfo, ClipMeta};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Plays `launch` to EOS: its wall time and the buffers that reached `sink`, whose clip
/// metas go into `clips` when given.
fn run(launch: &str, clips: Option<Arc<Mutex<Vec<ClipInfo>>>>) -> (Duration, u64) {
    let pipeline = gst::parse::launch(launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    let sink = pipeline.by_name("sink").unwrap();
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            counter.fetch_add(1, Ordering::Relaxed);
            if let (Some(clips), Some(buffer)) = (&clips, info.buffer()) {
                if let Some(meta) = buffer.meta::<ClipMeta>() {
                    clips.lock().unwrap().push(meta.payload().clone());
                }
            }
            gst::PadProbeReturn::Ok
        });
    let started = Instant::now();
    pipeline.set_state(gst::State::Playing).unwrap();
    for msg in pipeline.bus().unwrap().iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}: {:?}", e.error(), e.debug()),
            _ => (),
        }
    }
    let elapsed = started.elapsed();
    pipeline.set_state(gst::State::Null).unwrap();
    (elapsed, count.load(Ordering::Relaxed))
}

/// The clip as the model input, built outside the timed region: [1,3,T,H,W] normalized.
fn input(clip: &ClipInfo) -> tch::Tensor {
    let (w, h) = (clip.rgb.width as usize, clip.rgb.height as usize);
    let mut bytes = Vec::with_capacity(clip.rgb.frames.len() * w * h * 3);
    for f in &clip.rgb.frames {
        let map = f.map_readable().unwrap();
        for y in 0..h {
            bytes.extend_from_slice(&map[y * clip.rgb.stride as usize..][..w * 3]);
        }
    }
    let t = clip.rgb.frames.len() as i64;
    let x = tch::Tensor::from_slice(&bytes)
        .view([1, t, h as i64, w as i64, 3])
        .permute([0, 4, 1, 2, 3]);
    ((x.to_kind(tch::Kind::Float) / 255.0 - 0.45) / 0.225).contiguous()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let (video, model) = (&args[1], &args[2]);
    let runs: usize = args.get(3).map_or(3, |r| r.parse().unwrap());
    // MODEL=PEER_FPS pairs: the models a user runs, each with its peer's frames/s.
    let served: Vec<(String, f64)> = args
        .iter()
        .skip(4)
        .map(|a| {
            let (m, fps) = a
                .rsplit_once('=')
                .expect("served models are given as MODEL=PEER_FPS");
            (m.to_string(), fps.parse().expect("peer frames/s"))
        })
        .collect();
    gst::init().unwrap();
    gstviolence::plugin_register_static().unwrap();
    // The bare forwards run with the plugin's own libtorch thread count (process-wide).
    gstviolence::model::threads::set_thread_count_once();
    let threads = tch::get_num_threads();
    let uri = gst::glib::filename_to_uri(std::fs::canonicalize(video).unwrap(), None).unwrap();
    // As in the issue: the decoder, clipbuffer and the waiting for each forward share one
    // streaming thread. With a queue after the decoder, decoding goes on during forwards.
    let line = |queue: &str, analysis: &str| {
        format!("uridecodebin uri={uri} ! {queue}videoconvert ! {analysis}fakesink name=sink")
    };
    let analysis = format!("clipbuffer ! violenceclassify mode=sync model-location={model} ! ");
    let full = line("", &analysis);
    let full_line = full.clone();
    let decode = line("", "");
    let full_queued = line("queue ! ", &analysis);
    let decode_queued_line = line("queue ! ", "");
    let (_, frames) = run(&decode_queued_line, None);

    let clips = Arc::new(Mutex::new(Vec::new()));
    // Warm-up (file cache, model load), capturing the clips once.
    run(&full, Some(clips.clone()));
    let clips = std::mem::take(&mut *clips.lock().unwrap());
    let inputs: Vec<tch::Tensor> = clips.iter().map(input).collect();
    let module = {
        let mut m = tch::CModule::load(model).unwrap();
        m.set_eval();
        m
    };
    let _guard = tch::no_grad_guard();
    let _ = module.forward_ts(&[&inputs[0]]).unwrap();

    let (mut t_full, mut t_decode, mut t_fwd) = (Vec::new(), Vec::new(), Vec::new());
    let (mut t_full_queued, mut t_decode_queued) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        t_decode.push(run(&decode, None).0.as_secs_f64());
        t_full.push(run(&full, None).0.as_secs_f64());
        t_decode_queued.push(run(&decode_queued_line, None).0.as_secs_f64());
        t_full_queued.push(run(&full_queued, None).0.as_secs_f64());
        let started = Instant::now();
        for x in &inputs {
            let _ = module.forward_ts(&[x]).unwrap();
        }
        t_fwd.push(started.elapsed().as_secs_f64());
    }
    let (full, decode, fwd) = (median(t_full), median(t_decode), median(t_fwd));
    let (full_queued, decode_queued) = (median(t_full_queued), median(t_decode_queued));
    // For reference: the same forwards on every core (VIOLENCE_TORCH_THREADS=N).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as i32);
    tch::set_num_threads(cores);
    let started = Instant::now();
    for x in &inputs {
        let _ = module.forward_ts(&[x]).unwrap();
    }
    let fwd_all_cores = started.elapsed().as_secs_f64();
    let overhead = (full - decode - fwd) / fwd;
    let overhead_queued = (full_queued - decode_queued - fwd) / fwd;
    println!(
        "bench-core: {video}, model {model}, {} clips, median of {runs} runs, libtorch on {threads} thread(s)",
        clips.len()
    );
    println!("full pipeline: {full_line}");
    println!("| measure | seconds |");
    println!("|---|---|");
    println!("| full pipeline | {full:.3} |");
    println!("| decode only | {decode:.3} |");
    println!("| bare tch forwards of the same clips | {fwd:.3} |");
    println!("| for reference: bare forwards on {cores} threads | {fwd_all_cores:.3} |");
    println!(
        "| plugin overhead (full - decode - forwards) / forwards | {:.1}% (goal <= 10%) |",
        overhead * 100.0
    );
    println!("| full pipeline with a queue after the decoder | {full_queued:.3} |");
    println!("| decode only, same queue | {decode_queued:.3} |");
    println!(
        "| plugin overhead with the queue (decoding overlaps the forwards) | {:.1}% |",
        overhead_queued * 100.0
    );

    if served.is_empty() {
        return;
    }
    // What the issue measures: frames/s of the whole pipeline with each served model,
    // against decode only (the same queued line) timed alternately in this run.
    tch::set_num_threads(threads);
    println!();
    println!(
        "frames/s on {video} ({frames} frames), median of {runs} runs, decode only timed between them:"
    );
    println!("| model | ours (queue, mode=sync) | decode only | ours / decode (goal >= 85 %) | Python peer, same model | ours / peer (goal >= 2x) |");
    println!("|---|---|---|---|---|---|");
    for (model, peer_fps) in &served {
        let ours_line = line(
            "queue ! ",
            &format!("clipbuffer ! violenceclassify mode=sync model-location={model} ! "),
        );
        run(&ours_line, None); // model load, first forwards
        let (mut t_ours, mut t_dec) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            t_dec.push(run(&decode_queued_line, None).0.as_secs_f64());
            t_ours.push(run(&ours_line, None).0.as_secs_f64());
        }
        let ours = frames as f64 / median(t_ours);
        let dec = frames as f64 / median(t_dec);
        println!(
            "| {model} | {ours:.1} | {dec:.1} | {:.0} % | {peer_fps:.1} | {:.2}x |",
            100.0 * ours / dec,
            ours / peer_fps
        );
    }
}
