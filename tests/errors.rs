// SPDX-License-Identifier: MPL-2.0

//! Every error path of violenceclassify: an element error that names the file and the
//! problem, never a panic or a hang.

mod common;
use common::*;

fn error_for(props: &str) -> String {
    start_error(&format!(
        "videotestsrc num-buffers=40 ! video/x-raw,width=64,height=64,framerate=25/1 \
         ! clipbuffer ! violenceclassify mode=sync {props} ! fakesink"
    ))
    .unwrap_or_else(|| panic!("{props}: expected an error"))
}

#[test]
fn missing_file_names_the_file() {
    let e = error_for("model-location=/nonexistent/model.pt");
    assert!(
        e.contains("/nonexistent/model.pt") && e.contains("does not exist"),
        "{e}"
    );
}

/// Runs `launch` in gst-launch-1.0 with `env`, the plugin from target/release, and
/// returns its exit status and its violenceclassify / persondetect log.
fn launch_with_env(launch: &str, env: &[(&str, &str)]) -> (bool, String) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("gst-launch-1.0")
        .args(launch.split(' '))
        .env("GST_PLUGIN_PATH", root.join("target/release"))
        .env("GST_DEBUG", "violenceclassify:4,persondetect:4")
        .env("GST_DEBUG_NO_COLOR", "1")
        .env_remove("GST_VIOLENCE_MODEL")
        .env_remove("GST_VIOLENCE_PEOPLE_MODEL")
        .envs(env.iter().copied())
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unset_model_location_loads_the_bundled_model_or_the_environments() {
    if !std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/release/libgstviolence.so")
        .exists()
    {
        eprintln!(
            "SKIPPED: this test runs gst-launch-1.0 with the plugin in target/release (make build)"
        );
        return;
    }
    let line = "-q videotestsrc num-buffers=40 ! video/x-raw,width=64,height=64,framerate=25/1 ! videoconvert \
                ! persondetect ! clipbuffer ! violenceclassify ! fakesink";
    // From another folder, no property, no variable: the source tree's bundled models.
    let (ok, log) = launch_with_env(line, &[]);
    assert!(ok, "{log}");
    assert!(
        log.contains("the bundled model") && log.contains("models/default.pt"),
        "{log}"
    );
    assert!(
        log.contains("person model") && log.contains("models/people.pt"),
        "{log}"
    );
    // The variable names another one.
    let motion = model("motion.pt");
    let (ok, log) = launch_with_env(line, &[("GST_VIOLENCE_MODEL", motion.as_str())]);
    assert!(ok, "{log}");
    assert!(
        log.contains(&format!("the bundled model {motion}")),
        "{log}"
    );
}

#[test]
fn not_torchscript() {
    let path = model("not-torchscript.pt");
    let e = error_for(&format!("model-location={path}"));
    assert!(
        e.contains(&path) && e.contains("not a loadable TorchScript"),
        "{e}"
    );
}

#[test]
fn directory_is_not_a_model() {
    let e = error_for("model-location=/tmp");
    assert!(e.contains("/tmp") && e.contains("directory"), "{e}");
}

#[test]
fn wrong_output_shape() {
    let path = model("wrong-shape.pt");
    let e = error_for(&format!("model-location={path}"));
    assert!(
        e.contains(&path) && e.contains("wrong output shape [1, 3]"),
        "{e}"
    );
}

#[test]
fn a_declared_screen_that_is_missing_is_refused_at_load() {
    let path = model("screen-missing.pt");
    let e = error_for(&format!("model-location={path}"));
    assert!(
        e.contains(&path) && e.contains("declares screen") && e.contains("screen()"),
        "{e}"
    );
}

#[test]
fn contradictory_metadata() {
    let path = model("contradictory.pt");
    let e = error_for(&format!("model-location={path}"));
    assert!(
        e.contains(&path) && e.contains("violent_label 'fight'"),
        "{e}"
    );
}

#[test]
fn metadata_that_is_not_json() {
    let path = model("bad-json.pt");
    let e = error_for(&format!("model-location={path}"));
    assert!(
        e.contains(&path) && e.contains("not valid contract JSON"),
        "{e}"
    );
}

