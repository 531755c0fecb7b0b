// SPDX-License-Identifier: MPL-2.0

//! violenceclassify (with clipbuffer) in real pipelines: exact start and end of events
//! (min-consecutive, hold-time, EOS), score messages, serialized events downstream, the
//! violence-event signal, and the scene-cut guard.
//! The synthetic video's motion starts and stops at known frames, and the test model is
//! violent exactly for clips in which two consecutive frames differ, so every start and end
//! PTS can be computed here (helpers in common/classify.rs).

mod common;
use common::classify::*;
use common::*;
use gstviolence::event::ViolenceEvent;
use gstviolence::meta::{ViolenceMeta, ViolenceState};

fn check_start_end(min_consecutive: u64, hold_clips: u64) {
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 120,
        motion: 30..60,
    };
    let hold_ns = hold_clips * STRIDE * FRAME_NS;
    let out = run_synthetic(
        &video,
        &classify(&format!(
            "min-consecutive={min_consecutive} hold-time={hold_ns}"
        )),
    );
    assert_eq!(out.error, None);
    let clips = violent_clips(30, 60, 120);
    let (k0, k1) = (*clips.start(), *clips.end());

    let start = only(out.events("violence-start"));
    assert_eq!(
        start.pts,
        clip_first_ns(k0),
        "start = first PTS of the run's first clip"
    );
    assert_eq!(start.running_time, start.pts);
    let decided = k0 + min_consecutive - 1;
    assert_eq!(
        (start.clip_start, start.clip_end),
        (clip_first_ns(decided), clip_last_ns(decided))
    );
    assert_eq!(
        start.latency,
        clip_last_ns(decided) - clip_first_ns(k0),
        "sync: decided on the run's last frame"
    );
    assert!(start.score >= 0.5);

    let end = only(out.events("violence-end"));
    assert_eq!(
        end.pts,
        clip_last_ns(k1),
        "end = last PTS of the last hot clip"
    );
    assert_eq!(end.reason.as_deref(), Some("released"));
    // Released when hold_clips more clips after the first cold one have been seen.
    let released_by = k1 + 1 + hold_clips;
    assert_eq!(
        (end.clip_start, end.clip_end),
        (clip_first_ns(released_by), clip_last_ns(released_by))
    );
    assert_eq!(end.latency, clip_last_ns(released_by) - clip_last_ns(k1));

    // Every frame carries ViolenceMeta, violent from the start decision until the end one.
    assert_eq!(out.buffers.len(), 120);
    for (i, buffer) in out.buffers.iter().enumerate() {
        let meta = buffer
            .meta::<ViolenceMeta>()
            .unwrap_or_else(|| panic!("frame {i} has no ViolenceMeta"));
        let pts = i as u64 * FRAME_NS;
        let expected = if pts >= clip_last_ns(decided) && pts < clip_last_ns(released_by) {
            ViolenceState::Violent
        } else {
            ViolenceState::Idle
        };
        assert_eq!(meta.payload().state, expected, "frame {i}");
    }
}

#[test]
fn exact_start_and_end_min_consecutive_1() {
    check_start_end(1, 0);
}

#[test]
fn exact_start_and_end_min_consecutive_3() {
    check_start_end(3, 0);
}

#[test]
fn hold_time_delays_the_end() {
    check_start_end(1, 3);
}

#[test]
fn eos_in_the_middle_of_an_event_ends_it() {
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 50,
        motion: 20..50,
    };
    let out = run_synthetic(&video, &classify("min-consecutive=1"));
    assert_eq!(out.error, None);
    let start = only(out.events("violence-start"));
    assert_eq!(start.pts, clip_first_ns(*violent_clips(20, 50, 50).start()));
    let end = only(out.events("violence-end"));
    assert_eq!(end.reason.as_deref(), Some("eos"));
    // 50 frames: the last regular clip ends on frame 49 (k = 21): no EOS clip is needed.
    assert_eq!(end.pts, 49 * FRAME_NS);
}

#[test]
fn eos_clip_of_a_short_stream_is_scored_padded() {
    // 6 frames < T = 8: no regular clip, but at least half a window: one padded clip.
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 6,
        motion: 0..6,
    };
    let out = run_synthetic(&video, &classify("min-consecutive=1 emit-scores=true"));
    assert_eq!(out.error, None);
    let score = only(out.events("violence-score"));
    assert_eq!((score.clip_start, score.clip_end), (0, 5 * FRAME_NS));
    assert!(score.score > 0.5);
    let end = only(out.events("violence-end"));
    assert_eq!(end.reason.as_deref(), Some("eos"));
    // Less than half a window: nothing is scored.
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 3,
        motion: 0..3,
    };
    let out = run_synthetic(&video, &classify("emit-scores=true"));
    assert_eq!(out.error, None);
    assert!(out.events("violence-score").is_empty());
}

#[test]
fn score_messages_and_events_have_every_field() {
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 24,
        motion: 0..0,
    };
    let out = run_synthetic(&video, &classify("emit-scores=true"));
    assert_eq!(out.error, None);
    let scores = out.events("violence-score");
    // Clips end on frames 7, 9, ..., 23: 9 clips, all still.
    assert_eq!(scores.len(), 9);
    for (k, s) in scores.iter().enumerate() {
        assert_eq!(s.pts, clip_first_ns(k as u64));
        assert!(s.score < 0.01, "still video scores low: {}", s.score);
        assert!(!s.stream_id.is_empty());
        assert_eq!(s.steps, 1);
    }
    assert!(out.events("violence-start").is_empty());
}

