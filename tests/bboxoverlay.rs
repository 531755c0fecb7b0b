// SPDX-License-Identifier: MPL-2.0

//! bboxoverlay through gst_check::Harness, in every format it accepts: box edges to the
//! pixel, clipping, untouched frames without metadata, labels and the banner.

mod common;
use common::*;
use gst_check::Harness;
use gst_video::prelude::*;
use gstviolence::bboxoverlay::draw::{Matrix, Range, Rgba};
use gstviolence::meta::{ViolenceInfo, ViolenceMeta, ViolenceState};

const W: u32 = 64;
const H: u32 = 48;
const BG: [u8; 3] = [40, 90, 160];
const BOX_ARGB: u32 = 0xFF10E020;

const FORMATS: [gst_video::VideoFormat; 8] = [
    gst_video::VideoFormat::Rgba,
    gst_video::VideoFormat::Bgra,
    gst_video::VideoFormat::Rgbx,
    gst_video::VideoFormat::Bgrx,
    gst_video::VideoFormat::Rgb,
    gst_video::VideoFormat::Bgr,
    gst_video::VideoFormat::I420,
    gst_video::VideoFormat::Nv12,
];

fn info(format: gst_video::VideoFormat) -> gst_video::VideoInfo {
    gst_video::VideoInfo::builder(format, W, H)
        .fps(gst::Fraction::new(25, 1))
        .build()
        .unwrap()
}

/// A frame of one colour, written directly per format (BT.601 limited range for YUV).
fn background(format: gst_video::VideoFormat) -> gst::Buffer {
    let info = info(format);
    let mut buffer = gst::Buffer::with_size(info.size()).unwrap();
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::ZERO);
        let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(b, &info).unwrap();
        let yuv = Rgba::rgb(BG[0], BG[1], BG[2]).to_yuv(Matrix::Bt601, Range::Limited);
        let finfo = info.format_info();
        for p in 0..frame.n_planes() {
            let stride = frame.plane_stride()[p as usize] as usize;
            let data = frame.plane_data_mut(p).unwrap();
            for (i, byte) in data.iter_mut().enumerate() {
                let x = (i % stride) as u32;
                *byte = match format {
                    gst_video::VideoFormat::I420 => [yuv.y, yuv.u, yuv.v][p as usize],
                    gst_video::VideoFormat::Nv12 if p == 0 => yuv.y,
                    gst_video::VideoFormat::Nv12 => {
                        if x.is_multiple_of(2) {
                            yuv.u
                        } else {
                            yuv.v
                        }
                    }
                    _ => {
                        let c = (x as usize) % finfo.pixel_stride()[0] as usize;
                        let order = channel_order(format);
                        order[c].map_or(255, |ch| BG[ch])
                    }
                };
            }
        }
    }
    buffer
}

/// Which RGB channel each byte of a pixel holds (None: alpha or padding).
fn channel_order(format: gst_video::VideoFormat) -> &'static [Option<usize>] {
    match format {
        gst_video::VideoFormat::Rgba | gst_video::VideoFormat::Rgbx => {
            &[Some(0), Some(1), Some(2), None]
        }
        gst_video::VideoFormat::Bgra | gst_video::VideoFormat::Bgrx => {
            &[Some(2), Some(1), Some(0), None]
        }
        gst_video::VideoFormat::Rgb => &[Some(0), Some(1), Some(2)],
        gst_video::VideoFormat::Bgr => &[Some(2), Some(1), Some(0)],
        _ => &[],
    }
}

fn harness(format: gst_video::VideoFormat, props: &str) -> Harness {
    init();
    let mut h = Harness::new_parse(&format!("bboxoverlay other-colour={BOX_ARGB} {props}"));
    h.set_src_caps(info(format).to_caps().unwrap());
    h
}

fn with_box(mut buffer: gst::Buffer, rect: (i32, i32, i32, i32)) -> gst::Buffer {
    // The ROI meta holds unsigned coordinates; negative ones come from other elements as
    // huge values, which must be clipped too.
    let b = buffer.get_mut().unwrap();
    gst_video::VideoRegionOfInterestMeta::add(
        b,
        "person",
        (rect.0 as u32, rect.1 as u32, rect.2 as u32, rect.3 as u32),
    );
    buffer
}

/// Luma (or RGB) of pixel (x, y) in the output.
fn pixel(format: gst_video::VideoFormat, buffer: &gst::Buffer, x: u32, y: u32) -> Vec<u8> {
    let info = info(format);
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer.as_ref(), &info).unwrap();
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0).unwrap();
    match format {
        gst_video::VideoFormat::I420 | gst_video::VideoFormat::Nv12 => {
            vec![data[y as usize * stride + x as usize]]
        }
        _ => {
            let ps = info.format_info().pixel_stride()[0] as usize;
            let px = &data[y as usize * stride + x as usize * ps..][..ps];
            let mut rgb = vec![0u8; 3];
            for (c, ch) in channel_order(format).iter().enumerate() {
                if let Some(ch) = ch {
                    rgb[*ch] = px[c];
                }
            }
            rgb
        }
    }
}

