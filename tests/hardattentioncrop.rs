// SPDX-License-Identifier: MPL-2.0

//! hardattentioncrop through gst_check::Harness: each region source, smoothing, aspect
//! policies, metas in crop coordinates, caps renegotiation, regions outside the frame, the
//! upstream attention-region event, and YUV formats.

mod common;
use common::*;
use gst_check::Harness;
use gst_video::prelude::*;
use gstviolence::meta::{add_region_meta, Region, ViolenceInfo, ViolenceMeta};

/// RGB frame whose pixel (x, y) is (x, y, 7): positions can be read back from the output.
fn coded(w: u32, h: u32) -> gst::Buffer {
    let mut b = coded_rgb(w, h);
    b.get_mut().unwrap().set_pts(gst::ClockTime::ZERO);
    b
}

fn rgb_caps(w: u32, h: u32) -> gst::Caps {
    init();
    gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, w, h)
        .fps(gst::Fraction::new(25, 1))
        .build()
        .unwrap()
        .to_caps()
        .unwrap()
}

fn harness(props: &str, w: u32, h: u32) -> Harness {
    init();
    let mut hr = Harness::new_parse(&format!("hardattentioncrop {props}"));
    hr.set_src_caps(rgb_caps(w, h));
    hr
}

fn px(out: &gst::Buffer, x: usize, y: usize) -> [u8; 3] {
    let map = out.map_readable().unwrap();
    // The test outputs are 80 pixels wide: stride 240.
    [
        map[y * 240 + 3 * x],
        map[y * 240 + 3 * x + 1],
        map[y * 240 + 3 * x + 2],
    ]
}

fn with_roi(mut b: gst::Buffer, kind: &str, r: (u32, u32, u32, u32)) -> gst::Buffer {
    add_region_meta(
        b.get_mut().unwrap(),
        kind,
        Region {
            x: r.0,
            y: r.1,
            width: r.2,
            height: r.3,
        },
        0.9,
    );
    b
}

#[test]
fn fixed_region_is_cropped_at_source_resolution() {
    let mut hr = harness("region-source=fixed region=40,30,80,60 width=80 height=60 margin=0 min-size=1 smoothing=0 aspect=stretch", 160, 120);
    let out = hr.push_and_pull(coded(160, 120)).unwrap();
    assert_eq!(out.size(), 80 * 60 * 3);
    assert_eq!(px(&out, 0, 0), [40, 30, 7]);
    assert_eq!(px(&out, 79, 59), [119, 89, 7]);
}

#[test]
fn attention_and_motion_sources_follow_their_regions() {
    for (source, kind) in [("attention", "violence"), ("motion", "motion")] {
        let mut hr = harness(
            &format!("region-source={source} width=80 height=60 margin=0 min-size=1 smoothing=0"),
            160,
            120,
        );
        let out = hr
            .push_and_pull(with_roi(coded(160, 120), kind, (20, 10, 80, 60)))
            .unwrap();
        assert_eq!(px(&out, 0, 0), [20, 10, 7], "{source}");
        // The other kind of region is ignored: full frame, scaled by 2.
        let other = if kind == "violence" {
            "motion"
        } else {
            "violence"
        };
        let out = hr
            .push_and_pull(with_roi(coded(160, 120), other, (20, 10, 80, 60)))
            .unwrap();
        assert_eq!(px(&out, 0, 0)[2], 7);
        assert!(
            px(&out, 79, 59)[0] >= 150,
            "{source}: full frame without its region"
        );
    }
    // The attention source also reads the region of ViolenceMeta.
    let mut hr = harness(
        "width=80 height=60 margin=0 min-size=1 smoothing=0",
        160,
        120,
    );
    let mut b = coded(160, 120);
    ViolenceMeta::add(
        b.get_mut().unwrap(),
        ViolenceInfo {
            region: Some(Region {
                x: 60,
                y: 40,
                width: 80,
                height: 60,
            }),
            ..Default::default()
        },
    );
    assert_eq!(px(&hr.push_and_pull(b).unwrap(), 0, 0), [60, 40, 7]);
}

