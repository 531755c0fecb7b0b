// SPDX-License-Identifier: MPL-2.0

//! persondetect in real pipelines on real footage: it finds walking people (boxes, scores,
//! motion), looks only where something moved, looks again soon while nobody moves, and
//! refuses a missing, unset or wrong model by name. With hardattentioncrop
//! region-source=people, the crop follows the moving people.

mod common;
use common::*;
use gst::prelude::*;
use gstviolence::meta::{region_confidence, region_motion, ROI_PERSON};
use std::path::{Path, PathBuf};

fn people_model() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models/people.pt")
        .display()
        .to_string()
}

/// People of one frame: (x, y, width, height, confidence, motion).
type Found = Vec<(u32, u32, u32, u32, f64, f64)>;

/// Runs `source ! videoconvert ! persondetect PROPS ! [after !] appsink` and returns the
/// people of every frame, with the output frame size.
fn run(source: &str, props: &str, after: &str) -> (Vec<Found>, (i32, i32)) {
    init();
    let after = if after.is_empty() {
        String::new()
    } else {
        format!("{after} ! ")
    };
    let launch = format!(
        "{source} ! videoconvert ! persondetect model-location=\"{}\" {props} ! {after}appsink name=sink sync=false",
        people_model()
    );
    let pipeline = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = Vec::new();
    let mut size = (0, 0);
    while let Ok(sample) = sink.pull_sample() {
        let caps = sample.caps().unwrap().structure(0).unwrap().to_owned();
        size = (
            caps.get::<i32>("width").unwrap(),
            caps.get::<i32>("height").unwrap(),
        );
        let buffer = sample.buffer().unwrap();
        frames.push(
            buffer
                .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
                .filter(|m| m.roi_type() == ROI_PERSON)
                .map(|m| {
                    let (x, y, w, h) = m.rect();
                    (
                        x,
                        y,
                        w,
                        h,
                        region_confidence(&m).unwrap(),
                        region_motion(&m).unwrap(),
                    )
                })
                .collect(),
        );
    }
    let error = pipeline.bus().unwrap().iter().find_map(|m| match m.view() {
        gst::MessageView::Error(e) => Some(e.error().to_string()),
        _ => None,
    });
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(error, None);
    (frames, size)
}

/// A PETS 2009 campus walkway (elevated CCTV, pedestrians crossing) of normal-cctv.
fn walkway() -> PathBuf {
    shared_data("normal-cctv's people_shaxboz.mp4 (pedestrians on a campus walkway)")
        .join("normal-cctv/people_shaxboz.mp4")
}

#[test]
fn finds_the_walking_people_of_real_cctv_footage() {
    let source = format!("filesrc location=\"{}\" ! decodebin", walkway().display());
    // 4 s at 10 frames/s; a detection every 500 ms.
    let (frames, (w, h)) = run(
        &format!("{source} ! identity eos-after=40"),
        "interval=500",
        "",
    );
    assert!(frames.len() >= 40, "{} frames", frames.len());
    // The first frame only keeps a thumbnail; from the first detection on, every frame
    // carries the people found last.
    assert!(frames[0].is_empty());
    let with_people = frames.iter().filter(|f| !f.is_empty()).count();
    assert!(
        with_people >= frames.len() - 5,
        "{with_people} of {} frames carry people",
        frames.len()
    );
    let most = frames.iter().map(Vec::len).max().unwrap();
    assert!(
        most >= 3,
        "at most {most} people found among the walkway's pedestrians"
    );
    for &(x, y, bw, bh, confidence, motion) in frames.iter().flatten() {
        assert!(x + bw <= w as u32 && y + bh <= h as u32);
        // Upright people: taller than wide, and not the whole frame.
        assert!(bh > bw && bh < h as u32 / 2, "{bw}x{bh}");
        assert!((0.35..=1.0).contains(&confidence));
        assert!((0.0..=1.0).contains(&motion));
    }
    assert!(
        frames.iter().flatten().any(|p| p.5 > 0.05),
        "no walking person moved"
    );
}

#[test]
fn looks_only_where_something_moved() {
    let frame = std::env::temp_dir().join(format!("persondetect-still-{}.png", std::process::id()));
    // One frame of the walkway, frozen: people, and no motion.
    let save = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! pngenc snapshot=true ! filesink location=\"{}\"",
        walkway().display(),
        frame.display()
    );
    run_launch(&save);
    let still = format!(
        "filesrc location=\"{}\" ! pngdec ! imagefreeze num-buffers=30 ! video/x-raw,framerate=10/1",
        frame.display()
    );
    let (frames, _) = run(&still, "interval=300", "");
    assert!(
        frames.iter().all(Vec::is_empty),
        "people reported where nothing moved"
    );
    let (frames, _) = run(&still, "interval=300 motion-zoom=false", "");
    assert!(
        frames.iter().any(|f| f.len() >= 2),
        "the whole-frame look finds the standing people"
    );
    assert!(
        frames.iter().flatten().all(|p| p.5 == 0.0),
        "still people have no motion"
    );
    let _ = std::fs::remove_file(frame);
}

#[test]
fn the_crop_follows_the_moving_people() {
    let source = format!(
        "filesrc location=\"{}\" ! decodebin ! identity eos-after=30",
        walkway().display()
    );
    let (frames, size) = run(
        &source,
        "interval=300",
        "hardattentioncrop region-source=people width=128 height=128 margin=0.3 smoothing=0",
    );
    assert_eq!(size, (128, 128));
    // In crop coordinates, the group cropped around lies inside the crop; people elsewhere
    // are left out (their metas dropped or clipped by the crop).
    let last = frames.last().unwrap();
    assert!(!last.is_empty(), "no person in the crop of the last frame");
    for &(x, y, w, h, ..) in last {
        assert!(x + w <= 128 && y + h <= 128);
    }
}

