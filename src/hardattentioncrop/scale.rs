// SPDX-License-Identifier: MPL-2.0

//! Bilinear crop-and-scale of one image plane (fixed point), for hardattentioncrop: the
//! crop is read at full source resolution, once, straight into the output.

/// Per-output-column source index and weight, computed when sizes change.
#[derive(Debug, Default, Clone)]
pub struct Axis {
    index: Vec<u32>,
    weight: Vec<u16>,
}

impl Axis {
    /// Maps `dst` output samples onto the `len` source samples starting at `start`.
    pub fn new(start: u32, len: u32, dst: u32) -> Self {
        let mut axis = Axis::default();
        axis.set(start, len, dst);
        axis
    }

    pub fn set(&mut self, start: u32, len: u32, dst: u32) {
        self.index.clear();
        self.weight.clear();
        let scale = len as f64 / dst as f64;
        for o in 0..dst {
            let f = ((o as f64 + 0.5) * scale - 0.5).clamp(0.0, (len - 1) as f64);
            let i = (f.floor() as u32).min(len.saturating_sub(2));
            let frac = (f - i as f64).clamp(0.0, 1.0);
            self.index.push(start + i);
            self.weight.push((frac * 256.0).round() as u16);
        }
    }
}

/// Scales the crop described by `xs`/`ys` of a plane with `channels` interleaved bytes per
/// sample into `dst` (rows `dst_stride` apart, starting `dst_x0` samples and `dst_y0` rows
/// in). Separable: each output row first blends its two source rows over the crop's span
/// (contiguous, so it vectorises), then interpolates horizontally.
#[allow(clippy::too_many_arguments)]
pub fn scale_plane(
    src: &[u8],
    src_stride: usize,
    channels: usize,
    xs: &Axis,
    ys: &Axis,
    last_col: u32,
    last_row: u32,
    dst: &mut [u8],
    dst_stride: usize,
    dst_x0: usize,
    dst_y0: usize,
) {
    match channels {
        1 => scale::<1>(
            src, src_stride, xs, ys, last_col, last_row, dst, dst_stride, dst_x0, dst_y0,
        ),
        2 => scale::<2>(
            src, src_stride, xs, ys, last_col, last_row, dst, dst_stride, dst_x0, dst_y0,
        ),
        3 => scale::<3>(
            src, src_stride, xs, ys, last_col, last_row, dst, dst_stride, dst_x0, dst_y0,
        ),
        _ => scale::<4>(
            src, src_stride, xs, ys, last_col, last_row, dst, dst_stride, dst_x0, dst_y0,
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn scale<const C: usize>(
    src: &[u8],
    src_stride: usize,
    xs: &Axis,
    ys: &Axis,
    last_col: u32,
    last_row: u32,
    dst: &mut [u8],
    dst_stride: usize,
    dst_x0: usize,
    dst_y0: usize,
) {
    let (Some(&first), Some(&last)) = (xs.index.first(), xs.index.last()) else {
        return;
    };
    // The source columns the output reads: [first, last + 1], clamped to the plane.
    let span_end = (last + 1).min(last_col) as usize + 1;
    let span = first as usize * C..span_end * C;
    let mut rows = vec![0u16; span.len()];
    for (oy, (&sy, &wy)) in ys.index.iter().zip(&ys.weight).enumerate() {
        let y1 = (sy + 1).min(last_row) as usize;
        let r0 = &src[sy as usize * src_stride..][span.clone()];
        let r1 = &src[y1 * src_stride..][span.clone()];
        let (w0, w1) = (256 - wy, wy);
        for ((t, a), b) in rows.iter_mut().zip(r0).zip(r1) {
            *t = *a as u16 * w0 + *b as u16 * w1;
        }
        let out = &mut dst[(dst_y0 + oy) * dst_stride + dst_x0 * C..][..xs.index.len() * C];
        for ((o, &sx), &wx) in out.chunks_exact_mut(C).zip(&xs.index).zip(&xs.weight) {
            let x0 = (sx - first) as usize * C;
            let x1 = ((sx + 1).min(last_col) - first) as usize * C;
            let (w0, w1) = (256 - wx as u32, wx as u32);
            for c in 0..C {
                o[c] = ((rows[x0 + c] as u32 * w0 + rows[x1 + c] as u32 * w1 + 32768) >> 16) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_crop() {
        let src: Vec<u8> = (0..64).collect(); // 8x8, value = 8y + x
        let (xs, ys) = (Axis::new(2, 4, 4), Axis::new(3, 2, 2));
        let mut dst = vec![0u8; 8];
        scale_plane(&src, 8, 1, &xs, &ys, 7, 7, &mut dst, 4, 0, 0);
        assert_eq!(dst, vec![26, 27, 28, 29, 34, 35, 36, 37]);
    }

    #[test]
    fn upscale_interpolates_and_channels_stay_apart() {
        // 2x1 RGB: black, white -> 4x1.
        let src = [0u8, 0, 0, 255, 255, 255];
        let (xs, ys) = (Axis::new(0, 2, 4), Axis::new(0, 1, 1));
        let mut dst = vec![0u8; 12];
        scale_plane(&src, 6, 3, &xs, &ys, 1, 0, &mut dst, 12, 0, 0);
        let reds: Vec<u8> = dst.chunks(3).map(|p| p[0]).collect();
        assert_eq!(reds, vec![0, 64, 191, 255]);
        assert!(dst.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]));
    }
}
