// SPDX-License-Identifier: MPL-2.0

//! The bundled cascade's `screen`, which violenceclassify uses for a clip that waited longer
//! than `screen-after`: it is the cascade's cheap stage (`zoo/motionnet.pt`) deciding alone, at
//! that model's own threshold mapped onto the cascade's. Checked on a real fight clip against
//! motionnet's own scores of the same windows.

mod common;
use common::*;
use gst::prelude::*;
use gstviolence_tools::manifest;
use std::collections::BTreeMap;

/// Scores by clip start, and (clips scored, clips screened).
fn scores(uri: &str, model: &str, props: &str) -> (BTreeMap<u64, f32>, u64, u64) {
    let pipeline = gst::parse::launch(&format!(
        "uridecodebin uri={uri} ! videoconvert ! clipbuffer ! violenceclassify name=cls \
         emit-scores=true model-location={model} {props} ! fakesink sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let cls = pipeline.by_name("cls").unwrap();
    let out = run_pipeline(&pipeline, || {});
    assert_eq!(out.error, None, "{model} {props}");
    let by_start = out
        .events("violence-score")
        .into_iter()
        .map(|e| (e.clip_start, e.score))
        .collect();
    (
        by_start,
        cls.property::<u64>("clips-scored"),
        cls.property::<u64>("clips-screened"),
    )
}

/// (gate, threshold, screen threshold) from the cascade's metadata.
fn cascade_facts(model: &str) -> (f32, f32, f32) {
    let module = tch::CModule::load(model).unwrap();
    let tch::IValue::String(json) = module.method_is::<tch::IValue>("metadata", &[]).unwrap()
    else {
        panic!("{model}: metadata() is not a string");
    };
    let meta: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(meta["screen"], true, "{model} declares its screen");
    let number = |v: &serde_json::Value| v.as_f64().unwrap() as f32;
    (
        number(&meta["cascade"]["gate"]),
        number(&meta["threshold"]),
        number(&meta["cascade"]["screen_threshold"]),
    )
}

#[test]
fn the_default_screen_is_its_cheap_stage_deciding_alone() {
    let data = shared_data("a fight clip of ../shared/data/violence");
    let dir = data.join("violence");
    init();
    let rows = manifest::read(&dir, "val").expect("MANIFEST.tsv");
    let clip = manifest::first_of_each(&rows, &[("scf", "fight", "val", 1)]);
    let uri = clip[0].uri(&dir).unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let (default, cheap) = (
        format!("{root}/models/default.pt"),
        format!("{root}/models/zoo/motionnet.pt"),
    );
    let (gate, threshold, screen_threshold) = cascade_facts(&default);

    // screen-after of 1 ns: every clip of an async stream is screened; sync never screens.
    let (screened, scored, n_screened) =
        scores(&uri, &default, "mode=async max-pending=64 screen-after=1");
    assert!(
        scored > 4 && n_screened == scored,
        "{n_screened} of {scored}"
    );
    let (forward, _, none) = scores(&uri, &default, "mode=sync screen-after=1");
    assert_eq!(
        none, 0,
        "a stream that waits for its scores is never screened"
    );
    let (alone, _, _) = scores(&uri, &cheap, "mode=sync");
    assert_eq!(
        screened.keys().collect::<Vec<_>>(),
        alone.keys().collect::<Vec<_>>()
    );

    let mut gated = 0;
    for (start, p_cheap) in &alone {
        let expected = if *p_cheap < gate {
            threshold * p_cheap / gate
        } else if *p_cheap >= screen_threshold {
            threshold + (1.0 - threshold) * (p_cheap - screen_threshold) / (1.0 - screen_threshold)
        } else {
            threshold * p_cheap / screen_threshold
        };
        gated += usize::from(*p_cheap >= gate);
        // The cascade pools its 160x160 frames to motionnet's 80x80: rounding apart, the same.
        let p = screened[start];
        assert!(
            (p - expected).abs() < 0.02,
            "window {start}: {p} against {expected} (motionnet {p_cheap})"
        );
        // Decided as motionnet decides, wherever it is clear of its threshold.
        if (p_cheap - screen_threshold).abs() > 0.02 {
            assert_eq!(
                p >= threshold,
                *p_cheap >= screen_threshold,
                "window {start}"
            );
        }
        if *p_cheap < gate - 0.02 {
            assert!(
                (p - forward[start]).abs() < 1e-4,
                "ungated window {start} as forward scores it"
            );
        }
    }
    assert!(gated > 0, "the clip has windows past the gate: {alone:?}");
}
