//! Variational refinement of a dense flow field: minimises, for an increment (du, dv),
//!   delta·Ψ(brightness residual²) + gamma·Ψ(gradient residual²) + alpha·Ψ(|∇(u+du)|² + |∇(v+dv)|²)
//! with Ψ(s²) = sqrt(s² + ε²), linearised around the current flow. Outer fixed-point
//! iterations refresh the robust weights; inner SOR sweeps solve the resulting linear system.
//! Rows are split into bands for threads; band edges read their neighbours' values from the
//! previous sweep (a Gauss-Seidel / Jacobi hybrid that converges just as well).

use crate::opticalflow::parallel::{band_count, band_rows, for_each_band};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VariationalParams {
    /// Smoothness weight.
    pub alpha: f32,
    /// Gradient-constancy weight (robust to brightness changes).
    pub gamma: f32,
    /// Brightness-constancy weight.
    pub delta: f32,
    /// Outer iterations; each re-linearises the robust weights. 0 disables refinement.
    pub fixed_point_iters: usize,
    /// SOR sweeps per outer iteration.
    pub sor_iters: usize,
    /// SOR over-relaxation factor.
    pub omega: f32,
}

/// Robustness scales of Ψ (intensities are in 0..255 units, flow gradients in px/px).
const BRIGHTNESS_EPS_SQ: f32 = 1.0;
const GRADIENT_EPS_SQ: f32 = 0.25;
const SMOOTHNESS_EPS_SQ: f32 = 1e-4;

/// All working planes, allocated once for the largest level refined.
pub(crate) struct VariationalRefiner {
    warped: Vec<f32>,
    mask: Vec<f32>,
    ix: Vec<f32>,
    iy: Vec<f32>,
    iz: Vec<f32>,
    ixx: Vec<f32>,
    ixy: Vec<f32>,
    iyy: Vec<f32>,
    ixz: Vec<f32>,
    iyz: Vec<f32>,
    du: Vec<f32>,
    dv: Vec<f32>,
    weight_right: Vec<f32>,
    weight_down: Vec<f32>,
    rhs_u: Vec<f32>,
    rhs_v: Vec<f32>,
    a12: Vec<f32>,
    inv_den_u: Vec<f32>,
    inv_den_v: Vec<f32>,
    ghost_du: Vec<f32>,
    ghost_dv: Vec<f32>,
    zeros: Vec<f32>,
}

/// Linear-system coefficients of one image row, read by an SOR sweep.
struct SorRow<'a> {
    weight_above: &'a [f32],
    weight_below: &'a [f32],
    weight_right: &'a [f32],
    rhs_u: &'a [f32],
    rhs_v: &'a [f32],
    a12: &'a [f32],
    inv_den_u: &'a [f32],
    inv_den_v: &'a [f32],
}

fn row(plane: &[f32], y: usize, width: usize) -> &[f32] {
    &plane[y * width..][..width]
}

impl VariationalRefiner {
    pub fn new(max_width: usize, max_height: usize) -> Self {
        let n = max_width * max_height;
        let plane = || vec![0.0f32; n];
        Self {
            warped: plane(),
            mask: plane(),
            ix: plane(),
            iy: plane(),
            iz: plane(),
            ixx: plane(),
            ixy: plane(),
            iyy: plane(),
            ixz: plane(),
            iyz: plane(),
            du: plane(),
            dv: plane(),
            weight_right: plane(),
            weight_down: plane(),
            rhs_u: plane(),
            rhs_v: plane(),
            a12: plane(),
            inv_den_u: plane(),
            inv_den_v: plane(),
            ghost_du: plane(),
            ghost_dv: plane(),
            zeros: vec![0.0; max_width],
        }
    }

    /// Refines `u`, `v` (width x height) in place so that `cur` warped by the flow matches `prev`.
    #[allow(clippy::too_many_arguments)]
    pub fn refine(
        &mut self,
        prev: &[f32],
        cur: &[f32],
        width: usize,
        height: usize,
        u: &mut [f32],
        v: &mut [f32],
        params: &VariationalParams,
        threads: usize,
    ) {
        if params.fixed_point_iters == 0 || width < 2 || height < 2 {
            return;
        }
        let n = width * height;
        let bands = band_count(threads, width, height);
        self.prepare_data_terms(prev, cur, width, height, u, v, bands);
        self.du[..n].fill(0.0);
        self.dv[..n].fill(0.0);
        for _ in 0..params.fixed_point_iters {
            self.smoothness_weights(width, height, u, v, params.alpha, bands);
            self.linear_system(width, height, u, v, params, bands);
            for _ in 0..params.sor_iters {
                self.sor_sweep(width, height, params.omega, bands);
            }
        }
        for (value, delta) in u[..n].iter_mut().zip(&self.du[..n]) {
            *value += delta;
        }
        for (value, delta) in v[..n].iter_mut().zip(&self.dv[..n]) {
            *value += delta;
        }
    }