#[test]
fn serialized_events_reach_downstream_in_order() {
    init();
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 80,
        motion: 20..40,
    };
    use gst::prelude::*;
    let (pipeline, src) = appsrc_pipeline(
        &format!(
            "appsrc name=src format=time ! {} ! fakesink name=sink sync=false",
            classify("min-consecutive=1")
        ),
        &video.caps(),
    );
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let sinkpad = pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap();
    sinkpad.add_probe(
        gst::PadProbeType::EVENT_DOWNSTREAM | gst::PadProbeType::BUFFER,
        move |_, info| {
            match &info.data {
                Some(gst::PadProbeData::Event(e))
                    if e.type_() == gst::EventType::CustomDownstream =>
                {
                    let s = e.structure().unwrap();
                    let ev = ViolenceEvent::from_structure(s).unwrap();
                    log.lock().unwrap().push(format!("{}@{}", s.name(), ev.pts));
                }
                Some(gst::PadProbeData::Event(e)) if e.type_() == gst::EventType::Eos => {
                    log.lock().unwrap().push("eos".into());
                }
                _ => (),
            }
            gst::PadProbeReturn::Ok
        },
    );
    let out = run_pipeline(&pipeline, || {
        for i in 0..video.frames {
            src.push_buffer(video.frame(i)).unwrap();
        }
        src.end_of_stream().unwrap();
    });
    assert_eq!(out.error, None);
    let clips = violent_clips(20, 40, 80);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            format!("violence-start@{}", clip_first_ns(*clips.start())),
            format!("violence-end@{}", clip_last_ns(*clips.end())),
            "eos".to_string()
        ]
    );
    // The bus saw the same facts.
    assert_eq!(out.events("violence-start").len(), 1);
    assert_eq!(out.events("violence-end").len(), 1);
}

#[test]
fn violence_event_signal_reaches_out_of_band_listeners() {
    init();
    use gst::prelude::*;
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 60,
        motion: 20..40,
    };
    let (pipeline, src) = appsrc_pipeline(
        &format!(
            "appsrc name=src format=time ! {} name=cls ! fakesink sync=false",
            classify("min-consecutive=1")
        ),
        &video.caps(),
    );
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = heard.clone();
    pipeline
        .by_name("cls")
        .unwrap()
        .connect("violence-event", false, move |args| {
            let s = args[1].get::<gst::Structure>().unwrap();
            log.lock()
                .unwrap()
                .push(ViolenceEvent::from_structure(&s).unwrap());
            None
        });
    let out = run_pipeline(&pipeline, || {
        for i in 0..video.frames {
            src.push_buffer(video.frame(i)).unwrap();
        }
        src.end_of_stream().unwrap();
    });
    assert_eq!(out.error, None);
    let heard = heard.lock().unwrap().clone();
    let mut on_bus = out.events("violence-start");
    on_bus.extend(out.events("violence-end"));
    assert_eq!(heard, on_bus, "the signal carries exactly what the bus got");
}

/// Two still scenes, one after the other: the only frame difference is the cut between
/// them, so every clip the motion model calls violent spans the cut. With the guard (the
/// default) none of them starts an event; without it they do.
#[test]
fn a_scene_cut_alone_starts_no_event() {
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 80,
        motion: 0..0,
    };
    let caps = video.caps();
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let frames = || {
        (0..video.frames).map(|i| {
            let mut buffer = video.frame(i);
            if i >= 40 {
                // The second scene: a bright gradient instead of flat grey.
                let b = buffer.make_mut();
                let mut map = b.map_writable().unwrap();
                let stride = info.stride()[0] as usize;
                for y in 0..64 {
                    for x in 0..64 * 3 {
                        map[y * stride + x] = (150 + x / 3 + y) as u8;
                    }
                }
            }
            buffer
        })
    };
    let scores = |extra: &str| {
        let out = run_frames(
            &caps,
            frames(),
            &classify(&format!("emit-scores=true {extra}")),
        );
        assert_eq!(out.error, None);
        let scored = out.events("violence-score");
        let hot = scored.iter().filter(|e| e.score >= 0.5).count();
        // Score messages say which windows the guard held back.
        let hot_at_cut = scored
            .iter()
            .filter(|e| e.score >= 0.5 && e.scene_cut)
            .count();
        (hot, hot_at_cut, out.events("violence-start").len())
    };
    let (hot, hot_at_cut, starts) = scores("min-consecutive=1");
    assert!(hot >= 2, "the clips across the cut score violent: {hot}");
    assert_eq!(hot_at_cut, hot, "each is flagged scene-cut in its message");
    assert_eq!(starts, 0, "the guard keeps them from starting an event");
    let (hot_unguarded, hot_at_cut, starts) = scores("min-consecutive=1 scene-cut-guard=false");
    assert_eq!(hot_unguarded, hot);
    assert_eq!(hot_at_cut, 0, "without the guard no window is flagged");
    assert_eq!(starts, 1);
}
