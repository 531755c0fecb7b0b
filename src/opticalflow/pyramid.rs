// SPDX-License-Identifier: MPL-2.0

//! Image pyramid building blocks: luma conversion, binomial pyramid reduction,
//! gradients, border padding and flow upsampling.

use crate::opticalflow::parallel::{for_each_band, Bands};

/// Dimensions of each pyramid level; level k+1 keeps every second pixel of level k.
pub(crate) fn level_sizes(width: usize, height: usize, levels: usize) -> Vec<(usize, usize)> {
    let mut sizes = Vec::with_capacity(levels);
    let (mut w, mut h) = (width, height);
    for _ in 0..levels {
        sizes.push((w, h));
        w = w.div_ceil(2);
        h = h.div_ceil(2);
    }
    sizes
}

/// Copies a strided 8-bit plane into a packed f32 plane.
pub(crate) fn luma_to_f32(src: &[u8], width: usize, height: usize, stride: usize, dst: &mut [f32]) {
    for (y, dst_row) in dst.chunks_exact_mut(width).take(height).enumerate() {
        let src_row = &src[y * stride..y * stride + width];
        for (d, &s) in dst_row.iter_mut().zip(src_row) {
            *d = f32::from(s);
        }
    }
}

/// Blurs with the 5-tap binomial kernel [1 4 6 4 1]/16 (replicated borders) and keeps
/// every second pixel, so coarse pixel x sits on fine pixel 2x. The source is f32 or 8-bit
/// with row stride `src_stride`. `row_scratch` must hold at least `src_w` values.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pyr_down<T: Copy + Into<f32>>(
    src: &[T],
    src_w: usize,
    src_h: usize,
    src_stride: usize,
    dst: &mut [f32],
    dst_w: usize,
    dst_h: usize,
    row_scratch: &mut [f32],
) {
    let last_row = src_h as isize - 1;
    let clamp_row = |r: isize| r.clamp(0, last_row) as usize * src_stride;
    let blurred = &mut row_scratch[..src_w];
    for (y, dst_row) in dst.chunks_exact_mut(dst_w).take(dst_h).enumerate() {
        let center = 2 * y as isize;
        let rows = [
            clamp_row(center - 2),
            clamp_row(center - 1),
            clamp_row(center),
            clamp_row(center + 1),
            clamp_row(center + 2),
        ];
        let (r0, r1, r2, r3, r4) = (
            &src[rows[0]..rows[0] + src_w],
            &src[rows[1]..rows[1] + src_w],
            &src[rows[2]..rows[2] + src_w],
            &src[rows[3]..rows[3] + src_w],
            &src[rows[4]..rows[4] + src_w],
        );
        for x in 0..src_w {
            let at = |row: &[T]| -> f32 { row[x].into() };
            blurred[x] = at(r0) + at(r4) + 4.0 * (at(r1) + at(r3)) + 6.0 * at(r2);
        }
        let last_col = src_w - 1;
        for (x, d) in dst_row.iter_mut().enumerate() {
            let c = 2 * x;
            let sum = if c >= 2 && c + 2 <= last_col {
                blurred[c - 2]
                    + blurred[c + 2]
                    + 4.0 * (blurred[c - 1] + blurred[c + 1])
                    + 6.0 * blurred[c]
            } else {
                let at = |i: isize| blurred[i.clamp(0, last_col as isize) as usize];
                let c = c as isize;
                at(c - 2) + at(c + 2) + 4.0 * (at(c - 1) + at(c + 1)) + 6.0 * at(c)
            };
            *d = sum * (1.0 / 256.0);
        }
    }
}

/// Sobel gradients scaled to intensity units per pixel (Sobel / 8); the extra smoothing
/// across the derivative direction steadies the patch Gauss-Newton steps.
pub(crate) fn sobel_gradients(
    image: &[f32],
    width: usize,
    height: usize,
    grad_x: &mut [f32],
    grad_y: &mut [f32],
) {
    let last_col = width - 1;
    for y in 0..height {
        let above = &image[y.saturating_sub(1) * width..][..width];
        let row = &image[y * width..][..width];
        let below = &image[(y + 1).min(height - 1) * width..][..width];
        let gx_row = &mut grad_x[y * width..][..width];
        let gy_row = &mut grad_y[y * width..][..width];
        for x in 0..width {
            let left = x.saturating_sub(1);
            let right = (x + 1).min(last_col);
            let dx_above = above[right] - above[left];
            let dx_row = row[right] - row[left];
            let dx_below = below[right] - below[left];
            gx_row[x] = (dx_above + 2.0 * dx_row + dx_below) * 0.125;
            let smooth_above = above[left] + 2.0 * above[x] + above[right];
            let smooth_below = below[left] + 2.0 * below[x] + below[right];
            gy_row[x] = (smooth_below - smooth_above) * 0.125;
        }
    }
}

