// SPDX-License-Identifier: MPL-2.0

//! What clipbuffer and violenceclassify tell each other: the `violence-model-config` query
//! (clipbuffer asks, violenceclassify answers from its model) and the `violence-clip` event
//! that carries the EOS clip, which has no frame to ride on.

use crate::meta::ClipMeta;
use crate::model::contract::{inputs_to_string, parse_inputs, InputKind};

pub const MODEL_CONFIG_QUERY: &str = "violence-model-config";
pub const EOS_CLIP_EVENT: &str = "violence-clip";

/// The facts of the model that shape clips.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipShape {
    pub clip_length: u32,
    pub frame_step: u32,
    pub width: u32,
    pub height: u32,
    pub inputs: Vec<InputKind>,
    /// The model selects regions, so clips carry attention-resolution frames.
    pub hard_attention: bool,
}

pub fn new_model_config_query() -> gst::query::Custom<gst::Query> {
    gst::query::Custom::new(gst::Structure::new_empty(MODEL_CONFIG_QUERY))
}

/// Fills the query's structure; returns false when it is not our query.
pub fn answer_model_config_query(query: &mut gst::QueryRef, shape: &ClipShape) -> bool {
    let gst::QueryViewMut::Custom(custom) = query.view_mut() else {
        return false;
    };
    let s = custom.structure_mut();
    if s.name() != MODEL_CONFIG_QUERY {
        return false;
    }
    s.set("clip-length", shape.clip_length);
    s.set("frame-step", shape.frame_step);
    s.set("width", shape.width);
    s.set("height", shape.height);
    s.set("inputs", inputs_to_string(&shape.inputs));
    s.set("hard-attention", shape.hard_attention);
    true
}

pub fn is_model_config_query(query: &gst::QueryRef) -> bool {
    matches!(query.view(), gst::QueryView::Custom(c)
        if c.structure().is_some_and(|s| s.name() == MODEL_CONFIG_QUERY))
}

/// Reads an answered query; `None` when nobody answered.
pub fn read_model_config_query(query: &gst::QueryRef) -> Option<ClipShape> {
    let gst::QueryView::Custom(custom) = query.view() else {
        return None;
    };
    let s = custom.structure()?;
    Some(ClipShape {
        clip_length: s.get("clip-length").ok()?,
        frame_step: s.get("frame-step").ok()?,
        width: s.get("width").ok()?,
        height: s.get("height").ok()?,
        inputs: parse_inputs(s.get::<&str>("inputs").ok()?).ok()?,
        hard_attention: s.get("hard-attention").ok()?,
    })
}

/// A serialized downstream event carrying a clip in an empty buffer's ClipMeta.
pub fn new_eos_clip_event(carrier: gst::Buffer) -> gst::Event {
    gst::event::CustomDownstream::new(
        gst::Structure::builder(EOS_CLIP_EVENT)
            .field("clip", carrier)
            .build(),
    )
}

/// The clip an EOS clip event carries, if `event` is one.
pub fn read_eos_clip_event(event: &gst::EventRef) -> Option<crate::meta::ClipInfo> {
    let s = event.structure()?;
    if event.type_() != gst::EventType::CustomDownstream || s.name() != EOS_CLIP_EVENT {
        return None;
    }
    let buffer = s.get::<gst::Buffer>("clip").ok()?;
    let meta = buffer.meta::<ClipMeta>()?;
    Some(meta.payload().clone())
}
