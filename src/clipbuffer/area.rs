// SPDX-License-Identifier: MPL-2.0

//! Area-average downscaling of 4:2:0 YUV frames straight into packed RGB at the model size.
//!
//! Reducing 720p to 112x112 with a resampling filter whose kernel widens with the factor
//! reads every source pixel many times; an area average reads each once and is the usual
//! anti-aliased reduction (what OpenCV calls INTER_AREA, which the Python reference uses).
//! Averaging YUV and then converting equals converting and then averaging, since the
//! conversion is affine (up to clamping).

/// Where the chroma samples of a 4:2:0 frame are.
#[derive(Debug, Clone, Copy)]
pub struct Chroma<'a> {
    pub u: &'a [u8],
    pub u_stride: usize,
    pub v: &'a [u8],
    pub v_stride: usize,
    /// Bytes between two chroma samples of a row (1 planar, 2 semi-planar).
    pub step: usize,
}

/// YUV to RGB coefficients: (luma scale, luma offset, V→R, U→G, V→G, U→B).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YuvToRgb {
    pub y_scale: f32,
    pub y_offset: f32,
    pub vr: f32,
    pub ug: f32,
    pub vg: f32,
    pub ub: f32,
}

impl YuvToRgb {
    pub fn new(bt709: bool, full_range: bool) -> Self {
        // Kr, Kb of the matrix; chroma and luma scales of the range.
        let (kr, kb) = if bt709 {
            (0.2126f32, 0.0722f32)
        } else {
            (0.299, 0.114)
        };
        let kg = 1.0 - kr - kb;
        let (y_scale, y_offset, c_scale) = if full_range {
            (1.0, 0.0, 1.0)
        } else {
            (255.0 / 219.0, 16.0, 255.0 / 224.0)
        };
        YuvToRgb {
            y_scale,
            y_offset,
            vr: 2.0 * (1.0 - kr) * c_scale,
            ug: 2.0 * (1.0 - kb) * kb / kg * c_scale,
            vg: 2.0 * (1.0 - kr) * kr / kg * c_scale,
            ub: 2.0 * (1.0 - kb) * c_scale,
        }
    }

    #[inline(always)]
    fn rgb(&self, y: f32, u: f32, v: f32) -> [u8; 3] {
        let y = (y - self.y_offset) * self.y_scale;
        let (u, v) = (u - 128.0, v - 128.0);
        // Rounds half up after clamping: the same bytes as round().clamp(), without the
        // libm call round() becomes on baseline x86-64 (no SSE4.1 rounding instruction).
        let c = |x: f32| (x.clamp(0.0, 255.0) + 0.5) as u8;
        [
            c(y + self.vr * v),
            c(y - self.ug * u - self.vg * v),
            c(y + self.ub * u),
        ]
    }
}

/// Source index ranges of each output cell along one axis (every source index in exactly
/// one cell; cells differ in size by at most one).
fn cells(src: usize, dst: usize) -> Vec<(usize, usize)> {
    (0..dst)
        .map(|i| {
            (
                i * src / dst,
                ((i + 1) * src / dst).max(i * src / dst + 1).min(src),
            )
        })
        .collect()
}

/// Per-column sums of a cell's source rows: u16 while they cannot overflow (up to 257 rows
/// of 255, any reduction to the model's size of frames up to 8K), twice the lanes per vector
/// instruction of u32; u32 beyond.
trait ColumnSum: Copy + Default + From<u8> + Into<u32> + std::ops::AddAssign {}
impl ColumnSum for u16 {}
impl ColumnSum for u32 {}

/// Adds one source row into per-column sums (a loop the compiler vectorizes).
#[inline(always)]
fn accumulate<T: ColumnSum>(sums: &mut [T], row: &[u8]) {
    for (sum, &v) in sums.iter_mut().zip(row) {
        *sum += T::from(v);
    }
}

/// Adds the chroma samples of one row, `step` bytes apart, into per-column sums.
#[inline(always)]
fn accumulate_strided<T: ColumnSum>(sums: &mut [T], row: &[u8], step: usize) {
    if step == 1 {
        accumulate(sums, row);
    } else {
        for (sum, &v) in sums.iter_mut().zip(row.iter().step_by(step)) {
            *sum += T::from(v);
        }
    }
}

