// SPDX-License-Identifier: MPL-2.0

//! make bench-crop: ms per 1080p frame for hardattentioncrop cropping a region to 640x480,
//! against `videocrop ! videoscale` doing the same crop, in one run. Each figure is
//! (pipeline time − the same pipeline with nothing in between) / frames.
//!
//! Usage: crop [FRAMES=120]

mod common;

const W: u32 = 1920;
const H: u32 = 1080;
/// The crop: 960x720 at (400, 200), scaled to 640x480 (same aspect, so both agree).
const CROP: (u32, u32, u32, u32) = (400, 200, 960, 720);

fn frames(format: gst_video::VideoFormat, n: usize) -> Vec<gst::Buffer> {
    let info = gst_video::VideoInfo::builder(format, W, H)
        .fps(gst::Fraction::new(30, 1))
        .build()
        .unwrap();
    (0..n)
        .map(|i| {
            let mut b = gst::Buffer::from_mut_slice(vec![(i * 7 % 200) as u8 + 20; info.size()]);
            b.get_mut()
                .unwrap()
                .set_pts(gst::ClockTime::from_mseconds(33 * i as u64));
            b
        })
        .collect()
}

fn main() {
    let n: usize = std::env::args()
        .filter(|a| a != "--bench")
        .nth(1)
        .map_or(120, |s| s.parse().unwrap());
    gst::init().unwrap();
    gstviolence::plugin_register_static().unwrap();
    let (x, y, w, h) = CROP;
    let ours = format!(
        "hardattentioncrop region-source=fixed region={x},{y},{w},{h} margin=0 smoothing=0 aspect=stretch width=640 height=480 !"
    );
    let theirs = format!(
        "videocrop left={x} top={y} right={} bottom={} ! videoscale ! video/x-raw,width=640,height=480 !",
        W - x - w,
        H - y - h
    );
    println!("bench-crop: {W}x{H} -> crop {w}x{h} at ({x},{y}) -> 640x480, {n} frames per run, ms per frame (median of 3)");
    println!("| format | hardattentioncrop | videocrop ! videoscale | ratio |");
    println!("|---|---|---|---|");
    for format in [
        gst_video::VideoFormat::I420,
        gst_video::VideoFormat::Nv12,
        gst_video::VideoFormat::Bgrx,
        gst_video::VideoFormat::Rgb,
    ] {
        let caps = gst_video::VideoInfo::builder(format, W, H)
            .fps(gst::Fraction::new(30, 1))
            .build()
            .unwrap()
            .to_caps()
            .unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let base = common::run_appsrc(&caps, "", frames(format, n));
            a.push(
                (common::run_appsrc(&caps, &ours, frames(format, n)) - base) * 1000.0 / n as f64,
            );
            b.push(
                (common::run_appsrc(&caps, &theirs, frames(format, n)) - base) * 1000.0 / n as f64,
            );
        }
        let (a, b) = (common::median(a), common::median(b));
        println!(
            "| {format:?} | {a:.3} | {b:.3} | {:.2}x (> 1: ours is cheaper) |",
            b / a.max(1e-6)
        );
    }
}
