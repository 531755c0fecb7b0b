// SPDX-License-Identifier: MPL-2.0

//! Every property of every element: default, set and read back, invalid values refused.

mod common;
use common::*;
use gst::prelude::*;

fn element(factory: &str) -> gst::Element {
    init();
    gst::ElementFactory::make(factory).build().unwrap()
}

#[test]
fn clipbuffer_properties() {
    let e = element("clipbuffer");
    // The clip shape: 0 (or no inputs) means from the model downstream, else the default.
    for (name, default, set) in [
        ("clip-length", 0u32, 32u32),
        ("frame-step", 0, 3),
        ("stride", 8, 4),
        ("width", 0, 224),
        ("height", 0, 160),
        ("attention-max-size", 640, 1280),
    ] {
        assert_eq!(e.property::<u32>(name), default, "{name} default");
        e.set_property(name, set);
        assert_eq!(e.property::<u32>(name), set, "{name}");
    }
    e.set_property("clip-length", 0u32);
    assert_eq!(e.property::<u32>("clip-length"), 0, "unset again");
    assert_eq!(e.property::<Option<String>>("inputs"), None);
    e.set_property("inputs", "rgb+flow");
    assert_eq!(
        e.property::<Option<String>>("inputs").as_deref(),
        Some("rgb+flow")
    );
    e.set_property("inputs", "nonsense");
    assert_eq!(
        e.property::<Option<String>>("inputs").as_deref(),
        Some("rgb+flow"),
        "invalid value is refused"
    );
    assert_eq!(e.property::<Option<gst::Structure>>("clip-shape"), None);
}

#[test]
fn violenceclassify_properties() {
    let e = element("violenceclassify");
    assert_eq!(e.property::<Option<String>>("model-location"), None);
    e.set_property("model-location", "/x/model.pt");
    assert_eq!(
        e.property::<Option<String>>("model-location").as_deref(),
        Some("/x/model.pt")
    );

    assert_eq!(e.property::<String>("device"), "auto");
    for d in ["cpu", "cuda:1", "auto"] {
        e.set_property("device", d);
        assert_eq!(e.property::<String>("device"), d);
    }
    e.set_property("device", "gpu");
    assert_eq!(
        e.property::<String>("device"),
        "auto",
        "invalid device refused"
    );
    e.set_property("device", "cuda");
    assert_eq!(e.property::<String>("device"), "cuda:0");

    for (name, default, set) in [
        ("threshold", -1.0f64, 0.75f64),
        ("release-threshold", -1.0, 0.25),
    ] {
        assert_eq!(e.property::<f64>(name), default);
        e.set_property(name, set);
        assert_eq!(e.property::<f64>(name), set);
    }
    for (name, default, set) in [("min-consecutive", 2u32, 5u32), ("max-pending", 4, 7)] {
        assert_eq!(e.property::<u32>(name), default);
        e.set_property(name, set);
        assert_eq!(e.property::<u32>(name), set);
    }
    for (name, default, set) in [
        ("hold-time", 2_000_000_000u64, 5u64),
        ("stall-timeout", 5_000_000_000, 0),
    ] {
        assert_eq!(e.property::<u64>(name), default);
        e.set_property(name, set);
        assert_eq!(e.property::<u64>(name), set);
    }
    for (name, set) in [
        ("clip-length", 12u32),
        ("frame-step", 2),
        ("width", 160),
        ("height", 120),
    ] {
        assert_eq!(e.property::<u32>(name), 0, "{name}: 0 means from the model");
        e.set_property(name, set);
        assert_eq!(e.property::<u32>(name), set);
    }
    for name in ["fp16", "emit-scores"] {
        assert!(!e.property::<bool>(name));
        e.set_property(name, true);
        assert!(e.property::<bool>(name));
    }
    e.set_property_from_str("mode", "async");
    assert_eq!(
        e.property_value("mode")
            .get::<gstviolence::violenceclassify::Mode>()
            .unwrap(),
        gstviolence::violenceclassify::Mode::Async
    );

    e.set_property("mean", "0.5");
    assert_eq!(
        e.property::<Option<String>>("mean").as_deref(),
        Some("0.5,0.5,0.5")
    );
    e.set_property("std", "0.2,0.3,0.4");
    assert_eq!(
        e.property::<Option<String>>("std").as_deref(),
        Some("0.2,0.3,0.4")
    );
    e.set_property("std", "1,2");
    assert_eq!(
        e.property::<Option<String>>("std").as_deref(),
        Some("0.2,0.3,0.4"),
        "refused"
    );
    e.set_property("colour", "bgr");
    assert_eq!(
        e.property::<Option<String>>("colour").as_deref(),
        Some("bgr")
    );
    e.set_property("colour", "yuv");
    assert_eq!(
        e.property::<Option<String>>("colour").as_deref(),
        Some("bgr"),
        "refused"
    );
    e.set_property("inputs", "rgb+flow");
    assert_eq!(
        e.property::<Option<String>>("inputs").as_deref(),
        Some("rgb+flow")
    );

    assert_eq!(e.property::<u64>("clips-scored"), 0);
    assert_eq!(e.property::<u64>("clips-dropped"), 0);
    assert_eq!(e.property::<Option<String>>("device-used"), None);
}

