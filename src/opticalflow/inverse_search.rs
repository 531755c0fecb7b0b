// SPDX-License-Identifier: MPL-2.0

//! Patch-based inverse search (DIS style): each patch of the previous frame finds its
//! displacement into the current frame by inverse-compositional Gauss-Newton on a
//! mean-normalised SSD, seeded by the coarser level and by its already-solved neighbours.
//! The patch flows are then blended into a dense field, weighting each patch per pixel by
//! how well it explains that pixel.

use std::ops::Range;

/// One pyramid level as seen by the patch search.
pub(crate) struct SearchLevel<'a> {
    pub width: usize,
    pub height: usize,
    pub prev: &'a [f32],
    pub grad_x: &'a [f32],
    pub grad_y: &'a [f32],
    /// Current frame, padded by `border` replicated pixels on each side.
    pub cur_padded: &'a [f32],
    pub border: usize,
}

/// Top-left corners of the patches; the last patch of each axis is pushed flush against
/// the image edge so every pixel is covered.
pub(crate) struct PatchGrid {
    pub xs: Vec<usize>,
    pub ys: Vec<usize>,
}

impl PatchGrid {
    pub fn new(width: usize, height: usize, patch: usize, stride: usize) -> Self {
        Self {
            xs: grid_positions(width, patch, stride),
            ys: grid_positions(height, patch, stride),
        }
    }

    pub fn len(&self) -> usize {
        self.xs.len() * self.ys.len()
    }
}

