// SPDX-License-Identifier: MPL-2.0

//! The example pipeline of every element, in its source doc and in `gst-inspect-1.0`, runs
//! as written from the repository root (a display sink becomes fakesink, files go to a
//! temporary folder).

mod common;
use common::*;
use gst::prelude::*;

const EXAMPLES: [(&str, &str, &str); 7] = [
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