/// The mean of each cell of one output row from the per-column sums of its `rows` source rows.
#[inline(always)]
fn cell_means<T: ColumnSum>(sums: &[T], cols: &[(usize, usize)], rows: usize, means: &mut [f32]) {
    let width = cols[0].1 - cols[0].0;
    if sums.len() == width * cols.len() {
        // Every cell equally wide (1280 or 640 columns into 160): equal chunks instead of a
        // slice per cell, of a width known at compile time for the common reductions (the
        // compiler then unrolls each cell's sum: a fifth of the whole reduction's time at 720p).
        let n = (width * rows) as f32;
        match width {
            2 => equal_cell_means::<T, 2>(sums, n, means),
            3 => equal_cell_means::<T, 3>(sums, n, means),
            4 => equal_cell_means::<T, 4>(sums, n, means),
            6 => equal_cell_means::<T, 6>(sums, n, means),
            8 => equal_cell_means::<T, 8>(sums, n, means),
            12 => equal_cell_means::<T, 12>(sums, n, means),
            16 => equal_cell_means::<T, 16>(sums, n, means),
            _ => {
                for (mean, chunk) in means.iter_mut().zip(sums.chunks_exact(width)) {
                    *mean = chunk.iter().map(|&s| s.into()).sum::<u32>() as f32 / n;
                }
            }
        }
    } else {
        for (mean, &(x0, x1)) in means.iter_mut().zip(cols) {
            *mean = sums[x0..x1].iter().map(|&s| s.into()).sum::<u32>() as f32
                / ((x1 - x0) * rows) as f32;
        }
    }
}

/// `cell_means` for cells of `W` columns each, `n` source pixels a cell.
#[inline(always)]
fn equal_cell_means<T: ColumnSum, const W: usize>(sums: &[T], n: f32, means: &mut [f32]) {
    for (mean, chunk) in means.iter_mut().zip(sums.chunks_exact(W)) {
        let cell: &[T; W] = chunk.try_into().expect("chunks of W");
        *mean = cell.iter().map(|&s| s.into()).sum::<u32>() as f32 / n;
    }
}

/// Downscales a 4:2:0 frame of `w` x `h` into packed RGB `out` (`out_w` x `out_h`, rows
/// `out_stride` bytes apart). For each output row it first sums the cell's source rows
/// column by column (sequential, vectorized reads of every source byte once), then sums
/// each cell's columns.
#[allow(clippy::too_many_arguments)]
pub fn yuv420_to_rgb_area(
    y_plane: &[u8],
    y_stride: usize,
    chroma: Chroma,
    w: usize,
    h: usize,
    coefficients: &YuvToRgb,
    out: &mut [u8],
    out_w: usize,
    out_h: usize,
    out_stride: usize,
) {
    // The tallest cell (cells differ in size by at most one).
    let tallest = h.div_ceil(out_h.max(1));
    let frame = Frame {
        y_plane,
        y_stride,
        chroma,
        w,
        h,
    };
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { area_avx2(&frame, tallest, coefficients, out, out_w, out_h, out_stride) };
        return;
    }
    area_by_height(&frame, tallest, coefficients, out, out_w, out_h, out_stride);
}

/// The reduction compiled for AVX2 (twice the lanes of the x86-64 baseline's SSE2 in the
/// column sums): about a third less time a 720p frame, the same bytes (no fused multiply-add,
/// which AVX2 alone does not enable).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn area_avx2(
    frame: &Frame,
    tallest: usize,
    coefficients: &YuvToRgb,
    out: &mut [u8],
    out_w: usize,
    out_h: usize,
    out_stride: usize,
) {
    area_by_height(frame, tallest, coefficients, out, out_w, out_h, out_stride)
}

/// Inlined into each caller, so that the whole reduction is compiled for its target features.
#[inline(always)]
fn area_by_height(
    frame: &Frame,
    tallest: usize,
    coefficients: &YuvToRgb,
    out: &mut [u8],
    out_w: usize,
    out_h: usize,
    out_stride: usize,
) {
    if tallest <= (u16::MAX / 255) as usize {
        area::<u16>(frame, coefficients, out, out_w, out_h, out_stride);
    } else {
        area::<u32>(frame, coefficients, out, out_w, out_h, out_stride);
    }
}

/// A 4:2:0 source frame.
struct Frame<'a> {
    y_plane: &'a [u8],
    y_stride: usize,
    chroma: Chroma<'a>,
    w: usize,
    h: usize,
}

