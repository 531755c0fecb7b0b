// SPDX-License-Identifier: MPL-2.0

//! Coarse-to-fine dense optical flow: at each pyramid level a DIS-style patch inverse search
//! (seeded by the coarser level), densification, then variational refinement; levels finer
//! than the last patch level are reached by upsampling plus (optionally) variational refinement.

use crate::opticalflow::inverse_search::{
    densify_band, search_band, PatchGrid, SearchLevel, SearchParams,
};
use crate::opticalflow::parallel::{for_each_band, join, Workers};
use crate::opticalflow::pyramid::{
    level_sizes, luma_to_f32, pad_replicate, pyr_down, sobel_gradients, upsample_flow,
};
use crate::opticalflow::variational::{VariationalParams, VariationalRefiner};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Patch search and refinement stop at quarter resolution, then bilinear upsampling.
    Fast,
    /// Patch search and variational refinement down to half resolution, then bilinear
    /// upsampling (refining at full resolution cost twice the time for ~0.045 EPE).
    Accurate,
}

/// Every tunable of the solver; `Preset::params` gives the tuned sets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SolverParams {
    pub search: SearchParams,
    /// Finest pyramid level that runs the patch search (0 = full resolution).
    pub finest_search_level: usize,
    /// The pyramid keeps halving while the next level stays at least this wide.
    pub coarsest_min_width: usize,
    /// Refinement after the patch search of each search level.
    pub search_level_variational: VariationalParams,
    /// Refinement of levels finer than `finest_search_level`, down to `finest_output_level`.
    pub fine_variational: VariationalParams,
    /// Finest level computed before plain bilinear upsampling to full size.
    pub finest_output_level: usize,
}

impl Preset {
    /// Tuned on the Middlebury "other" set (see src/bin/middlebury.rs).
    pub fn params(self) -> SolverParams {
        let variational = |alpha, gamma, fixed_point_iters, sor_iters| VariationalParams {
            alpha,
            gamma,
            delta: 1.0,
            fixed_point_iters,
            sor_iters,
            omega: 1.6,
        };
        match self {
            Preset::Fast => SolverParams {
                search: SearchParams {
                    patch_size: 8,
                    patch_stride: 3,
                    forward_iters: 12,
                    // The backward propagation sweep cost time and, measured, lost accuracy.
                    backward_iters: 0,
                },
                finest_search_level: 2,
                coarsest_min_width: 24,
                search_level_variational: variational(12.0, 1.0, 2, 3),
                fine_variational: variational(12.0, 1.0, 0, 0),
                finest_output_level: 2,
            },
            Preset::Accurate => SolverParams {
                search: SearchParams {
                    patch_size: 8,
                    patch_stride: 3,
                    forward_iters: 16,
                    backward_iters: 0,
                },
                finest_search_level: 1,
                coarsest_min_width: 24,
                search_level_variational: variational(8.0, 2.0, 2, 6),
                // Only used when finest_output_level is set below 1.
                fine_variational: variational(8.0, 2.0, 1, 8),
                finest_output_level: 1,
            },
        }
    }
}

/// Per-level planes. Search-only planes are empty on levels without patch search.
struct Level {
    width: usize,
    height: usize,
    prev: Vec<f32>,
    cur: Vec<f32>,
    grad_x: Vec<f32>,
    grad_y: Vec<f32>,
    cur_padded: Vec<f32>,
    flow_u: Vec<f32>,
    flow_v: Vec<f32>,
    grid: Option<PatchGrid>,
}

pub struct FlowSolver {
    width: usize,
    height: usize,
    workers: Workers,
    params: SolverParams,
    levels: Vec<Level>,
    /// Finest level actually searched (the preset's, clamped to the pyramid).
    finest_search: usize,
    finest_output: usize,
    patch_u: Vec<f32>,
    patch_v: Vec<f32>,
    densify_weight: Vec<f32>,
    row_scratch: Vec<f32>,
    refiner: VariationalRefiner,
}

impl FlowSolver {
    /// Preallocates everything for frames of this size; no allocation in compute() in steady state.
    pub fn new(width: usize, height: usize, preset: Preset, threads: usize) -> Self {
        Self::with_params(width, height, preset.params(), threads)
    }

