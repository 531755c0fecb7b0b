// SPDX-License-Identifier: MPL-2.0

//! The clip shape: how many frames a clip holds, how far apart they are sampled, at what
//! size, and which inputs it carries. clipbuffer makes clips of that shape and
//! violenceclassify feeds them to its model, so both elements expose the same five
//! properties (`clip-length`, `frame-step`, `width`, `height`, `inputs`), declared here and
//! decided by one rule, [`decide`]: a property set on the element wins, then what the model
//! says, then a default. On both elements 0 (numbers) or an empty string (`inputs`) means
//! "unset", and the getters return what was set; the shape in use is the read-only
//! `clip-shape` property.
//!
//! violenceclassify decides over its model's `metadata()`; clipbuffer decides over the shape
//! violenceclassify answers (the `violence-model-config` query), which already holds
//! violenceclassify's own properties. So setting the shape on violenceclassify alone
//! shapes both elements; clipbuffer's properties are for a clipbuffer without a classifier
//! downstream (clip extraction), and with one they must agree with it.

use crate::facts::{inputs_to_string, parse_inputs, pick, InputKind, OverrideNote};
use gst::glib;
use gst::prelude::*;

pub const MAX_CLIP_LENGTH: u32 = 1024;
pub const MAX_FRAME_STEP: u32 = 1000;
pub const MIN_SIZE: u32 = 8;
pub const MAX_SIZE: u32 = 4096;

/// The name of the structure that `clip-shape` holds.
pub const CLIP_SHAPE_STRUCTURE: &str = "violence-clip-shape";

/// The shape in use: what clipbuffer makes and the model takes.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipShape {
    pub clip_length: u32,
    pub frame_step: u32,
    pub width: u32,
    pub height: u32,
    pub inputs: Vec<InputKind>,
    /// The model selects regions, so clips carry attention-resolution frames.
    pub hard_attention: bool,
    /// The model was trained on crops around the moving people: clipbuffer cuts them.
    pub people_crop: bool,
}

impl ClipShape {
    /// Writes the shape as fields of `s` (the query answer and `clip-shape` share them).
    pub fn write_fields(&self, s: &mut gst::StructureRef) {
        s.set("clip-length", self.clip_length);
        s.set("frame-step", self.frame_step);
        s.set("width", self.width);
        s.set("height", self.height);
        s.set("inputs", inputs_to_string(&self.inputs));
        s.set("hard-attention", self.hard_attention);
        s.set("people-crop", self.people_crop);
    }

    /// Reads what `write_fields` wrote; `None` when a field is missing or invalid.
    pub fn from_fields(s: &gst::StructureRef) -> Option<Self> {
        Some(ClipShape {
            clip_length: s.get("clip-length").ok()?,
            frame_step: s.get("frame-step").ok()?,
            width: s.get("width").ok()?,
            height: s.get("height").ok()?,
            inputs: parse_inputs(s.get::<&str>("inputs").ok()?).ok()?,
            hard_attention: s.get("hard-attention").ok()?,
            people_crop: s.get("people-crop").unwrap_or(false),
        })
    }

    /// The value of the read-only `clip-shape` property.
    pub fn to_structure(&self) -> gst::Structure {
        let mut s = gst::Structure::new_empty(CLIP_SHAPE_STRUCTURE);
        self.write_fields(&mut s);
        s
    }

    /// Every fact known, as the model side of [`decide`].
    pub fn facts(&self) -> ShapeFacts {
        ShapeFacts {
            clip_length: Some(self.clip_length),
            frame_step: Some(self.frame_step),
            width: Some(self.width),
            height: Some(self.height),
            inputs: Some(self.inputs.clone()),
        }
    }
}

/// The five facts, each `None` where unknown: a property left unset, a model that does
/// not say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShapeFacts {
    pub clip_length: Option<u32>,
    pub frame_step: Option<u32>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub inputs: Option<Vec<InputKind>>,
}

