//! The model contract: `metadata()` JSON, merged with element properties, then an output
//! row read through the resolved configuration.
#![no_main]

use gstviolence::clipshape::ShapeFacts;
use gstviolence::model::contract::{self, ModelMetadata, Overrides};
use libfuzzer_sys::fuzz_target;

fn check(file: Option<&ModelMetadata>, props: &Overrides, row: &[f32]) {
    let Ok((config, _notes)) = contract::resolve(file, props) else {
        return;
    };
    // What the rest of the plugin relies on once a configuration resolves.
    assert!(config.clip_length > 0 && config.frame_step > 0);
    assert!(config.width > 0 && config.height > 0);
    assert!(config.violent_index < config.output_len);
    assert!(config
        .nonviolent_index
        .is_none_or(|i| i < config.output_len));
    assert!(config.std.iter().all(|s| s.is_finite() && *s > 0.0));
    assert!(!config.inputs.is_empty());
    let mut full = row.to_vec();
    full.resize(config.output_len.min(4096), 0.0);
    for candidate in [row, &full[..]] {
        if let Some(p) = contract::violent_probability(&config, candidate) {
            assert!((0.0..=1.0).contains(&p), "p = {p}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // The JSON text, then (after a NUL) the bytes of an output row.
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let Ok(json) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let row: Vec<f32> = data[split.min(data.len())..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let _ = contract::parse_inputs(json);
    let Ok(meta) = ModelMetadata::from_json(json) else {
        return;
    };
    check(Some(&meta), &Overrides::default(), &row);
    // The same file with the facts a file may lack given as properties.
    let props = Overrides {
        shape: ShapeFacts {
            clip_length: Some(8),
            width: Some(32),
            height: Some(32),
            ..Default::default()
        },
        ..Default::default()
    };
    check(Some(&meta), &props, &row);
});
