// SPDX-License-Identifier: MPL-2.0

//! Metadata that rides on video frames: our own GstMeta APIs and helpers for the standard
//! region-of-interest meta. See docs/architecture.md "Metadata".

mod clip;
mod flow;
pub(crate) mod registry;
mod roi;
mod violence;

pub use clip::{ClipInfo, ClipMeta, FlowPlanes, FramePlanes};
pub use flow::{FlowInfo, FlowMeta};
pub use registry::Transform;
pub use roi::{
    add_person_meta, add_region_meta, people, region_confidence, region_motion, ROI_MOTION,
    ROI_PERSON, ROI_VIOLENCE,
};
pub use violence::{ViolenceInfo, ViolenceMeta, ViolenceState};

/// Registers every meta API of the plugin (idempotent).
pub fn register() {
    ViolenceMeta::ensure_registered();
    ClipMeta::ensure_registered();
    FlowMeta::ensure_registered();
}

/// An axis-aligned box in pixels: the one box type of the metadata and of the elements'
/// properties and events. (Smoothing works on fractional boxes, drawing on clipped signed
/// ones; both convert from and to this one at their edges.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// `(x, y, width, height)`, as `GstVideoRegionOfInterestMeta` gives and takes a box.
impl From<(u32, u32, u32, u32)> for Region {
    fn from((x, y, width, height): (u32, u32, u32, u32)) -> Self {
        Region {
            x,
            y,
            width,
            height,
        }
    }
}

impl From<Region> for (u32, u32, u32, u32) {
    fn from(r: Region) -> Self {
        (r.x, r.y, r.width, r.height)
    }
}

impl Region {
    pub const fn new(x: u32, y: u32, width: u32, height: u32) -> Self {
        Region {
            x,
            y,
            width,
            height,
        }
    }

    /// The same box in a frame scaled from `from` to `to` (width, height), clamped to it.
    pub fn scaled(self, from: (u32, u32), to: (u32, u32)) -> Region {
        let sx = |v: u32| scale_coord(v, from.0, to.0);
        let sy = |v: u32| scale_coord(v, from.1, to.1);
        let x = sx(self.x).min(to.0);
        let y = sy(self.y).min(to.1);
        let right = sx(self.x.saturating_add(self.width)).min(to.0);
        let bottom = sy(self.y.saturating_add(self.height)).min(to.1);
        Region {
            x,
            y,
            width: right - x,
            height: bottom - y,
        }
    }
}

fn scale_coord(v: u32, from: u32, to: u32) -> u32 {
    if from == 0 {
        return 0;
    }
    ((v as u64 * to as u64 + from as u64 / 2) / from as u64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_scales_and_clamps() {
        let r = Region {
            x: 100,
            y: 50,
            width: 200,
            height: 100,
        };
        assert_eq!(
            r.scaled((1280, 720), (640, 360)),
            Region {
                x: 50,
                y: 25,
                width: 100,
                height: 50
            }
        );
        let edge = Region {
            x: 1200,
            y: 700,
            width: 500,
            height: 500,
        };
        let s = edge.scaled((1280, 720), (640, 360));
        assert_eq!((s.x + s.width, s.y + s.height), (640, 360));
        assert_eq!(r.scaled((0, 0), (10, 10)), Region::default());
    }
}
