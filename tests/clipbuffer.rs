// SPDX-License-Identifier: MPL-2.0

//! clipbuffer alone, through gst_check::Harness: which frames carry clips, what a clip
//! holds, and how the ring reacts to caps changes, flushes, gaps, discontinuities and EOS.

mod common;
use common::*;
use gst_check::Harness;
use gstviolence::meta::ClipMeta;

fn harness(props: &str, caps: &gst::Caps) -> Harness {
    init();
    let mut h = Harness::new_parse(&format!("clipbuffer {props}"));
    h.set_src_caps(caps.clone());
    h
}

fn solid(format: gst_video::VideoFormat, w: u32, h: u32, rgb: [u8; 3]) -> (gst::Caps, gst::Buffer) {
    // Made by videoconvert from RGB so every format holds the same colour.
    init();
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, w, h)
        .fps(gst::Fraction::new(25, 1))
        .build()
        .unwrap();
    let mut data = vec![0u8; info.size()];
    let stride = info.stride()[0] as usize;
    for y in 0..h as usize {
        for x in 0..w as usize {
            data[y * stride + 3 * x..y * stride + 3 * x + 3].copy_from_slice(&rgb);
        }
    }
    let out_info = gst_video::VideoInfo::builder(format, w, h)
        .fps(gst::Fraction::new(25, 1))
        .build()
        .unwrap();
    let conv = gst_video::VideoConverter::new(&info, &out_info, None).unwrap();
    let src = gst::Buffer::from_mut_slice(data);
    let src = gst_video::VideoFrame::from_buffer_readable(src, &info).unwrap();
    let mut dst = gst_video::VideoFrame::from_buffer_writable(
        gst::Buffer::with_size(out_info.size()).unwrap(),
        &out_info,
    )
    .unwrap();
    conv.frame(&src, &mut dst);
    (out_info.to_caps().unwrap(), dst.into_buffer())
}

fn push_frames(
    h: &mut Harness,
    video: &Synthetic,
    range: std::ops::Range<u64>,
) -> Vec<Option<(u64, u64)>> {
    range
        .map(|i| {
            let out = h.push_and_pull(video.frame(i)).unwrap();
            out.meta::<ClipMeta>().map(|m| {
                (
                    m.payload().first_pts.nseconds(),
                    m.payload().last_pts.nseconds(),
                )
            })
        })
        .collect()
}

#[test]
fn clips_complete_on_the_expected_frames() {
    let video = Synthetic {
        width: 64,
        height: 48,
        frames: 40,
        motion: 0..40,
    };
    let mut h = harness(
        "clip-length=4 stride=3 frame-step=2 width=16 height=16",
        &video.caps(),
    );
    let clips = push_frames(&mut h, &video, 0..20);
    let at: Vec<(usize, (u64, u64))> = clips
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.map(|c| (i, c)))
        .collect();
    // Samples at 0,2,4,6 -> clip on frame 6; then every sampled frame >= 3 frames later.
    let f = FRAME_NS;
    assert_eq!(
        at,
        vec![
            (6, (0, 6 * f)),
            (10, (4 * f, 10 * f)),
            (14, (8 * f, 14 * f)),
            (18, (12 * f, 18 * f))
        ]
    );
}