/// Copies `src` into the centre of `dst`, a plane `border` pixels larger on every side,
/// replicating edge pixels outwards so patch samples never need bounds checks.
pub(crate) fn pad_replicate(
    src: &[f32],
    width: usize,
    height: usize,
    border: usize,
    dst: &mut [f32],
) {
    let padded_w = width + 2 * border;
    let padded_h = height + 2 * border;
    for py in 0..padded_h {
        let sy = py.saturating_sub(border).min(height - 1);
        let src_row = &src[sy * width..][..width];
        let dst_row = &mut dst[py * padded_w..][..padded_w];
        dst_row[..border].fill(src_row[0]);
        dst_row[border..border + width].copy_from_slice(src_row);
        dst_row[border + width..].fill(src_row[width - 1]);
    }
}

/// Bilinearly upsamples a flow field by `factor` (a power of two in pyramid use):
/// fine pixel X reads coarse position X / factor, and vectors are scaled by `factor`.
/// Rows are split into `bands` threads.
#[allow(clippy::too_many_arguments)]
pub(crate) fn upsample_flow(
    src_u: &[f32],
    src_v: &[f32],
    src_w: usize,
    src_h: usize,
    dst_u: &mut [f32],
    dst_v: &mut [f32],
    dst_w: usize,
    dst_h: usize,
    factor: usize,
    bands: Bands,
) {
    let inv = 1.0 / factor as f32;
    let scale = factor as f32;
    for_each_band(
        bands,
        dst_w,
        dst_h,
        [dst_u, dst_v],
        |rows, [band_u, band_v]| {
            for y in rows.clone() {
                let y0 = (y / factor).min(src_h - 1);
                let y1 = (y0 + 1).min(src_h - 1);
                let fy = if y / factor >= src_h - 1 {
                    0.0
                } else {
                    (y % factor) as f32 * inv
                };
                let local = (y - rows.start) * dst_w;
                for (src, dst) in [(src_u, &mut *band_u), (src_v, &mut *band_v)] {
                    let (top, bottom) = (&src[y0 * src_w..][..src_w], &src[y1 * src_w..][..src_w]);
                    let dst_row = &mut dst[local..][..dst_w];
                    match factor {
                        2 => expand_row::<2>(top, bottom, fy, scale, dst_row),
                        4 => expand_row::<4>(top, bottom, fy, scale, dst_row),
                        _ => expand_row_any(top, bottom, fy, scale, factor, dst_row),
                    }
                }
            }
        },
    );
}

/// One fine row: vertical blend `fy` of two coarse rows, then linear interpolation across
/// each coarse column's `F` fine pixels, vectors scaled by `scale`.
fn expand_row<const F: usize>(
    top: &[f32],
    bottom: &[f32],
    fy: f32,
    scale: f32,
    dst_row: &mut [f32],
) {
    let last = top.len() - 1;
    let bottom = &bottom[..top.len()];
    let coarse = |sx: usize| (top[sx] + fy * (bottom[sx] - top[sx])) * scale;
    let inv = 1.0 / F as f32;
    let mut left = coarse(0);
    let mut chunks = dst_row.chunks_exact_mut(F);
    for (sx, chunk) in chunks.by_ref().enumerate() {
        let right = coarse((sx + 1).min(last));
        let step = (right - left) * inv;
        let chunk: &mut [f32; F] = chunk.try_into().expect("chunk of F");
        for (k, value) in chunk.iter_mut().enumerate() {
            *value = left + step * k as f32;
        }
        left = right;
    }
    // A partial last chunk sits on the last coarse column, whose right neighbour is itself.
    for value in chunks.into_remainder() {
        *value = left;
    }
}

fn expand_row_any(
    top: &[f32],
    bottom: &[f32],
    fy: f32,
    scale: f32,
    factor: usize,
    dst_row: &mut [f32],
) {
    let src_w = top.len();
    let inv = 1.0 / factor as f32;
    for (sx, chunk) in dst_row.chunks_mut(factor).enumerate() {
        let sx0 = sx.min(src_w - 1);
        let sx1 = (sx0 + 1).min(src_w - 1);
        let left = (top[sx0] + fy * (bottom[sx0] - top[sx0])) * scale;
        let right = (top[sx1] + fy * (bottom[sx1] - top[sx1])) * scale;
        let step = (right - left) * inv;
        for (k, value) in chunk.iter_mut().enumerate() {
            *value = left + step * k as f32;
        }
    }
}