    /// Warps `cur` by the flow and derives the linearised brightness and gradient residuals.
    #[allow(clippy::too_many_arguments)]
    fn prepare_data_terms(
        &mut self,
        prev: &[f32],
        cur: &[f32],
        width: usize,
        height: usize,
        u: &[f32],
        v: &[f32],
        bands: usize,
    ) {
        let max_x = (width - 1) as f32;
        let max_y = (height - 1) as f32;
        for_each_band(
            bands,
            width,
            height,
            [&mut self.warped, &mut self.mask],
            |rows, [warped, mask]| {
                for y in rows.clone() {
                    let local = (y - rows.start) * width;
                    for x in 0..width {
                        let i = y * width + x;
                        let sx = x as f32 + u[i];
                        let sy = y as f32 + v[i];
                        // Pixels that leave the frame have no data term (likely occluded).
                        let inside = (0.0..=max_x).contains(&sx) && (0.0..=max_y).contains(&sy);
                        mask[local + x] = if inside { 1.0 } else { 0.0 };
                        warped[local + x] = bilinear(cur, width, height, sx, sy);
                    }
                }
            },
        );
        let warped = &self.warped;
        for_each_band(
            bands,
            width,
            height,
            [
                &mut self.ix,
                &mut self.iy,
                &mut self.iz,
                &mut self.ixz,
                &mut self.iyz,
            ],
            |rows, [ix, iy, iz, ixz, iyz]| {
                for y in rows.clone() {
                    let local = (y - rows.start) * width;
                    let (above, below) = (y.saturating_sub(1), (y + 1).min(height - 1));
                    let y_scale = 1.0 / (below - above) as f32;
                    for x in 0..width {
                        let (left, right) = (x.saturating_sub(1), (x + 1).min(width - 1));
                        let x_scale = 1.0 / (right - left) as f32;
                        let gx0 = (prev[y * width + right] - prev[y * width + left]) * x_scale;
                        let gy0 = (prev[below * width + x] - prev[above * width + x]) * y_scale;
                        let gx1 = (warped[y * width + right] - warped[y * width + left]) * x_scale;
                        let gy1 = (warped[below * width + x] - warped[above * width + x]) * y_scale;
                        let o = local + x;
                        ix[o] = 0.5 * (gx0 + gx1);
                        iy[o] = 0.5 * (gy0 + gy1);
                        iz[o] = warped[y * width + x] - prev[y * width + x];
                        ixz[o] = gx1 - gx0;
                        iyz[o] = gy1 - gy0;
                    }
                }
            },
        );
        let (ix, iy) = (&self.ix, &self.iy);
        for_each_band(
            bands,
            width,
            height,
            [&mut self.ixx, &mut self.ixy, &mut self.iyy],
            |rows, [ixx, ixy, iyy]| {
                for y in rows.clone() {
                    let local = (y - rows.start) * width;
                    let (above, below) = (y.saturating_sub(1), (y + 1).min(height - 1));
                    let y_scale = 1.0 / (below - above) as f32;
                    for x in 0..width {
                        let (left, right) = (x.saturating_sub(1), (x + 1).min(width - 1));
                        let x_scale = 1.0 / (right - left) as f32;
                        let o = local + x;
                        ixx[o] = (ix[y * width + right] - ix[y * width + left]) * x_scale;
                        iyy[o] = (iy[below * width + x] - iy[above * width + x]) * y_scale;
                        let ixy_a = (ix[below * width + x] - ix[above * width + x]) * y_scale;
                        let ixy_b = (iy[y * width + right] - iy[y * width + left]) * x_scale;
                        ixy[o] = 0.5 * (ixy_a + ixy_b);
                    }
                }
            },
        );
    }

