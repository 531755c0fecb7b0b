// SPDX-License-Identifier: MPL-2.0

//! The model contract (docs/architecture.md): facts a TorchScript model declares in `metadata()`,
//! the element properties that override them, and the resolved configuration.

use crate::clipshape::{self, Owner, ShapeFacts};
pub use crate::facts::{inputs_to_string, parse_inputs, pick, InputKind, OverrideNote};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    #[default]
    Rgb,
    Bgr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// [B,K] class logits with `labels` and `violent_label`.
    #[default]
    Logits,
    /// [B,R+2]: R region actions, then non-violent, violent.
    QValues,
}

/// `size` is either one number (square) or `[width, height]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Size {
    Square(u32),
    WidthHeight([u32; 2]),
}

impl Size {
    pub fn dims(self) -> (u32, u32) {
        match self {
            Size::Square(s) => (s, s),
            Size::WidthHeight([w, h]) => (w, h),
        }
    }
}

/// What `metadata()` returns, as JSON. Every field is optional; unknown fields are kept for
/// the model card (`name`, `description`, ...) and ignored here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ModelMetadata {
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub interim: bool,
    pub inputs: Option<Vec<InputKind>>,
    pub clip_length: Option<u32>,
    pub frame_step: Option<u32>,
    pub size: Option<Size>,
    pub mean: Option<[f32; 3]>,
    pub std: Option<[f32; 3]>,
    pub colour: Option<Colour>,
    pub output: Option<OutputKind>,
    pub labels: Option<Vec<String>>,
    pub violent_label: Option<String>,
    pub prior_boxes: Option<Vec<[f32; 4]>>,
    pub max_steps: Option<u32>,
    pub threshold: Option<f32>,
    /// The module also exports `encode(frames [N,3,H,W]) -> [N,D]` and
    /// `head(features [B,T,D]) -> output`, with forward(x) == head(encode(frames of x)):
    /// the element then encodes each sampled frame once, however many clips share it.
    #[serde(default)]
    pub frame_encoder: bool,
    /// Trained on crops around the moving people (persondetect before clipbuffer): clipbuffer
    /// cuts each sampled frame around them (`clipbuffer` docs), and the whole frame when
    /// nobody moves.
    #[serde(default)]
    pub people_crop: bool,
    /// The module also exports `screen(x) -> output`: a cheaper score of the same clips, in
    /// `forward`'s form (a cascade's cheap stage deciding alone), for a clip that waited too
    /// long for the model (violenceclassify `screen-after`).
    #[serde(default)]
    pub screen: bool,
}

impl ModelMetadata {
    pub fn from_json(json: &str) -> Result<Self, String> {
        serde_json::from_str(json)
            .map_err(|e| format!("metadata() is not valid contract JSON: {e}"))
    }

    /// What the file says about the clip shape.
    pub fn shape(&self) -> ShapeFacts {
        let (width, height) = self.size.map(Size::dims).unzip();
        ShapeFacts {
            clip_length: self.clip_length,
            frame_step: self.frame_step,
            width,
            height,
            inputs: self.inputs.clone(),
        }
    }
}

/// Element properties that override the file. `None` means "not set".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// Decided with the file's shape by `clipshape::decide`, as clipbuffer decides its own.
    pub shape: ShapeFacts,
    pub mean: Option<[f32; 3]>,
    pub std: Option<[f32; 3]>,
    pub colour: Option<Colour>,
    pub threshold: Option<f32>,
}

/// Everything needed to feed the model and read its output.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub inputs: Vec<InputKind>,
    pub clip_length: u32,
    pub frame_step: u32,
    pub width: u32,
    pub height: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub colour: Colour,
    pub output: OutputKind,
    /// Number of outputs per clip (K labels, or R + 2 q-values).
    pub output_len: usize,
    /// Index of the violent class in the output.
    pub violent_index: usize,
    /// Index of the non-violent class (the other one of the softmax pair); `None` with
    /// more than two labels, where the strongest other class is the pair's other one.
    pub nonviolent_index: Option<usize>,
    pub prior_boxes: Vec<[f32; 4]>,
    pub max_steps: u32,
    pub threshold: f32,
    /// Scored as head(encode(frames)), each frame encoded once (`ModelMetadata::frame_encoder`).
    pub frame_encoder: bool,
    /// Clips are cut around the moving people (`ModelMetadata::people_crop`).
    pub people_crop: bool,
    /// The module exports `screen` (`ModelMetadata::screen`).
    pub screen: bool,
}

