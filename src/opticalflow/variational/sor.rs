// SPDX-License-Identifier: MPL-2.0

//! The inner solver of the variational refinement: red-black SOR sweeps over the linear
//! system that `linear_system` built, fused into one streaming pass per band of rows.

use super::{row, VariationalRefiner};
use crate::opticalflow::parallel::{band_rows, for_each_band, Bands};

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

impl VariationalRefiner {
    /// `iters` red-black SOR sweeps, fused into one streaming pass over the rows (see below).
    pub(super) fn sor_sweeps(
        &mut self,
        width: usize,
        height: usize,
        omega: f32,
        iters: usize,
        bands: Bands,
    ) {
        if iters == 0 {
            return;
        }
        for (i, value) in self.omega_mask[..=width].iter_mut().enumerate() {
            *value = if i % 2 == 0 { omega } else { 0.0 };
        }
        if bands.count > 1 {
            // Band edges see their neighbours' rows as they were before these sweeps.
            for rows in band_rows(bands.count, height) {
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
            sor_scratch,
            omega_mask,
            ..
        } = self;
        let zeros = &zeros[..width];
        let omega_mask = &omega_mask[..];
        for_each_band(
            bands,
            width,
            height,
            [du, dv, sor_scratch],
            |rows, [band_du, band_dv, scratch]| {
                let band_height = rows.len();
                let scratch = &mut scratch[..width];
                // Relaxes one colour of band row k; the other colour's values are all it reads.
                let relax = |band_du: &mut [f32],
                             band_dv: &mut [f32],
                             scratch: &mut [f32],
                             k: usize,
                             colour: usize| {
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
                    let omega = &omega_mask[first_x..][..width];
                    sor_row(du_row, dv_row, neighbours, &coefficients, omega, scratch);
                };
                // Red-black ordering run as a wavefront: black row k-1 is relaxed right after
                // red row k, so one streaming pass does a full red-black sweep. Sweep s + 1
                // trails sweep s by two rows (its red row k-2 needs sweep s's black rows k-3
                // and k-1, both done), so all sweeps share one pass and each coefficient row
                // is read from cache `iters` times instead of from memory.
                let band_height = band_height as isize;
                for step in 0..band_height + 2 * iters as isize {
                    for sweep in 0..iters as isize {
                        let red = step - 2 * sweep;
                        if (0..band_height).contains(&red) {
                            relax(band_du, band_dv, scratch, red as usize, 0);
                        }
                        let black = red - 1;
                        if (0..band_height).contains(&black) {
                            relax(band_du, band_dv, scratch, black as usize, 1);
                        }
                    }
                }
            },
        );
    }
}

/// Over-relaxes one colour of a row: the pixels where `omega` (omega, 0, omega, ... or
/// 0, omega, 0, ...) is non-zero. Those pixels only read the other colour, so every pixel
/// of the row is computed independently into `scratch` (contiguous, hence vectorised: twice
/// the arithmetic at a quarter of the cost) with the zero factor leaving the other colour
/// unchanged. Missing neighbours have zero weight (the last column's right weight and the
/// last row's down weight are zero by construction).
fn sor_row(
    du: &mut [f32],
    dv: &mut [f32],
    neighbours: [&[f32]; 4],
    c: &SorRow,
    omega: &[f32],
    scratch: &mut [f32],
) {
    let [du_above, dv_above, du_below, dv_below] = neighbours;
    let width = du.len();
    relax_plane(
        du,
        dv,
        [du_above, du_below],
        c,
        c.rhs_u,
        c.inv_den_u,
        omega,
        scratch,
    );
    relax_plane(
        dv,
        du,
        [dv_above, dv_below],
        c,
        c.rhs_v,
        c.inv_den_v,
        omega,
        &mut scratch[..width],
    );
}

/// One component's update: value += omega * ((rhs + neighbours - a12 * other) * inv_den - value).
#[allow(clippy::too_many_arguments)]
fn relax_plane(
    values: &mut [f32],
    other: &[f32],
    vertical: [&[f32]; 2],
    c: &SorRow,
    rhs: &[f32],
    inv_den: &[f32],
    omega: &[f32],
    scratch: &mut [f32],
) {
    let width = values.len();
    // Equal lengths up front let the compiler drop per-access bounds checks.
    let (above, below, other) = (
        &vertical[0][..width],
        &vertical[1][..width],
        &other[..width],
    );
    let (weight_right, weight_above, weight_below) = (
        &c.weight_right[..width],
        &c.weight_above[..width],
        &c.weight_below[..width],
    );
    let (rhs, a12, inv_den, omega) = (
        &rhs[..width],
        &c.a12[..width],
        &inv_den[..width],
        &omega[..width],
    );
    let update = |x: usize, left: usize, right: usize, weight_left: f32, values: &[f32]| {
        let neighbours = weight_left * values[left]
            + weight_right[x] * values[right]
            + weight_above[x] * above[x]
            + weight_below[x] * below[x];
        let target = (rhs[x] + neighbours - a12[x] * other[x]) * inv_den[x];
        values[x] + omega[x] * (target - values[x])
    };
    if width < 3 {
        for x in 0..width {
            let (left, right) = (x.saturating_sub(1), (x + 1).min(width - 1));
            let weight_left = if x > 0 { weight_right[x - 1] } else { 0.0 };
            scratch[x] = update(x, left, right, weight_left, values);
        }
        values.copy_from_slice(scratch);
        return;
    }
    let first = update(0, 0, 1, 0.0, values);
    let last = update(
        width - 1,
        width - 2,
        width - 1,
        weight_right[width - 2],
        values,
    );
    // Every pixel goes to `scratch` first: updating in place would make each iteration
    // read what the previous one just stored (measured 3x slower from store forwarding
    // stalls), and would stop the compiler from vectorising.
    let scratch = &mut scratch[..width];
    for x in 1..width - 1 {
        let neighbours = weight_right[x - 1] * values[x - 1]
            + weight_right[x] * values[x + 1]
            + weight_above[x] * above[x]
            + weight_below[x] * below[x];
        let target = (rhs[x] + neighbours - a12[x] * other[x]) * inv_den[x];
        scratch[x] = values[x] + omega[x] * (target - values[x]);
    }
    values[1..width - 1].copy_from_slice(&scratch[1..width - 1]);
    values[0] = first;
    values[width - 1] = last;
}
