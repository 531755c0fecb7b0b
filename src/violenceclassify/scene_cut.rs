// SPDX-License-Identifier: MPL-2.0

//! Scene cuts inside a clip: a window that spans one holds two scenes, which no training
//! clip does, and the motion stage reads the jump between them as violent motion. Edited
//! footage (movies, web video, the evaluation's back-to-back clips) cuts every few seconds;
//! a camera "cuts" when it switches to night mode, moves to a preset or reconnects.
//!
//! A cut is a frame-to-frame change that is both large and isolated: the mean absolute
//! difference of 16x16 luma thumbnails of two consecutive frames is above
//! [`MIN_CUT_DIFFERENCE`] and [`MIN_CUT_RATIO`] times the mean difference of the (up to
//! four) pairs around it. Fights change the picture a lot too, but over many frames, not in
//! one jump. Measured on the 160x160 clips of `../shared/data/violence` (frame step 2): it
//! finds 92 % of the cuts between consecutive val clips of one dataset, and marks 0.04 % of
//! the frame pairs inside clips (0.08 % inside fights).

use crate::meta::FramePlanes;
use crate::model::frame_cache::FrameCache;

/// Thumbnail side: coarse enough that motion inside a scene averages out.
pub const GRID: usize = 16;
/// Luma levels (0..255) of mean absolute thumbnail difference.
pub const MIN_CUT_DIFFERENCE: f32 = 12.0;
/// Against the mean difference of the neighbouring frame pairs.
pub const MIN_CUT_RATIO: f32 = 3.0;
/// Neighbouring pairs on each side.
const NEIGHBOURS: usize = 2;

/// Mean luma (BT.601 weights) of each cell of a 16x16 grid over a packed RGB frame of
/// `width` x `height` with rows `stride` bytes apart.
pub fn luma_thumbnail(
    rgb: &[u8],
    width: usize,
    height: usize,
    stride: usize,
) -> [f32; GRID * GRID] {
    // Each column's cell, looked up rather than divided out per pixel; the sums run in the
    // same order as a per-pixel division would, so the thumbnail is the same to the bit.
    let column_cell: Vec<usize> = (0..width).map(|x| x * GRID / width).collect();
    let mut sums = [0f32; GRID * GRID];
    for y in 0..height {
        let cells = &mut sums[y * GRID / height * GRID..][..GRID];
        let row = &rgb[y * stride..][..3 * width];
        for (px, &cell) in row.chunks_exact(3).zip(&column_cell) {
            cells[cell] +=
                0.299 * f32::from(px[0]) + 0.587 * f32::from(px[1]) + 0.114 * f32::from(px[2]);
        }
    }
    // Pixels per cell: rows of its grid row times columns of its grid column.
    // (Index i is in cell i * GRID / n from ceil(cell * n / GRID) on.)
    let span = |cell: usize, n: usize| (cell * n).div_ceil(GRID);
    for (cell, sum) in sums.iter_mut().enumerate() {
        let (r, c) = (cell / GRID, cell % GRID);
        let rows = span(r + 1, height) - span(r, height);
        let cols = span(c + 1, width) - span(c, width);
        *sum /= (rows * cols).max(1) as f32;
    }
    sums
}

/// Mean absolute difference of two thumbnails.
pub fn difference(a: &[f32; GRID * GRID], b: &[f32; GRID * GRID]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / (GRID * GRID) as f32
}

/// The first pair `i` (frames `i` and `i + 1`) whose difference is a cut, if any.
pub fn find_cut(differences: &[f32]) -> Option<usize> {
    (0..differences.len()).find(|&i| {
        let d = differences[i];
        if d <= MIN_CUT_DIFFERENCE {
            return false;
        }
        let around: Vec<f32> = (i.saturating_sub(NEIGHBOURS)
            ..(i + NEIGHBOURS + 1).min(differences.len()))
            .filter(|&j| j != i)
            .map(|j| differences[j])
            .collect();
        let mean = if around.is_empty() {
            0.0
        } else {
            around.iter().sum::<f32>() / around.len() as f32
        };
        // A floor of one level keeps a still scene's near-zero differences from making
        // every small change a cut.
        d > MIN_CUT_RATIO * mean.max(1.0)
    })
}

/// Thumbnails of a stream's latest frames: clipbuffer hands the same `gst::Buffer` to every
/// window that holds a frame (two at the default stride), so each is read once.
pub type ThumbnailCache = FrameCache<[f32; GRID * GRID]>;

/// A luma thumbnail of every frame of the clip, in order; `None` when a frame cannot be
/// read. Scene cuts and the per-camera calibration's motion descriptor both read them.
pub fn clip_thumbnails(
    planes: &FramePlanes,
    cache: &mut ThumbnailCache,
) -> Option<Vec<[f32; GRID * GRID]>> {
    let (w, h, stride) = (
        planes.width as usize,
        planes.height as usize,
        planes.stride as usize,
    );
    if w == 0 || h == 0 {
        return None;
    }
    let mut thumbnails = Vec::with_capacity(planes.frames.len());
    for frame in &planes.frames {
        if let Some(known) = cache.get(frame) {
            thumbnails.push(*known);
            continue;
        }
        let map = frame.map_readable().ok()?;
        if map.len() < stride * (h - 1) + 3 * w {
            return None;
        }
        let thumbnail = luma_thumbnail(&map, w, h, stride);
        cache.insert(frame.clone(), thumbnail);
        thumbnails.push(thumbnail);
    }
    Some(thumbnails)
}

