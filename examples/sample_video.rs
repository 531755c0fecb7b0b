// SPDX-License-Identifier: MPL-2.0

//! Writes the demo's sample video: a still, textured scene with a burst of violent-looking
//! motion (several bodies colliding erratically) in the middle, as H.264 in MP4.
//!
//! Usage: sample-video OUT.mp4 [SECONDS=12] [WIDTH=640] [HEIGHT=360]
//! Motion runs from 1/3 to 2/3 of the duration; the tool prints those times.

use gst::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = args
        .get(1)
        .ok_or("usage: sample-video OUT.mp4 [SECONDS] [WIDTH] [HEIGHT]")?;
    let seconds: u64 = args.get(2).map_or(Ok(12), |s| s.parse())?;
    let width: usize = args.get(3).map_or(Ok(640), |s| s.parse())?;
    let height: usize = args.get(4).map_or(Ok(360), |s| s.parse())?;
    const FPS: u64 = 30;
    gst::init()?;
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time ! videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=veryfast key-int-max=60 \
         ! h264parse ! mp4mux ! filesink location=\"{out}\""
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let info =
        gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, width as u32, height as u32)
            .fps(gst::Fraction::new(FPS as i32, 1))
            .build()?;
    src.set_caps(Some(&info.to_caps()?));
    pipeline.set_state(gst::State::Playing)?;

    let stride = info.stride()[0] as usize;
    // A fixed background: smooth gradients plus a deterministic texture.
    let mut background = vec![0u8; info.size()];
    let mut seed = 0x2545F4914F6CDD1Du64;
    for y in 0..height {
        for x in 0..width {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed % 24) as u8;
            let px = &mut background[y * stride + 3 * x..][..3];
            px[0] = 60 + (x * 80 / width) as u8 + noise;
            px[1] = 70 + (y * 60 / height) as u8 + noise;
            px[2] = 90 + noise;
        }
    }
    let frames = seconds * FPS;
    let (motion_start, motion_end) = (frames / 3, 2 * frames / 3);
    for i in 0..frames {
        let mut data = background.clone();
        if (motion_start..motion_end).contains(&i) {
            // Four "bodies" that lunge at each other with erratic, fast motion.
            for body in 0..4u64 {
                let t = i as f64 / FPS as f64;
                let phase = body as f64 * 1.7;
                let cx = width as f64
                    * (0.5 + 0.18 * (t * 7.0 + phase).sin() + 0.05 * (t * 23.0 + phase).cos());
                let cy = height as f64 * (0.55 + 0.15 * (t * 9.0 + phase * 2.0).cos());
                let (bw, bh) = (width / 8, height / 3);
                let colour =
                    [[250u8, 40, 30], [10, 10, 120], [255, 250, 90], [0, 200, 60]][body as usize];
                let x0 = (cx as usize).saturating_sub(bw / 2).min(width - bw);
                let y0 = (cy as usize).saturating_sub(bh / 2).min(height - bh);
                for y in y0..y0 + bh {
                    for x in x0..x0 + bw {
                        data[y * stride + 3 * x..][..3].copy_from_slice(&colour);
                    }
                }
            }
        }
        let mut buffer = gst::Buffer::from_mut_slice(data);
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::SECOND.mul_div_floor(i, FPS));
        b.set_duration(gst::ClockTime::SECOND.mul_div_floor(1, FPS));
        src.push_buffer(buffer)?;
    }
    src.end_of_stream()?;
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => return Err(format!("{}", e.error()).into()),
            _ => (),
        }
    }
    pipeline.set_state(gst::State::Null)?;
    println!(
        "sample video {out}: {seconds} s {width}x{height} at {FPS} fps, motion from {:.2} s to {:.2} s",
        motion_start as f64 / FPS as f64,
        motion_end as f64 / FPS as f64
    );
    Ok(())
}
