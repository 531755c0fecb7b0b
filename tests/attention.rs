// SPDX-License-Identifier: MPL-2.0

//! The SSHA hard-attention loop in violenceclassify, with the suite's quadrant model: motion
//! in one known quadrant ends with that quadrant as the region after two steps.

mod common;
use common::*;
use gst::prelude::*;
use gstviolence::meta::{Region, ViolenceMeta};

const W: u32 = 128;
const H: u32 = 96;

/// Grey frames; from frame `from` on, a white block moves inside the quadrant at (qx, qy).
fn frame(i: u64, from: u64, quadrant: (u32, u32)) -> gst::Buffer {
    let stride = (3 * W as usize).div_ceil(4) * 4;
    let mut data = vec![90u8; stride * H as usize];
    if i >= from {
        let (qx, qy) = (quadrant.0 * W / 2, quadrant.1 * H / 2);
        let x0 = qx as usize + 6 + (i as usize * 7) % 30;
        let y0 = qy as usize + 6 + (i as usize * 5) % 18;
        for y in y0..y0 + 16 {
            for x in x0..x0 + 16 {
                data[y * stride + 3 * x..][..3].fill(250);
            }
        }
    }
    let mut b = gst::Buffer::from_mut_slice(data);
    b.get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_nseconds(i * FRAME_NS));
    b
}

fn caps() -> gst::Caps {
    init();
    gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, W, H)
        .fps(gst::Fraction::new(25, 1))
        .build()
        .unwrap()
        .to_caps()
        .unwrap()
}

fn run(quadrant: (u32, u32), frames: u64) -> Outcome {
    run_frames(
        &caps(),
        (0..frames).map(|i| frame(i, 12, quadrant)),
        &format!(
            "clipbuffer stride=4 ! violenceclassify mode=sync min-consecutive=1 emit-scores=true model-location={}",
            model("ssha.pt")
        ),
    )
}

#[test]
fn motion_in_one_quadrant_is_localized_in_two_steps() {
    for (quadrant, expected) in [
        (
            (1, 0),
            Region {
                x: 64,
                y: 0,
                width: 64,
                height: 48,
            },
        ),
        (
            (0, 1),
            Region {
                x: 0,
                y: 48,
                width: 64,
                height: 48,
            },
        ),
    ] {
        let out = run(quadrant, 40);
        assert_eq!(out.error, None);
        let scores = out.events("violence-score");
        // Still clips decide at step 0 on the whole frame; moving ones zoom once.
        assert!(scores
            .iter()
            .any(|s| s.steps == 1 && s.region.is_none() && s.score < 0.5));
        let moving: Vec<_> = scores
            .iter()
            .filter(|s| s.clip_start >= 12 * FRAME_NS)
            .collect();
        assert!(!moving.is_empty());
        for s in moving {
            assert_eq!(s.steps, 2, "{s:?}");
            assert_eq!(s.region, Some(expected));
            assert!(s.score > 0.9);
        }
        let start = out.events("violence-start");
        assert_eq!(start.len(), 1);
        assert_eq!(start[0].region, Some(expected));
        // Frames after the decision carry the region in ViolenceMeta and as a violence ROI.
        let last = out.buffers.last().unwrap();
        assert_eq!(
            last.meta::<ViolenceMeta>().unwrap().payload().region,
            Some(expected)
        );
        let roi = last
            .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
            .find(|m| m.roi_type() == "violence")
            .expect("a violence region");
        assert_eq!(
            roi.rect(),
            (expected.x, expected.y, expected.width, expected.height)
        );
        assert!(gstviolence::meta::region_confidence(&roi).unwrap() > 0.9);
    }
}

#[test]
fn attention_frames_respect_the_resolution_cap() {
    // The cap makes clipbuffer keep 64x48 attention frames of the 128x96 source; the
    // region is still reported in source pixels.
    init();
    let (pipeline, src) = appsrc_pipeline(&format!(
        "appsrc name=src format=time ! clipbuffer stride=4 attention-max-size=64 ! identity name=probe \
         ! violenceclassify mode=sync min-consecutive=1 model-location={} ! fakesink sync=false",
        model("ssha.pt")
    ), &caps());
    let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = sizes.clone();
    pipeline
        .by_name("probe")
        .unwrap()
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(meta) = info
                .buffer()
                .and_then(|b| b.meta::<gstviolence::meta::ClipMeta>())
            {
                let a = meta
                    .payload()
                    .attention
                    .as_ref()
                    .expect("hard-attention clips carry attention frames");
                log.lock().unwrap().push((a.width, a.height));
            }
            gst::PadProbeReturn::Ok
        });
    let out = run_pipeline(&pipeline, || {
        for i in 0..40 {
            src.push_buffer(frame(i, 12, (1, 1))).unwrap();
        }
        src.end_of_stream().unwrap();
    });
    assert_eq!(out.error, None);
    let sizes = sizes.lock().unwrap();
    assert!(
        !sizes.is_empty() && sizes.iter().all(|s| *s == (64, 48)),
        "{sizes:?}"
    );
    let start = out.events("violence-start");
    assert_eq!(
        start[0].region,
        Some(Region {
            x: 64,
            y: 48,
            width: 64,
            height: 48
        })
    );
}