impl ModelConfig {
    pub fn uses(&self, kind: InputKind) -> bool {
        self.inputs.contains(&kind)
    }
    pub fn hard_attention(&self) -> bool {
        self.output == OutputKind::QValues && !self.prior_boxes.is_empty()
    }
}

/// Defaults for facts that neither the file nor the properties give, and that can be
/// guessed safely. Clip length and input size cannot: they must come from somewhere.
pub const DEFAULT_MEAN: [f32; 3] = [0.45, 0.45, 0.45];
pub const DEFAULT_STD: [f32; 3] = [0.225, 0.225, 0.225];
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// Merges file metadata and properties (properties win) and checks the result.
pub fn resolve(
    file: Option<&ModelMetadata>,
    props: &Overrides,
) -> Result<(ModelConfig, Vec<OverrideNote>), String> {
    let empty = ModelMetadata::default();
    let file = file.unwrap_or(&empty);
    let mut notes = Vec::new();

    let (shape, shape_notes) = clipshape::decide(
        &props.shape,
        &file.shape(),
        &Owner::ViolenceClassify.defaults(),
    )?;
    notes.extend(shape_notes);
    let mean = pick("mean", &props.mean, &file.mean, &None, &mut notes).unwrap_or(DEFAULT_MEAN);
    let std = pick("std", &props.std, &file.std, &None, &mut notes).unwrap_or(DEFAULT_STD);
    let colour = pick("colour", &props.colour, &file.colour, &None, &mut notes).unwrap_or_default();
    let threshold = pick(
        "threshold",
        &props.threshold,
        &file.threshold,
        &None,
        &mut notes,
    )
    .unwrap_or(DEFAULT_THRESHOLD);
    let output = file.output.unwrap_or_default();
    let prior_boxes = file.prior_boxes.clone().unwrap_or_default();

    if let Some(bad) = std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(format!("std {std:?} has a non-positive value {bad}"));
    }
    if mean.iter().any(|m| !m.is_finite()) {
        return Err(format!("mean {mean:?} is not finite"));
    }
    if !(0.0..=1.0).contains(&threshold) {
        return Err(format!("threshold {threshold} is outside [0, 1]"));
    }
    if shape.inputs.contains(&InputKind::Step) && output != OutputKind::QValues {
        return Err("input 'step' is only meaningful for q_values (hard attention) models".into());
    }
    // A model's JSON list can repeat an input or lack both pictures, as a property cannot.
    let inputs_ok = parse_inputs(&inputs_to_string(&shape.inputs));
    inputs_ok.map_err(|e| format!("inputs: {e}"))?;

    if file.frame_encoder && (shape.inputs != [InputKind::Rgb] || output != OutputKind::Logits) {
        return Err("frame_encoder needs inputs [\"rgb\"] and output 'logits'".into());
    }
    // A screen stands in for one plain forward; the other paths call other methods.
    if file.screen && (file.frame_encoder || output != OutputKind::Logits) {
        return Err("screen needs a plain forward: output 'logits' and no frame_encoder".into());
    }

    let (output_len, violent_index, nonviolent_index, max_steps) = match output {
        OutputKind::Logits => {
            if !prior_boxes.is_empty() {
                return Err(
                    "prior_boxes given but output is 'logits'; hard attention needs 'q_values'"
                        .into(),
                );
            }
            let labels = file
                .labels
                .clone()
                .unwrap_or_else(|| vec!["nonviolent".into(), "violent".into()]);
            if labels.len() < 2 {
                return Err(format!("labels {labels:?}: need at least two classes"));
            }
            let violent = file
                .violent_label
                .clone()
                .unwrap_or_else(|| "violent".into());
            let vi = labels.iter().position(|l| *l == violent).ok_or_else(|| {
                format!("violent_label '{violent}' is not one of the labels {labels:?}")
            })?;
            // p(violent) is the softmax of the violent class against the other class of
            // the pair; with more than two labels, against the strongest other class.
            let ni = (labels.len() == 2).then(|| 1 - vi);
            (labels.len(), vi, ni, 1)
        }
        OutputKind::QValues => {
            if prior_boxes.is_empty() {
                return Err("output 'q_values' needs prior_boxes (relative x,y,w,h)".into());
            }
            for b in &prior_boxes {
                let ok = b.iter().all(|v| v.is_finite())
                    && b[0] >= 0.0
                    && b[1] >= 0.0
                    && b[2] > 0.0
                    && b[3] > 0.0
                    && b[0] + b[2] <= 1.0 + 1e-4
                    && b[1] + b[3] <= 1.0 + 1e-4;
                if !ok {
                    return Err(format!(
                        "prior box {b:?} is not a relative box inside [0,1]"
                    ));
                }
            }
            let max_steps = file.max_steps.unwrap_or(1);
            if max_steps == 0 || max_steps > 64 {
                return Err(format!("max_steps {max_steps} is outside 1..=64"));
            }
            let r = prior_boxes.len();
            (r + 2, r + 1, Some(r), max_steps)
        }
    };

    Ok((
        ModelConfig {
            inputs: shape.inputs,
            clip_length: shape.clip_length,
            frame_step: shape.frame_step,
            width: shape.width,
            height: shape.height,
            mean,
            std,
            colour,
            output,
            output_len,
            violent_index,
            nonviolent_index,
            prior_boxes,
            max_steps,
            threshold,
            frame_encoder: file.frame_encoder,
            people_crop: file.people_crop,
            screen: file.screen,
        },
        notes,
    ))
}

