// SPDX-License-Identifier: MPL-2.0

//! What the element derives from a flow field: motion statistics, the motion region,
//! motion start/stop with hysteresis, the colour coding for `visualize`, and resampling
//! of a flow field to another size (for clipbuffer's flow clips).

use crate::meta::Region;

/// Mean magnitude and fraction of pixels moving more than `threshold` (pixels per frame).
pub fn statistics(u: &[f32], v: &[f32], threshold: f32) -> (f32, f32) {
    if u.is_empty() {
        return (0.0, 0.0);
    }
    let t2 = threshold * threshold;
    let (mut sum, mut moving) = (0f64, 0usize);
    for (a, b) in u.iter().zip(v) {
        let m2 = a * a + b * b;
        sum += m2.sqrt() as f64;
        moving += (m2 > t2) as usize;
    }
    (
        (sum / u.len() as f64) as f32,
        moving as f32 / u.len() as f32,
    )
}

/// Box (in flow pixels) around the moving pixels, ignoring isolated outliers:
/// rows and columns count only when at least 2% of their pixels move (at least one).
pub fn motion_region(
    u: &[f32],
    v: &[f32],
    width: usize,
    height: usize,
    threshold: f32,
) -> Option<Region> {
    if width == 0 || height == 0 {
        return None;
    }
    let t2 = threshold * threshold;
    let mut rows = vec![0u32; height];
    let mut cols = vec![0u32; width];
    for (row, (u_row, v_row)) in rows
        .iter_mut()
        .zip(u.chunks_exact(width).zip(v.chunks_exact(width)))
    {
        for ((col, a), b) in cols.iter_mut().zip(u_row).zip(v_row) {
            if a * a + b * b > t2 {
                *row += 1;
                *col += 1;
            }
        }
    }
    let span = |counts: &[u32], len_other: usize| {
        let min = ((len_other as f32 * 0.02) as u32).max(1);
        let first = counts.iter().position(|c| *c >= min)?;
        let last = counts.iter().rposition(|c| *c >= min)?;
        Some((first, last + 1 - first))
    };
    let (y, h) = span(&rows, width)?;
    let (x, w) = span(&cols, height)?;
    Some(Region::new(x as u32, y as u32, w as u32, h as u32))
}

/// Motion on/off with hysteresis: on after `ON_FRAMES` frames at or above the fraction,
/// off after `OFF_FRAMES` frames below half of it.
#[derive(Debug, Default)]
pub struct MotionTracker {
    moving: bool,
    run: u32,
}

const ON_FRAMES: u32 = 2;
const OFF_FRAMES: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MotionChange {
    Start,
    Stop,
}

impl MotionTracker {
    pub fn reset(&mut self) -> Option<MotionChange> {
        let was = self.moving;
        *self = MotionTracker::default();
        was.then_some(MotionChange::Stop)
    }

    pub fn update(&mut self, fraction: f32, on_fraction: f32) -> Option<MotionChange> {
        let counts = if self.moving {
            fraction < on_fraction / 2.0
        } else {
            fraction >= on_fraction
        };
        self.run = if counts { self.run + 1 } else { 0 };
        let needed = if self.moving { OFF_FRAMES } else { ON_FRAMES };
        if self.run < needed {
            return None;
        }
        self.run = 0;
        self.moving = !self.moving;
        Some(if self.moving {
            MotionChange::Start
        } else {
            MotionChange::Stop
        })
    }
}

/// Colour of a flow vector: hue from its direction, saturation from its magnitude
/// relative to `max_magnitude` (the usual flow colour coding; white is still).
pub fn flow_colour(u: f32, v: f32, max_magnitude: f32) -> [u8; 3] {
    let magnitude = (u * u + v * v).sqrt() / max_magnitude.max(1e-6);
    let saturation = magnitude.min(1.0);
    let hue = (v.atan2(u) / std::f32::consts::TAU + 1.0).fract() * 6.0;
    let sector = hue.floor();
    let f = hue - sector;
    let (r, g, b) = match sector as u32 % 6 {
        0 => (1.0, f, 0.0),
        1 => (1.0 - f, 1.0, 0.0),
        2 => (0.0, 1.0, f),
        3 => (0.0, 1.0 - f, 1.0),
        4 => (f, 0.0, 1.0),
        _ => (1.0, 0.0, 1.0 - f),
    };
    let mix = |c: f32| ((1.0 - saturation * (1.0 - c)) * 255.0).round() as u8;
    [mix(r), mix(g), mix(b)]
}

