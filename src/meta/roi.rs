// SPDX-License-Identifier: MPL-2.0

//! Helpers for `GstVideoRegionOfInterestMeta` with a `detection` params structure holding
//! `confidence`, the convention DL Streamer uses and other elements read.

use super::Region;

pub const ROI_VIOLENCE: &str = "violence";
pub const ROI_MOTION: &str = "motion";

/// Adds a region of `roi_type` with its confidence to `buffer`.
pub fn add_region_meta(
    buffer: &mut gst::BufferRef,
    roi_type: &str,
    region: Region,
    confidence: f64,
) {
    let mut meta = gst_video::VideoRegionOfInterestMeta::add(buffer, roi_type, region.into());
    meta.add_param(
        gst::Structure::builder("detection")
            .field("confidence", confidence)
            .field("label", roi_type)
            .build(),
    );
}

/// The confidence of a region meta from its `detection` params, if it has one.
pub fn region_confidence(meta: &gst_video::VideoRegionOfInterestMeta) -> Option<f64> {
    let detection = meta.param("detection")?;
    detection
        .get::<f64>("confidence")
        .ok()
        .or_else(|| detection.get::<f32>("confidence").ok().map(f64::from))
}
