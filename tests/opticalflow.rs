// SPDX-License-Identifier: MPL-2.0

//! opticalflow through real pipelines: known synthetic motion, restarts, the motion region
//! and messages, visualize, the flow input of a two-stream model, and accuracy on the
//! Middlebury pairs through the element (FlowMeta), against fixed average-EPE bounds per
//! preset, so that a change to the solver cannot make the flow quietly worse.

mod common;
use common::*;
use gst::prelude::*;
use gst_check::Harness;
use gstviolence::meta::{FlowMeta, ViolenceMeta};

/// A smooth deterministic texture, sampled at real coordinates.
fn texture(x: f32, y: f32) -> f32 {
    128.0
        + 45.0 * (0.21 * x + 0.13 * y).sin()
        + 35.0 * (0.07 * x - 0.19 * y).cos()
        + 20.0 * (0.33 * x * 0.5 + 0.29 * y).sin()
}

/// GRAY8 frame whose pixel (x, y) shows the texture at `map(x, y)`.
fn gray_frame(w: u32, h: u32, i: u64, map: impl Fn(f32, f32) -> (f32, f32)) -> gst::Buffer {
    let stride = (w as usize).div_ceil(4) * 4;
    let mut data = vec![0u8; stride * h as usize];
    for y in 0..h as usize {
        for x in 0..w as usize {
            let (sx, sy) = map(x as f32, y as f32);
            data[y * stride + x] = texture(sx, sy).clamp(0.0, 255.0) as u8;
        }
    }
    let mut b = gst::Buffer::from_mut_slice(data);
    b.get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_nseconds(i * FRAME_NS));
    b
}

fn gray_caps(w: u32, h: u32) -> gst::Caps {
    init();
    gst_video::VideoInfo::builder(gst_video::VideoFormat::Gray8, w, h)
        .fps(gst::Fraction::new(25, 1))
        .build()
        .unwrap()
        .to_caps()
        .unwrap()
}

/// Average endpoint error of the flow on the frame against `truth(x, y)`, ignoring a border.
fn epe(meta: &gstviolence::meta::FlowInfo, truth: impl Fn(f32, f32) -> (f32, f32)) -> f32 {
    let (w, h) = (meta.width as usize, meta.height as usize);
    let border = 6;
    let mut sum = 0.0;
    let mut n = 0;
    for y in border..h - border {
        for x in border..w - border {
            let (tu, tv) = truth(x as f32, y as f32);
            let (u, v) = (meta.u()[y * w + x], meta.v()[y * w + x]);
            sum += ((u - tu).powi(2) + (v - tv).powi(2)).sqrt();
            n += 1;
        }
    }
    sum / n as f32
}

fn flow_of(out: &gst::Buffer) -> gstviolence::meta::FlowInfo {
    out.meta::<FlowMeta>()
        .expect("every frame carries FlowMeta")
        .payload()
        .clone()
}

#[test]
fn known_motions_are_recovered() {
    let (w, h) = (160u32, 120u32);
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let angle = 2.0f32.to_radians();
    let zoom = 1.03f32;
    // Each case: frame i shows the texture moved by i steps; truth is the flow per frame.
    type Map = Box<dyn Fn(u64, f32, f32) -> (f32, f32)>;
    type Truth = Box<dyn Fn(f32, f32) -> (f32, f32)>;
    let cases: Vec<(&str, Map, Truth, f32)> = vec![
        (
            "translation",
            Box::new(|i, x, y| (x - 3.0 * i as f32, y + 2.0 * i as f32)),
            Box::new(|_, _| (3.0, -2.0)),
            0.1,
        ),
        (
            "sub-pixel",
            Box::new(|i, x, y| (x - 0.4 * i as f32, y - 0.7 * i as f32)),
            Box::new(|_, _| (0.4, 0.7)),
            0.1,
        ),
        (
            "rotation",
            Box::new(move |i, x, y| {
                let a = -angle * i as f32;
                let (dx, dy) = (x - cx, y - cy);
                (
                    cx + dx * a.cos() - dy * a.sin(),
                    cy + dx * a.sin() + dy * a.cos(),
                )
            }),
            Box::new(move |x, y| {
                let (dx, dy) = (x - cx, y - cy);
                (
                    dx * angle.cos() - dy * angle.sin() - dx,
                    dx * angle.sin() + dy * angle.cos() - dy,
                )
            }),
            0.25,
        ),
        (
            "zoom",
            Box::new(move |i, x, y| {
                let s = zoom.powi(-(i as i32));
                (cx + (x - cx) * s, cy + (y - cy) * s)
            }),
            Box::new(move |x, y| ((x - cx) * (zoom - 1.0), (y - cy) * (zoom - 1.0))),
            0.25,
        ),
    ];
    for (name, map, truth, bound) in cases {
        for preset in ["fast", "accurate"] {
            let mut hr =
                Harness::new_parse(&format!("opticalflow preset={preset} working-width=0"));
            hr.set_src_caps(gray_caps(w, h));
            let first = hr
                .push_and_pull(gray_frame(w, h, 0, |x, y| map(0, x, y)))
                .unwrap();
            assert!(!flow_of(&first).valid, "the first frame carries no flow");
            assert!(flow_of(&first).u().is_empty());
            let second = hr
                .push_and_pull(gray_frame(w, h, 1, |x, y| map(1, x, y)))
                .unwrap();
            let flow = flow_of(&second);
            assert!(flow.valid);
            let e = epe(&flow, &truth);
            eprintln!("{name} {preset}: EPE {e:.3}");
            // The fast preset stops at quarter resolution: twice the error budget.
            let bound = if preset == "fast" { 2.0 * bound } else { bound };
            assert!(e < bound, "{name} with {preset}: EPE {e:.3} >= {bound}");
        }
    }
}

