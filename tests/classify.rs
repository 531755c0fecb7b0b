// SPDX-License-Identifier: MPL-2.0

//! violenceclassify (with clipbuffer) in real pipelines over synthetic video whose motion
//! starts and stops at known frames. The test model is violent exactly for clips in which
//! two consecutive frames differ, so every start and end PTS can be computed here.

mod common;
use common::*;
use gstviolence::event::ViolenceEvent;
use gstviolence::meta::{ViolenceMeta, ViolenceState};

const T: u64 = 8;
const STRIDE: u64 = 2;

/// Index range of the clips (clip k covers frames [STRIDE k, STRIDE k + T - 1]) that see
/// motion on frames [a, b): a pair (i, i+1) differs for a-1 <= i <= b-1.
fn violent_clips(a: u64, b: u64, frames: u64) -> std::ops::RangeInclusive<u64> {
    let last_clip = (frames - T) / STRIDE;
    let first = (a + 1).saturating_sub(T).div_ceil(STRIDE);
    let last = ((b - 1) / STRIDE).min(last_clip);
    first..=last
}

fn clip_first_ns(k: u64) -> u64 {
    STRIDE * k * FRAME_NS
}
fn clip_last_ns(k: u64) -> u64 {
    (STRIDE * k + T - 1) * FRAME_NS
}

fn classify(extra: &str) -> String {
    format!(
        "clipbuffer stride={STRIDE} ! violenceclassify model-location={} mode=sync {extra}",
        model("motion.pt")
    )
}

fn only(events: Vec<ViolenceEvent>) -> ViolenceEvent {
    assert_eq!(events.len(), 1, "{events:?}");
    events.into_iter().next().unwrap()
}

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
fn stalled_source_ends_the_event() {
    init();
    use gst::prelude::*;
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 30,
        motion: 0..30,
    };
    let (pipeline, src) = appsrc_pipeline(
        &format!(
        "appsrc name=src format=time is-live=true do-timestamp=false ! {} ! fakesink sync=false",
        classify("min-consecutive=1 stall-timeout=300000000")
    ),
        &video.caps(),
    );
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    for i in 0..video.frames {
        src.push_buffer(video.frame(i)).unwrap();
    }
    // No more frames, no EOS: the watchdog must end the event.
    let started = std::time::Instant::now();
    let mut kinds = Vec::new();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(10)) {
        if let gst::MessageView::Element(e) = msg.view() {
            let s = e.structure().unwrap();
            if let Some(ev) = ViolenceEvent::from_structure(s) {
                kinds.push((s.name().to_string(), ev.reason.clone(), ev.pts));
                if s.name() == "violence-end" {
                    break;
                }
            }
        }
        if let gst::MessageView::Error(e) = msg.view() {
            panic!("{}", e.error());
        }
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!(kinds[0].0, "violence-start");
    assert_eq!(kinds[1].1.as_deref(), Some("stall"));
    // The last clip ended on frame 29.
    assert_eq!(kinds[1].2, 29 * FRAME_NS);
}

#[test]
fn async_mode_never_blocks_a_live_source() {
    init();
    use gst::prelude::*;
    // The slow model takes far longer per clip than the 80 ms between clips.
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=64,height=64,framerate=25/1 \
         ! clipbuffer stride=2 ! violenceclassify name=cls model-location={} \
         ! identity name=counter ! fakesink sync=false",
        model("slow.pt")
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let frames = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = frames.clone();
    let counter = pipeline.by_name("counter").unwrap();
    counter
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    // Skip the preroll, then count frames over 3 seconds of wall time.
    let mut stats = Vec::new();
    // At least 4 s, and until a clip was scored and a drop reported (a loaded machine makes
    // the slow model slower still), at most 60 s.
    let started = std::time::Instant::now();
    let cls = pipeline.by_name("cls").unwrap();
    let mut begun = None;
    while started.elapsed() < std::time::Duration::from_secs(60) {
        let enough = started.elapsed() >= std::time::Duration::from_secs(4)
            && cls.property::<u64>("clips-scored") > 0
            && stats
                .iter()
                .any(|s: &gst::Structure| s.get::<u64>("clips-dropped").unwrap_or(0) > 0);
        if enough {
            break;
        }
        if begun.is_none() && frames.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            begun = Some((
                std::time::Instant::now(),
                frames.load(std::sync::atomic::Ordering::Relaxed),
            ));
        }
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(20)) {
            match msg.view() {
                gst::MessageView::Error(e) => panic!("{}", e.error()),
                gst::MessageView::Element(e)
                    if e.structure().unwrap().name() == "violence-stats" =>
                {
                    stats.push(e.structure().unwrap().to_owned())
                }
                _ => (),
            }
        }
    }
    let (t0, f0) = begun.expect("frames flowed");
    let elapsed = t0.elapsed().as_secs_f64();
    let passed = frames.load(std::sync::atomic::Ordering::Relaxed) - f0;
    let dropped: u64 = cls.property("clips-dropped");
    let scored: u64 = cls.property("clips-scored");
    pipeline.set_state(gst::State::Null).unwrap();
    let expected = elapsed * 25.0;
    assert!(
        passed as f64 >= 0.85 * expected,
        "capture blocked: {passed} frames in {elapsed:.2} s"
    );
    assert!(
        dropped > 0,
        "the slow model must make async mode drop clips"
    );
    assert!(scored > 0, "some clips are still scored");
    let last = stats
        .last()
        .expect("drops are reported as violence-stats messages");
    assert!(last.get::<u64>("clips-dropped").unwrap() > 0);
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