/// Whether consecutive thumbnails of a clip span a scene cut. The pairs in `reframed` (the
/// crop of a people-crop model moved between them) jump for a known reason and are not cuts.
pub fn spans_cut(thumbnails: &[[f32; GRID * GRID]], reframed: &[u32]) -> bool {
    let differences: Vec<f32> = thumbnails
        .windows(2)
        .enumerate()
        .map(|(i, pair)| {
            if reframed.contains(&(i as u32)) {
                0.0
            } else {
                difference(&pair[0], &pair[1])
            }
        })
        .collect();
    find_cut(&differences).is_some()
}

/// Whether the clip's frames span a scene cut; `None` when a frame cannot be read.
pub fn clip_spans_cut(planes: &FramePlanes) -> Option<bool> {
    clip_thumbnails(planes, &mut ThumbnailCache::new(1)).map(|t| spans_cut(&t, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: usize, h: usize, pixel: impl Fn(usize, usize) -> [u8; 3]) -> Vec<u8> {
        (0..h)
            .flat_map(|y| (0..w).flat_map(move |x| (0..3).map(move |c| (x, y, c))))
            .map(|(x, y, c)| pixel(x, y)[c])
            .collect()
    }

    fn planes(frames: Vec<Vec<u8>>, w: u32, h: u32) -> FramePlanes {
        FramePlanes {
            frames: frames
                .into_iter()
                .map(gst::Buffer::from_mut_slice)
                .collect(),
            width: w,
            height: h,
            stride: 3 * w,
        }
    }

    #[test]
    fn thumbnail_averages_cells() {
        // Left half white, right half black: the thumbnail's left columns are 255.
        let f = frame(32, 32, |x, _| if x < 16 { [255; 3] } else { [0; 3] });
        let t = luma_thumbnail(&f, 32, 32, 96);
        assert!(
            (t[0] - 255.0).abs() < 0.01 && t[GRID - 1].abs() < 0.01,
            "{t:?}"
        );
        assert!((difference(&t, &t)).abs() < 1e-6);
    }

    /// The definition, one division per pixel.
    fn reference_thumbnail(rgb: &[u8], w: usize, h: usize, stride: usize) -> [f32; GRID * GRID] {
        let mut sums = [0f32; GRID * GRID];
        let mut counts = [0u32; GRID * GRID];
        for y in 0..h {
            for x in 0..w {
                let cell = y * GRID / h * GRID + x * GRID / w;
                let px = &rgb[y * stride + 3 * x..][..3];
                sums[cell] +=
                    0.299 * f32::from(px[0]) + 0.587 * f32::from(px[1]) + 0.114 * f32::from(px[2]);
                counts[cell] += 1;
            }
        }
        for (sum, count) in sums.iter_mut().zip(counts) {
            *sum /= count.max(1) as f32;
        }
        sums
    }

    #[test]
    fn thumbnail_is_the_definition_to_the_bit() {
        for (w, h) in [(160, 160), (80, 80), (37, 23), (1280, 720), (10, 7), (1, 1)] {
            let stride = 3 * w + 5;
            let rgb: Vec<u8> = (0..stride * h)
                .map(|i| ((i * 2_654_435_761usize) >> 7) as u8)
                .collect();
            let want = reference_thumbnail(&rgb, w, h, stride);
            let got = luma_thumbnail(&rgb, w, h, stride);
            assert!(
                want.iter()
                    .zip(&got)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn isolated_jumps_are_cuts_and_sustained_motion_is_not() {
        assert_eq!(find_cut(&[1.0, 1.5, 40.0, 1.2, 0.8]), Some(2));
        // Large but sustained: a fight, a pan.
        assert_eq!(find_cut(&[20.0, 25.0, 30.0, 22.0, 26.0]), None);
        // Isolated but small: someone walks past close to the camera.
        assert_eq!(find_cut(&[0.5, 0.4, 10.0, 0.6]), None);
        // At either end of the clip, with neighbours on one side only.
        assert_eq!(find_cut(&[30.0, 2.0, 2.0]), Some(0));
        assert_eq!(find_cut(&[2.0, 2.0, 30.0]), Some(2));
        assert_eq!(find_cut(&[]), None);
    }

    #[test]
    fn a_clip_with_two_scenes_spans_a_cut() {
        gst::init().unwrap();
        let (w, h) = (40, 30);
        let scene_a = |t: usize| frame(w, h, move |x, y| [((x + t) * 5) as u8, (y * 7) as u8, 60]);
        let scene_b = |t: usize| frame(w, h, move |x, y| [200, ((x * y + t) % 256) as u8, 10]);
        let cut: Vec<_> = (0..8)
            .map(|t| if t < 5 { scene_a(t) } else { scene_b(t) })
            .collect();
        assert_eq!(clip_spans_cut(&planes(cut, w as u32, h as u32)), Some(true));
        let moving: Vec<_> = (0..8).map(scene_a).collect();
        assert_eq!(
            clip_spans_cut(&planes(moving, w as u32, h as u32)),
            Some(false)
        );
    }

    #[test]
    fn a_reframed_pair_is_not_a_cut() {
        let still = [10.0f32; GRID * GRID];
        let other = [90.0f32; GRID * GRID];
        let clip = [still, still, still, other, other, other];
        assert!(spans_cut(&clip, &[]));
        assert!(!spans_cut(&clip, &[2]));
        assert!(spans_cut(&clip, &[1]));
    }
}
