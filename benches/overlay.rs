// SPDX-License-Identifier: MPL-2.0

//! make bench-overlay: ms per 1080p frame for bboxoverlay drawing 10 labelled boxes and the
//! banner, in each format, against textoverlay drawing the same 10 labels, in one run.
//! Each figure is (pipeline time − the same pipeline without the overlay) / frames, with
//! fresh, writable frames so no element pays for a copy.
//!
//! Usage: overlay [FRAMES=120]

use gstviolence::meta::{ViolenceInfo, ViolenceMeta, ViolenceState};
mod common;

const W: u32 = 1920;
const H: u32 = 1080;

fn frames(format: gst_video::VideoFormat, n: usize, with_meta: bool) -> Vec<gst::Buffer> {
    let info = gst_video::VideoInfo::builder(format, W, H)
        .fps(gst::Fraction::new(30, 1))
        .build()
        .unwrap();
    (0..n)
        .map(|i| {
            let mut b = gst::Buffer::from_mut_slice(vec![(i % 200) as u8 + 20; info.size()]);
            let r = b.get_mut().unwrap();
            r.set_pts(gst::ClockTime::from_mseconds(33 * i as u64));
            if with_meta {
                for k in 0..10u32 {
                    let mut m = gst_video::VideoRegionOfInterestMeta::add(
                        r,
                        "violence",
                        (60 + 180 * k, 200 + 60 * (k % 5), 160, 220),
                    );
                    m.add_param(
                        gst::Structure::builder("detection")
                            .field("confidence", 0.93f64 - k as f64 / 100.0)
                            .build(),
                    );
                }
                ViolenceMeta::add(
                    r,
                    ViolenceInfo {
                        score: Some(0.9),
                        state: ViolenceState::Violent,
                        threshold: 0.5,
                        ..Default::default()
                    },
                );
            }
            b
        })
        .collect()
}

fn run(format: gst_video::VideoFormat, middle: &str, buffers: Vec<gst::Buffer>) -> f64 {
    let caps = gst_video::VideoInfo::builder(format, W, H)
        .fps(gst::Fraction::new(30, 1))
        .build()
        .unwrap()
        .to_caps()
        .unwrap();
    common::run_appsrc(&caps, middle, buffers)
}

fn textoverlays() -> String {
    (0..10u32)
        .map(|k| {
            format!(
                "textoverlay text=\"violence 0.9{k}\" halignment=position valignment=position xpos={:.3} ypos={:.3} font-desc=\"Sans Bold 13\" ! ",
                (60 + 180 * k) as f64 / W as f64,
                (180 + 60 * (k % 5)) as f64 / H as f64
            )
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
    println!("bench-overlay: {W}x{H}, 10 labelled boxes + banner, {n} frames per run, ms per frame (median of 3)");
    println!("| format | bboxoverlay | textoverlay x10 (same labels) | ratio |");
    println!("|---|---|---|---|");
    let median = common::median;
    for format in [
        gst_video::VideoFormat::I420,
        gst_video::VideoFormat::Nv12,
        gst_video::VideoFormat::Rgba,
        gst_video::VideoFormat::Bgra,
        gst_video::VideoFormat::Rgbx,
        gst_video::VideoFormat::Bgrx,
        gst_video::VideoFormat::Rgb,
        gst_video::VideoFormat::Bgr,
    ] {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let base = run(format, "", frames(format, n, true));
            ours.push(
                (run(
                    format,
                    "bboxoverlay draw-graph=true !",
                    frames(format, n, true),
                ) - base)
                    * 1000.0
                    / n as f64,
            );
            // textoverlay supports these formats natively too (no conversion in front).
            theirs.push(
                (run(format, &textoverlays(), frames(format, n, false))
                    - run(format, "", frames(format, n, false)))
                    * 1000.0
                    / n as f64,
            );
        }
        let (o, t) = (median(ours), median(theirs));
        println!(
            "| {format:?} | {o:.3} | {t:.3} | {:.1}x cheaper |",
            t / o.max(1e-6)
        );
    }
}
