// SPDX-License-Identifier: MPL-2.0

//! Drawing for the `bboxoverlay` element: boxes, labels, a state banner and
//! a score graph, in place on raw video frames (RGBA, BGRA, RGBx, BGRx, RGB,
//! BGR, I420, NV12) given as plane slices and strides. No GStreamer types
//! here; the element maps its `VideoFrame` and builds a [`Canvas`].
//!
//! ```
//! use gstviolence::bboxoverlay::draw::*;
//! let (w, h) = (64u32, 48u32);
//! let mut y = vec![16u8; 64 * 48];
//! let mut u = vec![128u8; 32 * 24];
//! let mut v = vec![128u8; 32 * 24];
//! let planes = [Plane::new(&mut y, 64), Plane::new(&mut u, 32), Plane::new(&mut v, 32)];
//! let mut canvas = Canvas::new(PixelFormat::I420, w, h, planes)
//!     .unwrap()
//!     .with_yuv_encoding(YuvEncoding::new(Matrix::Bt601, Range::Limited));
//! let spec = OverlaySpec {
//!     regions: vec![Region {
//!         rect: Rect::new(8, 24, 30, 20),
//!         label: "violence".into(),
//!         score: Some(0.93),
//!         colour: Rgba::RED,
//!     }],
//!     ..OverlaySpec::default()
//! };
//! draw_overlay(&mut canvas, &spec);
//! ```

pub mod canvas;
pub mod colour;
pub mod geometry;
pub mod graph;
pub mod mask;
pub mod overlay;
pub mod primitives;
pub mod text;

#[cfg(test)]
mod test_frame;

pub use canvas::{Canvas, CanvasError, PixelFormat, Plane, ALL_FORMATS};
pub use colour::{Matrix, Range, Rgba, Yuv, YuvEncoding};
pub use geometry::Rect;
pub use graph::{draw_graph, plot_mask, Graph};
pub use mask::Mask;
pub use overlay::{draw_overlay, Banner, OverlayRenderer, OverlaySpec, Region};
pub use primitives::{draw_mask, fill_rect, stroke_rect};
pub use text::{GlyphBitmap, LineMetrics, TextMask, TextRenderer};
