// SPDX-License-Identifier: MPL-2.0

//! Model and device faults, which must stop the stream or skip the clip, never crash it:
//! NaN and infinite outputs under both `on-model-error` policies, and a model saved on CUDA
//! loaded on the CPU. Exceptions in forward, wrong shapes and `device=cuda` without CUDA
//! are in errors.rs; a very slow forward with a live source is
//! `async_mode_never_blocks_a_live_source` in classify_live.rs.

mod common;
use common::*;

fn video() -> Synthetic {
    Synthetic {
        width: 64,
        height: 64,
        frames: 60,
        motion: 20..35,
    }
}

fn classify(model_file: &str, extra: &str) -> String {
    format!(
        "clipbuffer stride=4 ! violenceclassify mode=sync emit-scores=true \
         stats-interval=40000000 {extra} model-location={}",
        model(model_file)
    )
}

#[test]
fn non_finite_outputs_are_an_element_error_by_default() {
    for file in ["nan.pt", "inf.pt"] {
        let out = run_synthetic(&video(), &classify(file, ""));
        let e = out
            .error
            .clone()
            .unwrap_or_else(|| panic!("{file}: no error"));
        assert!(e.contains(file), "{file}: {e}");
        // Still clips before the motion were scored normally.
        assert!(!out.events("violence-score").is_empty(), "{file}");
    }
}

#[test]
fn non_finite_outputs_are_skipped_with_the_skip_policy() {
    for file in ["nan.pt", "inf.pt"] {
        let out = run_synthetic(&video(), &classify(file, "on-model-error=skip"));
        assert_eq!(out.error, None, "{file}");
        assert_eq!(out.buffers.len(), 60, "{file}: every frame went through");
        let failed = out
            .named("violence-stats")
            .iter()
            .filter_map(|s| s.get::<u64>("clips-failed").ok())
            .max()
            .unwrap_or(0);
        assert!(failed > 0, "{file}: no clip counted as failed");
        // No NaN or infinity leaks out as a score or an event.
        for e in out.events("violence-score") {
            assert!(
                e.score.is_finite() && (0.0..=1.0).contains(&e.score),
                "{e:?}"
            );
        }
        assert!(out.events("violence-start").is_empty(), "{file}");
        // Clips after the motion score again.
        let last = out.events("violence-score").last().unwrap().pts;
        assert!(last >= 40 * FRAME_NS, "{file}: last score at {last}");
    }
}

#[test]
fn model_saved_on_cuda_runs_on_the_cpu() {
    // cuda-saved.pt holds its tensors on cuda:0 (make_test_models.py checks that torch
    // cannot load it on this machine without a device map).
    let out = run_synthetic(&video(), &classify("cuda-saved.pt", "device=cpu"));
    assert_eq!(out.error, None);
    assert_eq!(
        out.events("violence-start").len(),
        1,
        "the motion is detected"
    );
    // device=auto on a machine without CUDA picks the CPU as well.
    if !tch::Cuda::is_available() {
        let out = run_synthetic(&video(), &classify("cuda-saved.pt", "device=auto"));
        assert_eq!(out.error, None);
        assert_eq!(out.events("violence-start").len(), 1);
    }
}