#[test]
fn smoothing_moves_the_crop_part_of_the_way() {
    let mut hr = harness(
        "width=80 height=60 margin=0 min-size=1 smoothing=0.5 aspect=stretch",
        160,
        120,
    );
    hr.push_and_pull(with_roi(coded(160, 120), "violence", (0, 0, 80, 60)))
        .unwrap();
    let out = hr
        .push_and_pull(with_roi(coded(160, 120), "violence", (80, 60, 80, 60)))
        .unwrap();
    assert_eq!(px(&out, 0, 0), [40, 30, 7], "half way with smoothing 0.5");
    let out = hr
        .push_and_pull(with_roi(coded(160, 120), "violence", (80, 60, 80, 60)))
        .unwrap();
    assert_eq!(px(&out, 0, 0), [60, 45, 7]);
}

#[test]
fn aspect_policies() {
    // An 80x30 region into an 80x60 output.
    let region = (40, 45, 80, 30);
    let mut pad = harness(
        "width=80 height=60 margin=0 min-size=1 smoothing=0 aspect=pad",
        160,
        120,
    );
    let out = pad
        .push_and_pull(with_roi(coded(160, 120), "violence", region))
        .unwrap();
    assert_eq!(px(&out, 10, 5), [0, 0, 0], "black bar");
    assert_eq!(px(&out, 0, 15), [40, 45, 7], "content starts below the bar");
    let mut stretch = harness(
        "width=80 height=60 margin=0 min-size=1 smoothing=0 aspect=stretch",
        160,
        120,
    );
    let out = stretch
        .push_and_pull(with_roi(coded(160, 120), "violence", region))
        .unwrap();
    assert_eq!(px(&out, 0, 0), [40, 45, 7]);
    assert!(px(&out, 0, 59)[1] >= 73);
    let mut expand = harness(
        "width=80 height=60 margin=0 min-size=1 smoothing=0 aspect=expand",
        160,
        120,
    );
    let out = expand
        .push_and_pull(with_roi(coded(160, 120), "violence", region))
        .unwrap();
    // Grown to 80x60 around the region's centre (80, 60): starts at (40, 30), 1:1.
    assert_eq!(px(&out, 0, 0), [40, 30, 7]);
    assert_eq!(px(&out, 79, 59), [119, 89, 7]);
}

#[test]
fn metas_move_into_crop_coordinates() {
    let mut hr = harness("region-source=fixed region=40,30,80,60 width=80 height=60 margin=0 min-size=1 smoothing=0 aspect=stretch", 160, 120);
    let b = with_roi(coded(160, 120), "motion", (50, 40, 20, 10));
    let b = with_roi(b, "person", (0, 0, 10, 10)); // outside the crop: dropped
    let out = hr.push_and_pull(b).unwrap();
    let rois: Vec<_> = out
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .map(|m| (m.roi_type().to_string(), m.rect()))
        .collect();
    assert_eq!(rois, vec![("motion".to_string(), (10, 10, 20, 10))]);
}

#[test]
fn renegotiation_and_regions_outside_the_frame() {
    let mut hr = harness(
        "width=80 height=60 margin=0 min-size=1 smoothing=0",
        160,
        120,
    );
    // Partly outside: shifted inside the frame.
    let out = hr
        .push_and_pull(with_roi(coded(160, 120), "violence", (150, 110, 80, 60)))
        .unwrap();
    assert_eq!(px(&out, 0, 0), [80, 60, 7]);
    // Wholly outside: still a valid crop at the frame's corner.
    let out = hr
        .push_and_pull(with_roi(coded(160, 120), "violence", (5000, 5000, 80, 60)))
        .unwrap();
    assert_eq!(px(&out, 0, 0), [80, 60, 7]);
    // New input size mid-stream.
    hr.set_src_caps(rgb_caps(200, 100));
    let out = hr
        .push_and_pull(with_roi(coded(200, 100), "violence", (100, 20, 80, 60)))
        .unwrap();
    assert_eq!(out.size(), 80 * 60 * 3);
    assert_eq!(px(&out, 0, 0), [100, 20, 7]);
}

#[test]
fn output_size_defaults_to_the_input_size() {
    let mut hr = harness(
        "region-source=fixed region=0,0,40,30 margin=0 min-size=1 smoothing=0 aspect=stretch",
        80,
        60,
    );
    let out = hr.push_and_pull(coded(80, 60)).unwrap();
    assert_eq!(out.size(), 80 * 60 * 3);
    assert_eq!(px(&out, 0, 0), [0, 0, 7]);
    assert_eq!(px(&out, 2, 2), [1, 1, 7], "2x zoom");
}

