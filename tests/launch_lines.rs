// SPDX-License-Identifier: MPL-2.0

//! The example pipeline of every element, in its source doc and in `gst-inspect-1.0`, runs
//! as written from the repository root (a display sink becomes fakesink, files go to a
//! temporary folder).

mod common;
use common::*;
use gst::prelude::*;

const EXAMPLES: [(&str, &str, &str); 8] = [
    (
        "persondetect",
        gstviolence::persondetect::EXAMPLE_LAUNCH,
        include_str!("../src/persondetect/mod.rs"),
    ),
    (
        "opticalflow",
        gstviolence::opticalflow::EXAMPLE_LAUNCH,
        include_str!("../src/opticalflow/mod.rs"),
    ),
    (
        "clipbuffer",
        gstviolence::clipbuffer::EXAMPLE_LAUNCH,
        include_str!("../src/clipbuffer/mod.rs"),
    ),
    (
        "violenceclassify",
        gstviolence::violenceclassify::EXAMPLE_LAUNCH,
        include_str!("../src/violenceclassify/mod.rs"),
    ),
    (
        "violencemqtt",
        gstviolence::violencemqtt::EXAMPLE_LAUNCH,
        include_str!("../src/violencemqtt/mod.rs"),
    ),
    (
        "bboxoverlay",
        gstviolence::bboxoverlay::EXAMPLE_LAUNCH,
        include_str!("../src/bboxoverlay/mod.rs"),
    ),
    (
        "hardattentioncrop",
        gstviolence::hardattentioncrop::EXAMPLE_LAUNCH,
        include_str!("../src/hardattentioncrop/mod.rs"),
    ),
    (
        "violencerecord",
        gstviolence::violencerecord::EXAMPLE_LAUNCH,
        include_str!("../src/violencerecord/mod.rs"),
    ),
];

/// The pipeline description of a gst-launch-1.0 line, without its options.
fn description(line: &str, out: &std::path::Path) -> String {
    let args = line
        .strip_prefix("gst-launch-1.0 ")
        .expect("a gst-launch-1.0 line");
    args.split(' ')
        .filter(|word| !word.starts_with('-'))
        .map(|word| match word {
            "autovideosink" => "fakesink".to_string(),
            w if w.starts_with("location=") => {
                format!("location={}/{}", out.display(), &w["location=".len()..])
            }
            w => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn example_pipelines_run_to_eos() {
    init();
    let out = std::env::temp_dir().join(format!("launch-lines-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    for (name, line, source) in EXAMPLES {
        assert!(
            source.contains(&format!("//! {line}\n")),
            "the doc of {name} shows its EXAMPLE_LAUNCH"
        );
        let factory = gst::ElementFactory::find(name).unwrap();
        assert_eq!(factory.metadata("example-launch"), Some(line));
        let pipeline = gst::parse::launch(&description(line, &out))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .downcast::<gst::Pipeline>()
            .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let bus = pipeline.bus().unwrap();
        let msg = bus
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(120),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            )
            .unwrap_or_else(|| panic!("{name}: no EOS within 120 s"));
        pipeline.set_state(gst::State::Null).unwrap();
        if let gst::MessageView::Error(e) = msg.view() {
            panic!("{name}: {} ({:?})", e.error(), e.debug());
        }
    }
    std::fs::remove_dir_all(&out).unwrap();
}

/// The scripts of `pipelines/` run from any folder (they find the build and the model
/// themselves) and answer a missing argument with their usage line.
#[test]
fn pipeline_scripts_run_from_any_folder_and_give_their_usage() {
    init();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let elsewhere = std::env::temp_dir().join(format!("scripts-{}", std::process::id()));
    std::fs::create_dir_all(&elsewhere).unwrap();
    let script = |name: &str, args: &[&str]| {
        std::process::Command::new("bash")
            .arg(root.join("pipelines").join(name))
            .args(args)
            .current_dir(&elsewhere)
            .env_remove("GST_PLUGIN_PATH")
            .output()
            .unwrap()
    };
    for name in ["file.sh", "mqtt.sh", "zoom.sh", "record-two-models.sh"] {
        let out = script(name, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("usage:"),
            "{name}: {err}"
        );
    }
    // A moving ball, and the motion test model: one event, found from another folder.
    let video = elsewhere.join("ball.mp4");
    write_ball_video(&video);
    let out = script("file.sh", &["ball.mp4", &model("motion.pt")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("violence-start"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&elsewhere);
}