/// Which element declares the properties: it changes where an unset value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Unset: the downstream violenceclassify's value, else 16 frames, step 1, 112x112, rgb.
    ClipBuffer,
    /// Unset: the model's `metadata()`, else 1 for `frame-step` and rgb for `inputs`.
    ViolenceClassify,
}

impl Owner {
    /// What an unset property falls back to when the model does not say either.
    /// violenceclassify has no clip length or size to fall back to: the model must say them.
    pub fn defaults(self) -> ShapeFacts {
        let rgb = Some(vec![InputKind::Rgb]);
        match self {
            Owner::ClipBuffer => ShapeFacts {
                clip_length: Some(16),
                frame_step: Some(1),
                width: Some(112),
                height: Some(112),
                inputs: rgb,
            },
            Owner::ViolenceClassify => ShapeFacts {
                frame_step: Some(1),
                inputs: rgb,
                ..Default::default()
            },
        }
    }
}

impl ShapeFacts {
    /// The names of the five properties.
    pub const PROPERTIES: [&'static str; 5] =
        ["clip-length", "frame-step", "width", "height", "inputs"];

    /// The five properties as `owner` declares them; the blurbs say what unset means.
    pub fn properties(owner: Owner) -> Vec<glib::ParamSpec> {
        let (from, hint) = match owner {
            Owner::ClipBuffer => (
                "the downstream violenceclassify's value (its property, else its model's)",
                ". With a violenceclassify downstream, leave it unset and set it there, so \
                 that both agree",
            ),
            Owner::ViolenceClassify => (
                "the model's metadata()",
                ". A value set here overrides the model's; clipbuffer upstream follows it",
            ),
        };
        let defaults = owner.defaults();
        let or_default = |v: Option<u32>| v.map_or(String::new(), |v| format!(", else {v}"));
        let number = |name: &str, nick: &str, what: &str, max: u32, default: Option<u32>| {
            glib::ParamSpecUInt::builder(name)
                .nick(nick)
                .blurb(&format!("{what}. 0: {from}{}{hint}", or_default(default)))
                .maximum(max)
                .mutable_ready()
                .build()
        };
        vec![
            number(
                "clip-length",
                "Clip length",
                "Frames per clip (T)",
                MAX_CLIP_LENGTH,
                defaults.clip_length,
            ),
            number(
                "frame-step",
                "Frame step",
                "Sample every Nth input frame into the clip",
                MAX_FRAME_STEP,
                defaults.frame_step,
            ),
            number(
                "width",
                "Width",
                &format!("Clip frame width in pixels ({MIN_SIZE}..{MAX_SIZE})"),
                MAX_SIZE,
                defaults.width,
            ),
            number(
                "height",
                "Height",
                &format!("Clip frame height in pixels ({MIN_SIZE}..{MAX_SIZE})"),
                MAX_SIZE,
                defaults.height,
            ),
            glib::ParamSpecString::builder("inputs")
                .nick("Inputs")
                .blurb(&format!(
                    "What clips carry, in the model's order: rgb, flow, step joined by + \
                     (flow needs opticalflow upstream of clipbuffer). Empty: {from}, else rgb{hint}"
                ))
                .mutable_ready()
                .build(),
        ]
    }

    /// Sets one of the five properties (0 or an empty string unsets it); `Ok(false)` for
    /// another property. An invalid value is an error and the old one stays.
    pub fn set_property(&mut self, name: &str, value: &glib::Value) -> Result<bool, String> {
        let number = || Some(value.get::<u32>().unwrap()).filter(|v| *v > 0);
        match name {
            "clip-length" => self.clip_length = number(),
            "frame-step" => self.frame_step = number(),
            "width" => self.width = number(),
            "height" => self.height = number(),
            "inputs" => {
                let text = value.get::<Option<String>>().unwrap();
                let text = text.as_deref().map(str::trim).filter(|t| !t.is_empty());
                self.inputs = text.map(parse_inputs).transpose()?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The value of one of the five properties as set (0 or NULL when unset); `None` for
    /// another property.
    pub fn property(&self, name: &str) -> Option<glib::Value> {
        let number = |v: Option<u32>| v.unwrap_or(0).to_value();
        Some(match name {
            "clip-length" => number(self.clip_length),
            "frame-step" => number(self.frame_step),
            "width" => number(self.width),
            "height" => number(self.height),
            "inputs" => self.inputs.as_deref().map(inputs_to_string).to_value(),
            _ => return None,
        })
    }
}

/// The one precedence rule of the clip shape, fact by fact: `set` (the element's
/// properties) wins, then `model`, then `defaults`. Returns the shape (not hard attention,
/// which only the model knows), with the facts where a property overrode a different model
/// value, for the log; an error when a number is unknown or out of range. (`inputs` is
/// checked where it comes from: `parse_inputs` for a property, `contract::resolve` for a
/// model's list, which also knows whether the model takes `step`.)
pub fn decide(
    set: &ShapeFacts,
    model: &ShapeFacts,
    defaults: &ShapeFacts,
) -> Result<(ClipShape, Vec<OverrideNote>), String> {
    let mut notes = Vec::new();
    let inputs = pick(
        "inputs",
        &set.inputs,
        &model.inputs,
        &defaults.inputs,
        &mut notes,
    )
    .unwrap_or_else(|| vec![InputKind::Rgb]);
    let clip_length = pick(
        "clip-length",
        &set.clip_length,
        &model.clip_length,
        &defaults.clip_length,
        &mut notes,
    )
    .ok_or("the clip length is unknown: the model has no metadata() clip_length and the clip-length property is not set")?;
    let frame_step = pick(
        "frame-step",
        &set.frame_step,
        &model.frame_step,
        &defaults.frame_step,
        &mut notes,
    )
    .unwrap_or(1);
    let width = pick("width", &set.width, &model.width, &defaults.width, &mut notes)
        .ok_or("the input width is unknown: the model has no metadata() size and the width property is not set")?;
    let height = pick("height", &set.height, &model.height, &defaults.height, &mut notes)
        .ok_or("the input height is unknown: the model has no metadata() size and the height property is not set")?;

    if clip_length == 0 || clip_length > MAX_CLIP_LENGTH {
        return Err(format!(
            "clip length {clip_length} is outside 1..={MAX_CLIP_LENGTH}"
        ));
    }
    if frame_step == 0 || frame_step > MAX_FRAME_STEP {
        return Err(format!(
            "frame step {frame_step} is outside 1..={MAX_FRAME_STEP}"
        ));
    }
    let sizes = MIN_SIZE..=MAX_SIZE;
    if !sizes.contains(&width) || !sizes.contains(&height) {
        return Err(format!(
            "input size {width}x{height} is outside {MIN_SIZE}..={MAX_SIZE}"
        ));
    }
    let shape = ClipShape {
        clip_length,
        frame_step,
        width,
        height,
        inputs,
        hard_attention: false,
        people_crop: false,
    };
    Ok((shape, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(clip_length: u32, width: u32) -> ShapeFacts {
        ShapeFacts {
            clip_length: Some(clip_length),
            width: Some(width),
            height: Some(width),
            ..Default::default()
        }
    }

    #[test]
    fn property_then_model_then_default() {
        let set = ShapeFacts {
            clip_length: Some(8),
            ..Default::default()
        };
        let model = facts(16, 64);
        let (shape, notes) = decide(&set, &model, &Owner::ClipBuffer.defaults()).unwrap();
        assert_eq!(
            (
                shape.clip_length,
                shape.frame_step,
                shape.width,
                shape.height
            ),
            (8, 1, 64, 64)
        );
        assert_eq!(shape.inputs, vec![InputKind::Rgb]);
        assert_eq!(notes.len(), 1);
        assert_eq!(
            notes[0].to_string(),
            "property clip-length=8 overrides the model's 16"
        );

        let alone = ShapeFacts::default();
        let (shape, notes) = decide(&alone, &alone, &Owner::ClipBuffer.defaults()).unwrap();
        assert_eq!(
            (
                shape.clip_length,
                shape.frame_step,
                shape.width,
                shape.height
            ),
            (16, 1, 112, 112)
        );
        assert!(notes.is_empty());
    }

    #[test]
    fn equal_values_are_not_overrides() {
        let (_, notes) = decide(
            &facts(16, 64),
            &facts(16, 64),
            &Owner::ViolenceClassify.defaults(),
        )
        .unwrap();
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn classify_needs_length_and_size_from_somewhere() {
        let none = ShapeFacts::default();
        let err = decide(&none, &none, &Owner::ViolenceClassify.defaults()).unwrap_err();
        assert!(err.contains("clip length"), "{err}");
        let width_only = ShapeFacts {
            clip_length: Some(4),
            width: Some(32),
            ..Default::default()
        };
        let err = decide(&width_only, &none, &Owner::ViolenceClassify.defaults()).unwrap_err();
        assert!(err.contains("height"), "{err}");
    }

    #[test]
    fn out_of_range_is_an_error() {
        let defaults = Owner::ClipBuffer.defaults();
        for (set, needle) in [
            (facts(0, 64), "clip length"),
            (facts(2000, 64), "clip length"),
            (facts(8, 4), "input size"),
            (
                ShapeFacts {
                    frame_step: Some(1001),
                    ..Default::default()
                },
                "frame step",
            ),
        ] {
            let err = decide(&ShapeFacts::default(), &set, &defaults).unwrap_err();
            assert!(err.contains(needle), "{set:?}: {err}");
        }
    }

    #[test]
    fn zero_and_empty_unset() {
        let mut s = facts(8, 32);
        s.set_property("inputs", &"rgb+flow".to_value()).unwrap();
        assert_eq!(s.inputs, Some(vec![InputKind::Rgb, InputKind::Flow]));
        assert!(s.set_property("inputs", &"nonsense".to_value()).is_err());
        assert_eq!(
            s.inputs,
            Some(vec![InputKind::Rgb, InputKind::Flow]),
            "kept"
        );
        s.set_property("clip-length", &0u32.to_value()).unwrap();
        s.set_property("inputs", &"".to_value()).unwrap();
        assert_eq!((s.clip_length, s.inputs.clone()), (None, None));
        assert_eq!(s.property("clip-length").unwrap().get::<u32>().unwrap(), 0);
        assert_eq!(s.property("width").unwrap().get::<u32>().unwrap(), 32);
        assert_eq!(
            s.property("inputs")
                .unwrap()
                .get::<Option<String>>()
                .unwrap(),
            None
        );
        assert!(!s.set_property("stride", &1u32.to_value()).unwrap());
        assert!(s.property("stride").is_none());
    }

    #[test]
    fn properties_read_back_as_their_defaults() {
        gst::init().unwrap();
        for owner in [Owner::ClipBuffer, Owner::ViolenceClassify] {
            let specs = ShapeFacts::properties(owner);
            let names: Vec<&str> = specs.iter().map(|p| p.name()).collect();
            assert_eq!(names, ShapeFacts::PROPERTIES);
            for pspec in specs {
                let value = ShapeFacts::default().property(pspec.name()).unwrap();
                assert_eq!(
                    value.serialize().ok(),
                    pspec.default_value().serialize().ok(),
                    "{}",
                    pspec.name()
                );
                let blurb = pspec.blurb().unwrap();
                assert!(
                    blurb.contains("0: ") || blurb.contains("Empty: "),
                    "{blurb}"
                );
            }
        }
    }

    #[test]
    fn structure_round_trip() {
        gst::init().unwrap();
        let shape = ClipShape {
            clip_length: 16,
            frame_step: 2,
            width: 160,
            height: 120,
            inputs: vec![InputKind::Rgb, InputKind::Flow],
            hard_attention: true,
            people_crop: true,
        };
        let s = shape.to_structure();
        assert_eq!(s.name(), CLIP_SHAPE_STRUCTURE);
        assert_eq!(ClipShape::from_fields(&s), Some(shape));
    }
}
