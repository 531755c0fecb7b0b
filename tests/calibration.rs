// SPDX-License-Identifier: MPL-2.0

//! Per-camera calibration in real pipelines: violenceclassify learns a camera's normal
//! windows into a file, then windows like them need more evidence, while unlike ones keep
//! the model's threshold. The graded test model scores a block moving over grey at about
//! 0.8 and a flickering frame at about 1.

mod common;
use common::*;
use gstviolence::violenceclassify::calibration::{Calibration, ModelFingerprint, WindowKind};
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("calibration-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The calibration file as the graded test model reads it.
fn load(file: &Path) -> Calibration {
    let model = ModelFingerprint::of_file(Path::new(&model("graded.pt"))).unwrap();
    Calibration::load(file, &model).unwrap()
}

fn classify(model_name: &str, file: &Path, mode: &str) -> String {
    format!(
        "clipbuffer stride=2 ! violenceclassify model-location={} mode=sync emit-scores=true \
         calibration-location={} calibration-mode={mode}",
        model(model_name),
        file.display()
    )
}

/// A white block moving over grey for the whole video: the camera's ordinary scene.
fn crowd() -> Synthetic {
    Synthetic {
        width: 64,
        height: 64,
        frames: 80,
        motion: 0..80,
    }
}

/// The whole frame flickering: motion unlike anything the crowd video shows.
fn flicker(video: &Synthetic) -> impl Iterator<Item = gst::Buffer> + '_ {
    (0..video.frames).map(|i| {
        let mut frame = video.frame(i);
        let level = if i % 2 == 0 { 40 } else { 200 };
        frame.get_mut().unwrap().map_writable().unwrap().fill(level);
        frame
    })
}

#[test]
fn windows_like_the_learned_ones_need_more_evidence_and_others_do_not() {
    let dir = scratch("learn-apply");
    let file = dir.join("cam1.json");
    let video = crowd();

    // Learning leaves the decisions alone: the moving block starts an event (about 0.8).
    let learned = run_synthetic(&video, &classify("graded.pt", &file, "learn"));
    assert_eq!(learned.error, None);
    assert_eq!(learned.events("violence-start").len(), 1);
    let scores: Vec<f32> = learned
        .events("violence-score")
        .iter()
        .map(|e| e.score)
        .collect();
    assert!(
        scores.iter().all(|s| (0.6..0.95).contains(s)),
        "the graded model scores the block below 0.95: {scores:?}"
    );
    let calibration = load(&file);
    assert_eq!(calibration.windows.len(), scores.len());
    assert!(
        calibration.normal_seconds > 2.0,
        "{}",
        calibration.normal_seconds
    );

    // The same scene with the calibration applied starts nothing: every window is scored
    // below the threshold.
    let applied = run_synthetic(&video, &classify("graded.pt", &file, "apply"));
    assert_eq!(applied.error, None);
    assert!(applied.events("violence-start").is_empty());
    assert!(applied
        .events("violence-score")
        .iter()
        .all(|e| e.score < 0.5));

    // A camera without that calibration still alarms on the same scene.
    let other = dir.join("cam2.json");
    let dark = run_synthetic(
        &Synthetic {
            motion: 0..0,
            ..crowd()
        },
        &classify("graded.pt", &other, "learn"),
    );
    assert_eq!(dark.error, None);
    let uncalibrated = run_synthetic(&video, &classify("graded.pt", &other, "apply"));
    assert_eq!(uncalibrated.events("violence-start").len(), 1);

    // Motion unlike the learned windows keeps the model's threshold on cam1.
    let strong = run_frames(
        &video.caps(),
        flicker(&video),
        &classify("graded.pt", &file, "apply"),
    );
    assert_eq!(strong.error, None);
    assert_eq!(strong.events("violence-start").len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_recorded_false_alarm_is_added_to_the_file() {
    let dir = scratch("false-alarm");
    let file = dir.join("cam.json");
    let video = crowd();
    let learned = run_synthetic(&video, &classify("graded.pt", &file, "learn-false-alarm"));
    assert_eq!(learned.error, None);
    let c = load(&file);
    assert!(!c.windows.is_empty());
    assert!(c.windows.iter().all(|w| w.kind == WindowKind::FalseAlarm));
    assert!(c.false_alarm_seconds > 2.0 && c.normal_seconds == 0.0);
    // Learning again appends.
    let n = c.windows.len();
    run_synthetic(&video, &classify("graded.pt", &file, "learn"));
    let c = load(&file);
    assert_eq!(c.windows.len(), 2 * n);
    assert!(
        run_synthetic(&video, &classify("graded.pt", &file, "apply"))
            .events("violence-start")
            .is_empty()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_file_or_another_models_file_is_refused_by_name() {
    let dir = scratch("refused");
    let file = dir.join("cam.json");
    let video = crowd();
    let missing = run_synthetic(&video, &classify("graded.pt", &file, "apply"));
    let err = missing.error.expect("apply needs the file");
    assert!(
        err.contains("cam.json") && err.contains("does not exist"),
        "{err}"
    );
    run_synthetic(&video, &classify("graded.pt", &file, "learn"));
    for mode in ["apply", "learn"] {
        let err = run_synthetic(&video, &classify("motion.pt", &file, mode))
            .error
            .expect("another model's calibration is refused");
        assert!(
            err.contains("cam.json") && err.contains("graded.pt") && err.contains("motion.pt"),
            "{mode}: {err}"
        );
    }
    let err = run_synthetic(
        &video,
        &classify("graded.pt", &dir.join("no-such-dir/cam.json"), "learn"),
    )
    .error
    .expect("an unwritable place is found at start");
    assert!(err.contains("no-such-dir"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
