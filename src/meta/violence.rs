// SPDX-License-Identifier: MPL-2.0

//! `ViolenceMeta`: the latest decision of violenceclassify, on every frame.

use super::registry::{declare_meta, MetaPayload, Transform};
use super::Region;

/// Level state of the detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ViolenceState {
    #[default]
    Idle,
    Violent,
}

impl ViolenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            ViolenceState::Idle => "idle",
            ViolenceState::Violent => "violent",
        }
    }
}

/// What every frame after violenceclassify knows about violence.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ViolenceInfo {
    /// Latest p(violent) in [0, 1]; `None` before the first clip was scored.
    pub score: Option<f32>,
    pub state: ViolenceState,
    /// First and last PTS of the clip that gave `score`.
    pub clip_window: Option<(gst::ClockTime, gst::ClockTime)>,
    /// Where, in pixels of the frame this meta is attached to, when the model localizes.
    pub region: Option<Region>,
    /// Attention steps the model took for this clip (1 for whole-frame models).
    pub steps: u32,
    /// θ_on in effect, so that displays can draw it next to the score.
    pub threshold: f32,
}

impl MetaPayload for ViolenceInfo {
    const API_NAME: &'static str = "GstViolenceMetaAPI";
    const IMPL_NAME: &'static str = "GstViolenceMeta";
    const TAGS: &'static [&'static str] = &["video", "size"];

    fn transform(&self, how: Transform) -> Option<Self> {
        match how {
            Transform::Copy { .. } => Some(self.clone()),
            Transform::Scale { from, to } => Some(ViolenceInfo {
                region: self.region.map(|r| r.scaled(from, to)),
                ..self.clone()
            }),
            Transform::Other => None,
        }
    }
}

declare_meta!(
    /// The latest violence decision, attached by violenceclassify to every frame.
    ViolenceMeta,
    ViolenceInfo
);