    /// Like `new` with explicit parameters (for tuning).
    pub fn with_params(width: usize, height: usize, params: SolverParams, threads: usize) -> Self {
        assert!(width >= 2 && height >= 2, "frames must be at least 2x2");
        let mut params = params;
        // Patches must fit in every searched level, including the full frame.
        params.search.patch_size = params.search.patch_size.clamp(2, width.min(height));
        params.search.patch_stride = params.search.patch_stride.max(1);
        let patch = params.search.patch_size;

        let mut level_count = 1;
        loop {
            let (w, h) = (
                width.div_ceil(1 << level_count),
                height.div_ceil(1 << level_count),
            );
            if w < params.coarsest_min_width.max(patch + 1) || h < patch + 1 {
                break;
            }
            level_count += 1;
        }
        let finest_search = params.finest_search_level.min(level_count - 1);
        let finest_output = if params.fine_variational.fixed_point_iters == 0 {
            finest_search
        } else {
            params.finest_output_level.min(finest_search)
        };
        let sizes = level_sizes(width, height, level_count);

        let mut max_grid = 0;
        let levels: Vec<Level> = sizes
            .iter()
            .enumerate()
            .map(|(index, &(w, h))| {
                let searched = index >= finest_search;
                // Levels finer than the output level only feed the pyramid; level 0 is then
                // reduced straight from the 8-bit frames and needs no planes at all.
                let used = index >= finest_output;
                let n = if index == 0 && !used { 0 } else { w * h };
                let flow_len = if used { n } else { 0 };
                let search_plane = |len: usize| {
                    if searched {
                        vec![0.0f32; len]
                    } else {
                        Vec::new()
                    }
                };
                let border = patch + 2;
                let grid =
                    searched.then(|| PatchGrid::new(w, h, patch, params.search.patch_stride));
                if let Some(grid) = &grid {
                    max_grid = max_grid.max(grid.len());
                }
                Level {
                    width: w,
                    height: h,
                    prev: vec![0.0; n],
                    cur: vec![0.0; n],
                    grad_x: search_plane(n),
                    grad_y: search_plane(n),
                    cur_padded: search_plane((w + 2 * border) * (h + 2 * border)),
                    flow_u: vec![0.0; flow_len],
                    flow_v: vec![0.0; flow_len],
                    grid,
                }
            })
            .collect();
        let (search_w, search_h) = sizes[finest_search];
        let (refine_w, refine_h) = sizes[finest_output];
        Self {
            width,
            height,
            workers: Workers::new(threads),
            params,
            levels,
            finest_search,
            finest_output,
            patch_u: vec![0.0; max_grid],
            patch_v: vec![0.0; max_grid],
            densify_weight: vec![0.0; search_w * search_h],
            row_scratch: vec![0.0; 2 * width],
            refiner: VariationalRefiner::new(refine_w, refine_h),
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// Flow from `prev` to `cur` (luma, row stride in bytes), written to u and v (width*height, row-major, pixels).
    pub fn compute(
        &mut self,
        prev: &[u8],
        prev_stride: usize,
        cur: &[u8],
        cur_stride: usize,
        u: &mut [f32],
        v: &mut [f32],
    ) {
        let (width, height) = (self.width, self.height);
        assert!(prev_stride >= width && cur_stride >= width);
        assert!(prev.len() >= (height - 1) * prev_stride + width);
        assert!(cur.len() >= (height - 1) * cur_stride + width);
        assert!(u.len() >= width * height && v.len() >= width * height);

        self.build_pyramids(prev, prev_stride, cur, cur_stride);
        let coarsest = self.levels.len() - 1;
        for index in (self.finest_search..=coarsest).rev() {
            if index == coarsest {
                let level = &mut self.levels[index];
                level.flow_u.fill(0.0);
                level.flow_v.fill(0.0);
            } else {
                self.upsample_into(index + 1, index);
            }
            self.search_level(index);
            let params = self.params.search_level_variational;
            self.refine_level(index, &params);
        }
        for index in (self.finest_output..self.finest_search).rev() {
            self.upsample_into(index + 1, index);
            let params = self.params.fine_variational;
            self.refine_level(index, &params);
        }

        let out = &mut self.levels[self.finest_output];
        if self.finest_output == 0 {
            u[..width * height].copy_from_slice(&out.flow_u);
            v[..width * height].copy_from_slice(&out.flow_v);
        } else {
            upsample_flow(
                &out.flow_u,
                &out.flow_v,
                out.width,
                out.height,
                u,
                v,
                width,
                height,
                1 << self.finest_output,
                self.workers.bands(width, height),
            );
        }
    }

    fn build_pyramids(&mut self, prev: &[u8], prev_stride: usize, cur: &[u8], cur_stride: usize) {
        let (width, height) = (self.width, self.height);
        let (scratch_prev, scratch_cur) = self.row_scratch.split_at_mut(width);
        let workers = &self.workers;
        if self.finest_output == 0 {
            let level = &mut self.levels[0];
            join(
                workers.bands(width, height),
                || luma_to_f32(prev, width, height, prev_stride, &mut level.prev),
                || luma_to_f32(cur, width, height, cur_stride, &mut level.cur),
            );
        }
        for index in 1..self.levels.len() {
            let (finer, coarser) = self.levels.split_at_mut(index);
            let (fine, coarse) = (&finer[index - 1], &mut coarser[0]);
            let (cw, ch) = (coarse.width, coarse.height);
            let bands = workers.bands(fine.width, fine.height);
            let (prev_dst, cur_dst) = (&mut coarse.prev, &mut coarse.cur);
            if index == 1 && self.finest_output > 0 {
                // Full-resolution planes are never used: reduce the 8-bit frames directly.
                join(
                    bands,
                    || {
                        pyr_down(
                            prev,
                            width,
                            height,
                            prev_stride,
                            prev_dst,
                            cw,
                            ch,
                            scratch_prev,
                        )
                    },
                    || pyr_down(cur, width, height, cur_stride, cur_dst, cw, ch, scratch_cur),
                );
            } else {
                let (fw, fh) = (fine.width, fine.height);
                join(
                    bands,
                    || pyr_down(&fine.prev, fw, fh, fw, prev_dst, cw, ch, scratch_prev),
                    || pyr_down(&fine.cur, fw, fh, fw, cur_dst, cw, ch, scratch_cur),
                );
            }
        }
    }

    fn upsample_into(&mut self, coarse_index: usize, fine_index: usize) {
        let (finer, coarser) = self.levels.split_at_mut(coarse_index);
        let (fine, coarse) = (&mut finer[fine_index], &coarser[0]);
        upsample_flow(
            &coarse.flow_u,
            &coarse.flow_v,
            coarse.width,
            coarse.height,
            &mut fine.flow_u,
            &mut fine.flow_v,
            fine.width,
            fine.height,
            1 << (coarse_index - fine_index),
            self.workers.bands(fine.width, fine.height),
        );
    }

    /// Patch search seeded by the level's current dense flow, then densification into it.
    fn search_level(&mut self, index: usize) {
        let search = self.params.search;
        let patch = search.patch_size;
        let level = &mut self.levels[index];
        let (w, h) = (level.width, level.height);
        let border = patch + 2;
        sobel_gradients(&level.prev, w, h, &mut level.grad_x, &mut level.grad_y);
        pad_replicate(&level.cur, w, h, border, &mut level.cur_padded);
        let grid = level.grid.as_ref().expect("searched level has a grid");
        let view = SearchLevel {
            width: w,
            height: h,
            prev: &level.prev,
            grad_x: &level.grad_x,
            grad_y: &level.grad_y,
            cur_padded: &level.cur_padded,
            border,
        };
        let (nx, ny) = (grid.xs.len(), grid.ys.len());
        let mut bands = self.workers.bands(w, h);
        bands.count = bands.count.min(ny);
        let (init_u, init_v) = (&level.flow_u, &level.flow_v);
        for_each_band(
            bands,
            nx,
            ny,
            [&mut self.patch_u, &mut self.patch_v],
            |rows, [band_u, band_v]| {
                search_band(&view, grid, &search, init_u, init_v, rows, band_u, band_v)
            },
        );
        let (patch_u, patch_v) = (&self.patch_u, &self.patch_v);
        let bands = self.workers.bands(w, h);
        for_each_band(
            bands,
            w,
            h,
            [
                &mut level.flow_u,
                &mut level.flow_v,
                &mut self.densify_weight,
            ],
            |rows, [out_u, out_v, weight]| {
                densify_band(
                    &view, grid, patch, patch_u, patch_v, rows, out_u, out_v, weight,
                )
            },
        );
    }

    fn refine_level(&mut self, index: usize, params: &VariationalParams) {
        let level = &mut self.levels[index];
        self.refiner.refine(
            &level.prev,
            &level.cur,
            level.width,
            level.height,
            &mut level.flow_u,
            &mut level.flow_v,
            params,
            &self.workers,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic smooth texture: a sum of sinusoids with pseudo-random wavelengths
    /// (6..40 px), orientations and phases, defined at any real position.
    struct Texture {
        waves: Vec<[f32; 4]>,
    }

    impl Texture {
        fn new(seed: u64) -> Self {
            let mut state = seed;
            let mut next = || {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 40) as f32 / (1u64 << 24) as f32
            };
            let waves = (0..14)
                .map(|_| {
                    let wavelength = 6.0 + 34.0 * next();
                    let angle = std::f32::consts::TAU * next();
                    let k = std::f32::consts::TAU / wavelength;
                    [
                        k * angle.cos(),
                        k * angle.sin(),
                        std::f32::consts::TAU * next(),
                        8.0 + 10.0 * next(),
                    ]
                })
                .collect();
            Self { waves }
        }

        fn at(&self, x: f32, y: f32) -> f32 {
            128.0
                + self
                    .waves
                    .iter()
                    .map(|[kx, ky, phase, amp]| amp * (kx * x + ky * y + phase).sin())
                    .sum::<f32>()
        }
    }

    const WIDTH: usize = 160;
    const HEIGHT: usize = 120;
    /// Pixels this close to the border are not scored (they may move out of view).
    const MARGIN: usize = 10;

    /// Renders prev = texture and cur = texture moved by the affine motion
    /// x1 = centre + matrix (x0 - centre) + shift; returns frames and true flow at x0.
    fn affine_pair(matrix: [f32; 4], shift: (f32, f32)) -> (Vec<u8>, Vec<u8>, Vec<f32>, Vec<f32>) {
        let texture = Texture::new(7);
        let (cx, cy) = (WIDTH as f32 / 2.0, HEIGHT as f32 / 2.0);
        let [a, b, c, d] = matrix;
        let det = a * d - b * c;
        let quantise = |value: f32| value.round().clamp(0.0, 255.0) as u8;
        let mut prev = vec![0u8; WIDTH * HEIGHT];
        let mut cur = vec![0u8; WIDTH * HEIGHT];
        let mut true_u = vec![0.0f32; WIDTH * HEIGHT];
        let mut true_v = vec![0.0f32; WIDTH * HEIGHT];
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                let i = y * WIDTH + x;
                let (px, py) = (x as f32 - cx, y as f32 - cy);
                prev[i] = quantise(texture.at(x as f32, y as f32));
                true_u[i] = a * px + b * py + shift.0 - px;
                true_v[i] = c * px + d * py + shift.1 - py;
                // Invert the motion to find where this cur pixel came from.
                let (qx, qy) = (px - shift.0, py - shift.1);
                let sx = (d * qx - b * qy) / det + cx;
                let sy = (-c * qx + a * qy) / det + cy;
                cur[i] = quantise(texture.at(sx, sy));
            }
        }
        (prev, cur, true_u, true_v)
    }

    fn interior_epe(preset: Preset, matrix: [f32; 4], shift: (f32, f32)) -> f32 {
        let (prev, cur, true_u, true_v) = affine_pair(matrix, shift);
        let mut solver = FlowSolver::new(WIDTH, HEIGHT, preset, 1);
        let mut u = vec![0.0; WIDTH * HEIGHT];
        let mut v = vec![0.0; WIDTH * HEIGHT];
        solver.compute(&prev, WIDTH, &cur, WIDTH, &mut u, &mut v);
        let (mut sum, mut count) = (0.0, 0);
        for y in MARGIN..HEIGHT - MARGIN {
            for x in MARGIN..WIDTH - MARGIN {
                let i = y * WIDTH + x;
                sum += ((u[i] - true_u[i]).powi(2) + (v[i] - true_v[i]).powi(2)).sqrt();
                count += 1;
            }
        }
        sum / count as f32
    }

    const IDENTITY: [f32; 4] = [1.0, 0.0, 0.0, 1.0];

    fn rotation(degrees: f32) -> [f32; 4] {
        let (s, c) = degrees.to_radians().sin_cos();
        [c, -s, s, c]
    }

    #[test]
    fn integer_translation() {
        let accurate = interior_epe(Preset::Accurate, IDENTITY, (3.0, -2.0));
        let fast = interior_epe(Preset::Fast, IDENTITY, (3.0, -2.0));
        assert!(accurate < 0.05, "accurate EPE {accurate}");
        assert!(fast < 0.15, "fast EPE {fast}");
    }

    #[test]
    fn subpixel_translation() {
        let accurate = interior_epe(Preset::Accurate, IDENTITY, (1.4, 0.7));
        let fast = interior_epe(Preset::Fast, IDENTITY, (1.4, 0.7));
        // Fractional shifts pay for 8-bit quantisation and bilinear resampling (and Accurate
        // for its half-resolution output).
        assert!(accurate < 0.12, "accurate EPE {accurate}");
        assert!(fast < 0.2, "fast EPE {fast}");
    }

    #[test]
    fn large_translation_needs_the_pyramid() {
        let accurate = interior_epe(Preset::Accurate, IDENTITY, (-9.3, 6.6));
        assert!(accurate < 0.14, "accurate EPE {accurate}");
    }

    #[test]
    fn small_rotation() {
        let accurate = interior_epe(Preset::Accurate, rotation(3.0), (0.0, 0.0));
        let fast = interior_epe(Preset::Fast, rotation(3.0), (0.0, 0.0));
        assert!(accurate < 0.18, "accurate EPE {accurate}");
        assert!(fast < 0.3, "fast EPE {fast}");
    }

    #[test]
    fn zoom() {
        let accurate = interior_epe(Preset::Accurate, [1.04, 0.0, 0.0, 1.04], (0.5, 0.0));
        let fast = interior_epe(Preset::Fast, [1.04, 0.0, 0.0, 1.04], (0.5, 0.0));
        assert!(accurate < 0.14, "accurate EPE {accurate}");
        assert!(fast < 0.25, "fast EPE {fast}");
    }

    #[test]
    fn identical_frames_give_zero_flow() {
        let epe = interior_epe(Preset::Accurate, IDENTITY, (0.0, 0.0));
        assert!(epe < 0.01, "EPE {epe}");
    }

    #[test]
    fn two_threads_match_one_closely() {
        let (prev, cur, _, _) = affine_pair(rotation(2.0), (1.0, 0.5));
        let run = |threads| {
            // Large enough that the row bands really split.
            let mut solver = FlowSolver::new(WIDTH, HEIGHT, Preset::Accurate, threads);
            let mut u = vec![0.0; WIDTH * HEIGHT];
            let mut v = vec![0.0; WIDTH * HEIGHT];
            solver.compute(&prev, WIDTH, &cur, WIDTH, &mut u, &mut v);
            (u, v)
        };
        let (u1, v1) = run(1);
        let (u2, v2) = run(2);
        let mean_diff: f32 = u1
            .iter()
            .zip(&u2)
            .chain(v1.iter().zip(&v2))
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / (2 * WIDTH * HEIGHT) as f32;
        assert!(mean_diff < 0.02, "mean difference {mean_diff}");
    }

    #[test]
    fn strided_input_is_respected() {
        let (prev, cur, true_u, true_v) = affine_pair(IDENTITY, (2.0, 1.0));
        let stride = WIDTH + 13;
        let pad = |frame: &[u8]| {
            let mut padded = vec![0u8; stride * HEIGHT];
            for y in 0..HEIGHT {
                padded[y * stride..y * stride + WIDTH]
                    .copy_from_slice(&frame[y * WIDTH..(y + 1) * WIDTH]);
            }
            padded
        };
        let mut solver = FlowSolver::new(WIDTH, HEIGHT, Preset::Fast, 1);
        let mut u = vec![0.0; WIDTH * HEIGHT];
        let mut v = vec![0.0; WIDTH * HEIGHT];
        solver.compute(&pad(&prev), stride, &pad(&cur), stride, &mut u, &mut v);
        let centre = HEIGHT / 2 * WIDTH + WIDTH / 2;
        assert!(
            (u[centre] - true_u[centre]).abs() < 0.2 && (v[centre] - true_v[centre]).abs() < 0.2
        );
    }

    #[test]
    fn solver_can_move_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<FlowSolver>();
    }

    #[test]
    fn tiny_frames_do_not_panic() {
        for (w, h) in [(2, 2), (5, 3), (9, 40), (33, 17)] {
            for preset in [Preset::Fast, Preset::Accurate] {
                let prev: Vec<u8> = (0..w * h).map(|i| (i * 37 % 251) as u8).collect();
                let mut solver = FlowSolver::new(w, h, preset, 2);
                let mut u = vec![0.0; w * h];
                let mut v = vec![0.0; w * h];
                solver.compute(&prev, w, &prev, w, &mut u, &mut v);
                assert!(u.iter().chain(&v).all(|f| f.is_finite()));
            }
        }
    }
}