    /// Robust smoothness weight per pixel, used for its right and lower edges.
    fn smoothness_weights(
        &mut self,
        width: usize,
        height: usize,
        u: &[f32],
        v: &[f32],
        alpha: f32,
        bands: usize,
    ) {
        let (du, dv) = (&self.du, &self.dv);
        for_each_band(
            bands,
            width,
            height,
            [&mut self.weight_right, &mut self.weight_down],
            |rows, [weight_right, weight_down]| {
                for y in rows.clone() {
                    let local = (y - rows.start) * width;
                    let weight_right = &mut weight_right[local..][..width];
                    let weight_down = &mut weight_down[local..][..width];
                    let below = (y + 1).min(height - 1);
                    let (u_row, u_below) = (row(u, y, width), row(u, below, width));
                    let (v_row, v_below) = (row(v, y, width), row(v, below, width));
                    let (du_row, du_below) = (row(du, y, width), row(du, below, width));
                    let (dv_row, dv_below) = (row(dv, y, width), row(dv, below, width));
                    let down_factor = if y + 1 < height { 1.0 } else { 0.0 };
                    for x in 0..width {
                        let right = (x + 1).min(width - 1);
                        let (uc, vc) = (u_row[x] + du_row[x], v_row[x] + dv_row[x]);
                        let ux = u_row[right] + du_row[right] - uc;
                        let vx = v_row[right] + dv_row[right] - vc;
                        let uy = u_below[x] + du_below[x] - uc;
                        let vy = v_below[x] + dv_below[x] - vc;
                        let weight = alpha
                            / (ux * ux + vx * vx + uy * uy + vy * vy + SMOOTHNESS_EPS_SQ).sqrt();
                        weight_right[x] = if x + 1 < width { weight } else { 0.0 };
                        weight_down[x] = weight * down_factor;
                    }
                }
            },
        );
    }

    /// Per-pixel 2x2 system (data term + smoothness diagonal) and right-hand sides.
    fn linear_system(
        &mut self,
        width: usize,
        height: usize,
        u: &[f32],
        v: &[f32],
        params: &VariationalParams,
        bands: usize,
    ) {
        let Self {
            mask,
            ix,
            iy,
            iz,
            ixx,
            ixy,
            iyy,
            ixz,
            iyz,
            du,
            dv,
            weight_right,
            weight_down,
            rhs_u,
            rhs_v,
            a12,
            inv_den_u,
            inv_den_v,
            zeros,
            ..
        } = self;
        let zeros = &zeros[..width];
        for_each_band(
            bands,
            width,
            height,
            [rhs_u, rhs_v, a12, inv_den_u, inv_den_v],
            |rows, [rhs_u, rhs_v, a12, inv_den_u, inv_den_v]| {
                for y in rows.clone() {
                    let local = (y - rows.start) * width;
                    let out_rhs_u = &mut rhs_u[local..][..width];
                    let out_rhs_v = &mut rhs_v[local..][..width];
                    let out_a12 = &mut a12[local..][..width];
                    let out_inv_u = &mut inv_den_u[local..][..width];
                    let out_inv_v = &mut inv_den_v[local..][..width];
                    let (above, below) = (y.saturating_sub(1), (y + 1).min(height - 1));
                    let (mask, gx_row, gy_row, gz_row) = (
                        row(mask, y, width),
                        row(ix, y, width),
                        row(iy, y, width),
                        row(iz, y, width),
                    );
                    let (hxx_row, hxy_row, hyy_row) =
                        (row(ixx, y, width), row(ixy, y, width), row(iyy, y, width));
                    let (gxz_row, gyz_row) = (row(ixz, y, width), row(iyz, y, width));
                    let (du_row, dv_row) = (row(du, y, width), row(dv, y, width));
                    let (u_row, u_above, u_below) =
                        (row(u, y, width), row(u, above, width), row(u, below, width));
                    let (v_row, v_above, v_below) =
                        (row(v, y, width), row(v, above, width), row(v, below, width));
                    let weight_right = row(weight_right, y, width);
                    // Zero weights stand in for the missing neighbours of the first and last rows.
                    let weight_above = if y > 0 {
                        row(weight_down, y - 1, width)
                    } else {
                        zeros
                    };
                    let weight_below = row(weight_down, y, width);
                    for x in 0..width {
                        let (left, right) = (x.saturating_sub(1), (x + 1).min(width - 1));
                        let (dui, dvi) = (du_row[x], dv_row[x]);
                        let (gx, gy, gz) = (gx_row[x], gy_row[x], gz_row[x]);
                        let (hxx, hxy, hyy) = (hxx_row[x], hxy_row[x], hyy_row[x]);
                        let (gxz, gyz) = (gxz_row[x], gyz_row[x]);
                        let brightness = gz + gx * dui + gy * dvi;
                        let psi_b = params.delta * mask[x]
                            / (brightness * brightness + BRIGHTNESS_EPS_SQ).sqrt();
                        let grad_rx = gxz + hxx * dui + hxy * dvi;
                        let grad_ry = gyz + hxy * dui + hyy * dvi;
                        let psi_g = params.gamma * mask[x]
                            / (grad_rx * grad_rx + grad_ry * grad_ry + GRADIENT_EPS_SQ).sqrt();
                        let a11 = psi_b * gx * gx + psi_g * (hxx * hxx + hxy * hxy);
                        let a12_x = psi_b * gx * gy + psi_g * (hxx * hxy + hxy * hyy);
                        let a22 = psi_b * gy * gy + psi_g * (hxy * hxy + hyy * hyy);
                        let b1 = -(psi_b * gx * gz + psi_g * (hxx * gxz + hxy * gyz));
                        let b2 = -(psi_b * gy * gz + psi_g * (hxy * gxz + hyy * gyz));

                        let weight_left = if x > 0 { weight_right[left] } else { 0.0 };
                        let (wr, wa, wb) = (weight_right[x], weight_above[x], weight_below[x]);
                        let sum_w = weight_left + wr + wa + wb;
                        let (uc, vc) = (u_row[x], v_row[x]);
                        let smooth_u = weight_left * (u_row[left] - uc)
                            + wr * (u_row[right] - uc)
                            + wa * (u_above[x] - uc)
                            + wb * (u_below[x] - uc);
                        let smooth_v = weight_left * (v_row[left] - vc)
                            + wr * (v_row[right] - vc)
                            + wa * (v_above[x] - vc)
                            + wb * (v_below[x] - vc);
                        out_rhs_u[x] = b1 + smooth_u;
                        out_rhs_v[x] = b2 + smooth_v;
                        out_a12[x] = a12_x;
                        out_inv_u[x] = 1.0 / (a11 + sum_w + 1e-9);
                        out_inv_v[x] = 1.0 / (a22 + sum_w + 1e-9);
                    }
                }
            },
        );
    }

