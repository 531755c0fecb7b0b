//! Our structures read back: violence events and messages, the model-config query, the
//! EOS-clip event, and region metas with `detection` params. The input is a serialized
//! GstStructure (what `gst-launch-1.0 -m` prints, what other elements may send).
#![no_main]

use gstviolence::event::ViolenceEvent;
use gstviolence::meta::region_confidence;
use gstviolence::query;
use libfuzzer_sys::fuzz_target;
use std::str::FromStr;
use std::sync::Once;

const NAMES: [&str; 5] = [
    "violence-start",
    "violence-end",
    "violence-score",
    "violence-model-config",
    "violence-eos-clip",
];

fuzz_target!(|data: &[u8]| {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstviolence::plugin_register_static().unwrap();
    });
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    // Either the text as it is, or its fields under one of our names.
    let Ok(mut s) = gst::Structure::from_str(text).or_else(|_| {
        gst::Structure::from_str(&format!("{}, {text}", NAMES[selector as usize % NAMES.len()]))
    }) else {
        return;
    };
    if selector & 0x80 != 0 {
        s.set_name(NAMES[(selector as usize >> 3) % NAMES.len()]);
    }

    if let Some(event) = ViolenceEvent::from_structure(&s) {
        // What we read back writes out and reads back the same.
        assert!((0.0..=1.0).contains(&event.score));
        assert_eq!(
            ViolenceEvent::from_structure(&event.to_structure()),
            Some(event)
        );
    }

    let custom = gst::query::Custom::new(s.clone());
    if let Some(shape) = query::read_model_config_query(&custom) {
        let mut answered = query::new_model_config_query();
        assert!(query::answer_model_config_query(&mut answered, &shape));
        assert_eq!(query::read_model_config_query(&answered), Some(shape));
    }
    let _ = query::read_eos_clip_event(&gst::event::CustomDownstream::new(s.clone()));

    let mut buffer = gst::Buffer::new();
    let mut roi = gst_video::VideoRegionOfInterestMeta::add(
        buffer.get_mut().unwrap(),
        "violence",
        (0, 0, 1, 1),
    );
    let mut params = s;
    params.set_name("detection");
    roi.add_param(params);
    let meta = buffer.meta::<gst_video::VideoRegionOfInterestMeta>().unwrap();
    let _ = region_confidence(&meta);
});
