//! Every string property of every element (regions, devices, inputs, mean/std, locations,
//! sources, ...), set from text as `gst-launch-1.0` does, and the parsers behind them.
#![no_main]

use gst::prelude::*;
use gstviolence::model::device::DeviceRequest;
use gstviolence::violencerecord::location;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const FACTORIES: [&str; 6] = [
    "clipbuffer",
    "violenceclassify",
    "hardattentioncrop",
    "bboxoverlay",
    "opticalflow",
    "violencerecord",
];

/// One instance of each element and the names of its writable string properties.
fn elements() -> &'static Vec<(gst::Element, Vec<String>)> {
    static ELEMENTS: OnceLock<Vec<(gst::Element, Vec<String>)>> = OnceLock::new();
    ELEMENTS.get_or_init(|| {
        gst::init().unwrap();
        gstviolence::plugin_register_static().unwrap();
        FACTORIES
            .iter()
            .map(|f| {
                let e = gst::ElementFactory::make(f).build().unwrap();
                let names = e
                    .list_properties()
                    .iter()
                    .filter(|p| {
                        p.value_type() == glib::Type::STRING
                            && p.flags().contains(glib::ParamFlags::WRITABLE)
                            && p.name() != "name"
                    })
                    .map(|p| p.name().to_string())
                    .collect();
                (e, names)
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };

    if let Ok(device) = text.parse::<DeviceRequest>() {
        assert_eq!(device.to_string().parse::<DeviceRequest>(), Ok(device));
    }
    let now = glib::DateTime::now_local().unwrap();
    if let Ok(name) = location::format(text, selector as u32 * 1000, &now) {
        assert!(!name.is_empty() || text.is_empty());
    }

    let all = elements();
    let (element, names) = &all[selector as usize % all.len()];
    if names.is_empty() {
        return;
    }
    let name = &names[(selector as usize / all.len()) % names.len()];
    element.set_property(name, text);
    // Whatever was accepted or refused, reading the property back works.
    let _ = element.property_value(name);
});