    fn sor_sweep(&mut self, width: usize, height: usize, omega: f32, bands: usize) {
        if bands > 1 {
            // Band edges see their neighbours' rows as of the previous sweep.
            for rows in band_rows(bands, height) {
                for y in [
                    rows.start.checked_sub(1),
                    Some(rows.end).filter(|&e| e < height),
                ]
                .into_iter()
                .flatten()
                {
                    let span = y * width..(y + 1) * width;
                    self.ghost_du[span.clone()].copy_from_slice(&self.du[span.clone()]);
                    self.ghost_dv[span.clone()].copy_from_slice(&self.dv[span]);
                }
            }
        }
        let Self {
            du,
            dv,
            weight_right,
            weight_down,
            rhs_u,
            rhs_v,
            a12,
            inv_den_u,
            inv_den_v,
            ghost_du,
            ghost_dv,
            zeros,
            ..
        } = self;
        let zeros = &zeros[..width];
        for_each_band(
            bands,
            width,
            height,
            [du, dv],
            |rows, [band_du, band_dv]| {
                let band_height = rows.len();
                // Relaxes one colour of band row k; the other colour's values are all it reads.
                let relax = |band_du: &mut [f32], band_dv: &mut [f32], k: usize, colour: usize| {
                    let y = rows.start + k;
                    let (du_before, du_rest) = band_du.split_at_mut(k * width);
                    let (du_row, du_after) = du_rest.split_at_mut(width);
                    let (dv_before, dv_rest) = band_dv.split_at_mut(k * width);
                    let (dv_row, dv_after) = dv_rest.split_at_mut(width);
                    let (du_above, dv_above, weight_above) = if k > 0 {
                        (
                            &du_before[(k - 1) * width..],
                            &dv_before[(k - 1) * width..],
                            row(weight_down, y - 1, width),
                        )
                    } else if y > 0 {
                        (
                            row(ghost_du, y - 1, width),
                            row(ghost_dv, y - 1, width),
                            row(weight_down, y - 1, width),
                        )
                    } else {
                        (zeros, zeros, zeros)
                    };
                    let (du_below, dv_below) = if k + 1 < band_height {
                        (&du_after[..width], &dv_after[..width])
                    } else if y + 1 < height {
                        (row(ghost_du, y + 1, width), row(ghost_dv, y + 1, width))
                    } else {
                        (zeros, zeros)
                    };
                    let coefficients = SorRow {
                        weight_above,
                        weight_below: row(weight_down, y, width),
                        weight_right: row(weight_right, y, width),
                        rhs_u: row(rhs_u, y, width),
                        rhs_v: row(rhs_v, y, width),
                        a12: row(a12, y, width),
                        inv_den_u: row(inv_den_u, y, width),
                        inv_den_v: row(inv_den_v, y, width),
                    };
                    let first_x = (y + colour) % 2;
                    let neighbours = [du_above, dv_above, du_below, dv_below];
                    sor_row(du_row, dv_row, neighbours, &coefficients, omega, first_x);
                };
                // Red-black ordering run as a wavefront: black row k-1 is relaxed right after
                // red row k, so one streaming pass does a full red-black sweep. Updates within a
                // row are then independent, which keeps the pipeline full.
                for k in 0..band_height {
                    relax(band_du, band_dv, k, 0);
                    if k > 0 {
                        relax(band_du, band_dv, k - 1, 1);
                    }
                }
                relax(band_du, band_dv, band_height - 1, 1);
            },
        );
    }
}