#[test]
fn upstream_event_steers_the_crop() {
    let mut hr = harness(
        "width=80 height=60 margin=0 min-size=1 smoothing=0",
        160,
        120,
    );
    hr.push_and_pull(coded(160, 120)).unwrap();
    let steer = gst::event::CustomUpstream::new(
        gst::Structure::builder("attention-region")
            .field("x", 30u32)
            .field("y", 20u32)
            .field("width", 80u32)
            .field("height", 60u32)
            .build(),
    );
    assert!(hr.push_upstream_event(steer));
    assert_eq!(
        px(&hr.push_and_pull(coded(160, 120)).unwrap(), 0, 0),
        [30, 20, 7]
    );
    let clear = gst::event::CustomUpstream::new(
        gst::Structure::builder("attention-region")
            .field("clear", true)
            .build(),
    );
    assert!(hr.push_upstream_event(clear));
    assert!(
        px(&hr.push_and_pull(coded(160, 120)).unwrap(), 79, 59)[0] >= 150,
        "back to the full frame"
    );
}

#[test]
fn yuv_formats_crop_luma_exactly() {
    for format in [gst_video::VideoFormat::I420, gst_video::VideoFormat::Nv12] {
        init();
        let info = gst_video::VideoInfo::builder(format, 160, 120)
            .fps(gst::Fraction::new(25, 1))
            .build()
            .unwrap();
        let mut hr = Harness::new_parse("hardattentioncrop region-source=fixed region=40,30,80,60 width=80 height=60 margin=0 min-size=1 smoothing=0 aspect=stretch");
        hr.set_src_caps(info.to_caps().unwrap());
        let mut b = gst::Buffer::with_size(info.size()).unwrap();
        {
            let mut f =
                gst_video::VideoFrameRef::from_buffer_ref_writable(b.get_mut().unwrap(), &info)
                    .unwrap();
            let stride = f.plane_stride()[0] as usize;
            let y = f.plane_data_mut(0).unwrap();
            for row in 0..120 {
                for col in 0..160 {
                    y[row * stride + col] = (col + row) as u8;
                }
            }
        }
        let out = hr.push_and_pull(b).unwrap();
        let out_info = gst_video::VideoInfo::builder(format, 80, 60)
            .build()
            .unwrap();
        let f =
            gst_video::VideoFrameRef::from_buffer_ref_readable(out.as_ref(), &out_info).unwrap();
        let stride = f.plane_stride()[0] as usize;
        let y = f.plane_data(0).unwrap();
        assert_eq!(y[0], 70, "{format:?}");
        assert_eq!(y[10 * stride + 5], 85, "{format:?}");
    }
}

fn with_person(mut b: gst::Buffer, r: (u32, u32, u32, u32), motion: f64) -> gst::Buffer {
    gstviolence::meta::add_person_meta(
        b.get_mut().unwrap(),
        Region::new(r.0, r.1, r.2, r.3),
        0.9,
        motion,
    );
    b
}

#[test]
fn people_source_crops_the_moving_group_not_the_still_or_lone_people() {
    let mut hr = harness(
        "region-source=people width=80 height=60 margin=0 min-size=1 smoothing=0 aspect=stretch",
        160,
        120,
    );
    // A moving pair at (40..80, 30..90), a still person beside nobody, a lone walker.
    let frame = with_person(coded(160, 120), (40, 30, 20, 60), 0.3);
    let frame = with_person(frame, (62, 30, 18, 60), 0.2);
    let frame = with_person(frame, (120, 10, 10, 20), 0.0);
    let frame = with_person(frame, (140, 90, 10, 20), 0.4);
    let out = hr.push_and_pull(frame).unwrap();
    assert_eq!(px(&out, 0, 0), [40, 30, 7]);
    assert_eq!(px(&out, 79, 59), [79, 89, 7]);
    // Nobody moves: the whole frame (no-region=full-frame).
    let still = with_person(coded(160, 120), (40, 30, 20, 60), 0.0);
    let out = hr.push_and_pull(still).unwrap();
    let (first, last) = (px(&out, 0, 0), px(&out, 79, 59));
    assert!(first[0] <= 1 && first[1] <= 1, "{first:?}");
    assert!(last[0] >= 157 && last[1] >= 117, "{last:?}");
}