#[test]
fn no_metadata_needs_the_facts_as_properties() {
    let path = model("motion-nometa.pt");
    let e = error_for(&format!("model-location={path}"));
    assert!(
        e.contains(&path) && e.contains("clip length is unknown"),
        "{e}"
    );
}

#[test]
fn no_metadata_runs_with_properties() {
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 40,
        motion: 10..20,
    };
    let out = run_synthetic(
        &video,
        &format!(
            "clipbuffer stride=2 ! violenceclassify mode=sync min-consecutive=1 model-location={} \
             clip-length=8 width=32 height=32 mean=0 std=1",
            model("motion-nometa.pt")
        ),
    );
    assert_eq!(out.error, None);
    assert_eq!(out.events("violence-start").len(), 1);
}

#[test]
fn configuration_rejected_at_first_forward_names_both_values() {
    // The motion model needs T >= 2; a 1-frame clip makes its forward fail.
    let path = model("motion.pt");
    let e = error_for(&format!("model-location={path} clip-length=1"));
    assert!(
        e.contains(&path) && e.contains("clip-length=1") && e.contains("first forward"),
        "{e}"
    );
}

#[test]
fn release_above_threshold() {
    let e = error_for(&format!(
        "model-location={} threshold=0.4 release-threshold=0.6",
        model("motion.pt")
    ));
    assert!(
        e.contains("release-threshold 0.6") && e.contains("threshold 0.4"),
        "{e}"
    );
}

#[test]
fn cuda_without_a_gpu_is_a_clear_error() {
    if tch::Cuda::is_available() {
        return;
    }
    let e = error_for(&format!(
        "model-location={} device=cuda",
        model("motion.pt")
    ));
    assert!(e.contains("no CUDA device"), "{e}");
}

#[test]
fn exception_in_forward_is_an_element_error() {
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 40,
        motion: 10..20,
    };
    let out = run_synthetic(
        &video,
        &format!(
            "clipbuffer ! violenceclassify mode=sync model-location={}",
            model("raises.pt")
        ),
    );
    let e = out.error.expect("an element error");
    assert!(
        e.contains("injected model failure") && e.contains("raises.pt"),
        "{e}"
    );
}

/// A panic inside the inference worker (here `Tensor::stack` on cached frame features of two
/// widths) fails the clips with the panic's text at once; before, the worker thread died and
/// the stream waited out stall-timeout for results that never came.
#[test]
fn panic_while_scoring_is_an_element_error_not_a_stall() {
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 60,
        motion: 0..60,
    };
    let out = run_synthetic(
        &video,
        &format!(
            "clipbuffer stride=4 ! violenceclassify model-location={}",
            model("ragged-encoder.pt")
        ),
    );
    let e = out.error.expect("an element error");
    assert!(
        e.contains("panicked")
            && e.contains("stack expects each tensor to be equal size")
            && e.contains("ragged-encoder.pt")
            && !e.contains("no result")
            && !e.contains("frame #"),
        "{e}"
    );
}

#[test]
fn clipbuffer_disagreeing_with_the_model() {
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 40,
        motion: 10..20,
    };
    // clipbuffer's own clip-length wins over the model's for clipbuffer: a mismatch.
    let out = run_synthetic(
        &video,
        &format!(
            "clipbuffer clip-length=4 ! violenceclassify mode=sync model-location={}",
            model("motion.pt")
        ),
    );
    let e = out.error.expect("an element error");
    assert!(e.contains("4 frames") && e.contains("8 frames"), "{e}");
}

#[test]
fn skip_policy_keeps_the_stream_going() {
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 40,
        motion: 10..20,
    };
    let out = run_synthetic(
        &video,
        &format!(
            "clipbuffer stride=4 ! violenceclassify mode=sync on-model-error=skip emit-scores=true stats-interval=40000000 model-location={}",
            model("raises.pt")
        ),
    );
    assert_eq!(out.error, None, "skipped clips are warnings, not errors");
    assert_eq!(out.buffers.len(), 40, "every frame went through");
    // Still clips score; clips with motion fail and are skipped and counted.
    assert!(!out.events("violence-score").is_empty());
    let failed = out
        .named("violence-stats")
        .iter()
        .map(|s| s.get::<u64>("clips-failed").unwrap())
        .max()
        .unwrap();
    assert!(failed > 0);
    assert!(out.events("violence-start").is_empty());
}