/// Bilinear resampling of a flow field to `out_w` x `out_h`, with the vectors rescaled to
/// the new pixel size (u by out_w / w, v by out_h / h). Writes u then v into `out`.
pub fn resample_flow(
    u: &[f32],
    v: &[f32],
    w: usize,
    h: usize,
    out_w: usize,
    out_h: usize,
    out: &mut [f32],
) {
    let (su, sv) = (out_w as f32 / w as f32, out_h as f32 / h as f32);
    let (out_u, out_v) = out.split_at_mut(out_w * out_h);
    for oy in 0..out_h {
        let fy = ((oy as f32 + 0.5) * h as f32 / out_h as f32 - 0.5).clamp(0.0, (h - 1) as f32);
        let y0 = fy as usize;
        let y1 = (y0 + 1).min(h - 1);
        let wy = fy - y0 as f32;
        for ox in 0..out_w {
            let fx = ((ox as f32 + 0.5) * w as f32 / out_w as f32 - 0.5).clamp(0.0, (w - 1) as f32);
            let x0 = fx as usize;
            let x1 = (x0 + 1).min(w - 1);
            let wx = fx - x0 as f32;
            let sample = |p: &[f32]| {
                let top = p[y0 * w + x0] * (1.0 - wx) + p[y0 * w + x1] * wx;
                let bottom = p[y1 * w + x0] * (1.0 - wx) + p[y1 * w + x1] * wx;
                top * (1.0 - wy) + bottom * wy
            };
            out_u[oy * out_w + ox] = sample(u) * su;
            out_v[oy * out_w + ox] = sample(v) * sv;
        }
    }
}

/// BT.601 luma (full range) of packed RGB pixels; `offsets` are the byte offsets of
/// R, G, B within a pixel of `pixel_stride` bytes.
pub fn luma_from_packed(
    src: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    pixel_stride: usize,
    offsets: [usize; 3],
    dst: &mut [u8],
) {
    for y in 0..height {
        let row = &src[y * stride..][..width * pixel_stride];
        let out = &mut dst[y * width..][..width];
        for (o, px) in out.iter_mut().zip(row.chunks_exact(pixel_stride)) {
            let (r, g, b) = (
                px[offsets[0]] as u32,
                px[offsets[1]] as u32,
                px[offsets[2]] as u32,
            );
            *o = ((r * 19595 + g * 38470 + b * 7471 + 32768) >> 16) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_and_region() {
        let (w, h) = (20, 10);
        let mut u = vec![0f32; w * h];
        let v = vec![0f32; w * h];
        for y in 2..6 {
            for x in 5..9 {
                u[y * w + x] = 3.0;
            }
        }
        u[9 * w + 19] = 5.0; // isolated: its row and column have 1 moving pixel... still >= 1
        let (mean, fraction) = statistics(&u, &v, 1.0);
        assert!((fraction - 17.0 / 200.0).abs() < 1e-6);
        assert!((mean - (16.0 * 3.0 + 5.0) / 200.0).abs() < 1e-5);
        let region = motion_region(&u, &v, w, h, 1.0).unwrap();
        assert_eq!(
            region,
            Region::new(5, 2, 15, 8),
            "min count of 1 keeps the outlier at this size"
        );
        assert_eq!(motion_region(&v, &v, w, h, 1.0), None);
    }

    #[test]
    fn tracker_hysteresis() {
        let mut t = MotionTracker::default();
        assert_eq!(t.update(0.5, 0.1), None);
        assert_eq!(t.update(0.5, 0.1), Some(MotionChange::Start));
        for _ in 0..9 {
            assert_eq!(t.update(0.01, 0.1), None);
        }
        assert_eq!(
            t.update(0.07, 0.1),
            None,
            "above half the fraction: not still, run broken"
        );
        for _ in 0..9 {
            assert_eq!(t.update(0.0, 0.1), None);
        }
        assert_eq!(t.update(0.0, 0.1), Some(MotionChange::Stop));
        t.update(0.5, 0.1);
        t.update(0.5, 0.1);
        assert_eq!(t.reset(), Some(MotionChange::Stop));
    }

    #[test]
    fn colour_coding() {
        assert_eq!(flow_colour(0.0, 0.0, 1.0), [255, 255, 255]);
        assert_eq!(flow_colour(1.0, 0.0, 1.0), [255, 0, 0]);
        // Straight down is a quarter turn: half way between yellow and green.
        assert_eq!(flow_colour(0.0, 1.0, 1.0), [128, 255, 0]);
        // Half the maximum speed is half saturated.
        assert_eq!(flow_colour(0.5, 0.0, 1.0), [255, 128, 128]);
    }

    #[test]
    fn resample_scales_vectors() {
        let (w, h) = (8, 4);
        let u = vec![2.0f32; w * h];
        let v = vec![-1.0f32; w * h];
        let mut out = vec![0f32; 2 * 4 * 2];
        resample_flow(&u, &v, w, h, 4, 2, &mut out);
        assert!(out[..8].iter().all(|x| (*x - 1.0).abs() < 1e-6));
        assert!(out[8..].iter().all(|x| (*x + 0.5).abs() < 1e-6));
    }

    #[test]
    fn luma_weights() {
        let px = [255u8, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255];
        let mut out = [0u8; 4];
        luma_from_packed(&px, 4, 1, 12, 3, [0, 1, 2], &mut out);
        assert_eq!(out, [76, 150, 29, 255]);
    }
}