/// Runs the same synthetic video through `n` pipelines at once, in one process, sharing the
/// model; returns each pipeline's outcome.
fn run_parallel(n: usize, video: &Synthetic, extra: &str) -> Vec<Outcome> {
    init();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let extra = extra.to_string();
            let video = video.clone();
            std::thread::spawn(move || run_synthetic(&video, &classify(&extra)))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn streams_sharing_a_model_are_batched_and_each_exact() {
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 100,
        motion: 30..60,
    };
    let single = run_synthetic(&video, &classify("min-consecutive=1"));
    let outs = run_parallel(
        4,
        &video,
        "min-consecutive=1 batch-size=4 batch-timeout=20000000 stats-interval=40000000",
    );
    let clips = violent_clips(30, 60, 100);
    for out in &outs {
        assert_eq!(out.error, None);
        assert_eq!(
            out.events("violence-start"),
            single
                .events("violence-start")
                .into_iter()
                .map(|mut e| {
                    e.stream_id = out.events("violence-start")[0].stream_id.clone();
                    e
                })
                .collect::<Vec<_>>()
        );
        assert_eq!(
            out.events("violence-end")[0].pts,
            clip_last_ns(*clips.end())
        );
        assert!(
            !out.named("violence-stats").is_empty(),
            "stats are posted periodically"
        );
    }
    let batched = outs
        .iter()
        .flat_map(|o| o.named("violence-stats"))
        .any(|s| s.get::<u32>("last-batch-size").unwrap() > 1);
    assert!(
        batched,
        "four synchronous streams with a batch timeout share forwards"
    );
}

/// The names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .collect()
}

/// `inference-workers=2`: one pool of two threads, each with its own copy of the model,
/// shared by the streams that ask for it; every stream still gets exactly its own events.
#[test]
fn streams_over_an_inference_pool_each_get_their_own_events() {
    init();
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 100,
        motion: 30..60,
    };
    let single = run_synthetic(&video, &classify("min-consecutive=1"));
    let acquire = || {
        gstviolence::model::acquire(
            std::path::Path::new(&model("motion.pt")),
            tch::Device::Cpu,
            false,
            2,
        )
        .unwrap()
    };
    // Held here, the pool the elements below ask for is this one.
    let pool = acquire();
    assert_eq!(pool.workers(), 2);
    let names = thread_names();
    for worker in ["vinfer-cpu-0", "vinfer-cpu-1"] {
        assert!(
            names.iter().any(|n| n == worker),
            "{worker} runs: {names:?}"
        );
    }
    let outs = run_parallel(
        4,
        &video,
        "min-consecutive=1 inference-workers=2 batch-size=4 batch-timeout=20000000",
    );
    for out in &outs {
        assert_eq!(out.error, None);
        let starts = out.events("violence-start");
        assert_eq!(starts.len(), 1, "{starts:?}");
        let expected = only(single.events("violence-start"));
        assert_eq!(starts[0].pts, expected.pts);
        assert_eq!(starts[0].clip_end, expected.clip_end);
        assert_eq!(
            out.events("violence-end")[0].pts,
            single.events("violence-end")[0].pts
        );
    }
    assert!(
        std::sync::Arc::ptr_eq(&pool, &acquire()),
        "one pool per key"
    );
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