#[test]
fn every_property_is_documented() {
    init();
    for factory in [
        "clipbuffer",
        "violenceclassify",
        "opticalflow",
        "bboxoverlay",
        "violencerecord",
    ] {
        let f = gst::ElementFactory::find(factory).unwrap();
        assert!(!f.longname().is_empty() && !f.description().is_empty());
        let e = f.create().build().unwrap();
        for p in e.list_properties() {
            if p.owner_type() == gst::Object::static_type()
                || p.owner_type() == gst_base::BaseTransform::static_type()
                || p.owner_type() == gst::Bin::static_type()
            {
                continue;
            }
            assert!(
                p.blurb().is_some_and(|b| b.len() > 20),
                "{factory}.{} needs a description",
                p.name()
            );
        }
    }
}

#[test]
fn device_used_and_model_config_after_start() {
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=20 ! video/x-raw,width=64,height=48,framerate=25/1 ! clipbuffer name=cb \
         ! violenceclassify name=cls device=cpu model-location={} ! fakesink",
        model("motion.pt")
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    pipeline.set_state(gst::State::Paused).unwrap();
    let _ = pipeline.state(gst::ClockTime::from_seconds(30));
    let cls = pipeline.by_name("cls").unwrap();
    assert_eq!(
        cls.property::<Option<String>>("device-used").as_deref(),
        Some("cpu")
    );
    // clipbuffer took T and size from the model through the violence-model-config query;
    // its own properties stay unset.
    let cb = pipeline.by_name("cb").unwrap();
    assert_eq!(cb.property::<u32>("clip-length"), 0);
    let shape = cb.property::<Option<gst::Structure>>("clip-shape").unwrap();
    assert_eq!(shape.get::<u32>("clip-length").unwrap(), 8);
    assert_eq!(shape.get::<u32>("width").unwrap(), 32);
    assert_eq!(
        cls.property::<Option<gst::Structure>>("clip-shape"),
        Some(shape)
    );
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn opticalflow_and_bboxoverlay_properties() {
    let flow = element("opticalflow");
    for (name, default, set) in [("working-width", 320u32, 0u32), ("threads", 1, 2)] {
        assert_eq!(flow.property::<u32>(name), default);
        flow.set_property(name, set);
        assert_eq!(flow.property::<u32>(name), set);
    }
    for (name, default, set) in [
        ("motion-threshold", 1.0f64, 2.5f64),
        ("motion-fraction", 0.01, 0.2),
    ] {
        assert_eq!(flow.property::<f64>(name), default);
        flow.set_property(name, set);
        assert_eq!(flow.property::<f64>(name), set);
    }
    assert!(!flow.property::<bool>("visualize"));
    flow.set_property_from_str("preset", "accurate");
    assert_eq!(
        flow.property_value("preset")
            .get::<gstviolence::opticalflow::FlowPreset>()
            .unwrap(),
        gstviolence::opticalflow::FlowPreset::Accurate
    );

    let overlay = element("bboxoverlay");
    for (name, default, set) in [
        ("line-width", 3u32, 5u32),
        ("font-size", 18, 24),
        ("violence-colour", 0xFFFF2020, 0x80102030),
    ] {
        assert_eq!(overlay.property::<u32>(name), default);
        overlay.set_property(name, set);
        assert_eq!(overlay.property::<u32>(name), set);
    }
    for (name, default) in [
        ("draw-labels", true),
        ("draw-banner", true),
        ("draw-graph", false),
    ] {
        assert_eq!(overlay.property::<bool>(name), default);
        overlay.set_property(name, !default);
        assert_eq!(overlay.property::<bool>(name), !default);
    }
    assert_eq!(overlay.property::<u64>("graph-duration"), 10_000_000_000);
}

#[test]
fn violencerecord_properties() {
    let e = element("violencerecord");
    for (name, default, set) in [
        ("pre-roll", 5_000_000_000u64, 1u64),
        ("post-roll", 5_000_000_000, 2),
        ("max-event-duration", 600_000_000_000, 0),
        ("keyframe-interval", 2_000_000_000, 0),
        ("latency-budget", 2_000_000_000, 3),
    ] {
        assert_eq!(e.property::<u64>(name), default, "{name}");
        e.set_property(name, set);
        assert_eq!(e.property::<u64>(name), set, "{name}");
    }
    for (name, default, set) in [("fragment-duration", 1000u32, 0u32), ("max-files", 0, 9)] {
        assert_eq!(e.property::<u32>(name), default, "{name}");
        e.set_property(name, set);
        assert_eq!(e.property::<u32>(name), set, "{name}");
    }
    for (name, default, set) in [
        ("location", Some("violence-%05d.mp4"), "x-%d.mkv"),
        ("muxer-factory", Some("mp4mux"), "matroskamux"),
        ("source", None, "cls"),
        ("event-log", None, "/tmp/x.jsonl"),
    ] {
        assert_eq!(
            e.property::<Option<String>>(name).as_deref(),
            default,
            "{name}"
        );
        e.set_property(name, set);
        assert_eq!(e.property::<Option<String>>(name).as_deref(), Some(set));
    }
}

#[test]
fn violencerecord_refuses_a_muxer_without_h264() {
    init();
    let err = common::start_error(
        "videotestsrc num-buffers=3 ! x264enc ! h264parse ! violencerecord muxer-factory=wavenc",
    );
    assert!(err.is_some_and(|e| e.contains("wavenc")));
    let err = common::start_error(
        "videotestsrc num-buffers=3 ! x264enc ! h264parse ! violencerecord muxer-factory=nosuchmux",
    );
    assert!(err.is_some_and(|e| e.contains("nosuchmux")));
}
