// SPDX-License-Identifier: MPL-2.0

//! CI for the pose cascade (models/pose/): a tiny TF.js graph shaped like MoveNet's backbone
//! is converted to TorchScript, its features of clips extracted by the plugin train a head,
//! a tiny MotionNet is the cheap stage, and the exported cascade runs in violenceclassify,
//! once with every window verified (gate 0) and once with none (gate above 1).

mod common;
use gstviolence_tools::{extract, manifest};

use common::*;
use gst::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a module of the `models` package (`python -m`, from the repository root).
fn run_python(module: &str, args: &[&str]) {
    let status = Command::new(python())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["-m", module])
        .args(args)
        .status()
        .expect("run the venv's python (run `make test`, which sets it up)");
    assert!(status.success(), "{module} {args:?} failed");
}

fn extract_at(dir: &Path, rows: &[manifest::Row], out: &Path, size: u32) {
    let params = extract::Params {
        clip_length: 8,
        frame_step: 2,
        width: size,
        height: size,
        stride: 2,
        flow: false,
        front: None,
        people_crop: false,
    };
    let failed = extract::extract_all(dir, rows, out, &params, false).expect("extract");
    assert_eq!(failed, 0, "extraction failed for some clips");
}

fn scores_of(model: &Path, uri: &str) -> Vec<f64> {
    let pipeline = gst::parse::launch(&format!(
        "uridecodebin uri={uri} ! videoconvert ! clipbuffer ! violenceclassify mode=sync \
         emit-scores=true model-location={} ! fakesink",
        model.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let out = run_pipeline(&pipeline, || {});
    assert!(out.error.is_none(), "pipeline error: {:?}", out.error);
    out.events("violence-score")
        .iter()
        .map(|e| e.score as f64)
        .collect()
}

#[test]
fn tiny_cascade_trains_exports_and_runs_in_violenceclassify() {
    let data = shared_data("the clips of ../shared/data");
    let dir = data.join("violence");
    init();
    let rows = manifest::read(&dir, "all").expect("MANIFEST.tsv");
    let chosen = manifest::first_of_each(
        &rows,
        &[
            ("hockey", "fight", "train", 2),
            ("hockey", "nofight", "train", 2),
            ("scf", "fight", "train", 1),
            ("scf", "nofight", "train", 1),
            ("hockey", "fight", "val", 1),
            ("hockey", "nofight", "val", 1),
        ],
    );
    assert_eq!(chosen.len(), 8);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = root.join(format!("target/cascade-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let path = |name: &str| -> PathBuf { work.join(name) };
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();

    // The cheap stage at 32x32 and the cascade's input at 2 x 32 = 64.
    extract_at(&dir, &chosen, &path("clips32"), 32);
    extract_at(&dir, &chosen, &path("clips64"), 64);
    run_python(
        "models.train",
        &[
            &s(&path("clips32")),
            "--out",
            &s(&path("cheap.pt")),
            "--epochs",
            "1",
            "--batch",
            "2",
            "--max-steps",
            "3",
            "--threads",
            "1",
            "--width",
            "8",
            "--name",
            "ci-cheap",
        ],
    );
    // Conversion of the TF.js graph (its SAME padding checked against the rule written out),
    // features, cheap scores, head.
    run_python("models.checks.padding_check", &[]);
    // The flow the model can compute itself (an experiment beside the default): known shifts
    // recovered, steady and back-and-forth motion told apart, scripted equal to eager.
    run_python("models.checks.frame_flow_check", &[]);
    run_python("models.checks.tiny_graph", &[&s(&path("graph"))]);
    run_python(
        "models.pose.movenet",
        &[
            &s(&path("graph")),
            "--out",
            &s(&path("backbone.pt")),
            "--size",
            "64",
        ],
    );
    // Whole feature maps (2x2 cells at 64x64) for the default's per-cell change statistics.
    run_python(
        "models.pose.features",
        &[
            &s(&path("clips64")),
            &s(&path("backbone.pt")),
            &s(&path("features")),
            "--size",
            "64",
            "--maps",
        ],
    );
    run_python(
        "models.pose.cheap_scores",
        &[
            &s(&path("clips64")),
            &s(&path("cheap.pt")),
            &s(&path("features")),
        ],
    );
    let report = path("head.json");
    run_python(
        "models.pose.train_head",
        &[
            &s(&path("clips64")),
            &s(&path("features")),
            "--out",
            &s(&path("head.pt")),
            "--frames",
            "4",
            "--stats",
            "cell",
            "--eps",
            "0.5",
            "--epochs",
            "2",
            "--folds",
            "2",
            "--threads",
            "1",
            "--gate",
            "0.0",
            "--report",
            &s(&report),
        ],
    );
    let figures = std::fs::read_to_string(&report).unwrap();
    assert!(
        figures.contains("\"threshold\"") && figures.contains("hockey cascade"),
        "{figures}"
    );

    let uri = chosen.last().unwrap().uri(&dir).unwrap();
    let mut all_scores = Vec::new();
    for (gate, name) in [("0.0", "verified.pt"), ("1.5", "ungated.pt")] {
        run_python(
            "models.pose.cascade",
            &[
                "--cheap",
                &s(&path("cheap.pt")),
                "--backbone",
                &s(&path("backbone.pt")),
                "--head",
                &s(&path("head.pt")),
                "--gate",
                gate,
                "--verifier-size",
                "64",
                "--out",
                &s(&path(name)),
            ],
        );
        let scores = scores_of(&path(name), &uri);
        assert!(!scores.is_empty(), "no score from the {name} cascade");
        assert!(scores.iter().all(|p| (0.0..=1.0).contains(p)), "{scores:?}");
        all_scores.push(scores);
    }
    // With gate 1.5 nothing is verified: every score is the cheap one scaled under the
    // threshold, so none reaches it; with gate 0 the head scores every window.
    let meta = std::fs::read_to_string(path("head.json")).unwrap();
    let threshold: f64 = meta
        .split("\"threshold\": ")
        .nth(1)
        .and_then(|t| t.split([',', '\n']).next())
        .and_then(|t| t.trim().parse().ok())
        .expect("threshold in the head report");
    assert!(
        all_scores[1].iter().all(|p| *p < threshold),
        "{all_scores:?} {threshold}"
    );
    assert_ne!(
        all_scores[0], all_scores[1],
        "the verifier changed no score"
    );
    // Every window verified: the feature memo (a ring smaller than the batch) changes no score.
    run_python("models.checks.memo_check", &[&s(&path("verified.pt"))]);
    // fp16=true runs the module in half precision: every tensor of it must follow.
    run_python("models.checks.half_check", &[&s(&path("verified.pt"))]);
    // On the CPU the verifier runs its backbone fused by oneDNN: the same scores as unfused.
    run_python("models.checks.fused_check", &[&s(&path("verified.pt"))]);
    let _ = std::fs::remove_dir_all(&work);
}

/// The shipped cascades carry their backbone fused for the CPU, and it scores as unfused.
#[test]
fn shipped_cascades_run_their_fused_backbone_on_cpu() {
    for model in ["models/default.pt", "models/zoo/people-cascade.pt"] {
        run_python("models.checks.fused_check", &[model]);
    }
}

/// cascade.py's serving code, rebuilt around the shipped cascades' parts, scores them bit for
/// bit as the files do: the next export of them keeps their events.
#[test]
fn cascade_code_scores_the_shipped_cascades_as_they_do() {
    for model in ["models/default.pt", "models/zoo/people-cascade.pt"] {
        run_python("models.checks.served_code_check", &[model]);
    }
}