/// A model with a frame encoder scores as its plain forward does, event for event, while
/// each sampled frame is encoded once although every frame is in up to T/STRIDE clips.
#[test]
fn a_frame_encoder_encodes_each_frame_once_and_scores_as_forward() {
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 120,
        motion: 30..60,
    };
    let run = |file: &str| {
        let launch = format!(
            "clipbuffer stride={STRIDE} ! violenceclassify model-location={} mode=sync \
             emit-scores=true min-consecutive=2 stats-interval={FRAME_NS}",
            model(file)
        );
        let out = run_synthetic(&video, &launch);
        assert_eq!(out.error, None);
        out
    };
    let (plain, encoded) = (run("motion.pt"), run("motion-encoded.pt"));
    let scores = |out: &Outcome| -> Vec<(u64, bool)> {
        let scored = out.events("violence-score");
        scored.iter().map(|e| (e.pts, e.score >= 0.5)).collect()
    };
    assert_eq!(scores(&plain), scores(&encoded));
    for kind in ["violence-start", "violence-end"] {
        let pts = |out: &Outcome| out.events(kind).iter().map(|e| e.pts).collect::<Vec<_>>();
        assert_eq!(pts(&plain), pts(&encoded), "{kind}");
        assert_eq!(pts(&encoded).len(), 1, "{kind}");
    }
    let encoded_frames = |out: &Outcome| {
        let stats = out.named("violence-stats");
        stats
            .iter()
            .map(|s| s.get::<u64>("frames-encoded").unwrap())
            .max()
    };
    assert_eq!(encoded_frames(&plain), Some(0));
    let clips = scores(&encoded).len() as u64;
    let frames = encoded_frames(&encoded).unwrap();
    // The last stats message may come before the last clips; every clip brings STRIDE new
    // frames after the first, which brings T.
    assert!(
        frames <= video.frames && frames >= T + STRIDE * (clips - 1) - 4 * STRIDE,
        "{frames} frames encoded for {clips} clips of {T} frames"
    );
}

/// A file whose head(encode(frames)) is not its forward is refused at start, by name.
#[test]
fn a_frame_encoder_that_breaks_the_contract_is_refused() {
    let launch = format!(
        "videotestsrc num-buffers=20 ! video/x-raw,width=64,height=64 ! clipbuffer ! \
         violenceclassify model-location={} ! fakesink",
        model("encoder-mismatch.pt")
    );
    let error = start_error(&launch).expect("the model is refused");
    assert!(error.contains("encoder-mismatch.pt"), "{error}");
    assert!(
        error.contains("frame_encoder contract does not hold"),
        "{error}"
    );
}

#[test]
fn a_frozen_source_is_announced_without_an_event_and_its_return_too() {
    init();
    use gst::prelude::*;
    // Still frames: no event ever; the camera freezes after 10 frames, then comes back.
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 20,
        motion: 0..0,
    };
    let (pipeline, src) = appsrc_pipeline(
        &format!(
            "appsrc name=src format=time is-live=true do-timestamp=false ! {} ! fakesink sync=false",
            classify("stall-timeout=300000000")
        ),
        &video.caps(),
    );
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    for i in 0..10 {
        src.push_buffer(video.frame(i)).unwrap();
    }
    let mut seen = Vec::new();
    let mut warned = false;
    let mut resumed_pushed = false;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(10)) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                let name = e.structure().unwrap().name().to_string();
                if name == "violence-stalled" && !resumed_pushed {
                    let waited = e.structure().unwrap().get::<f64>("seconds").unwrap();
                    assert!(waited >= 0.3, "{waited}");
                    // Frames again.
                    for i in 10..video.frames {
                        src.push_buffer(video.frame(i)).unwrap();
                    }
                    resumed_pushed = true;
                }
                if name == "violence-stalled"
                    || name == "violence-resumed"
                    || name == "violence-start"
                {
                    seen.push(name.clone());
                }
                if name == "violence-resumed" {
                    break;
                }
            }
            gst::MessageView::Warning(w) => warned |= w.error().to_string().contains("stalled"),
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => (),
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(seen, ["violence-stalled", "violence-resumed"]);
    assert!(warned, "a warning names the stall");
}
