// SPDX-License-Identifier: MPL-2.0

//! Drawing primitives: filled rectangles, rectangle outlines and coverage
//! masks, for every supported format. See [`crate::bboxoverlay::draw::geometry`] for how shapes
//! land on subsampled chroma.
//!
//! Each primitive converts its colour once, clips once, then works on whole
//! row slices; the per-pixel loops are monomorphised over bytes per pixel so
//! they carry no format branches or bounds arithmetic.

use crate::bboxoverlay::draw::canvas::{Canvas, PixelFormat, Plane};
use crate::bboxoverlay::draw::colour::{div255, mul_alpha, Rgba};
use crate::bboxoverlay::draw::geometry::{Rect, Span};
use crate::bboxoverlay::draw::mask::Mask;

/// Fills `rect` (clipped to the frame) with `colour`, blending by its alpha.
pub fn fill_rect(canvas: &mut Canvas, rect: Rect, colour: Rgba) {
    if colour.a == 0 {
        return;
    }
    let (w, h) = canvas.size();
    if let Some(span) = rect.clip(w, h) {
        fill_spans(canvas, &[span], &[span.chroma_outer()], colour);
    }
}

/// Draws the outline of `rect`, `line_width` pixels thick, entirely inside
/// `rect` (the outer edge of the line is the rectangle's edge). No pixel is
/// blended twice, so translucent outlines are uniform.
pub fn stroke_rect(canvas: &mut Canvas, rect: Rect, line_width: i32, colour: Rgba) {
    if colour.a == 0 || line_width <= 0 {
        return;
    }
    let (w, h) = canvas.size();
    let Some(outer) = rect.clip(w, h) else {
        return;
    };
    let inner_rect = rect.inset(line_width);
    // An inner part that is empty or off-frame leaves only line visible.
    let inner = if inner_rect.is_empty() {
        None
    } else {
        inner_rect.clip(w, h)
    };
    let Some(inner) = inner else {
        fill_spans(canvas, &[outer], &[outer.chroma_outer()], colour);
        return;
    };
    let luma = outer.ring(&inner);
    let c_outer = outer.chroma_outer();
    let c_inner = inner.chroma_inner(w, h);
    if c_inner.is_empty() {
        fill_spans(canvas, &luma, &[c_outer], colour);
    } else {
        fill_spans(canvas, &luma, &c_outer.ring(&c_inner), colour);
    }
}

/// Blends `colour` through `mask` with its top-left at `(x, y)`: each pixel
/// gets alpha `coverage * colour.a / 255`. On subsampled chroma the alpha is
/// the mean over the block's in-frame luma pixels.
pub fn draw_mask(canvas: &mut Canvas, x: i32, y: i32, mask: &Mask, colour: Rgba) {
    if colour.a == 0 || mask.is_empty() {
        return;
    }
    let (Ok(mw), Ok(mh)) = (i32::try_from(mask.width()), i32::try_from(mask.height())) else {
        return;
    };
    let (w, h) = canvas.size();
    let Some(span) = Rect::new(x, y, mw, mh).clip(w, h) else {
        return;
    };
    // Where the visible part starts inside the mask.
    let mx0 = (span.x0 as i64 - x as i64) as usize;
    let my0 = (span.y0 as i64 - y as i64) as usize;
    let stride = mask.width();
    let cover = &mask.data()[my0 * stride + mx0..];
    let a = colour.a;
    let format = canvas.format();
    match format {
        PixelFormat::I420 | PixelFormat::Nv12 => {
            let yuv = colour.to_yuv(canvas.yuv_encoding().matrix, canvas.yuv_encoding().range);
            blend_alpha::<1, 1>(canvas.plane_mut(0), &span, cover, stride, [yuv.y], a);
            let (c_span, c_alpha) = chroma_alpha(&span, cover, stride, w, h, a);
            let cw = c_span.x1 - c_span.x0;
            if format == PixelFormat::I420 {
                let (u, v) = canvas.uv_planes_mut();
                blend_alpha::<1, 1>(u, &c_span, &c_alpha, cw, [yuv.u], 255);
                blend_alpha::<1, 1>(v, &c_span, &c_alpha, cw, [yuv.v], 255);
            } else {
                let uv = canvas.plane_mut(1);
                blend_alpha::<2, 2>(uv, &c_span, &c_alpha, cw, [yuv.u, yuv.v], 255);
            }
        }
        _ => {
            let px = format.packed_bytes(colour);
            let plane = canvas.plane_mut(0);
            match (format.bytes_per_pixel(0), format.written_bytes()) {
                (4, 4) => blend_alpha::<4, 4>(plane, &span, cover, stride, px, a),
                (4, 3) => blend_alpha::<4, 3>(plane, &span, cover, stride, first3(px), a),
                _ => blend_alpha::<3, 3>(plane, &span, cover, stride, first3(px), a),
            }
        }
    }
}

