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

/// Position of a displaced patch in the padded current frame: all of its pixels share the
/// same fractional offset, hence the same four bilinear weights.
struct PatchSample {
    base: usize,
    weights: [f32; 4],
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
        }
    }

    /// Sums over the patch of d, d², gx·d and gy·d with d = warped current - previous.
    fn residual_sums(&self, x0: usize, y0: usize, patch: usize, sample: &PatchSample) -> [f32; 4] {
        match patch {
            // Fixed widths let the compiler unroll and vectorise the row loop.
            8 => self.residual_sums_fixed::<8>(x0, y0, sample),
            12 => self.residual_sums_fixed::<12>(x0, y0, sample),
            _ => self.residual_sums_any(x0, y0, patch, sample),
        }
    }

    fn residual_sums_fixed<const P: usize>(
        &self,
        x0: usize,
        y0: usize,
        sample: &PatchSample,
    ) -> [f32; 4] {
        let padded_w = self.padded_width();
        let [w00, w01, w10, w11] = sample.weights;
        let mut sum_d = [0.0f32; P];
        let mut sum_d2 = [0.0f32; P];
        let mut sum_gxd = [0.0f32; P];
        let mut sum_gyd = [0.0f32; P];
        for r in 0..P {
            let offset = (y0 + r) * self.width + x0;
            let template: &[f32; P] = self.prev[offset..][..P].try_into().expect("patch row");
            let gx: &[f32; P] = self.grad_x[offset..][..P].try_into().expect("patch row");
            let gy: &[f32; P] = self.grad_y[offset..][..P].try_into().expect("patch row");
            let top = &self.cur_padded[sample.base + r * padded_w..][..P + 1];
            let bottom = &self.cur_padded[sample.base + (r + 1) * padded_w..][..P + 1];
            let (top_left, top_right): (&[f32; P], &[f32; P]) = (
                top[..P].try_into().expect("row"),
                top[1..].try_into().expect("row"),
            );
            let (bottom_left, bottom_right): (&[f32; P], &[f32; P]) = (
                bottom[..P].try_into().expect("row"),
                bottom[1..].try_into().expect("row"),
            );
            for j in 0..P {
                let warped = w00 * top_left[j]
                    + w01 * top_right[j]
                    + w10 * bottom_left[j]
                    + w11 * bottom_right[j];
                let d = warped - template[j];
                sum_d[j] += d;
                sum_d2[j] += d * d;
                sum_gxd[j] += gx[j] * d;
                sum_gyd[j] += gy[j] * d;
            }
        }
        [
            sum_d.iter().sum(),
            sum_d2.iter().sum(),
            sum_gxd.iter().sum(),
            sum_gyd.iter().sum(),
        ]
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

    /// Mean-normalised SSD of the patch at (x0, y0) displaced by (u, v).
    fn patch_cost(&self, x0: usize, y0: usize, patch: usize, u: f32, v: f32) -> f32 {
        let sample = self.locate(x0, y0, patch, u, v);
        let [sum_d, sum_d2, _, _] = self.residual_sums(x0, y0, patch, &sample);
        sum_d2 - sum_d * sum_d / (patch * patch) as f32
    }

    /// Inverse-compositional Gauss-Newton from `start`; returns the refined displacement.
    fn refine_patch(
        &self,
        x0: usize,
        y0: usize,
        patch: usize,
        start: (f32, f32),
        iters: usize,
    ) -> (f32, f32) {
        if iters == 0 {
            return start;
        }
        let n = (patch * patch) as f32;
        let (mut sgx, mut sgy, mut sgxx, mut sgxy, mut sgyy) =
            (0.0f32, 0.0f32, 0.0f32, 0.0f32, 0.0f32);
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
        for _ in 0..iters {
            let sample = self.locate(x0, y0, patch, u, v);
            let [sum_d, sum_d2, sum_gxd, sum_gyd] = self.residual_sums(x0, y0, patch, &sample);
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
            if du * du + dv * dv < 1e-6 {
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
            let mut best_cost = level.patch_cost(x0, y0, patch, best.0, best.1);
            let left = (i > 0).then(|| k - 1);
            let above = (j > rows.start).then(|| k - nx);
            for neighbour in [left, above].into_iter().flatten() {
                let candidate = (band_u[neighbour], band_v[neighbour]);
                let cost = level.patch_cost(x0, y0, patch, candidate.0, candidate.1);
                if cost < best_cost {
                    best = candidate;
                    best_cost = cost;
                }
            }
            let (u, v) = level.refine_patch(x0, y0, patch, best, params.forward_iters);
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
            let mut best_cost = level.patch_cost(x0, y0, patch, best.0, best.1);
            let right = (i + 1 < nx).then(|| k + 1);
            let below = (j + 1 < rows.end).then(|| k + nx);
            for neighbour in [right, below].into_iter().flatten() {
                let candidate = (band_u[neighbour], band_v[neighbour]);
                let cost = level.patch_cost(x0, y0, patch, candidate.0, candidate.1);
                if cost < best_cost {
                    best = candidate;
                    best_cost = cost;
                }
            }
            let (u, v) = level.refine_patch(x0, y0, patch, best, params.backward_iters);
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