fn expected(format: gst_video::VideoFormat, rgb: [u8; 3]) -> Vec<u8> {
    match format {
        gst_video::VideoFormat::I420 | gst_video::VideoFormat::Nv12 => {
            vec![
                Rgba::rgb(rgb[0], rgb[1], rgb[2])
                    .to_yuv(Matrix::Bt601, Range::Limited)
                    .y,
            ]
        }
        _ => rgb.to_vec(),
    }
}

#[test]
fn box_edges_are_pixel_exact_in_every_format() {
    let box_rgb = [0x10, 0xE0, 0x20];
    for format in FORMATS {
        let mut h = harness(format, "draw-labels=false line-width=2");
        let out = h
            .push_and_pull(with_box(background(format), (10, 8, 20, 12)))
            .unwrap();
        for y in 0..H {
            for x in 0..W {
                let inside = (10..30).contains(&x) && (8..20).contains(&y);
                let edge = inside && (!(12..28).contains(&x) || !(10..18).contains(&y));
                let want = expected(format, if edge { box_rgb } else { BG });
                assert_eq!(
                    pixel(format, &out, x, y),
                    want,
                    "{format:?} at {x},{y} (edge {edge})"
                );
            }
        }
    }
}

#[test]
fn regions_outside_the_frame_are_clipped() {
    for format in FORMATS {
        let mut h = harness(format, "line-width=3 draw-labels=false");
        for rect in [
            (-10, -10, 30, 30),
            (50, 40, 100, 100),
            (200, 200, 10, 10),
            (i32::MIN, 0, i32::MAX, 5),
        ] {
            let out = h.push_and_pull(with_box(background(format), rect)).unwrap();
            assert_eq!(out.size(), info(format).size(), "{format:?} {rect:?}");
        }
        // The part of the first box inside the frame is drawn: its right edge at x = 17..19.
        let out = h
            .push_and_pull(with_box(background(format), (-10, -10, 30, 30)))
            .unwrap();
        assert_eq!(
            pixel(format, &out, 18, 5),
            expected(format, [0x10, 0xE0, 0x20]),
            "{format:?}"
        );
        assert_eq!(
            pixel(format, &out, 10, 10),
            expected(format, BG),
            "{format:?} interior"
        );
    }
}

#[test]
fn frames_without_metadata_pass_bit_for_bit() {
    for format in FORMATS {
        let mut h = harness(format, "draw-graph=true");
        let input = background(format);
        let before = input.map_readable().unwrap().to_vec();
        let out = h.push_and_pull(input).unwrap();
        assert_eq!(
            out.map_readable().unwrap().as_slice(),
            before.as_slice(),
            "{format:?}"
        );
    }
}

#[test]
fn labels_are_drawn_above_the_box() {
    for format in FORMATS {
        let mut plain = harness(format, "draw-labels=false");
        let mut labelled = harness(format, "draw-labels=true font-size=12");
        let make = || {
            let mut b = with_box(background(format), (4, 30, 40, 14));
            let mut meta = gst_video::VideoRegionOfInterestMeta::add(
                b.get_mut().unwrap(),
                "violence",
                (0, 0, 1, 1),
            );
            meta.add_param(
                gst::Structure::builder("detection")
                    .field("confidence", 0.93f64)
                    .build(),
            );
            b
        };
        let a = plain.push_and_pull(make()).unwrap();
        let b = labelled.push_and_pull(make()).unwrap();
        // The label "person" sits in the 12-16 rows above the box at y = 30.
        let changed_above = (14..30)
            .flat_map(|y| (4..44).map(move |x| (x, y)))
            .filter(|(x, y)| pixel(format, &a, *x, *y) != pixel(format, &b, *x, *y))
            .count();
        assert!(
            changed_above > 40,
            "{format:?}: only {changed_above} label pixels"
        );
        // Nothing changes far from boxes and labels.
        assert_eq!(pixel(format, &a, 60, 46), pixel(format, &b, 60, 46));
    }
}

#[test]
fn violent_state_draws_the_banner() {
    for format in FORMATS {
        let mut h = harness(format, "banner-colour=0xFFFF0000");
        let mut idle = background(format);
        ViolenceMeta::add(
            idle.get_mut().unwrap(),
            ViolenceInfo {
                score: Some(0.1),
                ..Default::default()
            },
        );
        let out = h.push_and_pull(idle).unwrap();
        assert_eq!(
            pixel(format, &out, 1, 1),
            expected(format, BG),
            "{format:?}: no banner when idle"
        );
        let mut violent = background(format);
        ViolenceMeta::add(
            violent.get_mut().unwrap(),
            ViolenceInfo {
                score: Some(0.9),
                state: ViolenceState::Violent,
                ..Default::default()
            },
        );
        let out = h.push_and_pull(violent).unwrap();
        assert_eq!(
            pixel(format, &out, 1, 1),
            expected(format, [255, 0, 0]),
            "{format:?}: red banner"
        );
    }
}

#[test]
fn other_formats_are_refused_at_negotiation() {
    init();
    let mut h = Harness::new_parse("bboxoverlay");
    h.set_src_caps_str("video/x-raw,format=YUY2,width=64,height=48,framerate=25/1");
    assert!(h
        .push(gst::Buffer::with_size(64 * 48 * 2).unwrap())
        .is_err());
}
