// SPDX-License-Identifier: MPL-2.0

//! Keeps the published architectures of models/archs usable end to end: their shape and parameter
//! tests, a training of a few steps of each with its own training rule (DQN for SSHA,
//! activation switching for R(2+1)D) on clips extracted by the plugin, and each export run
//! by violenceclassify in a real pipeline; SSHA goes through the multi-step attention loop,
//! in its RGB, flow and two-stream variants.

mod common;
use gstviolence_tools::{extract, manifest};

use common::*;
use gst::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Scores of `model` on the clip at `uri` through clipbuffer and violenceclassify
/// (`flow`: with opticalflow before clipbuffer).
fn run_in_plugin(uri: &str, model: &Path, flow: bool) -> Vec<gstviolence::event::ViolenceEvent> {
    let pipeline = gst::parse::launch(&format!(
        "uridecodebin uri={uri} ! videoconvert ! {}clipbuffer ! violenceclassify mode=sync \
         emit-scores=true model-location={} ! fakesink",
        if flow { "opticalflow ! " } else { "" },
        model.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let out = run_pipeline(&pipeline, || {});
    assert!(
        out.error.is_none(),
        "{}: pipeline error: {:?}",
        model.display(),
        out.error
    );
    let scores = out.events("violence-score");
    assert!(!scores.is_empty(), "no score from {}", model.display());
    scores
}

/// Runs `python -m <args>` from the repository root (`models` is a package).
fn run_python(args: &[&str], what: &str) {
    let status = Command::new(python())
        .current_dir(root())
        .arg("-m")
        .args(args)
        .status()
        .expect("run the venv's python (run `make test`, which sets it up)");
    assert!(status.success(), "{what} failed");
}

#[test]
fn architectures_train_export_and_run_in_violenceclassify() {
    let data = shared_data("the clips of ../shared/data");
    let dir = data.join("violence");
    init();
    let work: PathBuf = root().join(format!("target/archs-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);

    // 1. Shapes and parameter counts; the scripted trained-size models of each architecture.
    let shapes = work.join("shapes");
    run_python(
        &["models.archs.test_archs", "--out", shapes.to_str().unwrap()],
        "python -m models.archs.test_archs",
    );

    // 2. Clips from the plugin: a few train clips of each label and dataset, one val clip.
    let rows = manifest::read(&dir, "all").expect("MANIFEST.tsv");
    let chosen = manifest::first_of_each(
        &rows,
        &[
            ("hockey", "fight", "train", 2),
            ("hockey", "nofight", "train", 2),
            ("scf", "fight", "train", 1),
            ("scf", "nofight", "train", 1),
            ("hockey", "fight", "val", 1),
        ],
    );
    let mut clips = Vec::new();
    for (name, size) in [("clips", 32), ("zoom", 64)] {
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
        let out = work.join(name);
        let failed = extract::extract_all(&dir, &chosen, &out, &params, false).expect("extract");
        assert_eq!(failed, 0, "extraction failed for some clips");
        clips.push(out);
    }
    let (small, zoom) = (clips[0].to_str().unwrap(), clips[1].to_str().unwrap());

    // 3. A few training steps of each, with its own rule, and its export.
    let tiny = [
        (
            "ssha",
            "--episodes 8 --episode-batch 4 --batch 4 --width-mult 0.125",
        ),
        (
            "r2plus1d",
            "--epochs 2 --max-steps 4 --batch 2 --holdout 0.3 --width-mult 0.125",
        ),
        (
            "mobilenet_lstm",
            "--epochs 1 --max-steps 2 --batch 2 --width-mult 0.25",
        ),
        (
            "cnn_bilstm",
            "--epochs 1 --max-steps 2 --batch 2 --width-mult 0.125",
        ),
        (
            "tcnn_attention",
            "--epochs 1 --max-steps 2 --batch 2 --width-mult 0.125",
        ),
    ];
    let val = chosen.last().unwrap().uri(&dir).unwrap();
    for (arch, extra) in tiny {
        let model = work.join(format!("{arch}.pt"));
        let module = format!("models.archs.{arch}");
        let mut args = vec![
            module.as_str(),
            small,
            "--out",
            model.to_str().unwrap(),
            "--threads",
            "1",
            "--name",
            "ci-tiny",
        ];
        if arch == "ssha" {
            // Regions are cropped from the larger extraction, as from attention frames.
            args.extend(["--zoom-clips", zoom]);
        }
        args.extend(extra.split_whitespace());
        run_python(&args, arch);
        assert!(model.exists(), "{arch}: no export");
        // The trained export runs in the plugin, with the clip shape taken from the model.
        let scores = run_in_plugin(&val, &model, false);
        for s in &scores {
            assert!((0.0..=1.0).contains(&s.score), "{arch}: score {}", s.score);
            if arch == "ssha" {
                assert!((1..=3).contains(&s.steps), "ssha: {} steps", s.steps);
                assert_eq!(
                    s.region.is_some(),
                    s.steps > 1,
                    "ssha: region iff it zoomed"
                );
            } else {
                assert_eq!(s.steps, 1, "{arch}");
            }
        }
    }

    // 4. The scripted models of the shape tests (trained-size configurations) run too; SSHA's
    //    flow and two-stream variants get their flow from opticalflow.
    for name in [
        "ssha",
        "r2plus1d",
        "mobilenet_lstm",
        "cnn_bilstm",
        "tcnn_attention",
    ] {
        run_in_plugin(&val, &shapes.join(format!("{name}.pt")), false);
    }
    for name in ["ssha_flow", "ssha_rgb_flow"] {
        run_in_plugin(&val, &shapes.join(format!("{name}.pt")), true);
    }
    let _ = std::fs::remove_dir_all(&work);
}
