// SPDX-License-Identifier: MPL-2.0

//! `opticalflow`: dense optical flow from the previous frame to the current one, at a
//! working resolution, attached as `FlowMeta` with motion statistics and a `motion` region.
//! The solver is our own DIS-style inverse search with densification and variational
//! refinement (see `solver.rs`). `unsafe` appears in two measured places: SSE lanes in the
//! patch kernels (`inverse_search.rs`) and the worker pool's borrowed jobs (`parallel.rs`).
//!
//! ## Example pipeline
//!
//! Posts `motion-start` / `motion-stop` (shown by `-m`) as the ball moves.
//!
//! ```text
//! gst-launch-1.0 -m videotestsrc num-buffers=60 pattern=ball ! videoconvert ! opticalflow ! videoconvert ! fakesink
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;
mod inverse_search;
pub mod motion;
mod parallel;
mod pyramid;
mod solver;
mod variational;

pub use inverse_search::SearchParams;
pub use pyramid::downscale_luma;
pub use solver::{FlowSolver, Preset, SolverParams};
pub use variational::VariationalParams;

/// The solver preset, as a property.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstOpticalFlowPreset")]
pub enum FlowPreset {
    #[default]
    #[enum_value(
        name = "Fast: dense flow refined at quarter working resolution, upsampled",
        nick = "fast"
    )]
    Fast = 0,
    #[enum_value(
        name = "Accurate: dense flow refined at half working resolution, upsampled",
        nick = "accurate"
    )]
    Accurate = 1,
}

impl From<FlowPreset> for Preset {
    fn from(p: FlowPreset) -> Preset {
        match p {
            FlowPreset::Fast => Preset::Fast,
            FlowPreset::Accurate => Preset::Accurate,
        }
    }
}

/// The example pipeline above, also shown by `gst-inspect-1.0 opticalflow`.
pub const EXAMPLE_LAUNCH: &str =
    "gst-launch-1.0 -m videotestsrc num-buffers=60 pattern=ball ! videoconvert ! opticalflow ! videoconvert ! fakesink";

glib::wrapper! {
    pub struct OpticalFlow(ObjectSubclass<imp::OpticalFlow>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // Documented with the element: gst-inspect and the docs list their values.
    FlowPreset::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "opticalflow",
        gst::Rank::NONE,
        OpticalFlow::static_type(),
    )
}
