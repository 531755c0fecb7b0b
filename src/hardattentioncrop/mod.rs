// SPDX-License-Identifier: MPL-2.0

//! `hardattentioncrop`: crops every frame to a region (the violence region that
//! violenceclassify found, opticalflow's motion region, or a fixed one) at full source
//! resolution, smoothed over time, and scales it to the output size. It belongs on its own
//! tee branch (a zoomed view, or the input of a second classifier).
//!
//! ## Example pipeline
//!
//! Follows the moving ball at full source resolution.
//!
//! ```text
//! gst-launch-1.0 videotestsrc num-buffers=60 pattern=ball ! videoconvert ! opticalflow ! hardattentioncrop region-source=motion width=320 height=320 ! videoconvert ! autovideosink
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;
pub mod region;
pub mod scale;

/// Where the crop region comes from.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstHardAttentionRegionSource")]
pub enum RegionSource {
    #[default]
    #[enum_value(
        name = "Attention: the violence region of violenceclassify",
        nick = "attention"
    )]
    Attention = 0,
    #[enum_value(name = "Motion: the motion region of opticalflow", nick = "motion")]
    Motion = 1,
    #[enum_value(name = "Fixed: the region property", nick = "fixed")]
    Fixed = 2,
    #[enum_value(
        name = "People: the moving group of people close together, from persondetect",
        nick = "people"
    )]
    People = 3,
}

/// How the crop meets the output aspect ratio.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstHardAttentionAspect")]
pub enum AspectPolicy {
    #[default]
    #[enum_value(
        name = "Expand: grow the crop inside the frame to the output aspect",
        nick = "expand"
    )]
    Expand = 0,
    #[enum_value(name = "Pad: keep the crop, add black bars", nick = "pad")]
    Pad = 1,
    #[enum_value(
        name = "Stretch: fill the output, distorting the crop",
        nick = "stretch"
    )]
    Stretch = 2,
}

/// Without a region.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstHardAttentionNoRegion")]
pub enum NoRegion {
    #[default]
    #[enum_value(name = "Full frame: show the whole frame", nick = "full-frame")]
    FullFrame = 0,
    #[enum_value(name = "Hold: keep the last region", nick = "hold")]
    Hold = 1,
}

/// The example pipeline above, also shown by `gst-inspect-1.0 hardattentioncrop`.
pub const EXAMPLE_LAUNCH: &str =
    "gst-launch-1.0 videotestsrc num-buffers=60 pattern=ball ! videoconvert ! opticalflow ! hardattentioncrop region-source=motion width=320 height=320 ! videoconvert ! autovideosink";

glib::wrapper! {
    pub struct HardAttentionCrop(ObjectSubclass<imp::HardAttentionCrop>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // Documented with the element: gst-inspect and the docs list their values.
    RegionSource::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    AspectPolicy::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    NoRegion::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "hardattentioncrop",
        gst::Rank::NONE,
        HardAttentionCrop::static_type(),
    )
}
