// SPDX-License-Identifier: MPL-2.0

//! Variational refinement of a dense flow field: minimises, for an increment (du, dv),
//!   delta·Ψ(brightness residual²) + gamma·Ψ(gradient residual²) + alpha·Ψ(|∇(u+du)|² + |∇(v+dv)|²)
//! with Ψ(s²) = sqrt(s² + ε²), linearised around the current flow. Outer fixed-point
//! iterations refresh the robust weights; inner SOR sweeps solve the resulting linear system.
//! Rows are split into bands for threads; band edges read their neighbours' values from the
//! previous sweep (a Gauss-Seidel / Jacobi hybrid that converges just as well).

mod sor;

use crate::opticalflow::parallel::{for_each_band, Bands, Workers};

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
    /// One scratch row per band for the SOR kernel (a full plane, split like the others).
    sor_scratch: Vec<f32>,
    /// omega, 0, omega, 0, ...: the relaxation factor of each colour's pixels.
    omega_mask: Vec<f32>,
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
            sor_scratch: plane(),
            omega_mask: vec![0.0; max_width + 1],
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
        workers: &Workers,
    ) {
        if params.fixed_point_iters == 0 || width < 2 || height < 2 {
            return;
        }
        let n = width * height;
        let bands = workers.bands(width, height);
        self.prepare_data_terms(prev, cur, width, height, u, v, bands);
        self.du[..n].fill(0.0);
        self.dv[..n].fill(0.0);
        for _ in 0..params.fixed_point_iters {
            self.smoothness_weights(width, height, u, v, params.alpha, bands);
            self.linear_system(width, height, u, v, params, bands);
            self.sor_sweeps(width, height, params.omega, params.sor_iters, bands);
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
        bands: Bands,
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
                    let (p_row, p_above, p_below) = (
                        row(prev, y, width),
                        row(prev, above, width),
                        row(prev, below, width),
                    );
                    let (w_row, w_above, w_below) = (
                        row(warped, y, width),
                        row(warped, above, width),
                        row(warped, below, width),
                    );
                    let ix = &mut ix[local..][..width];
                    let iy = &mut iy[local..][..width];
                    let iz = &mut iz[local..][..width];
                    let ixz = &mut ixz[local..][..width];
                    let iyz = &mut iyz[local..][..width];
                    // Central differences; the edge columns use one-sided ones. Written as a
                    // macro so the interior loop has no clamps and vectorises.
                    macro_rules! pixel {
                        ($x:expr, $left:expr, $right:expr, $x_scale:expr) => {{
                            let (x, left, right, x_scale) = ($x, $left, $right, $x_scale);
                            let gx0 = (p_row[right] - p_row[left]) * x_scale;
                            let gy0 = (p_below[x] - p_above[x]) * y_scale;
                            let gx1 = (w_row[right] - w_row[left]) * x_scale;
                            let gy1 = (w_below[x] - w_above[x]) * y_scale;
                            ix[x] = 0.5 * (gx0 + gx1);
                            iy[x] = 0.5 * (gy0 + gy1);
                            iz[x] = w_row[x] - p_row[x];
                            ixz[x] = gx1 - gx0;
                            iyz[x] = gy1 - gy0;
                        }};
                    }
                    pixel!(0, 0, 1, 1.0);
                    for x in 1..width - 1 {
                        pixel!(x, x - 1, x + 1, 0.5);
                    }
                    pixel!(width - 1, width - 2, width - 1, 1.0);
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
                    let (ix_row, ix_above, ix_below) = (
                        row(ix, y, width),
                        row(ix, above, width),
                        row(ix, below, width),
                    );
                    let (iy_row, iy_above, iy_below) = (
                        row(iy, y, width),
                        row(iy, above, width),
                        row(iy, below, width),
                    );
                    let ixx = &mut ixx[local..][..width];
                    let ixy = &mut ixy[local..][..width];
                    let iyy = &mut iyy[local..][..width];
                    macro_rules! pixel {
                        ($x:expr, $left:expr, $right:expr, $x_scale:expr) => {{
                            let (x, left, right, x_scale) = ($x, $left, $right, $x_scale);
                            ixx[x] = (ix_row[right] - ix_row[left]) * x_scale;
                            iyy[x] = (iy_below[x] - iy_above[x]) * y_scale;
                            let ixy_a = (ix_below[x] - ix_above[x]) * y_scale;
                            let ixy_b = (iy_row[right] - iy_row[left]) * x_scale;
                            ixy[x] = 0.5 * (ixy_a + ixy_b);
                        }};
                    }
                    pixel!(0, 0, 1, 1.0);
                    for x in 1..width - 1 {
                        pixel!(x, x - 1, x + 1, 0.5);
                    }
                    pixel!(width - 1, width - 2, width - 1, 1.0);
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
        bands: Bands,
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
                    let (du_row, du_below) = (&du_row[..width], &du_below[..width]);
                    let (dv_row, dv_below) = (&dv_row[..width], &dv_below[..width]);
                    macro_rules! weight {
                        ($x:expr, $right:expr) => {{
                            let (x, right) = ($x, $right);
                            let (uc, vc) = (u_row[x] + du_row[x], v_row[x] + dv_row[x]);
                            let ux = u_row[right] + du_row[right] - uc;
                            let vx = v_row[right] + dv_row[right] - vc;
                            let uy = u_below[x] + du_below[x] - uc;
                            let vy = v_below[x] + dv_below[x] - vc;
                            alpha
                                / (ux * ux + vx * vx + uy * uy + vy * vy + SMOOTHNESS_EPS_SQ).sqrt()
                        }};
                    }
                    for x in 0..width - 1 {
                        let weight = weight!(x, x + 1);
                        weight_right[x] = weight;
                        weight_down[x] = weight * down_factor;
                    }
                    // The last column has no right edge.
                    let last = width - 1;
                    weight_right[last] = 0.0;
                    weight_down[last] = weight!(last, last) * down_factor;
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
        bands: Bands,
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
                    let weight_right = &weight_right[..width];
                    let (weight_above, weight_below) =
                        (&weight_above[..width], &weight_below[..width]);
                    let rows = SystemRows {
                        mask,
                        gx: gx_row,
                        gy: gy_row,
                        gz: gz_row,
                        hxx: hxx_row,
                        hxy: hxy_row,
                        hyy: hyy_row,
                        gxz: gxz_row,
                        gyz: gyz_row,
                        du: du_row,
                        dv: dv_row,
                        u: u_row,
                        u_above,
                        u_below,
                        v: v_row,
                        v_above,
                        v_below,
                        weight_right,
                        weight_above,
                        weight_below,
                    };
                    let (delta, gamma) = (params.delta, params.gamma);
                    let pixel = |x: usize, left: usize, right: usize, weight_left: f32| {
                        system_pixel(&rows, delta, gamma, x, left, right, weight_left)
                    };
                    let mut store = |x: usize, values: [f32; 5]| {
                        out_rhs_u[x] = values[0];
                        out_rhs_v[x] = values[1];
                        out_a12[x] = values[2];
                        out_inv_u[x] = values[3];
                        out_inv_v[x] = values[4];
                    };
                    // Edge columns clamp their missing neighbour (with zero weight); the
                    // interior loop has no clamps so it vectorises.
                    store(0, pixel(0, 0, 1.min(width - 1), 0.0));
                    for x in 1..width - 1 {
                        store(x, pixel(x, x - 1, x + 1, weight_right[x - 1]));
                    }
                    if width > 1 {
                        let x = width - 1;
                        store(x, pixel(x, x - 1, x, weight_right[x - 1]));
                    }
                }
            },
        );
    }
}