fn run_launch(launch: &str) {
    init();
    let pipeline = gst::parse::launch(launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let done = bus
        .iter_timed(gst::ClockTime::from_seconds(30))
        .find_map(|m| match m.view() {
            gst::MessageView::Eos(_) => Some(None),
            gst::MessageView::Error(e) => Some(Some(e.error().to_string())),
            _ => None,
        });
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(done, Some(None));
}

#[test]
fn refuses_a_missing_unset_or_wrong_model_by_name() {
    let launch = |model: &str| {
        format!("videotestsrc num-buffers=3 ! videoconvert ! persondetect {model} ! fakesink")
    };
    let missing = start_error(&launch("model-location=/nonexistent/people.pt")).unwrap();
    assert!(
        missing.contains("/nonexistent/people.pt") && missing.contains("does not exist"),
        "{missing}"
    );
    // The violence classifier is a TorchScript module, but not a person detector.
    let violence = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default.pt");
    let wrong = start_error(&launch(&format!(
        "model-location=\"{}\"",
        violence.display()
    )))
    .unwrap();
    assert!(wrong.contains("default.pt"), "{wrong}");
    let not_torch = std::env::temp_dir().join(format!("persondetect-{}.pt", std::process::id()));
    std::fs::write(&not_torch, b"not a model").unwrap();
    let garbage = start_error(&launch(&format!(
        "model-location=\"{}\"",
        not_torch.display()
    )))
    .unwrap();
    assert!(garbage.contains("not a TorchScript module"), "{garbage}");
    let _ = std::fs::remove_file(not_torch);
}

/// Runs `persondetect ! clipbuffer ! violenceclassify` (a people-crop test model) over the
/// walkway and returns clipbuffer's clip shape and the regions of the score messages.
fn people_crop_run(with_persondetect: bool) -> (gst::Structure, Vec<(u32, u32, u32, u32)>) {
    init();
    let detect = if with_persondetect {
        format!(
            "persondetect model-location=\"{}\" interval=300 ! ",
            people_model()
        )
    } else {
        String::new()
    };
    let launch = format!(
        "filesrc location=\"{}\" ! decodebin ! identity eos-after=60 ! videoconvert ! {detect}clipbuffer name=cb \
         ! violenceclassify mode=sync emit-scores=true model-location=\"{}\" ! fakesink",
        walkway().display(),
        model("people-motion.pt")
    );
    let pipeline = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut regions = Vec::new();
    for msg in pipeline
        .bus()
        .unwrap()
        .iter_timed(gst::ClockTime::from_seconds(60))
    {
        match msg.view() {
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                if s.name() == "violence-score" {
                    if let Ok(x) = s.get::<u32>("region-x") {
                        let get = |f: &str| s.get::<u32>(f).unwrap();
                        regions.push((
                            x,
                            get("region-y"),
                            get("region-width"),
                            get("region-height"),
                        ));
                    }
                }
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => (),
        }
    }
    let shape = pipeline
        .by_name("cb")
        .unwrap()
        .property::<gst::Structure>("clip-shape");
    pipeline.set_state(gst::State::Null).unwrap();
    (shape, regions)
}

#[test]
fn a_people_crop_model_gets_clips_cut_around_the_people_and_events_with_the_crop() {
    let (shape, regions) = people_crop_run(true);
    assert_eq!(shape.get::<bool>("people-crop"), Ok(true), "{shape}");
    // The walkway is 480x360: the crops of the moving pedestrians are smaller than the frame.
    assert!(
        !regions.is_empty(),
        "no window scored carried the crop it was cut from"
    );
    for &(x, y, w, h) in &regions {
        assert!(
            x + w <= 480 && y + h <= 360 && (w < 480 || h < 360),
            "{x},{y} {w}x{h}"
        );
        assert_eq!(w, h, "the crop has the model's (square) aspect");
    }
    // Without persondetect the model still runs, on whole frames (no crop to report).
    let (shape, regions) = people_crop_run(false);
    assert_eq!(shape.get::<bool>("people-crop"), Ok(true));
    assert!(regions.is_empty(), "{regions:?}");
}

/// Index of the first frame carrying a person whose box moved.
fn first_moving(frames: &[Found]) -> Option<usize> {
    frames.iter().position(|f| f.iter().any(|p| p.5 >= 0.05))
}

#[test]
fn while_nobody_moves_it_looks_again_sooner_than_the_interval() {
    // The walkway at 100 frames/s, each frame repeated: the look on the second frame sees
    // nothing move. 4 s, with a look every 3 s once someone moving is found.
    let source = format!(
        "filesrc location=\"{}\" ! decodebin ! videorate ! video/x-raw,framerate=100/1 ! identity eos-after=400",
        walkway().display()
    );
    // The search looks again 250 ms later and finds the walkers then.
    let (searching, _) = run(&source, "interval=3000", "");
    let found = first_moving(&searching);
    assert!(
        found.is_some_and(|i| (20..=40).contains(&i)),
        "first moving person at frame {found:?}"
    );
    // Without it (searching as seldom as the interval), the next look comes 3 s later.
    let (plain, _) = run(&source, "interval=3000 search-interval=3000", "");
    let late = first_moving(&plain);
    assert!(
        late.is_some_and(|i| i >= 290),
        "first moving person at frame {late:?}"
    );
}