/// Chroma span touched by the luma `span` and its per-sample alpha (row-major,
/// span width per row): mean coverage of each block's in-frame luma pixels
/// times `a`.
fn chroma_alpha(
    span: &Span,
    cover: &[u8],
    stride: usize,
    width: usize,
    height: usize,
    a: u8,
) -> (Span, Vec<u8>) {
    let c = span.chroma_outer();
    let (cw, ch) = (c.x1 - c.x0, c.y1 - c.y0);
    let mut sums = vec![0u16; cw * ch];
    let lw = span.x1 - span.x0;
    let odd = span.x0 & 1;
    for (ry, ly) in (span.y0..span.y1).enumerate() {
        let src = &cover[ry * stride..ry * stride + lw];
        let dst = &mut sums[(ly / 2 - c.y0) * cw..][..cw];
        // Luma column x feeds chroma column x / 2 - c.x0: with an odd start
        // the first sample gets one pixel, then whole pairs follow.
        let (dst, src) = if odd == 1 {
            dst[0] += src[0] as u16;
            (&mut dst[1..], &src[1..])
        } else {
            (dst, src)
        };
        let pairs = src.chunks_exact(2);
        if let [last] = pairs.remainder() {
            dst[src.len() / 2] += *last as u16;
        }
        for (d, p) in dst.iter_mut().zip(pairs) {
            *d += p[0] as u16 + p[1] as u16;
        }
    }
    let a = a as u32;
    // Mean over `n` luma pixels, rounded, times alpha.
    let avg = |s: u16, n: u32| ((s as u32 * a + n * 255 / 2) / (n * 255)) as u8;
    // Full 2x2 blocks: a constant divisor, which compiles to a multiply.
    let mut alpha: Vec<u8> = sums
        .iter()
        .map(|&s| ((s as u32 * a + 510) / 1020) as u8)
        .collect();
    // Blocks cut by an odd frame edge have fewer in-frame luma pixels.
    let last_col = (width % 2 == 1 && c.x1 == width.div_ceil(2)).then(|| cw - 1);
    let last_row = (height % 2 == 1 && c.y1 == height.div_ceil(2)).then(|| ch - 1);
    let n_at = |col: usize, row: usize| {
        let cols = if Some(col) == last_col { 1 } else { 2 };
        let rows = if Some(row) == last_row { 1 } else { 2 };
        cols * rows
    };
    if let Some(col) = last_col {
        for row in 0..ch {
            let i = row * cw + col;
            alpha[i] = avg(sums[i], n_at(col, row));
        }
    }
    if let Some(row) = last_row {
        for col in 0..cw {
            let i = row * cw + col;
            alpha[i] = avg(sums[i], n_at(col, row));
        }
    }
    (c, alpha)
}

fn first3(px: [u8; 4]) -> [u8; 3] {
    [px[0], px[1], px[2]]
}