/// Over-relaxes every second pixel of a row from `first_x`. Missing neighbours have zero
/// weight (the last column's right weight and last row's down weight are zero by construction).
fn sor_row(
    du: &mut [f32],
    dv: &mut [f32],
    neighbours: [&[f32]; 4],
    c: &SorRow,
    omega: f32,
    first_x: usize,
) {
    let [du_above, dv_above, du_below, dv_below] = neighbours;
    let width = du.len();
    // Equal lengths up front let the compiler drop per-access bounds checks.
    let (du_above, dv_above, du_below, dv_below) = (
        &du_above[..width],
        &dv_above[..width],
        &du_below[..width],
        &dv_below[..width],
    );
    let dv = &mut dv[..width];
    let (weight_right, weight_above, weight_below) = (
        &c.weight_right[..width],
        &c.weight_above[..width],
        &c.weight_below[..width],
    );
    let (rhs_u, rhs_v, a12) = (&c.rhs_u[..width], &c.rhs_v[..width], &c.a12[..width]);
    let (inv_den_u, inv_den_v) = (&c.inv_den_u[..width], &c.inv_den_v[..width]);
    for x in (first_x..width).step_by(2) {
        let left = x.saturating_sub(1);
        let right = (x + 1).min(width - 1);
        let weight_left = if x > 0 { weight_right[left] } else { 0.0 };
        let (wr, wa, wb) = (weight_right[x], weight_above[x], weight_below[x]);
        let neighbours_u =
            weight_left * du[left] + wr * du[right] + wa * du_above[x] + wb * du_below[x];
        let new_du = (rhs_u[x] + neighbours_u - a12[x] * dv[x]) * inv_den_u[x];
        let du_x = du[x] + omega * (new_du - du[x]);
        du[x] = du_x;
        let neighbours_v =
            weight_left * dv[left] + wr * dv[right] + wa * dv_above[x] + wb * dv_below[x];
        let new_dv = (rhs_v[x] + neighbours_v - a12[x] * du_x) * inv_den_v[x];
        dv[x] += omega * (new_dv - dv[x]);
    }
}

/// Bilinear sample with coordinates clamped into the image.
pub(crate) fn bilinear(image: &[f32], width: usize, height: usize, x: f32, y: f32) -> f32 {
    let x = x.clamp(0.0, (width - 1) as f32);
    let y = y.clamp(0.0, (height - 1) as f32);
    let x0 = x as usize;
    let y0 = y as usize;
    let x1 = (x0 + 1).min(width - 1);
    let y1 = (y0 + 1).min(height - 1);
    let fx = x - x0 as f32;
    let fy = y - y0 as f32;
    let top = image[y0 * width + x0] + fx * (image[y0 * width + x1] - image[y0 * width + x0]);
    let bottom = image[y1 * width + x0] + fx * (image[y1 * width + x1] - image[y1 * width + x0]);
    top + fy * (bottom - top)
}