/// The rows `linear_system` reads for one image row.
struct SystemRows<'a> {
    mask: &'a [f32],
    gx: &'a [f32],
    gy: &'a [f32],
    gz: &'a [f32],
    hxx: &'a [f32],
    hxy: &'a [f32],
    hyy: &'a [f32],
    gxz: &'a [f32],
    gyz: &'a [f32],
    du: &'a [f32],
    dv: &'a [f32],
    u: &'a [f32],
    u_above: &'a [f32],
    u_below: &'a [f32],
    v: &'a [f32],
    v_above: &'a [f32],
    v_below: &'a [f32],
    weight_right: &'a [f32],
    weight_above: &'a [f32],
    weight_below: &'a [f32],
}

/// Linear system of pixel `x`: [rhs_u, rhs_v, a12, 1/a11', 1/a22'] where the primed
/// diagonals include the smoothness weights. `left`/`right` are the (clamped) neighbour
/// columns; `weight_left` is zero at the first column.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn system_pixel(
    r: &SystemRows,
    delta: f32,
    gamma: f32,
    x: usize,
    left: usize,
    right: usize,
    weight_left: f32,
) -> [f32; 5] {
    let (dui, dvi) = (r.du[x], r.dv[x]);
    let (gx, gy, gz) = (r.gx[x], r.gy[x], r.gz[x]);
    let (hxx, hxy, hyy) = (r.hxx[x], r.hxy[x], r.hyy[x]);
    let (gxz, gyz) = (r.gxz[x], r.gyz[x]);
    let brightness = gz + gx * dui + gy * dvi;
    let psi_b = delta * r.mask[x] / (brightness * brightness + BRIGHTNESS_EPS_SQ).sqrt();
    let grad_rx = gxz + hxx * dui + hxy * dvi;
    let grad_ry = gyz + hxy * dui + hyy * dvi;
    let psi_g =
        gamma * r.mask[x] / (grad_rx * grad_rx + grad_ry * grad_ry + GRADIENT_EPS_SQ).sqrt();
    let a11 = psi_b * gx * gx + psi_g * (hxx * hxx + hxy * hxy);
    let a12 = psi_b * gx * gy + psi_g * (hxx * hxy + hxy * hyy);
    let a22 = psi_b * gy * gy + psi_g * (hxy * hxy + hyy * hyy);
    let b1 = -(psi_b * gx * gz + psi_g * (hxx * gxz + hxy * gyz));
    let b2 = -(psi_b * gy * gz + psi_g * (hxy * gxz + hyy * gyz));

    let (wr, wa, wb) = (r.weight_right[x], r.weight_above[x], r.weight_below[x]);
    let sum_w = weight_left + wr + wa + wb;
    let (uc, vc) = (r.u[x], r.v[x]);
    let smooth_u = weight_left * (r.u[left] - uc)
        + wr * (r.u[right] - uc)
        + wa * (r.u_above[x] - uc)
        + wb * (r.u_below[x] - uc);
    let smooth_v = weight_left * (r.v[left] - vc)
        + wr * (r.v[right] - vc)
        + wa * (r.v_above[x] - vc)
        + wb * (r.v_below[x] - vc);
    [
        b1 + smooth_u,
        b2 + smooth_v,
        a12,
        1.0 / (a11 + sum_w + 1e-9),
        1.0 / (a22 + sum_w + 1e-9),
    ]
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