/// Paints luma (or packed) spans and chroma spans with one colour.
fn fill_spans(canvas: &mut Canvas, luma: &[Span], chroma: &[Span], colour: Rgba) {
    let a = colour.a;
    let format = canvas.format();
    match format {
        PixelFormat::I420 | PixelFormat::Nv12 => {
            let enc = canvas.yuv_encoding();
            let yuv = colour.to_yuv(enc.matrix, enc.range);
            for s in luma {
                fill_span::<1, 1>(canvas.plane_mut(0), s, [yuv.y], a);
            }
            if format == PixelFormat::I420 {
                let (u, v) = canvas.uv_planes_mut();
                for s in chroma {
                    fill_span::<1, 1>(u, s, [yuv.u], a);
                    fill_span::<1, 1>(v, s, [yuv.v], a);
                }
            } else {
                for s in chroma {
                    fill_span::<2, 2>(canvas.plane_mut(1), s, [yuv.u, yuv.v], a);
                }
            }
        }
        _ => {
            let px = format.packed_bytes(colour);
            let plane = canvas.plane_mut(0);
            for s in luma {
                match (format.bytes_per_pixel(0), format.written_bytes()) {
                    (4, 4) => fill_span::<4, 4>(plane, s, px, a),
                    (4, 3) => fill_span::<4, 3>(plane, s, first3(px), a),
                    _ => fill_span::<3, 3>(plane, s, first3(px), a),
                }
            }
        }
    }
}

/// Rows `span.y0..span.y1` of `plane`, each cut to the span's columns.
fn span_rows<'p, const BPP: usize>(
    plane: &'p mut Plane,
    span: &Span,
) -> impl Iterator<Item = &'p mut [u8]> {
    let (x0, x1) = (span.x0 * BPP, span.x1 * BPP);
    plane
        .data
        .chunks_mut(plane.stride.max(1))
        .skip(span.y0)
        .take(span.y1 - span.y0)
        .map(move |row| &mut row[x0..x1])
}

/// Writes the first `N` of every `BPP` bytes in `span` with `px`, blended by
/// `a`.
fn fill_span<const BPP: usize, const N: usize>(plane: &mut Plane, span: &Span, px: [u8; N], a: u8) {
    if span.is_empty() {
        return;
    }
    if a == 255 {
        if BPP == 1 {
            for row in span_rows::<BPP>(plane, span) {
                row.fill(px[0]);
            }
        } else if N == BPP {
            // One row of pattern, then a memcpy per row.
            let mut pattern = vec![0u8; (span.x1 - span.x0) * BPP];
            for p in pattern.chunks_exact_mut(BPP) {
                p.copy_from_slice(&px[..BPP]);
            }
            for row in span_rows::<BPP>(plane, span) {
                row.copy_from_slice(&pattern);
            }
        } else {
            // RGBx/BGRx: merge the colour into each word, keeping padding.
            let mut bytes = [0u8; 4];
            bytes[..N].copy_from_slice(&px);
            let colour = u32::from_le_bytes(bytes);
            let keep = !u32::from_le_bytes([0xff, 0xff, 0xff, 0]);
            for row in span_rows::<BPP>(plane, span) {
                for p in row.chunks_exact_mut(4) {
                    let old = u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
                    p.copy_from_slice(&(old & keep | colour).to_le_bytes());
                }
            }
        }
    } else if BPP == 1 {
        let inv = 255 - a as u16;
        let pre = px[0] as u16 * a as u16;
        for row in span_rows::<BPP>(plane, span) {
            for p in row.iter_mut() {
                *p = div255(pre + *p as u16 * inv) as u8;
            }
        }
    } else {
        // Source and weight per byte, laid out like one row, so the blend is
        // a flat byte loop that vectorises (strided pixel loops do not).
        // Padding bytes get weight 0 and keep their value.
        let len = (span.x1 - span.x0) * BPP;
        let mut pre = vec![0u16; len];
        let mut inv = vec![255u16; len];
        for (p, i) in pre.chunks_exact_mut(BPP).zip(inv.chunks_exact_mut(BPP)) {
            for c in 0..N {
                p[c] = px[c] as u16 * a as u16;
                i[c] = 255 - a as u16;
            }
        }
        for row in span_rows::<BPP>(plane, span) {
            for ((d, &p), &i) in row.iter_mut().zip(&pre).zip(&inv) {
                *d = div255(p + *d as u16 * i) as u8;
            }
        }
    }
}

