// SPDX-License-Identifier: MPL-2.0

//! `FlowMeta`: dense optical flow from the previous frame to this one.

use super::registry::{declare_meta, MetaPayload, Transform};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct FlowInfo {
    /// Working resolution of the flow field.
    pub width: u32,
    pub height: u32,
    /// u then v planes, `width * height` each, in working-size pixels. Shared, never copied.
    pub uv: Arc<[f32]>,
    /// False on the first frame after start, flush or a caps change: there is no flow.
    pub valid: bool,
    /// Mean flow magnitude in working-size pixels.
    pub mean_magnitude: f32,
    /// Fraction of pixels moving more than the motion threshold.
    pub moving_fraction: f32,
}

impl FlowInfo {
    /// The horizontal flow plane; empty when `valid` is false.
    pub fn u(&self) -> &[f32] {
        let n = (self.width * self.height) as usize;
        self.uv.get(..n).unwrap_or(&[])
    }
    /// The vertical flow plane; empty when `valid` is false.
    pub fn v(&self) -> &[f32] {
        let n = (self.width * self.height) as usize;
        self.uv.get(n..2 * n).unwrap_or(&[])
    }
}

impl MetaPayload for FlowInfo {
    const API_NAME: &'static str = "GstViolenceFlowMetaAPI";
    const IMPL_NAME: &'static str = "GstViolenceFlowMeta";
    const TAGS: &'static [&'static str] = &["video"];

    fn transform(&self, how: Transform) -> Option<Self> {
        match how {
            Transform::Copy { .. } => Some(self.clone()),
            // Flow in pixels of the old size is wrong after scaling.
            _ => None,
        }
    }
}

declare_meta!(
    /// Optical flow attached by opticalflow.
    FlowMeta,
    FlowInfo
);