#[inline(always)]
fn area<T: ColumnSum>(
    frame: &Frame,
    coefficients: &YuvToRgb,
    out: &mut [u8],
    out_w: usize,
    out_h: usize,
    out_stride: usize,
) {
    let Frame {
        y_plane,
        y_stride,
        chroma,
        w,
        h,
    } = *frame;
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (cols, rows) = (cells(w, out_w), cells(h, out_h));
    let (ccols, crows) = (cells(cw, out_w), cells(ch, out_h));
    let (mut y_sums, mut u_sums, mut v_sums) = (
        vec![T::default(); w],
        vec![T::default(); cw],
        vec![T::default(); cw],
    );
    let (mut y_means, mut u_means, mut v_means) =
        (vec![0f32; out_w], vec![0f32; out_w], vec![0f32; out_w]);
    for (oy, (&(y0, y1), &(cy0, cy1))) in rows.iter().zip(&crows).enumerate() {
        y_sums.fill(T::default());
        u_sums.fill(T::default());
        v_sums.fill(T::default());
        for y in y0..y1 {
            accumulate(&mut y_sums, &y_plane[y * y_stride..][..w]);
        }
        for cy in cy0..cy1 {
            accumulate_strided(&mut u_sums, &chroma.u[cy * chroma.u_stride..], chroma.step);
            accumulate_strided(&mut v_sums, &chroma.v[cy * chroma.v_stride..], chroma.step);
        }
        // Cell means first, then the colour conversion over the whole row: a loop without
        // slicing that the compiler vectorizes (the same operations per cell, so the same bytes).
        cell_means(&y_sums, &cols, y1 - y0, &mut y_means);
        cell_means(&u_sums, &ccols, cy1 - cy0, &mut u_means);
        cell_means(&v_sums, &ccols, cy1 - cy0, &mut v_means);
        let out_row = &mut out[oy * out_stride..][..3 * out_w];
        for (pixel, ((&y, &u), &v)) in out_row
            .chunks_exact_mut(3)
            .zip(y_means.iter().zip(&u_means).zip(&v_means))
        {
            pixel.copy_from_slice(&coefficients.rgb(y, u, v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cover_every_index_once() {
        for (src, dst) in [(1280, 112), (720, 112), (10, 3), (5, 5)] {
            let c = cells(src, dst);
            assert_eq!(c[0].0, 0);
            assert_eq!(c[dst - 1].1, src);
            assert!(c.windows(2).all(|p| p[0].1 == p[1].0));
        }
    }

    #[test]
    fn rounding_equals_round_then_clamp() {
        let m = YuvToRgb::new(true, false);
        let reference = |x: f32| x.round().clamp(0.0, 255.0) as u8;
        for y in (0..=255).step_by(3) {
            for u in (0..=255).step_by(5) {
                for v in (0..=255).step_by(7) {
                    let (yf, uf, vf) = (y as f32 + 0.25, u as f32 + 0.5, v as f32);
                    let l = (yf - m.y_offset) * m.y_scale;
                    let (cu, cv) = (uf - 128.0, vf - 128.0);
                    let want = [
                        reference(l + m.vr * cv),
                        reference(l - m.ug * cu - m.vg * cv),
                        reference(l + m.ub * cu),
                    ];
                    assert_eq!(m.rgb(yf, uf, vf), want, "y {yf} u {uf} v {vf}");
                }
            }
        }
    }

    #[test]
    fn reference_colours() {
        let bt601 = YuvToRgb::new(false, false);
        // BT.601 limited: red is Y 81, U 90, V 240.
        let red = bt601.rgb(81.0, 90.0, 240.0);
        assert!(red[0] >= 253 && red[1] <= 2 && red[2] <= 2, "{red:?}");
        assert_eq!(bt601.rgb(235.0, 128.0, 128.0), [255, 255, 255]);
        assert_eq!(bt601.rgb(16.0, 128.0, 128.0), [0, 0, 0]);
        assert_eq!(
            YuvToRgb::new(true, true).rgb(128.0, 128.0, 128.0),
            [128, 128, 128]
        );
    }

    /// Cell by cell, the definition: every output pixel is the mean of its source cell.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        y: &[u8],
        ys: usize,
        c: Chroma,
        w: usize,
        h: usize,
        k: &YuvToRgb,
        out_w: usize,
        out_h: usize,
    ) -> Vec<u8> {
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let (cols, rows, ccols, crows) = (
            cells(w, out_w),
            cells(h, out_h),
            cells(cw, out_w),
            cells(ch, out_h),
        );
        let mut out = Vec::new();
        for oy in 0..out_h {
            for ox in 0..out_w {
                let (mut sy, mut su, mut sv) = (0u32, 0u32, 0u32);
                for yy in rows[oy].0..rows[oy].1 {
                    for xx in cols[ox].0..cols[ox].1 {
                        sy += y[yy * ys + xx] as u32;
                    }
                }
                for cy in crows[oy].0..crows[oy].1 {
                    for cx in ccols[ox].0..ccols[ox].1 {
                        su += c.u[cy * c.u_stride + cx * c.step] as u32;
                        sv += c.v[cy * c.v_stride + cx * c.step] as u32;
                    }
                }
                let n = ((cols[ox].1 - cols[ox].0) * (rows[oy].1 - rows[oy].0)) as f32;
                let cn = ((ccols[ox].1 - ccols[ox].0) * (crows[oy].1 - crows[oy].0)) as f32;
                out.extend(k.rgb(sy as f32 / n, su as f32 / cn, sv as f32 / cn));
            }
        }
        out
    }

    #[test]
    fn matches_the_definition_on_noise() {
        let mut seed = 0x9E3779B97F4A7C15u64;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed >> 24) as u8
                })
                .collect()
        };
        let k = YuvToRgb::new(true, false);
        for (w, h, out_w, out_h) in [
            (1280usize, 720usize, 80, 80),
            (1280, 720, 160, 160),
            // Cells of 2, 3, 4, 6, 8, 12 and 16 columns (luma and chroma, with the ones above).
            (640, 360, 160, 160),
            (1920, 1080, 160, 160),
            (480, 270, 80, 80),
            (321, 179, 112, 64),
            (17, 9, 5, 3),
            // 300 source rows a cell: the sums overflow u16, so they are u32.
            (64, 600, 4, 2),
        ] {
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            let ys = w + 7;
            let y = noise(ys * h);
            // Planar (I420-like, padded rows) and semi-planar (NV12-like: U and V interleaved).
            let (u, v) = (noise((cw + 3) * ch), noise((cw + 3) * ch));
            let uv = noise(2 * cw * ch);
            let planar = Chroma {
                u: &u,
                u_stride: cw + 3,
                v: &v,
                v_stride: cw + 3,
                step: 1,
            };
            let semi = Chroma {
                u: &uv,
                u_stride: 2 * cw,
                v: &uv[1..],
                v_stride: 2 * cw,
                step: 2,
            };
            for chroma in [planar, semi] {
                let mut out = vec![0u8; out_w * 3 * out_h];
                yuv420_to_rgb_area(&y, ys, chroma, w, h, &k, &mut out, out_w, out_h, out_w * 3);
                assert_eq!(
                    out,
                    reference(&y, ys, chroma, w, h, &k, out_w, out_h),
                    "{w}x{h}"
                );
                // The x86-64 baseline build of the reduction, whichever one ran above.
                let frame = Frame {
                    y_plane: &y,
                    y_stride: ys,
                    chroma,
                    w,
                    h,
                };
                let mut baseline = vec![0u8; out.len()];
                let tallest = h.div_ceil(out_h);
                area_by_height(&frame, tallest, &k, &mut baseline, out_w, out_h, out_w * 3);
                assert_eq!(baseline, out, "{w}x{h}: baseline build");
            }
        }
    }

    #[test]
    fn averages_blocks() {
        // 4x4 luma: left half 16, right half 235; 2x2 chroma neutral -> black | white.
        let y: Vec<u8> = (0..16).map(|i| if i % 4 < 2 { 16 } else { 235 }).collect();
        let c = vec![128u8; 4];
        let chroma = Chroma {
            u: &c,
            u_stride: 2,
            v: &c,
            v_stride: 2,
            step: 1,
        };
        let mut out = vec![0u8; 2 * 2 * 3];
        yuv420_to_rgb_area(
            &y,
            4,
            chroma,
            4,
            4,
            &YuvToRgb::new(false, false),
            &mut out,
            2,
            2,
            6,
        );
        assert_eq!(out, vec![0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255]);
        // One output pixel: the mean.
        let mut one = vec![0u8; 3];
        yuv420_to_rgb_area(
            &y,
            4,
            chroma,
            4,
            4,
            &YuvToRgb::new(false, true),
            &mut one,
            1,
            1,
            3,
        );
        assert_eq!(one, vec![126, 126, 126]);
    }
}
