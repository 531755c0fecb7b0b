// SPDX-License-Identifier: MPL-2.0

//! Rectangles in frame coordinates, clipping, and the rule that maps luma
//! rectangles onto 2x2-subsampled chroma planes.
//!
//! # Chroma rule for I420 / NV12
//! Luma is always drawn pixel-exact. Chroma sample `(cx, cy)` belongs to the
//! 2x2 luma block `[2cx, 2cx+2) x [2cy, 2cy+2)` (cut at the frame edge for odd
//! sizes). For solid shapes (filled rectangles and box outlines) a chroma
//! sample is painted, with the shape's full alpha, when *any* in-frame luma
//! pixel of its block is painted. In other words a shape's chroma footprint
//! is its luma footprint with odd edges snapped outwards to even
//! coordinates, so even a 1-pixel line at an odd position keeps its colour.
//! For anti-aliased masks (text, graph) the chroma alpha is instead the mean
//! coverage of the block's in-frame luma pixels.

/// A rectangle in frame pixels: `x, y` top-left, `w, h` size. Any values are
/// accepted; negative or zero sizes are empty, and coordinates far outside
/// the frame (or near `i32::MAX`) are simply clipped away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

impl Rect {
    pub const fn new(x: i32, y: i32, w: i32, h: i32) -> Self {
        Rect { x, y, w, h }
    }

    pub fn is_empty(&self) -> bool {
        self.w <= 0 || self.h <= 0
    }

    /// Shrinks by `d` on every side (i64 inside, so no overflow).
    pub fn inset(&self, d: i32) -> Rect {
        let d = d as i64;
        let sat = |v: i64| v.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        Rect {
            x: sat(self.x as i64 + d),
            y: sat(self.y as i64 + d),
            w: sat(self.w as i64 - 2 * d),
            h: sat(self.h as i64 - 2 * d),
        }
    }

    /// The part of `self` inside a `width x height` frame, or `None`.
    pub(crate) fn clip(&self, width: usize, height: usize) -> Option<Span> {
        if self.is_empty() {
            return None;
        }
        let clamp = |v: i64, max: usize| v.clamp(0, max as i64) as usize;
        let span = Span {
            x0: clamp(self.x as i64, width),
            x1: clamp(self.x as i64 + self.w as i64, width),
            y0: clamp(self.y as i64, height),
            y1: clamp(self.y as i64 + self.h as i64, height),
        };
        (!span.is_empty()).then_some(span)
    }

    /// True when some pixel of `self` lies in a `width x height` frame.
    pub fn intersects_frame(&self, width: u32, height: u32) -> bool {
        self.clip(width as usize, height as usize).is_some()
    }
}

/// A half-open, already clipped pixel range `[x0, x1) x [y0, y1)` of one
/// plane; indices are valid for that plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub x0: usize,
    pub x1: usize,
    pub y0: usize,
    pub y1: usize,
}

impl Span {
    pub fn is_empty(&self) -> bool {
        self.x0 >= self.x1 || self.y0 >= self.y1
    }

    /// Chroma samples whose block touches this luma span (outward snap).
    /// `self` must be clipped to the `width x height` luma frame.
    pub fn chroma_outer(&self) -> Span {
        Span {
            x0: self.x0 / 2,
            x1: self.x1.div_ceil(2),
            y0: self.y0 / 2,
            y1: self.y1.div_ceil(2),
        }
    }

    /// Chroma samples whose in-frame block lies entirely inside this luma
    /// span (inward snap). A span reaching the frame edge keeps the last,
    /// possibly half, block.
    pub fn chroma_inner(&self, width: usize, height: usize) -> Span {
        let end = |v: usize, max: usize| if v >= max { max.div_ceil(2) } else { v / 2 };
        Span {
            x0: self.x0.div_ceil(2),
            x1: end(self.x1, width),
            y0: self.y0.div_ceil(2),
            y1: end(self.y1, height),
        }
    }

    /// `self` minus `inner` as up to four disjoint spans (top, bottom, left,
    /// right). `inner` must lie inside `self`; disjointness matters because a
    /// translucent outline must not blend any pixel twice.
    pub fn ring(&self, inner: &Span) -> [Span; 4] {
        [
            Span {
                y1: inner.y0,
                ..*self
            },
            Span {
                y0: inner.y1,
                ..*self
            },
            Span {
                x1: inner.x0,
                y0: inner.y0,
                y1: inner.y1,
                ..*self
            },
            Span {
                x0: inner.x1,
                y0: inner.y0,
                y1: inner.y1,
                ..*self
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_handles_extremes() {
        assert_eq!(
            Rect::new(-5, -5, 10, 10).clip(100, 50),
            Some(Span {
                x0: 0,
                x1: 5,
                y0: 0,
                y1: 5
            })
        );
        assert_eq!(Rect::new(i32::MAX, 0, i32::MAX, 10).clip(100, 50), None);
        assert_eq!(
            Rect::new(i32::MIN, i32::MIN, i32::MAX, i32::MAX).clip(100, 50),
            None
        );
        assert_eq!(
            Rect::new(i32::MIN, i32::MIN, i32::MAX, i32::MAX)
                .inset(-10)
                .clip(100, 50),
            None
        );
        assert_eq!(
            Rect::new(-1, -1, i32::MAX, i32::MAX).clip(100, 50),
            Some(Span {
                x0: 0,
                x1: 100,
                y0: 0,
                y1: 50
            })
        );
        assert_eq!(Rect::new(3, 3, 0, 10).clip(100, 50), None);
        assert_eq!(Rect::new(3, 3, -4, 10).clip(100, 50), None);
    }

    #[test]
    fn chroma_snapping() {
        let s = Span {
            x0: 3,
            x1: 6,
            y0: 1,
            y1: 2,
        };
        assert_eq!(
            s.chroma_outer(),
            Span {
                x0: 1,
                x1: 3,
                y0: 0,
                y1: 1
            }
        );
        let inner = s.chroma_inner(100, 100);
        assert_eq!(
            inner,
            Span {
                x0: 2,
                x1: 3,
                y0: 1,
                y1: 1
            }
        );
        // Odd frame width: the half block at the edge counts as inside.
        let e = Span {
            x0: 4,
            x1: 9,
            y0: 0,
            y1: 9,
        };
        assert_eq!(
            e.chroma_inner(9, 9),
            Span {
                x0: 2,
                x1: 5,
                y0: 0,
                y1: 5
            }
        );
    }
}