#[test]
fn flush_and_caps_change_restart_the_flow() {
    let (w, h) = (64u32, 48u32);
    init();
    let mut hr = Harness::new_parse("opticalflow");
    hr.set_src_caps(gray_caps(w, h));
    let frame = |i| gray_frame(w, h, i, move |x, y| (x - i as f32, y));
    assert!(!flow_of(&hr.push_and_pull(frame(0)).unwrap()).valid);
    assert!(flow_of(&hr.push_and_pull(frame(1)).unwrap()).valid);
    hr.push_event(gst::event::FlushStart::new());
    hr.push_event(gst::event::FlushStop::new(true));
    hr.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    assert!(
        !flow_of(&hr.push_and_pull(frame(2)).unwrap()).valid,
        "after a flush"
    );
    assert!(flow_of(&hr.push_and_pull(frame(3)).unwrap()).valid);
    hr.set_src_caps(gray_caps(w, h + 2));
    let f = gray_frame(w, h + 2, 4, |x, y| (x, y));
    assert!(
        !flow_of(&hr.push_and_pull(f).unwrap()).valid,
        "after a caps change"
    );
}

#[test]
fn motion_region_messages_and_visualize() {
    // A block moving in the top-left quadrant of a still scene, then stillness.
    let video = Synthetic {
        width: 128,
        height: 96,
        frames: 40,
        motion: 0..20,
    };
    let block_frames = Synthetic {
        motion: 0..0,
        ..Synthetic {
            width: 128,
            height: 96,
            frames: 40,
            motion: 0..0,
        }
    };
    let _ = block_frames;
    let out = run_synthetic(&video, "opticalflow working-width=64 visualize=true");
    assert_eq!(out.error, None);
    let starts = out.named("motion-start");
    let stops = out.named("motion-stop");
    assert_eq!((starts.len(), stops.len()), (1, 1), "{:?}", out.messages);
    let start_pts: u64 = starts[0].get("pts").unwrap();
    let stop_pts: u64 = stops[0].get("pts").unwrap();
    assert!(
        start_pts <= 3 * FRAME_NS && stop_pts > 20 * FRAME_NS,
        "{start_pts} {stop_pts}"
    );
    // The synthetic block (32x32) moves inside x < 96+32, y < 72+32; its region is there.
    let mut regions = 0;
    for b in &out.buffers[2..18] {
        for roi in b.iter_meta::<gst_video::VideoRegionOfInterestMeta>() {
            assert_eq!(roi.roi_type(), "motion");
            let (x, y, rw, rh) = roi.rect();
            assert!(
                x + rw <= 128 && y + rh <= 96 && rw >= 8 && rh >= 8,
                "{:?}",
                roi.rect()
            );
            regions += 1;
        }
    }
    assert!(
        regions >= 14,
        "moving frames carry a motion region ({regions})"
    );
    // Visualize paints still areas white (the grey 96 background becomes 255).
    let still = out.buffers[30].map_readable().unwrap();
    assert_eq!(&still[..3], &[255, 255, 255]);
}