#[test]
fn clip_frames_are_own_rgb_copies_at_model_size() {
    for format in [
        gst_video::VideoFormat::I420,
        gst_video::VideoFormat::Nv12,
        gst_video::VideoFormat::Bgrx,
        gst_video::VideoFormat::Rgb,
        gst_video::VideoFormat::Yuy2,
    ] {
        let (caps, frame) = solid(format, 64, 48, [200, 40, 90]);
        let mut h = harness("clip-length=2 stride=1 width=24 height=20", &caps);
        let upstream_memory = frame.peek_memory(0).map_readable().unwrap().as_ptr();
        h.push_and_pull(frame.clone()).unwrap();
        let out = h.push_and_pull(frame).unwrap();
        let meta = out.meta::<ClipMeta>().expect("a clip on the second frame");
        let clip = meta.payload();
        assert_eq!(
            (clip.rgb.width, clip.rgb.height, clip.rgb.frames.len()),
            (24, 20, 2)
        );
        assert_eq!(clip.source_size, (64, 48));
        for f in &clip.rgb.frames {
            let map = f.map_readable().unwrap();
            assert_ne!(
                map.as_ptr(),
                upstream_memory,
                "never a reference to upstream memory"
            );
            for y in 0..20usize {
                for x in 0..24usize {
                    let px = &map[y * clip.rgb.stride as usize + 3 * x..][..3];
                    for (got, want) in px.iter().zip([200u8, 40, 90]) {
                        assert!(
                            (*got as i32 - want as i32).abs() <= 6,
                            "{format:?} pixel {x},{y}: {px:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn caps_change_restarts_the_window() {
    let video = Synthetic {
        width: 64,
        height: 48,
        frames: 40,
        motion: 0..0,
    };
    let mut h = harness("clip-length=4 stride=1 width=16 height=16", &video.caps());
    let first = push_frames(&mut h, &video, 0..3);
    assert!(first.iter().all(Option::is_none));
    let smaller = Synthetic {
        width: 32,
        height: 32,
        ..video
    };
    h.set_src_caps(smaller.caps());
    let after = push_frames(&mut h, &smaller, 3..8);
    // The 3 frames before the change are forgotten: the first clip needs 4 new frames.
    assert_eq!(after.iter().position(Option::is_some), Some(3));
    assert_eq!(after[3], Some((3 * FRAME_NS, 6 * FRAME_NS)));
}

#[test]
fn flush_gap_and_discont_reset_the_ring() {
    let video = Synthetic {
        width: 32,
        height: 32,
        frames: 40,
        motion: 0..0,
    };
    let mut h = harness("clip-length=3 stride=1 width=16 height=16", &video.caps());
    assert!(push_frames(&mut h, &video, 0..2)
        .iter()
        .all(Option::is_none));
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    assert!(
        h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()))
    );
    let after = push_frames(&mut h, &video, 2..5);
    assert_eq!(after, vec![None, None, Some((2 * FRAME_NS, 4 * FRAME_NS))]);

    assert!(
        h.push_event(gst::event::Gap::builder(gst::ClockTime::from_nseconds(5 * FRAME_NS)).build())
    );
    assert_eq!(
        push_frames(&mut h, &video, 6..9),
        vec![None, None, Some((6 * FRAME_NS, 8 * FRAME_NS))]
    );

    let mut discont = video.frame(9);
    discont
        .get_mut()
        .unwrap()
        .set_flags(gst::BufferFlags::DISCONT);
    assert!(h
        .push_and_pull(discont)
        .unwrap()
        .meta::<ClipMeta>()
        .is_none());
    assert_eq!(push_frames(&mut h, &video, 10..11), vec![None]);
    assert_eq!(
        push_frames(&mut h, &video, 11..12),
        vec![Some((9 * FRAME_NS, 11 * FRAME_NS))]
    );
}

#[test]
fn eos_sends_the_padded_partial_window() {
    let video = Synthetic {
        width: 32,
        height: 32,
        frames: 5,
        motion: 0..0,
    };
    let mut h = harness("clip-length=8 stride=4 width=16 height=16", &video.caps());
    push_frames(&mut h, &video, 0..5);
    assert!(h.push_event(gst::event::Eos::new()));
    let mut eos_clip = None;
    while let Some(ev) = h.try_pull_event() {
        if let Some(clip) = gstviolence::query::read_eos_clip_event(&ev) {
            eos_clip = Some(clip);
        }
    }
    let clip = eos_clip.expect("5 of 8 frames is at least half a window");
    assert_eq!(clip.rgb.frames.len(), 8);
    assert_eq!(clip.padded_frames, 3);
    assert_eq!(
        (clip.first_pts.nseconds(), clip.last_pts.nseconds()),
        (0, 4 * FRAME_NS)
    );
}

#[test]
fn unsupported_caps_are_refused() {
    init();
    let mut h = Harness::new_parse("clipbuffer");
    h.set_src_caps_str("audio/x-raw,format=S16LE,rate=48000,channels=1");
    let buffer = gst::Buffer::with_size(64).unwrap();
    assert!(h.push(buffer).is_err(), "no audio");
}

/// A person meta: (x, y, width, height) and motion.
type PersonAt = ((u32, u32, u32, u32), f64);

/// RGB frame whose pixel (x, y) is (x, y, 7), with person metas (box, motion).
fn coded_with_people(w: u32, h: u32, people: &[PersonAt]) -> gst::Buffer {
    let mut b = coded_rgb(w, h);
    for &((x, y, bw, bh), motion) in people {
        let region = gstviolence::meta::Region::new(x, y, bw, bh);
        gstviolence::meta::add_person_meta(b.get_mut().unwrap(), region, 0.9, motion);
    }
    b
}

/// clipbuffer with people-crop=true over 240x200 RGB at 25 fps: clips of 2 frames, 32x32.
fn people_crop_harness() -> Harness {
    init();
    let caps = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, 240, 200)
        .fps(gst::Fraction::new(25, 1))
        .build()
        .unwrap()
        .to_caps()
        .unwrap();
    harness(
        "clip-length=2 stride=1 width=32 height=32 people-crop=true",
        &caps,
    )
}

#[test]
fn people_crop_cuts_the_sampled_frames_around_the_moving_people() {
    let mut h = people_crop_harness();
    // A moving pair at x 100..140, y 60..100 and a still person far away: the crop is the
    // pair with half its size around it (80x80 from (80, 40)), scaled to 32x32.
    let people = [
        ((100, 60, 18, 40), 0.3),
        ((122, 60, 18, 40), 0.2),
        ((10, 150, 10, 20), 0.0),
    ];
    h.push_and_pull(coded_with_people(240, 200, &people))
        .unwrap();
    let out = h
        .push_and_pull(coded_with_people(240, 200, &people))
        .unwrap();
    let clip = out.meta::<ClipMeta>().expect("a clip on the second frame");
    let clip = clip.payload();
    let map = clip.rgb.frames[1].map_readable().unwrap();
    let px = |x: usize, y: usize| {
        [
            map[y * clip.rgb.stride as usize + 3 * x],
            map[y * clip.rgb.stride as usize + 3 * x + 1],
        ]
    };
    let (first, last) = (px(0, 0), px(31, 31));
    assert!(
        (80..=83).contains(&first[0]) && (40..=43).contains(&first[1]),
        "{first:?}"
    );
    assert!(
        (156..=160).contains(&last[0]) && (116..=120).contains(&last[1]),
        "{last:?}"
    );
    // Nobody moves: the whole frame.
    let still = [((100, 60, 18, 40), 0.0)];
    let out = h
        .push_and_pull(coded_with_people(240, 200, &still))
        .unwrap();
    assert!(last_pixel(&out)[0] >= 230, "{:?}", last_pixel(&out));
}

/// Red and green of the bottom-right pixel of a clip's newest frame.
fn last_pixel(out: &gst::Buffer) -> [u8; 2] {
    let clip = out.meta::<ClipMeta>().expect("a clip on every frame");
    let clip = clip.payload();
    let map = clip.rgb.frames[clip.rgb.frames.len() - 1]
        .map_readable()
        .unwrap();
    let (w, h) = (clip.rgb.width as usize, clip.rgb.height as usize);
    let at = (h - 1) * clip.rgb.stride as usize + 3 * (w - 1);
    [map[at], map[at + 1]]
}

#[test]
fn a_people_crop_is_held_for_two_seconds_after_the_group_is_lost() {
    let mut h = people_crop_harness();
    let moving = [((100, 60, 18, 40), 0.3), ((122, 60, 18, 40), 0.2)];
    let still = [((100, 60, 18, 40), 0.0)];
    let at = |ms: u64, people: &[PersonAt]| {
        let mut b = coded_with_people(240, 200, people);
        b.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(ms));
        b
    };
    h.push_and_pull(at(0, &moving)).unwrap();
    // The crop of the moving pair ends at (160, 120).
    let out = h.push_and_pull(at(40, &moving)).unwrap();
    assert!((156..=160).contains(&last_pixel(&out)[0]));
    // The group is lost (a look that missed it, a pause): the crop stays for 2 s...
    let out = h.push_and_pull(at(1000, &still)).unwrap();
    assert!((156..=160).contains(&last_pixel(&out)[0]), "held");
    let out = h.push_and_pull(at(2040, &still)).unwrap();
    assert!((156..=160).contains(&last_pixel(&out)[0]), "held to 2 s");
    // ...and no longer: the whole frame.
    let out = h.push_and_pull(at(2100, &still)).unwrap();
    assert!(last_pixel(&out)[0] >= 230, "{:?}", last_pixel(&out));
    // Found again: the crop at once.
    let out = h.push_and_pull(at(2140, &moving)).unwrap();
    assert!((156..=160).contains(&last_pixel(&out)[0]));
}