/// Area-average downscale of a luma plane into `dst` (dst_w x dst_h, packed rows).
/// Each destination pixel averages the source area it covers, with fractional
/// weights at its edges, so arbitrary (non-integer) ratios alias as little as a box can.
pub fn downscale_luma(
    src: &[u8],
    src_w: usize,
    src_h: usize,
    src_stride: usize,
    dst: &mut [u8],
    dst_w: usize,
    dst_h: usize,
) {
    assert!(dst_w > 0 && dst_h > 0 && dst_w <= src_w && dst_h <= src_h);
    assert!(dst.len() >= dst_w * dst_h && src.len() >= (src_h - 1) * src_stride + src_w);
    let scale_x = src_w as f64 / dst_w as f64;
    let scale_y = src_h as f64 / dst_h as f64;
    let inv_area = 1.0 / (scale_x * scale_y);
    for dy in 0..dst_h {
        let y_begin = dy as f64 * scale_y;
        let y_end = (dy + 1) as f64 * scale_y;
        for dx in 0..dst_w {
            let x_begin = dx as f64 * scale_x;
            let x_end = (dx + 1) as f64 * scale_x;
            let mut sum = 0.0f64;
            let mut sy = y_begin.floor() as usize;
            while (sy as f64) < y_end && sy < src_h {
                let wy = overlap(sy, y_begin, y_end);
                let row = &src[sy * src_stride..];
                let mut row_sum = 0.0f64;
                let mut sx = x_begin.floor() as usize;
                while (sx as f64) < x_end && sx < src_w {
                    row_sum += overlap(sx, x_begin, x_end) * f64::from(row[sx]);
                    sx += 1;
                }
                sum += wy * row_sum;
                sy += 1;
            }
            dst[dy * dst_w + dx] = (sum * inv_area).round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// Length of the overlap of source pixel [i, i+1) with [begin, end).
fn overlap(i: usize, begin: f64, end: f64) -> f64 {
    let lo = (i as f64).max(begin);
    let hi = ((i + 1) as f64).min(end);
    (hi - lo).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downscale_by_two_averages_blocks() {
        let src: Vec<u8> = (0..16).map(|i| (i * 10) as u8).collect();
        let mut dst = [0u8; 4];
        downscale_luma(&src, 4, 4, 4, &mut dst, 2, 2);
        // Top-left block: 0, 10, 40, 50 -> 25.
        assert_eq!(dst, [25, 45, 105, 125]);
    }

    #[test]
    fn downscale_keeps_constant_images_constant() {
        let src = vec![77u8; 37 * 23];
        let mut dst = vec![0u8; 10 * 7];
        downscale_luma(&src, 37, 23, 37, &mut dst, 10, 7);
        assert!(dst.iter().all(|&p| p == 77));
    }

    #[test]
    fn pyr_down_keeps_constant_and_ramp() {
        let (w, h) = (9, 7);
        let src: Vec<f32> = (0..w * h).map(|i| (i % w) as f32).collect();
        let (dw, dh) = (5, 4);
        let mut dst = vec![0.0; dw * dh];
        let mut scratch = vec![0.0; w];
        pyr_down(&src, w, h, w, &mut dst, dw, dh, &mut scratch);
        // Interior samples of a linear ramp stay exact: coarse x sits on fine 2x.
        assert!((dst[dw + 1] - 2.0).abs() < 1e-5);
        assert!((dst[dw + 2] - 4.0).abs() < 1e-5);
    }

    #[test]
    fn sobel_of_ramp_is_its_slope() {
        let (w, h) = (6, 5);
        let img: Vec<f32> = (0..w * h)
            .map(|i| 3.0 * (i % w) as f32 + 2.0 * (i / w) as f32)
            .collect();
        let mut gx = vec![0.0; w * h];
        let mut gy = vec![0.0; w * h];
        sobel_gradients(&img, w, h, &mut gx, &mut gy);
        assert!((gx[2 * w + 2] - 3.0).abs() < 1e-5);
        assert!((gy[2 * w + 2] - 2.0).abs() < 1e-5);
    }
}
