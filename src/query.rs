// SPDX-License-Identifier: MPL-2.0

//! What clipbuffer and violenceclassify tell each other: the `violence-model-config` query
//! (clipbuffer asks, violenceclassify answers from its model) and the `violence-clip` event
//! that carries the EOS clip, which has no frame to ride on.

use crate::clipshape::ClipShape;
use crate::meta::ClipMeta;

pub const MODEL_CONFIG_QUERY: &str = "violence-model-config";
pub const EOS_CLIP_EVENT: &str = "violence-clip";

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
    shape.write_fields(s);
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
    ClipShape::from_fields(custom.structure()?)
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
