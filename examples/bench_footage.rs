// SPDX-License-Identifier: MPL-2.0

//! Builds a benchmark file from real clips: every clip of LIST (one path a line) decoded in
//! turn, converted to I420, scaled to WIDTHxHEIGHT (stretched: no borders, so the whole
//! frame is camera content, as a camera's stream is), 30 fps by videorate, restamped back
//! to back as one stream and encoded once as H.264 4:2:0, fixed GOP of 60 frames, in MP4.
//!
//! Usage: bench-footage OUT.mp4 LIST [WIDTH=1280] [HEIGHT=720]
//!
//! Deterministic (fixed x264 settings and thread count, frames counted, not timed) and
//! cached: OUT.clips records the list and settings that made OUT; when they match, nothing
//! is done. The file is written to OUT.tmp and renamed when complete.

use gst::prelude::*;

const FPS: u64 = 30;
const GOP: u32 = 60;

/// Decodes one clip and hands each converted frame to `push`.
fn decode_clip(
    path: &str,
    caps: &str,
    push: &mut dyn FnMut(gst::Buffer) -> Result<(), String>,
) -> Result<u64, String> {
    let file = std::fs::canonicalize(path).map_err(|e| format!("{path}: {e}"))?;
    let uri = gst::glib::filename_to_uri(&file, None).map_err(|e| format!("{path}: {e}"))?;
    let pipeline = gst::parse::launch(&format!(
        "uridecodebin uri={uri} ! videoconvert ! videoscale add-borders=false ! videorate \
         ! {caps} ! appsink name=sink sync=false"
    ))
    .map_err(|e| format!("{path}: {e}"))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    let sink = pipeline
        .by_name("sink")
        .and_then(|s| s.downcast::<gst_app::AppSink>().ok())
        .ok_or("no appsink")?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("{path}: {e}"))?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let mut frames = 0;
    let result = loop {
        // A decoder error never reaches the appsink as EOS: look at the bus between pulls.
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = msg.view() {
                break Err(format!("{path}: {} ({:?})", e.error(), e.debug()));
            }
        }
        match sink.try_pull_sample(gst::ClockTime::from_mseconds(200)) {
            Some(sample) => {
                let buffer = sample.buffer_owned().ok_or("sample without buffer")?;
                push(buffer)?;
                frames += 1;
            }
            None if sink.is_eos() => break Ok(frames),
            None => (),
        }
    };
    pipeline
        .set_state(gst::State::Null)
        .map_err(|e| format!("{path}: {e}"))?;
    result
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: bench-footage OUT.mp4 LIST [WIDTH=1280] [HEIGHT=720]";
    let out = args.get(1).ok_or(usage)?;
    let list = args.get(2).ok_or(usage)?;
    let width: u32 = args.get(3).map_or(Ok(1280), |s| s.parse())?;
    let height: u32 = args.get(4).map_or(Ok(720), |s| s.parse())?;
    let clips: Vec<String> = std::fs::read_to_string(list)
        .map_err(|e| format!("{list}: {e}"))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if clips.is_empty() {
        return Err(format!("{list}: no clip").into());
    }
    let caps = format!(
        "video/x-raw,format=I420,width={width},height={height},framerate={FPS}/1,pixel-aspect-ratio=1/1"
    );
    // scenecut=0: a camera's GOP is fixed, clip boundaries must not add keyframes.
    // threads=4 whatever the machine: x264's output depends on its thread count.
    let encoder = format!(
        "x264enc speed-preset=veryfast key-int-max={GOP} threads=4 option-string=scenecut=0:min-keyint={GOP}"
    );
    let recipe = format!("{encoder}\n{caps}\n{}\n", clips.join("\n"));
    let stamp = format!("{out}.clips");
    if std::path::Path::new(out).is_file()
        && std::fs::read_to_string(&stamp).is_ok_and(|s| s == recipe)
    {
        println!("bench-footage: {out} is up to date ({} clips)", clips.len());
        return Ok(());
    }
    gst::init()?;
    let tmp = format!("{out}.tmp");
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time block=true caps=\"{caps}\" ! {encoder} \
         ! video/x-h264,profile=high ! h264parse ! mp4mux ! filesink location=\"{tmp}\""
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    let src = pipeline
        .by_name("src")
        .and_then(|s| s.downcast::<gst_app::AppSrc>().ok())
        .ok_or("no appsrc")?;
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let mut n: u64 = 0;
    let mut push = |buffer: gst::Buffer| -> Result<(), String> {
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = msg.view() {
                return Err(format!("encoder: {} ({:?})", e.error(), e.debug()));
            }
        }
        // One segment, frames counted: the clips play back to back at exactly 30 fps.
        let mut buffer = buffer.copy();
        let b = buffer.make_mut();
        b.set_pts(gst::ClockTime::SECOND.mul_div_floor(n, FPS));
        b.set_dts(gst::ClockTime::NONE);
        b.set_duration(
            gst::ClockTime::SECOND.mul_div_floor(n + 1, FPS).unwrap()
                - gst::ClockTime::SECOND.mul_div_floor(n, FPS).unwrap(),
        );
        b.unset_flags(gst::BufferFlags::DISCONT);
        n += 1;
        src.push_buffer(buffer)
            .map(|_| ())
            .map_err(|e| format!("encoder: {e}"))
    };
    for (i, clip) in clips.iter().enumerate() {
        decode_clip(clip, &caps, &mut push)?;
        if (i + 1) % 50 == 0 {
            eprintln!("bench-footage: {} of {} clips", i + 1, clips.len());
        }
    }
    src.end_of_stream()?;
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => return Err(format!("encoder: {}", e.error()).into()),
            _ => (),
        }
    }
    pipeline.set_state(gst::State::Null)?;
    std::fs::rename(&tmp, out)?;
    std::fs::write(&stamp, recipe)?;
    println!(
        "bench-footage: {out}: {} clips, {n} frames, {:.1} s at {width}x{height} {FPS} fps, H.264 4:2:0, GOP {GOP}",
        clips.len(),
        n as f64 / FPS as f64
    );
    Ok(())
}
