// SPDX-License-Identifier: MPL-2.0

//! CI for models/: clips extracted with the plugin (the extract-clips code), a tiny training
//! of a few steps with models/train.py, its TorchScript export, and that export loaded and
//! run by violenceclassify in a real pipeline, end to end.

mod common;
use gstviolence_tools::{extract, manifest};

use common::*;
use gst::prelude::*;
use std::path::Path;

#[test]
fn tiny_training_exports_a_model_violenceclassify_runs() {
    tiny_loop(false);
}

/// The same loop for a two-stream model: extraction with opticalflow (flow clips written
/// next to the frames), training with `--inputs rgb+flow`, and the export scored in a
/// pipeline with opticalflow before clipbuffer (which takes rgb+flow from the model).
#[test]
fn tiny_flow_training_exports_a_model_violenceclassify_runs() {
    tiny_loop(true);
}

fn tiny_loop(flow: bool) {
    let data = shared_data("the clips of ../shared/data");
    let dir = data.join("violence");
    init();
    // A handful of short training clips of each label and dataset, and one val clip.
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
    assert_eq!(chosen.len(), 7);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = root.join(format!(
        "target/train-test-{}{}",
        std::process::id(),
        if flow { "-flow" } else { "" }
    ));
    let _ = std::fs::remove_dir_all(&work);
    let clips = work.join("clips");
    let params = extract::Params {
        clip_length: 8,
        frame_step: 2,
        width: 32,
        height: 32,
        stride: 2,
        flow,
        front: None,
        people_crop: false,
    };
    let failed = extract::extract_all(&dir, &chosen, &clips, &params, false).expect("extract");
    assert_eq!(failed, 0, "extraction failed for some clips");
    let index = std::fs::read_to_string(clips.join("index.tsv")).unwrap();
    assert_eq!(index.lines().count(), 8, "{index}");
    // Every extracted clip has frames of 32x32x3 bytes and windows of 8 indices.
    for line in index.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let frames: usize = f[6].parse().unwrap();
        let windows: usize = f[7].parse().unwrap();
        assert!(frames > 0 && windows > 0, "{line}");
        let bytes = std::fs::metadata(clips.join(format!("frames/{}.u8", f[0])))
            .unwrap()
            .len();
        assert_eq!(bytes as usize, frames * 32 * 32 * 3, "{line}");
        let idx = std::fs::metadata(clips.join(format!("frames/{}.idx", f[0])))
            .unwrap()
            .len();
        assert_eq!(idx as usize, windows * 8 * 4, "{line}");
        let flow_file = clips.join(format!("frames/{}.flow", f[0]));
        if flow {
            // [F, 2, 32, 32] float16.
            let bytes = std::fs::metadata(&flow_file).unwrap().len();
            assert_eq!(bytes as usize, frames * 2 * 32 * 32 * 2, "{line}");
        } else {
            assert!(!flow_file.exists());
        }
    }

    let model = work.join("tiny.pt");
    let status = std::process::Command::new(python())
        .current_dir(root)
        .args(["-m", "models.train"])
        .arg(&clips)
        .args(["--out", model.to_str().unwrap()])
        .args(["--epochs", "1", "--batch", "2", "--max-steps", "3"])
        .args(["--threads", "1", "--width", "8", "--name", "ci-tiny"])
        .args(["--inputs", if flow { "rgb+flow" } else { "rgb" }])
        .status()
        .expect("run the venv's python (run `make test`, which sets it up)");
    assert!(status.success(), "python -m models.train failed");
    assert!(model.exists());
    assert!(work.join("tiny-work/checkpoint.pt").exists());

    // The export runs in violenceclassify with clipbuffer taking its shape from the model.
    let clip = chosen.last().unwrap();
    let uri = clip.uri(&dir).unwrap();
    let pipeline = gst::parse::launch(&format!(
        "uridecodebin uri={uri} ! videoconvert ! {}clipbuffer ! violenceclassify name=cls mode=sync \
         emit-scores=true model-location={} ! fakesink",
        if flow { "opticalflow ! " } else { "" },
        model.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let out = run_pipeline(&pipeline, || {});
    assert!(out.error.is_none(), "pipeline error: {:?}", out.error);
    let scores = out.events("violence-score");
    assert!(!scores.is_empty(), "no score from the tiny model");
    let cls = pipeline.by_name("cls").unwrap();
    let threshold: f64 = cls.property("threshold");
    assert_eq!(
        threshold, -1.0,
        "threshold comes from the model, not a property"
    );
    let _ = std::fs::remove_dir_all(&work);
}