/// Blends `px` into `span` with per-pixel alpha `alpha[row * stride + col]
/// * scale / 255`.
fn blend_alpha<const BPP: usize, const N: usize>(
    plane: &mut Plane,
    span: &Span,
    alpha: &[u8],
    stride: usize,
    px: [u8; N],
    scale: u8,
) {
    if span.is_empty() {
        return;
    }
    let w = span.x1 - span.x0;
    if BPP == 1 {
        let c = px[0] as u16;
        for (r, row) in span_rows::<BPP>(plane, span).enumerate() {
            let arow = &alpha[r * stride..r * stride + w];
            for (p, &a) in row.iter_mut().zip(arow) {
                let a = if scale == 255 { a } else { mul_alpha(a, scale) } as u16;
                *p = div255(c * a + *p as u16 * (255 - a)) as u8;
            }
        }
        return;
    }
    // As in `fill_span`: colour and alpha expanded per byte so the blend
    // itself is a flat, vectorisable loop; padding bytes get alpha 0.
    let mut colour = vec![0u16; w * BPP];
    for p in colour.chunks_exact_mut(BPP) {
        for c in 0..N {
            p[c] = px[c] as u16;
        }
    }
    let mut weights = vec![0u16; w * BPP];
    for (r, row) in span_rows::<BPP>(plane, span).enumerate() {
        let arow = &alpha[r * stride..r * stride + w];
        for (wt, &a) in weights.chunks_exact_mut(BPP).zip(arow) {
            let a = if scale == 255 { a } else { mul_alpha(a, scale) } as u16;
            wt[..N].fill(a);
        }
        for ((d, &c), &a) in row.iter_mut().zip(&colour).zip(&weights) {
            *d = div255(c * a + *d as u16 * (255 - a)) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bboxoverlay::draw::canvas::ALL_FORMATS;
    use crate::bboxoverlay::draw::colour::{blend, Matrix, Range, YuvEncoding};
    use crate::bboxoverlay::draw::test_frame::TestFrame;

    /// Reference model of `stroke_rect` in luma pixels, by brute force.
    fn in_ring(r: Rect, lw: i32, x: i64, y: i64) -> bool {
        let inside = |r: Rect, x: i64, y: i64| {
            !r.is_empty()
                && x >= r.x as i64
                && x < r.x as i64 + r.w as i64
                && y >= r.y as i64
                && y < r.y as i64 + r.h as i64
        };
        lw > 0 && inside(r, x, y) && !inside(r.inset(lw), x, y)
    }

    /// Reference chroma rule: a sample is painted when any in-frame luma
    /// pixel of its 2x2 block is.
    fn chroma_painted(
        f: &TestFrame,
        luma: impl Fn(i64, i64) -> bool,
        cx: usize,
        cy: usize,
    ) -> bool {
        (0..2).any(|dy| {
            (0..2).any(|dx| {
                let (x, y) = (2 * cx + dx, 2 * cy + dy);
                x < f.width && y < f.height && luma(x as i64, y as i64)
            })
        })
    }

    /// Checks every byte of `f` (padding included) against `bg`, with
    /// pixels selected by `luma` (and the chroma rule) set to `want`.
    fn check_frame(
        f: &TestFrame,
        bg: &TestFrame,
        luma: impl Fn(i64, i64) -> bool,
        colour: Rgba,
        ctx: &str,
    ) {
        let want_packed = |b: u8, c: u8| blend(c, b, colour.a);
        for plane in 0..f.format.n_planes() {
            let bpp = f.format.bytes_per_pixel(plane);
            let (pw, ph) = f.format.plane_size(plane, f.width, f.height);
            let stride = f.strides[plane];
            for (i, (&got, &old)) in f.planes[plane].iter().zip(&bg.planes[plane]).enumerate() {
                let (row, col) = (i / stride, i % stride);
                let (x, byte) = (col / bpp, col % bpp);
                let painted = row < ph
                    && x < pw
                    && if f.format.is_yuv() && plane > 0 {
                        chroma_painted(f, &luma, x, row)
                    } else {
                        luma(x as i64, row as i64)
                    };
                let expected = if !painted {
                    old
                } else if f.format.is_yuv() {
                    let yuv = colour.to_yuv(f.yuv.matrix, f.yuv.range);
                    let c = match (f.format, plane, byte) {
                        (_, 0, _) => yuv.y,
                        (PixelFormat::I420, 1, _) | (PixelFormat::Nv12, 1, 0) => yuv.u,
                        _ => yuv.v,
                    };
                    want_packed(old, c)
                } else if byte >= f.format.written_bytes() {
                    old
                } else {
                    want_packed(old, f.format.packed_bytes(colour)[byte])
                };
                assert_eq!(
                    got, expected,
                    "{ctx}: {:?} plane {plane} row {row} x {x} byte {byte}",
                    f.format
                );
            }
        }
    }

    const SIZES: [(usize, usize); 3] = [(40, 30), (37, 23), (1, 1)];

    fn box_cases() -> Vec<(Rect, i32)> {
        let mut v = vec![
            (Rect::new(5, 4, 20, 12), 1),
            (Rect::new(5, 4, 20, 12), 2),
            (Rect::new(6, 5, 11, 9), 3),
            (Rect::new(3, 3, 7, 5), 4), // line wider than half: solid
            (Rect::new(-10, -6, 25, 20), 3),
            (Rect::new(20, 15, 100, 100), 2),
            (Rect::new(-100, -100, 50, 50), 2),
            (Rect::new(1000, 5, 10, 10), 2),
            (Rect::new(-5, -5, 1000, 1000), 6), // lines all off-frame
            (Rect::new(-5, 2, 1000, 10), 6),
            (Rect::new(i32::MIN, i32::MIN, i32::MAX, i32::MAX), 3),
            (Rect::new(i32::MAX - 1, i32::MAX - 1, i32::MAX, i32::MAX), 3),
            (Rect::new(-3, -3, i32::MAX, i32::MAX), i32::MAX),
            (Rect::new(2, 2, -5, 10), 1),
            (Rect::new(2, 2, 10, 10), 0),
            (Rect::new(2, 2, 10, 10), -3),
            (Rect::new(0, 0, 37, 23), 1),
        ];
        for x in 0..4 {
            for y in 0..3 {
                v.push((Rect::new(x, y, 9 + x, 6 + y), 1 + (x + y) % 3));
            }
        }
        v
    }

    #[test]
    fn box_edges_are_pixel_exact_in_every_format() {
        for format in ALL_FORMATS {
            for (w, h) in SIZES {
                for (rect, lw) in box_cases() {
                    for colour in [Rgba::rgb(250, 20, 30), Rgba::new(20, 200, 90, 128)] {
                        let mut f = TestFrame::new(format, w, h);
                        let bg = f.clone();
                        stroke_rect(&mut f.canvas(), rect, lw, colour);
                        let ctx = format!("{w}x{h} {rect:?} lw {lw} {colour:?}");
                        check_frame(&f, &bg, |x, y| in_ring(rect, lw, x, y), colour, &ctx);
                    }
                }
            }
        }
    }

    #[test]
    fn filled_rects_are_pixel_exact_in_every_format() {
        for format in ALL_FORMATS {
            for (w, h) in SIZES {
                for (rect, _) in box_cases() {
                    for colour in [Rgba::rgb(0, 0, 255), Rgba::new(255, 255, 0, 77)] {
                        let mut f = TestFrame::new(format, w, h);
                        let bg = f.clone();
                        fill_rect(&mut f.canvas(), rect, colour);
                        let ctx = format!("{w}x{h} fill {rect:?} {colour:?}");
                        let inside = |x: i64, y: i64| in_ring(rect, i32::MAX, x, y);
                        check_frame(&f, &bg, inside, colour, &ctx);
                    }
                }
            }
        }
    }

    #[test]
    fn yuv_encoding_of_the_canvas_is_used() {
        let mut f = TestFrame::new(PixelFormat::I420, 8, 8);
        f.yuv = YuvEncoding::new(Matrix::Bt601, Range::Limited);
        fill_rect(&mut f.canvas(), Rect::new(0, 0, 8, 8), Rgba::RED);
        assert_eq!(
            (f.planes[0][0], f.planes[1][0], f.planes[2][0]),
            (81, 90, 240)
        );
        f.yuv = YuvEncoding::new(Matrix::Bt709, Range::Full);
        fill_rect(&mut f.canvas(), Rect::new(0, 0, 8, 8), Rgba::RED);
        assert_eq!(
            (f.planes[0][0], f.planes[1][0], f.planes[2][0]),
            (54, 99, 255)
        );
    }

    #[test]
    fn masks_blend_by_coverage_and_clip() {
        let mut mask = Mask::new(5, 3);
        for (i, v) in mask.data_mut().iter_mut().enumerate() {
            *v = (i * 18) as u8;
        }
        for format in ALL_FORMATS {
            for (x, y) in [
                (3, 2),
                (-2, -1),
                (38, 21),
                (-10, 0),
                (i32::MAX, 0),
                (i32::MIN, i32::MIN),
            ] {
                for colour in [Rgba::WHITE, Rgba::new(10, 20, 30, 100)] {
                    let mut f =
                        TestFrame::new(format, 40 + (x & 1) as usize, 23 - (y & 1) as usize);
                    let bg = f.clone();
                    draw_mask(&mut f.canvas(), x, y, &mask, colour);
                    let cover = |px: i64, py: i64| mask.get(px - x as i64, py - y as i64);
                    for py in 0..f.height {
                        for px in 0..f.width {
                            let a = mul_alpha(cover(px as i64, py as i64), colour.a);
                            if format.is_yuv() {
                                let yuv = colour.to_yuv(f.yuv.matrix, f.yuv.range);
                                assert_eq!(f.luma(px, py), blend(yuv.y, bg.luma(px, py), a));
                            } else {
                                let want = format.packed_bytes(colour);
                                let n = format.written_bytes();
                                let old = bg.packed(px, py);
                                for (b, &w) in want.iter().enumerate().take(n) {
                                    assert_eq!(f.packed(px, py)[b], blend(w, old[b], a));
                                }
                                assert_eq!(f.packed(px, py)[n..], bg.packed(px, py)[n..]);
                            }
                        }
                    }
                    if format.is_yuv() {
                        // Chroma: mean coverage of the in-frame block.
                        let yuv = colour.to_yuv(f.yuv.matrix, f.yuv.range);
                        for cy in 0..f.height.div_ceil(2) {
                            for cx in 0..f.width.div_ceil(2) {
                                let (mut sum, mut n) = (0u32, 0u32);
                                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                                    let (lx, ly) = (2 * cx + dx, 2 * cy + dy);
                                    if lx < f.width && ly < f.height {
                                        sum += cover(lx as i64, ly as i64) as u32;
                                        n += 255;
                                    }
                                }
                                let a = ((sum * colour.a as u32 + n / 2) / n) as u8;
                                let (u, v) = f.chroma(cx, cy);
                                let (bu, bv) = bg.chroma(cx, cy);
                                assert_eq!((u, v), (blend(yuv.u, bu, a), blend(yuv.v, bv, a)));
                            }
                        }
                    }
                    assert_eq!(f.padding_bytes(), bg.padding_bytes());
                }
            }
        }
    }
}
