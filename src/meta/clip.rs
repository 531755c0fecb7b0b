// SPDX-License-Identifier: MPL-2.0

//! `ClipMeta`: a window of sampled frames, prepared once by clipbuffer for the model.

use super::registry::{declare_meta, MetaPayload, Transform};

/// `count` frames of packed RGB (3 bytes per pixel, rows `stride` bytes apart), each its own
/// buffer so that overlapping clips share frames instead of copying them.
#[derive(Debug, Clone)]
pub struct FramePlanes {
    pub frames: Vec<gst::Buffer>,
    pub width: u32,
    pub height: u32,
    pub stride: u32,
}

/// Flow clip: u,v f32 planes per frame pair, in model-size pixels per frame.
#[derive(Debug, Clone)]
pub struct FlowPlanes {
    /// One buffer per frame of the clip, `width * height * 2` native-endian f32 (u plane, then v).
    pub frames: Vec<gst::Buffer>,
    pub width: u32,
    pub height: u32,
}

/// One clip ready for inference.
#[derive(Debug, Clone)]
pub struct ClipInfo {
    /// T frames at model size.
    pub rgb: FramePlanes,
    /// The same T frames at the capped attention resolution, for hard-attention models.
    pub attention: Option<FramePlanes>,
    /// Optional flow clip aligned with `rgb`.
    pub flow: Option<FlowPlanes>,
    /// PTS of the first and last sampled frame.
    pub first_pts: gst::ClockTime,
    pub last_pts: gst::ClockTime,
    /// Size of the source frames, to map regions back to source pixels.
    pub source_size: (u32, u32),
    /// Frames of the clip that repeat the last one because the stream ended (EOS policy).
    pub padded_frames: u32,
    /// For a model trained on people crops: the crop (source pixels) of the clip's last
    /// frame, `None` when it was the whole frame.
    pub crop: Option<super::Region>,
    /// The pairs of consecutive frames (index of the first) between which the crop moved:
    /// a jump of the picture that is not a scene cut.
    pub reframed: Vec<u32>,
}

impl MetaPayload for ClipInfo {
    const API_NAME: &'static str = "GstViolenceClipMetaAPI";
    const IMPL_NAME: &'static str = "GstViolenceClipMeta";
    // No tags: nothing outside this plugin needs it, and encoders must drop it.
    const TAGS: &'static [&'static str] = &[];

    fn transform(&self, how: Transform) -> Option<Self> {
        // A clip is independent of the carrier frame's pixels, so a copy keeps it; anything
        // else (e.g. a region copy) drops it.
        match how {
            Transform::Copy { partial: false } | Transform::Scale { .. } => Some(self.clone()),
            _ => None,
        }
    }
}

declare_meta!(
    /// A completed window of T sampled frames, attached by clipbuffer to the frame that
    /// completes it. It owns its frames; it never references upstream buffers.
    ClipMeta,
    ClipInfo
);
