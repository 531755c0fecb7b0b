// SPDX-License-Identifier: MPL-2.0

//! violenceclassify with live sources: a stalled or frozen camera (stall-timeout ends the
//! event, violence-stalled and violence-resumed), and async mode never blocking capture.
//! The synthetic video's motion starts and stops at known frames, and the test model is
//! violent exactly for clips in which two consecutive frames differ, so every start and end
//! PTS can be computed here (helpers in common/classify.rs).

mod common;
use common::classify::*;
use common::*;
use gstviolence::event::ViolenceEvent;

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

/// Runs the slow model with a screen on a live camera for 5 s and returns (clips scored,
/// screened, dropped, the scores of the violence-score events).
fn slow_screened_camera(props: &str) -> (u64, u64, u64, Vec<f32>) {
    init();
    use gst::prelude::*;
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=64,height=64,framerate=25/1 \
         ! clipbuffer stride=2 ! violenceclassify name=cls emit-scores=true mode=async \
         max-pending=64 model-location={} {props} ! fakesink sync=false",
        model("slow-screened.pt")
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let cls = pipeline.by_name("cls").unwrap();
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let started = std::time::Instant::now();
    let mut scores = Vec::new();
    while started.elapsed() < std::time::Duration::from_secs(5) {
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(20)) {
            match msg.view() {
                gst::MessageView::Error(e) => panic!("{}", e.error()),
                gst::MessageView::Element(e)
                    if e.structure().unwrap().name() == "violence-score" =>
                {
                    scores.push(
                        ViolenceEvent::from_structure(e.structure().unwrap())
                            .unwrap()
                            .score,
                    );
                }
                _ => (),
            }
        }
    }
    let counts = (
        cls.property::<u64>("clips-scored"),
        cls.property::<u64>("clips-screened"),
        cls.property::<u64>("clips-dropped"),
    );
    pipeline.set_state(gst::State::Null).unwrap();
    (counts.0, counts.1, counts.2, scores)
}

#[test]
fn a_model_behind_scores_its_clips_by_its_screen() {
    // Each forward takes several clips' time (a clip every 80 ms). Without a screen the
    // queue grows and few clips are scored; with one, the clips a forward would score later
    // than 100 ms after they arrived are screened (the test screen's score is 0.25), and the
    // stream keeps up.
    let (scored, screened, dropped, scores) = slow_screened_camera("screen-after=100000000");
    let (behind, none, _, _) = slow_screened_camera("screen-after=0");
    assert_eq!(none, 0);
    assert_eq!(dropped, 0);
    assert!(
        screened > 0 && scored > screened,
        "{scored} scored, {screened} screened"
    );
    assert!(
        scored > 2 * behind,
        "{scored} scored with a screen, {behind} without"
    );
    let by_screen = scores.iter().filter(|p| (**p - 0.25).abs() < 1e-4).count() as u64;
    // The events seen while running are at most the clips counted at the end.
    assert!(
        by_screen > 0 && by_screen <= screened,
        "{scores:?}, {screened} screened"
    );
    assert!(
        scores.iter().any(|p| (*p - 0.25).abs() > 0.1),
        "the forward scored some: {scores:?}"
    );
}