/// p(violent) from one output row, per the contract: the softmax of the two class outputs.
/// Returns `None` when the row holds NaN or infinities.
pub fn violent_probability(config: &ModelConfig, row: &[f32]) -> Option<f32> {
    if row.len() != config.output_len || row.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let violent = row[config.violent_index];
    let other = match config.nonviolent_index {
        Some(index) => row[index],
        None => row
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != config.violent_index)
            .map(|(_, v)| *v)
            .fold(f32::NEG_INFINITY, f32::max),
    };
    // Softmax of two values, written to stay finite for large logits.
    Some(1.0 / (1.0 + (other - violent).exp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(json: &str) -> ModelMetadata {
        ModelMetadata::from_json(json).unwrap()
    }

    #[test]
    fn full_metadata_resolves() {
        let m = meta(
            r#"{"inputs":["rgb"],"clip_length":16,"frame_step":2,"size":[128,112],
            "mean":[0.4,0.5,0.6],"std":[0.2,0.2,0.2],"colour":"bgr","output":"logits",
            "labels":["fight","nofight"],"violent_label":"fight","threshold":0.7,"extra":1}"#,
        );
        let (c, notes) = resolve(Some(&m), &Overrides::default()).unwrap();
        assert!(notes.is_empty());
        assert_eq!(
            (c.clip_length, c.frame_step, c.width, c.height),
            (16, 2, 128, 112)
        );
        assert_eq!(c.colour, Colour::Bgr);
        assert_eq!((c.violent_index, c.nonviolent_index), (0, Some(1)));
        assert_eq!(c.threshold, 0.7);
    }

    #[test]
    fn properties_win_and_are_noted() {
        let m = meta(r#"{"clip_length":16,"size":112}"#);
        let props = Overrides {
            shape: ShapeFacts {
                clip_length: Some(8),
                width: Some(112),
                ..Default::default()
            },
            ..Default::default()
        };
        let (c, notes) = resolve(Some(&m), &props).unwrap();
        assert_eq!(c.clip_length, 8);
        assert_eq!(notes.len(), 1, "equal values are not overrides: {notes:?}");
        assert_eq!(notes[0].fact, "clip-length");
        assert!(notes[0].to_string().contains("clip-length=8"));
    }

    #[test]
    fn no_metadata_needs_properties() {
        let err = resolve(None, &Overrides::default()).unwrap_err();
        assert!(err.contains("clip length"), "{err}");
        let props = Overrides {
            shape: ShapeFacts {
                clip_length: Some(8),
                width: Some(64),
                height: Some(64),
                ..Default::default()
            },
            ..Default::default()
        };
        let (c, _) = resolve(None, &props).unwrap();
        assert_eq!(c.inputs, vec![InputKind::Rgb]);
        assert_eq!(c.mean, DEFAULT_MEAN);
    }

    #[test]
    fn contradictions_are_errors() {
        for (json, needle) in [
            (
                r#"{"clip_length":16,"size":112,"labels":["a","b"],"violent_label":"c"}"#,
                "violent_label",
            ),
            (
                r#"{"clip_length":16,"size":112,"output":"q_values"}"#,
                "prior_boxes",
            ),
            (
                r#"{"clip_length":16,"size":112,"prior_boxes":[[0,0,1,1]]}"#,
                "q_values",
            ),
            (
                r#"{"clip_length":16,"size":112,"threshold":1.5}"#,
                "threshold",
            ),
            (r#"{"clip_length":0,"size":112}"#, "clip length"),
            (r#"{"clip_length":16,"size":112,"std":[0,1,1]}"#, "std"),
            (
                r#"{"clip_length":16,"size":112,"output":"q_values","prior_boxes":[[0.5,0.5,0.6,0.2]]}"#,
                "prior box",
            ),
            (r#"{"clip_length":16,"size":112,"inputs":["step"]}"#, "step"),
            (
                r#"{"clip_length":16,"size":112,"inputs":["rgb","rgb"]}"#,
                "twice",
            ),
            (
                r#"{"clip_length":16,"size":112,"screen":true,"frame_encoder":true}"#,
                "screen",
            ),
        ] {
            let err = resolve(Some(&meta(json)), &Overrides::default()).unwrap_err();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }

    #[test]
    fn bad_json_is_an_error() {
        assert!(ModelMetadata::from_json("{").is_err());
        assert!(ModelMetadata::from_json(r#"{"clip_length":"x"}"#).is_err());
        assert!(ModelMetadata::from_json(r#"{"inputs":["depth"]}"#).is_err());
    }

    #[test]
    fn inputs_parse() {
        assert_eq!(
            parse_inputs("rgb+flow").unwrap(),
            vec![InputKind::Rgb, InputKind::Flow]
        );
        assert_eq!(
            parse_inputs("rgb,step").unwrap(),
            vec![InputKind::Rgb, InputKind::Step]
        );
        assert!(parse_inputs("rgb+rgb").is_err());
        assert!(parse_inputs("step").is_err());
        assert!(parse_inputs("").is_err());
    }

    #[test]
    fn probability_mapping() {
        let m = meta(r#"{"clip_length":4,"size":32}"#);
        let (c, _) = resolve(Some(&m), &Overrides::default()).unwrap();
        assert!((violent_probability(&c, &[0.0, 0.0]).unwrap() - 0.5).abs() < 1e-6);
        assert!(violent_probability(&c, &[-100.0, 100.0]).unwrap() > 0.999);
        assert!(violent_probability(&c, &[1000.0, -1000.0]).unwrap() < 1e-6);
        assert_eq!(violent_probability(&c, &[f32::NAN, 0.0]), None);
        assert_eq!(violent_probability(&c, &[0.0]), None);

        let q = meta(
            r#"{"clip_length":4,"size":32,"output":"q_values","prior_boxes":[[0,0,0.5,0.5],[0.5,0.5,0.5,0.5]],"max_steps":3}"#,
        );
        let (c, _) = resolve(Some(&q), &Overrides::default()).unwrap();
        assert_eq!(
            (c.output_len, c.nonviolent_index, c.violent_index),
            (4, Some(2), 3)
        );
        // Region values do not enter p(violent).
        let p = violent_probability(&c, &[50.0, 50.0, 0.0, 0.0]).unwrap();
        assert!((p - 0.5).abs() < 1e-6);

        let k3 = meta(
            r#"{"clip_length":4,"size":32,"labels":["none","fight","crowd"],"violent_label":"fight"}"#,
        );
        let (c, _) = resolve(Some(&k3), &Overrides::default()).unwrap();
        let p = violent_probability(&c, &[0.0, 2.0, 1.0]).unwrap();
        assert!((p - 1.0 / (1.0 + (-1.0f32).exp())).abs() < 1e-6);
    }
}