#[test]
fn two_stream_model_gets_flow_in_model_pixels() {
    // Texture moving 4 px/frame right at 128 px; flow at 64 px (2 px/frame); the model's
    // 32 px input sees 1 px/frame. The test model scores p = sigmoid(mean u).
    init();
    let (w, h) = (128u32, 96u32);
    let (pipeline, src) = appsrc_pipeline(&format!(
        "appsrc name=src format=time ! opticalflow preset=accurate working-width=64 ! clipbuffer stride=4 \
         ! violenceclassify mode=sync emit-scores=true model-location={} ! fakesink",
        model("flow-mean.pt")
    ), &gray_caps(w, h));
    let out = run_pipeline(&pipeline, || {
        for i in 0..40u64 {
            src.push_buffer(gray_frame(w, h, i, |x, y| (x - 4.0 * i as f32, y)))
                .unwrap();
        }
        src.end_of_stream().unwrap();
    });
    assert_eq!(out.error, None);
    let scores = out.events("violence-score");
    assert!(scores.len() >= 6);
    // From the second clip on, every frame of the clip has flow (the first frame has none).
    for s in &scores[1..] {
        let mean_u = (s.score / (1.0 - s.score)).ln();
        assert!(
            (mean_u - 1.0).abs() < 0.15,
            "mean u {mean_u} model px/frame, expected 1.0"
        );
    }
    let _ = ViolenceMeta::ensure_registered;
}

#[test]
fn flow_input_without_opticalflow_is_an_error() {
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 20,
        motion: 0..20,
    };
    let out = run_synthetic(
        &video,
        &format!(
            "clipbuffer ! violenceclassify model-location={}",
            model("flow-mean.pt")
        ),
    );
    let e = out.error.expect("an error");
    assert!(
        e.contains("no FlowMeta") && e.contains("opticalflow"),
        "{e}"
    );
}

/// Reads a Middlebury .flo file.
fn read_flo(path: &std::path::Path) -> (usize, usize, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let f = |i: usize| f32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    let int = |i: usize| i32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    assert_eq!(f(0), 202021.25);
    let (w, h) = (int(4), int(8));
    (w, h, (0..2 * w * h).map(|k| f(12 + 4 * k)).collect())
}

/// Flow of frame10 -> frame11 through `pngdec ! opticalflow`, bilinearly upscaled to full
/// size when computed smaller.
fn element_flow(
    scene: &std::path::Path,
    props: &str,
    full: (usize, usize),
) -> (Vec<f32>, Vec<f32>) {
    init();
    let pipeline = gst::parse::launch(&format!(
        "multifilesrc location={}/frame%02d.png index=10 stop-index=11 caps=image/png,framerate=25/1 \
         ! pngdec ! videoconvert ! video/x-raw,format=RGB ! opticalflow {props} ! appsink name=sink sync=false",
        scene.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut flows = Vec::new();
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(60)) {
        flows.push(flow_of(&sample.buffer_owned().unwrap()));
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(flows.len(), 2);
    let flow = &flows[1];
    assert!(flow.valid);
    let (w, h) = (flow.width as usize, flow.height as usize);
    let mut up = vec![0f32; 2 * full.0 * full.1];
    gstviolence::opticalflow::motion::resample_flow(
        flow.u(),
        flow.v(),
        w,
        h,
        full.0,
        full.1,
        &mut up,
    );
    let (u, v) = up.split_at(full.0 * full.1);
    (u.to_vec(), v.to_vec())
}

#[test]
fn middlebury_accuracy_through_the_element() {
    let data = shared_data("the Middlebury pairs of ../shared/data/middlebury");
    let scenes = [
        "Dimetrodon",
        "Grove2",
        "Grove3",
        "Hydrangea",
        "RubberWhale",
        "Urban2",
        "Urban3",
        "Venus",
    ];
    let mut table = Vec::new();
    for (preset, props) in [
        ("accurate full", "preset=accurate working-width=0"),
        ("fast full", "preset=fast working-width=0"),
        ("accurate 320", "preset=accurate working-width=320"),
    ] {
        let mut total = 0.0;
        for scene in scenes {
            let dir = data.join("middlebury").join(scene);
            let (w, h, truth) = read_flo(&dir.join("flow10.flo"));
            let (u, v) = element_flow(&dir, props, (w, h));
            let (mut sum, mut n) = (0f64, 0usize);
            for i in 0..w * h {
                let (tu, tv) = (truth[2 * i], truth[2 * i + 1]);
                if tu.abs() > 1e9 || tv.abs() > 1e9 {
                    continue;
                }
                sum += (((u[i] - tu).powi(2) + (v[i] - tv).powi(2)) as f64).sqrt();
                n += 1;
            }
            total += sum / n as f64;
        }
        table.push((preset, total / scenes.len() as f64));
    }
    eprintln!("Middlebury average EPE through the element: {table:?}");
    assert!(
        table[0].1 <= 0.55,
        "accurate full size {:.3} > 0.55",
        table[0].1
    );
    assert!(
        table[1].1 <= 0.75,
        "fast full size {:.3} > 0.75",
        table[1].1
    );
    assert!(
        table[2].1 <= 0.706,
        "accurate at 320 px {:.3} > OpenCV DIS medium 0.706",
        table[2].1
    );
}
