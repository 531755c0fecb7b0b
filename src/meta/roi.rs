// SPDX-License-Identifier: MPL-2.0

//! Helpers for `GstVideoRegionOfInterestMeta` with a `detection` params structure holding
//! `confidence`, the convention DL Streamer uses and other elements read.

use super::Region;

pub const ROI_VIOLENCE: &str = "violence";
pub const ROI_MOTION: &str = "motion";
pub const ROI_PERSON: &str = "person";

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

/// Adds a `person` region with its confidence and `motion`, the share of the box that changed
/// since the previous detection (persondetect).
pub fn add_person_meta(buffer: &mut gst::BufferRef, region: Region, confidence: f64, motion: f64) {
    let mut meta = gst_video::VideoRegionOfInterestMeta::add(buffer, ROI_PERSON, region.into());
    meta.add_param(
        gst::Structure::builder("detection")
            .field("confidence", confidence)
            .field("label", ROI_PERSON)
            .field("motion", motion)
            .build(),
    );
}

/// The `person` regions of a frame with their `motion` (0 without one).
pub fn people(buffer: &gst::BufferRef) -> Vec<(Region, f64)> {
    buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .filter(|m| m.roi_type() == ROI_PERSON)
        .map(|m| (Region::from(m.rect()), region_motion(&m).unwrap_or(0.0)))
        .collect()
}

/// The `motion` of a person region meta, if it has one.
pub fn region_motion(meta: &gst_video::VideoRegionOfInterestMeta) -> Option<f64> {
    meta.param("detection")?.get::<f64>("motion").ok()
}

/// The confidence of a region meta from its `detection` params, if it has one.
pub fn region_confidence(meta: &gst_video::VideoRegionOfInterestMeta) -> Option<f64> {
    let detection = meta.param("detection")?;
    detection
        .get::<f64>("confidence")
        .ok()
        .or_else(|| detection.get::<f32>("confidence").ok().map(f64::from))
}