fn grid_positions(len: usize, patch: usize, stride: usize) -> Vec<usize> {
    let last = len.saturating_sub(patch);
    let count = last.div_ceil(stride) + 1;
    (0..count).map(|i| (i * stride).min(last)).collect()
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchParams {
    pub patch_size: usize,
    pub patch_stride: usize,
    /// Gauss-Newton iterations in the forward (top-left to bottom-right) sweep.
    pub forward_iters: usize,
    /// Gauss-Newton iterations in the backward sweep; 0 skips that sweep.
    pub backward_iters: usize,
}

/// Four f32 lanes with element-wise arithmetic, for the patch kernels (about 45% of the
/// search's time before). LLVM's auto-vectoriser packs these kernels the wrong way round (one
/// pixel's four sums per register, with shuffles everywhere); written on SSE registers the
/// residual kernel measured 2.5x faster (116 -> 46 ns per 8x8 evaluation). Other targets
/// get the plain array version, which computes the same thing.
#[cfg(target_arch = "x86_64")]
mod lanes {
    use std::arch::x86_64::{
        __m128, _mm_add_ps, _mm_andnot_ps, _mm_div_ps, _mm_loadu_ps, _mm_max_ps, _mm_mul_ps,
        _mm_set1_ps, _mm_storeu_ps, _mm_sub_ps,
    };

    #[derive(Clone, Copy)]
    pub(crate) struct F4(__m128);

    // SAFETY (every block below): SSE and SSE2 are part of the x86_64 baseline, so the
    // intrinsics are always available; loads and stores go through `&[f32; 4]` /
    // `&mut [f32; 4]`, which guarantee 16 valid bytes, and the `u` variants need no alignment.
    impl F4 {
        #[inline(always)]
        pub fn splat(value: f32) -> Self {
            Self(unsafe { _mm_set1_ps(value) })
        }

        /// The first four values of `values`.
        #[inline(always)]
        pub fn load(values: &[f32]) -> Self {
            let quad: &[f32; 4] = values[..4].try_into().expect("four values");
            Self(unsafe { _mm_loadu_ps(quad.as_ptr()) })
        }

        #[inline(always)]
        pub fn to_array(self) -> [f32; 4] {
            let mut out = [0.0f32; 4];
            unsafe { _mm_storeu_ps(out.as_mut_ptr(), self.0) };
            out
        }

        /// Writes the lanes to the first four values of `values`.
        #[inline(always)]
        pub fn store(self, values: &mut [f32]) {
            let quad: &mut [f32; 4] = (&mut values[..4]).try_into().expect("four values");
            unsafe { _mm_storeu_ps(quad.as_mut_ptr(), self.0) };
        }

        #[inline(always)]
        pub fn abs(self) -> Self {
            Self(unsafe { _mm_andnot_ps(_mm_set1_ps(-0.0), self.0) })
        }

        #[inline(always)]
        pub fn max(self, other: Self) -> Self {
            Self(unsafe { _mm_max_ps(self.0, other.0) })
        }
    }

    impl std::ops::Div for F4 {
        type Output = Self;
        #[inline(always)]
        fn div(self, other: Self) -> Self {
            Self(unsafe { _mm_div_ps(self.0, other.0) })
        }
    }

    impl std::ops::Add for F4 {
        type Output = Self;
        #[inline(always)]
        fn add(self, other: Self) -> Self {
            Self(unsafe { _mm_add_ps(self.0, other.0) })
        }
    }

    impl std::ops::Sub for F4 {
        type Output = Self;
        #[inline(always)]
        fn sub(self, other: Self) -> Self {
            Self(unsafe { _mm_sub_ps(self.0, other.0) })
        }
    }

    impl std::ops::Mul for F4 {
        type Output = Self;
        #[inline(always)]
        fn mul(self, other: Self) -> Self {
            Self(unsafe { _mm_mul_ps(self.0, other.0) })
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod lanes {
    #[derive(Clone, Copy)]
    pub(crate) struct F4([f32; 4]);

    impl F4 {
        #[inline(always)]
        pub fn splat(value: f32) -> Self {
            Self([value; 4])
        }

        #[inline(always)]
        pub fn load(values: &[f32]) -> Self {
            Self(values[..4].try_into().expect("four values"))
        }

        #[inline(always)]
        pub fn to_array(self) -> [f32; 4] {
            self.0
        }

        #[inline(always)]
        pub fn store(self, values: &mut [f32]) {
            values[..4].copy_from_slice(&self.0);
        }

        #[inline(always)]
        pub fn abs(self) -> Self {
            Self(self.0.map(f32::abs))
        }

        #[inline(always)]
        pub fn max(self, other: Self) -> Self {
            Self(std::array::from_fn(|i| self.0[i].max(other.0[i])))
        }
    }

    impl std::ops::Div for F4 {
        type Output = Self;
        #[inline(always)]
        fn div(self, other: Self) -> Self {
            Self(std::array::from_fn(|i| self.0[i] / other.0[i]))
        }
    }

    impl std::ops::Add for F4 {
        type Output = Self;
        #[inline(always)]
        fn add(self, other: Self) -> Self {
            Self(std::array::from_fn(|i| self.0[i] + other.0[i]))
        }
    }

    impl std::ops::Sub for F4 {
        type Output = Self;
        #[inline(always)]
        fn sub(self, other: Self) -> Self {
            Self(std::array::from_fn(|i| self.0[i] - other.0[i]))
        }
    }

    impl std::ops::Mul for F4 {
        type Output = Self;
        #[inline(always)]
        fn mul(self, other: Self) -> Self {
            Self(std::array::from_fn(|i| self.0[i] * other.0[i]))
        }
    }
}

use lanes::F4;

impl F4 {
    #[inline(always)]
    fn sum(self) -> f32 {
        let [a, b, c, d] = self.to_array();
        (a + c) + (b + d)
    }
}

/// Position of a displaced patch in the padded current frame: all of its pixels share the
/// same fractional offset, hence the same four bilinear weights.
struct PatchSample {
    base: usize,
    weights: [f32; 4],
    frac_x: f32,
    frac_y: f32,
}

impl SearchLevel<'_> {
    fn padded_width(&self) -> usize {
        self.width + 2 * self.border
    }

    fn locate(&self, x0: usize, y0: usize, patch: usize, u: f32, v: f32) -> PatchSample {
        let padded_w = self.padded_width();
        let padded_h = self.height + 2 * self.border;
        // Keep the patch (plus the bilinear neighbour) inside the padded frame.
        let fx = ((x0 + self.border) as f32 + u).clamp(0.0, (padded_w - patch - 1) as f32);
        let fy = ((y0 + self.border) as f32 + v).clamp(0.0, (padded_h - patch - 1) as f32);
        let ix = fx as usize;
        let iy = fy as usize;
        let ax = fx - ix as f32;
        let ay = fy - iy as f32;
        PatchSample {
            base: iy * padded_w + ix,
            weights: [
                (1.0 - ax) * (1.0 - ay),
                ax * (1.0 - ay),
                (1.0 - ax) * ay,
                ax * ay,
            ],
            frac_x: ax,
            frac_y: ay,
        }
    }

    /// Sums over the patch of d, d², gx·d and gy·d with d = warped current - previous.
    fn residual_sums(&self, x0: usize, y0: usize, patch: usize, sample: &PatchSample) -> [f32; 4] {
        match patch {
            // Fixed widths let the compiler unroll and vectorise the row loop.
            8 => self.residual_sums_fixed::<2>(x0, y0, sample),
            12 => self.residual_sums_fixed::<3>(x0, y0, sample),
            _ => self.residual_sums_any(x0, y0, patch, sample),
        }
    }

    /// Fixed-size kernel: bilinear sampling done separably (horizontal lerp of each padded
    /// row once, shared by the two output rows that use it), with the arithmetic written on
    /// four-lane values so it maps one-to-one onto SSE registers. Patches are `4 * Q` wide.
    fn residual_sums_fixed<const Q: usize>(
        &self,
        x0: usize,
        y0: usize,
        sample: &PatchSample,
    ) -> [f32; 4] {
        let patch = 4 * Q;
        let padded_w = self.padded_width();
        let (ax, ay) = (F4::splat(sample.frac_x), F4::splat(sample.frac_y));
        let cur = &self.cur_padded[sample.base..][..patch * padded_w + patch + 1];
        let lerp = |r: usize, quad: usize| {
            let row = &cur[r * padded_w + 4 * quad..][..5];
            let left = F4::load(&row[..4]);
            left + ax * (F4::load(&row[1..]) - left)
        };
        let mut sum_d = F4::splat(0.0);
        let mut sum_d2 = F4::splat(0.0);
        let mut sum_gxd = F4::splat(0.0);
        let mut sum_gyd = F4::splat(0.0);
        let mut upper: [F4; Q] = std::array::from_fn(|quad| lerp(0, quad));
        for r in 0..patch {
            let offset = (y0 + r) * self.width + x0;
            let template = &self.prev[offset..][..patch];
            let gx = &self.grad_x[offset..][..patch];
            let gy = &self.grad_y[offset..][..patch];
            for quad in 0..Q {
                let lower = lerp(r + 1, quad);
                let warped = upper[quad] + ay * (lower - upper[quad]);
                upper[quad] = lower;
                let d = warped - F4::load(&template[4 * quad..]);
                sum_d = sum_d + d;
                sum_d2 = sum_d2 + d * d;
                sum_gxd = sum_gxd + F4::load(&gx[4 * quad..]) * d;
                sum_gyd = sum_gyd + F4::load(&gy[4 * quad..]) * d;
            }
        }
        [sum_d.sum(), sum_d2.sum(), sum_gxd.sum(), sum_gyd.sum()]
    }

    fn residual_sums_any(
        &self,
        x0: usize,
        y0: usize,
        patch: usize,
        sample: &PatchSample,
    ) -> [f32; 4] {
        let padded_w = self.padded_width();
        let [w00, w01, w10, w11] = sample.weights;
        let (mut sum_d, mut sum_d2, mut sum_gxd, mut sum_gyd) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
        for r in 0..patch {
            let offset = (y0 + r) * self.width + x0;
            let template = &self.prev[offset..][..patch];
            let gx = &self.grad_x[offset..][..patch];
            let gy = &self.grad_y[offset..][..patch];
            let top = &self.cur_padded[sample.base + r * padded_w..][..patch + 1];
            let bottom = &self.cur_padded[sample.base + (r + 1) * padded_w..][..patch + 1];
            for j in 0..patch {
                let warped =
                    w00 * top[j] + w01 * top[j + 1] + w10 * bottom[j] + w11 * bottom[j + 1];
                let d = warped - template[j];
                sum_d += d;
                sum_d2 += d * d;
                sum_gxd += gx[j] * d;
                sum_gyd += gy[j] * d;
            }
        }
        [sum_d, sum_d2, sum_gxd, sum_gyd]
    }

    /// Residual sums of the patch at (x0, y0) displaced by (u, v).
    fn patch_sums(&self, x0: usize, y0: usize, patch: usize, u: f32, v: f32) -> [f32; 4] {
        let sample = self.locate(x0, y0, patch, u, v);
        self.residual_sums(x0, y0, patch, &sample)
    }

    /// Inverse-compositional Gauss-Newton from `start` (whose residual sums the caller has
    /// already computed); returns the refined displacement.
    #[allow(clippy::too_many_arguments)]
    fn refine_patch(
        &self,
        x0: usize,
        y0: usize,
        patch: usize,
        start: (f32, f32),
        start_sums: [f32; 4],
        iters: usize,
    ) -> (f32, f32) {
        if iters == 0 {
            return start;
        }
        let n = (patch * patch) as f32;
        let (mut sgx, mut sgy, mut sgxx, mut sgxy, mut sgyy) =
            (0.0f32, 0.0f32, 0.0f32, 0.0f32, 0.0f32);
        if patch.is_multiple_of(4) {
            let zero = F4::splat(0.0);
            let (mut ax, mut ay, mut axx, mut axy, mut ayy) = (zero, zero, zero, zero, zero);
            for r in 0..patch {
                let offset = (y0 + r) * self.width + x0;
                let gx = &self.grad_x[offset..][..patch];
                let gy = &self.grad_y[offset..][..patch];
                for c in (0..patch).step_by(4) {
                    let (x, y) = (F4::load(&gx[c..]), F4::load(&gy[c..]));
                    ax = ax + x;
                    ay = ay + y;
                    axx = axx + x * x;
                    axy = axy + x * y;
                    ayy = ayy + y * y;
                }
            }
            (sgx, sgy, sgxx, sgxy, sgyy) = (ax.sum(), ay.sum(), axx.sum(), axy.sum(), ayy.sum());
        } else {
            for r in 0..patch {
                let offset = (y0 + r) * self.width + x0;
                let gx = &self.grad_x[offset..][..patch];
                let gy = &self.grad_y[offset..][..patch];
                for j in 0..patch {
                    sgx += gx[j];
                    sgy += gy[j];
                    sgxx += gx[j] * gx[j];
                    sgxy += gx[j] * gy[j];
                    sgyy += gy[j] * gy[j];
                }
            }
        }
        // Hessian of the mean-normalised template, lightly damped for flat patches.
        let damping = 1e-2 * n;
        let hxx = sgxx - sgx * sgx / n + damping;
        let hxy = sgxy - sgx * sgy / n;
        let hyy = sgyy - sgy * sgy / n + damping;
        let det = hxx * hyy - hxy * hxy;
        if det <= 1e-6 {
            return start;
        }
        let (ixx, ixy, iyy) = (hyy / det, -hxy / det, hxx / det);

        let (mut u, mut v) = start;
        let mut best = (u, v, f32::INFINITY);
        for iter in 0..iters {
            let [sum_d, sum_d2, sum_gxd, sum_gyd] = if iter == 0 {
                start_sums
            } else {
                self.patch_sums(x0, y0, patch, u, v)
            };
            let mean_d = sum_d / n;
            let cost = sum_d2 - sum_d * mean_d;
            if cost >= best.2 {
                // The last step overshot: keep the best point seen.
                u = best.0;
                v = best.1;
                break;
            }
            best = (u, v, cost);
            let bx = sum_gxd - sgx * mean_d;
            let by = sum_gyd - sgy * mean_d;
            let du = ixx * bx + ixy * by;
            let dv = ixy * bx + iyy * by;
            u -= du;
            v -= dv;
            if du * du + dv * dv < CONVERGED_STEP_SQ {
                break;
            }
        }
        // A patch that wandered further than its own size has most likely locked onto a
        // wrong match; its seed is the safer answer.
        let limit = patch as f32;
        if (u - start.0).abs() > limit || (v - start.1).abs() > limit {
            return start;
        }
        (u, v)
    }
}

/// Mean-normalised SSD from residual sums.
fn cost_of(sums: [f32; 4], patch: usize) -> f32 {
    sums[1] - sums[0] * sums[0] / (patch * patch) as f32
}

/// Gauss-Newton stops once a step is shorter than sqrt of this (0.03 px); finer steps
/// measured no accuracy gain.
const CONVERGED_STEP_SQ: f32 = 1e-3;

/// Solves the patches of grid rows `rows`, writing into `band_u`/`band_v` (grid-row major,
/// starting at `rows.start`). Seeds come from the dense `init_u`/`init_v` at patch centres,
/// then propagate from solved neighbours: forward sweep from the left and top, backward
/// sweep from the right and bottom.
#[allow(clippy::too_many_arguments)]
pub(crate) fn search_band(
    level: &SearchLevel,
    grid: &PatchGrid,
    params: &SearchParams,
    init_u: &[f32],
    init_v: &[f32],
    rows: Range<usize>,
    band_u: &mut [f32],
    band_v: &mut [f32],
) {
    let patch = params.patch_size;
    let nx = grid.xs.len();
    let half = patch / 2;
    for j in rows.clone() {
        let y0 = grid.ys[j];
        for (i, &x0) in grid.xs.iter().enumerate() {
            let k = (j - rows.start) * nx + i;
            let centre =
                (y0 + half).min(level.height - 1) * level.width + (x0 + half).min(level.width - 1);
            let mut best = (init_u[centre], init_v[centre]);
            let mut best_sums = level.patch_sums(x0, y0, patch, best.0, best.1);
            let mut best_cost = cost_of(best_sums, patch);
            let left = (i > 0).then(|| k - 1);
            let above = (j > rows.start).then(|| k - nx);
            for neighbour in [left, above].into_iter().flatten() {
                let candidate = (band_u[neighbour], band_v[neighbour]);
                if candidate == best {
                    continue;
                }
                let sums = level.patch_sums(x0, y0, patch, candidate.0, candidate.1);
                let cost = cost_of(sums, patch);
                if cost < best_cost {
                    best = candidate;
                    best_cost = cost;
                    best_sums = sums;
                }
            }
            let (u, v) = level.refine_patch(x0, y0, patch, best, best_sums, params.forward_iters);
            band_u[k] = u;
            band_v[k] = v;
        }
    }
    if params.backward_iters == 0 {
        return;
    }
    for j in rows.clone().rev() {
        let y0 = grid.ys[j];
        for (i, &x0) in grid.xs.iter().enumerate().rev() {
            let k = (j - rows.start) * nx + i;
            let mut best = (band_u[k], band_v[k]);
            let mut best_sums = level.patch_sums(x0, y0, patch, best.0, best.1);
            let mut best_cost = cost_of(best_sums, patch);
            let right = (i + 1 < nx).then(|| k + 1);
            let below = (j + 1 < rows.end).then(|| k + nx);
            for neighbour in [right, below].into_iter().flatten() {
                let candidate = (band_u[neighbour], band_v[neighbour]);
                if candidate == best {
                    continue;
                }
                let sums = level.patch_sums(x0, y0, patch, candidate.0, candidate.1);
                let cost = cost_of(sums, patch);
                if cost < best_cost {
                    best = candidate;
                    best_cost = cost;
                    best_sums = sums;
                }
            }
            let (u, v) = level.refine_patch(x0, y0, patch, best, best_sums, params.backward_iters);
            band_u[k] = u;
            band_v[k] = v;
        }
    }
}

/// Dense flow for pixel rows `rows`: every pixel averages the flows of the patches covering
/// it, each weighted by 1 / max(1, |photometric error of that patch's flow at the pixel|).
/// Band slices start at row `rows.start`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn densify_band(
    level: &SearchLevel,
    grid: &PatchGrid,
    patch: usize,
    patch_u: &[f32],
    patch_v: &[f32],
    rows: Range<usize>,
    out_u: &mut [f32],
    out_v: &mut [f32],
    out_weight: &mut [f32],
) {
    let width = level.width;
    let padded_w = level.padded_width();
    let nx = grid.xs.len();
    for y in rows.clone() {
        let row_offset = (y - rows.start) * width;
        let acc_u = &mut out_u[row_offset..][..width];
        let acc_v = &mut out_v[row_offset..][..width];
        let acc_w = &mut out_weight[row_offset..][..width];
        acc_u.fill(0.0);
        acc_v.fill(0.0);
        acc_w.fill(0.0);
        let prev_row = &level.prev[y * width..][..width];
        // Grid rows whose patches contain pixel row y.
        let first = grid.ys.partition_point(|&y0| y0 + patch <= y);
        let last = grid.ys.partition_point(|&y0| y0 <= y);
        for j in first..last {
            let r = y - grid.ys[j];
            for (i, &x0) in grid.xs.iter().enumerate() {
                let (u, v) = (patch_u[j * nx + i], patch_v[j * nx + i]);
                let sample = level.locate(x0, grid.ys[j], patch, u, v);
                let [w00, w01, w10, w11] = sample.weights;
                let top = &level.cur_padded[sample.base + r * padded_w..][..patch + 1];
                let bottom = &level.cur_padded[sample.base + (r + 1) * padded_w..][..patch + 1];
                let template = &prev_row[x0..x0 + patch];
                let (au, av, aw) = (
                    &mut acc_u[x0..x0 + patch],
                    &mut acc_v[x0..x0 + patch],
                    &mut acc_w[x0..x0 + patch],
                );
                if patch.is_multiple_of(4) {
                    // Same arithmetic on four lanes at a time (separable bilinear form).
                    let (ax, ay) = (F4::splat(sample.frac_x), F4::splat(sample.frac_y));
                    let (fu, fv, one) = (F4::splat(u), F4::splat(v), F4::splat(1.0));
                    for c in (0..patch).step_by(4) {
                        let (t0, b0) = (F4::load(&top[c..]), F4::load(&bottom[c..]));
                        let upper = t0 + ax * (F4::load(&top[c + 1..]) - t0);
                        let lower = b0 + ax * (F4::load(&bottom[c + 1..]) - b0);
                        let warped = upper + ay * (lower - upper);
                        let weight = one / (warped - F4::load(&template[c..])).abs().max(one);
                        (F4::load(&au[c..]) + weight * fu).store(&mut au[c..]);
                        (F4::load(&av[c..]) + weight * fv).store(&mut av[c..]);
                        (F4::load(&aw[c..]) + weight).store(&mut aw[c..]);
                    }
                    continue;
                }
                for c in 0..patch {
                    let warped =
                        w00 * top[c] + w01 * top[c + 1] + w10 * bottom[c] + w11 * bottom[c + 1];
                    let weight = 1.0 / (warped - template[c]).abs().max(1.0);
                    au[c] += weight * u;
                    av[c] += weight * v;
                    aw[c] += weight;
                }
            }
        }
        for ((u, v), &w) in acc_u.iter_mut().zip(acc_v.iter_mut()).zip(acc_w.iter()) {
            let inv = 1.0 / w;
            *u *= inv;
            *v *= inv;
        }
    }
}
