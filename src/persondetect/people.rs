// SPDX-License-Identifier: MPL-2.0

//! persondetect's pure logic: where something moved between two detections (on small luma
//! thumbnails), which part of the frame the detector looks at, and the detector's rows
//! turned into person boxes in frame pixels with how much of each box moved.

use crate::meta::Region;

/// A luma difference (0..255) above which a thumbnail pixel counts as changed. Above
/// sensor noise and compression flicker on real cameras, below a person's edge.
pub const CHANGE_THRESHOLD: u8 = 24;
/// Side of the thumbnail cells whose share of changed pixels decides where motion is.
pub const CELL: usize = 4;
/// Share of a cell's pixels that must change for the cell to count as moving: isolated
/// flickering pixels are not motion.
pub const CELL_SHARE: f32 = 0.25;
/// Margin added on every side of the moving area before detection, as a fraction of its size:
/// a person's still parts (and the person next to them) are looked at too.
pub const MOTION_MARGIN: f64 = 0.5;

/// One person found in a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Person {
    pub region: Region,
    /// The detector's person-centre score, 0..1.
    pub confidence: f32,
    /// Share of the box's thumbnail pixels that changed since the previous detection, 0..1.
    pub motion: f32,
}

/// Which thumbnail pixels changed by more than `CHANGE_THRESHOLD` between `previous` and
/// `current` (same size).
pub fn changed(previous: &[u8], current: &[u8]) -> Vec<bool> {
    previous
        .iter()
        .zip(current)
        .map(|(a, b)| a.abs_diff(*b) > CHANGE_THRESHOLD)
        .collect()
}

/// The box (thumbnail pixels) around every `CELL`x`CELL` cell of a `width` x `height` change
/// mask in which at least `CELL_SHARE` of the pixels changed; `None` when nothing moved.
pub fn moving_area(mask: &[bool], width: usize, height: usize) -> Option<Region> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for cy in (0..height).step_by(CELL) {
        for cx in (0..width).step_by(CELL) {
            let (w, h) = (CELL.min(width - cx), CELL.min(height - cy));
            let count = (cy..cy + h)
                .map(|y| {
                    mask[y * width + cx..y * width + cx + w]
                        .iter()
                        .filter(|c| **c)
                        .count()
                })
                .sum::<usize>();
            if count as f32 >= CELL_SHARE * (w * h) as f32 {
                x0 = x0.min(cx);
                y0 = y0.min(cy);
                x1 = x1.max(cx + w);
                y1 = y1.max(cy + h);
            }
        }
    }
    (x1 > x0).then(|| Region::new(x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32))
}

/// The part of a `frame_w` x `frame_h` frame the detector looks at: the whole frame without
/// a moving area; else the moving area (thumbnail pixels of a `thumb_w` x `thumb_h`
/// thumbnail) with `MOTION_MARGIN`, at least `min_width` source pixels wide (and as tall in
/// proportion to the frame), inside the frame. Small moving people are so looked at closer.
pub fn detection_region(
    moving: Option<Region>,
    thumb: (u32, u32),
    frame: (u32, u32),
    min_width: u32,
) -> Region {
    let (fw, fh) = (frame.0 as f64, frame.1 as f64);
    let Some(m) = moving else {
        return Region::new(0, 0, frame.0, frame.1);
    };
    let (sx, sy) = (fw / thumb.0 as f64, fh / thumb.1 as f64);
    let (cx, cy) = (
        (m.x as f64 + m.width as f64 / 2.0) * sx,
        (m.y as f64 + m.height as f64 / 2.0) * sy,
    );
    let min_w = (min_width as f64).min(fw);
    let min_h = (min_w * fh / fw).min(fh);
    let w = (m.width as f64 * sx * (1.0 + 2.0 * MOTION_MARGIN)).clamp(min_w, fw);
    let h = (m.height as f64 * sy * (1.0 + 2.0 * MOTION_MARGIN)).clamp(min_h, fh);
    let x = (cx - w / 2.0).clamp(0.0, fw - w);
    let y = (cy - h / 2.0).clamp(0.0, fh - h);
    Region::new(
        x.round() as u32,
        y.round() as u32,
        (w.round() as u32).clamp(1, frame.0 - x.round() as u32),
        (h.round() as u32).clamp(1, frame.1 - y.round() as u32),
    )
}

/// The detector's input size for a region: `width` (rounded to a multiple of 32, as the
/// network's strides need) and the height of the region's aspect, also a multiple of 32,
/// between 64 and twice the width.
pub fn input_size(region: Region, width: u32) -> (u32, u32) {
    let round = |v: f64| ((v / 32.0).round().max(2.0) as u32) * 32;
    let w = round(width as f64);
    let h = round(w as f64 * region.height as f64 / region.width.max(1) as f64).min(2 * w);
    (w, h)
}

/// Person boxes in frame pixels from the detector's rows (top, left, bottom, right in
/// fractions of `region`, score), keeping the rows scoring at least `threshold` with a box of
/// at least 2x2 pixels.
pub fn decode(rows: &[[f32; 5]], region: Region, threshold: f32) -> Vec<(Region, f32)> {
    rows.iter()
        .filter(|r| r[4] >= threshold && r[4].is_finite())
        .filter_map(|r| {
            let at = |f: f32, origin: u32, size: u32| {
                origin as f64 + f.clamp(0.0, 1.0) as f64 * size as f64
            };
            let (top, left) = (
                at(r[0], region.y, region.height),
                at(r[1], region.x, region.width),
            );
            let (bottom, right) = (
                at(r[2], region.y, region.height),
                at(r[3], region.x, region.width),
            );
            let (x, y) = (left.round() as u32, top.round() as u32);
            let (w, h) = (
                (right.round() as u32).saturating_sub(x),
                (bottom.round() as u32).saturating_sub(y),
            );
            (w >= 2 && h >= 2).then(|| (Region::new(x, y, w, h), r[4]))
        })
        .collect()
}

/// Share of the thumbnail pixels inside `region` (frame pixels) that changed; 0 without a
/// change mask.
pub fn region_motion(
    mask: Option<&[bool]>,
    thumb: (u32, u32),
    frame: (u32, u32),
    region: Region,
) -> f32 {
    let Some(mask) = mask else { return 0.0 };
    let (tw, th) = (thumb.0 as usize, thumb.1 as usize);
    let to_thumb = |v: u32, frame_size: u32, thumb_size: usize| {
        ((v as f64 * thumb_size as f64 / frame_size as f64).round() as usize).min(thumb_size)
    };
    let (x0, x1) = (
        to_thumb(region.x, frame.0, tw),
        to_thumb(region.x + region.width, frame.0, tw),
    );
    let (y0, y1) = (
        to_thumb(region.y, frame.1, th),
        to_thumb(region.y + region.height, frame.1, th),
    );
    let x1 = x1.max((x0 + 1).min(tw));
    let y1 = y1.max((y0 + 1).min(th));
    if x1 <= x0 || y1 <= y0 {
        return 0.0;
    }
    let count: usize = (y0..y1)
        .map(|y| {
            mask[y * tw + x0..y * tw + x1]
                .iter()
                .filter(|c| **c)
                .count()
        })
        .sum();
    count as f32 / ((x1 - x0) * (y1 - y0)) as f32
}

/// Whether a detection is due: the first frame, or `interval_ns` after the last one (running
/// time), or every frame with an interval of 0. A jump back in time (a seek) starts over.
pub fn due(last: Option<u64>, now: u64, interval_ns: u64) -> bool {
    match last {
        None => true,
        Some(last) => interval_ns == 0 || now < last || now - last >= interval_ns,
    }
}

/// What one look found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// Nothing moved since the reference frame: no forward ran.
    Still,
    /// The detector ran and found no moving person.
    Empty,
    /// The detector found at least one moving person.
    Found,
}

/// What a look found, from the people it reported. A person moves with the share of changed
/// box that clipbuffer and hardattentioncrop also need to look at them.
pub fn look_of(ran: bool, people: &[Person]) -> Look {
    use crate::hardattentioncrop::region::PERSON_MOTION;
    if !ran {
        Look::Still
    } else if people.iter().any(|p| p.motion as f64 >= PERSON_MOTION) {
        Look::Found
    } else {
        Look::Empty
    }
}

/// The wait (ns) after a look, and the count of consecutive empty forwards it leaves. Once a
/// moving person is found, the regular `interval`. While none is: `search` after a look
/// where nothing moved (only a thumbnail, so cheap; a fight that starts in a quiet scene is
/// seen within `search`), and after each forward that finds nobody twice as long as after
/// the one before, up to `interval` (a scene of moving cars costs no more than `interval`).
pub fn next_wait(look: Look, empty_forwards: u32, search: u64, interval: u64) -> (u64, u32) {
    let search = search.min(interval);
    match look {
        Look::Found => (interval, 0),
        Look::Still => (search, empty_forwards),
        Look::Empty => {
            let n = empty_forwards.saturating_add(1);
            let wait = search.saturating_mul(1 << n.min(32)).min(interval);
            (wait, n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_backs_off_until_someone_moves() {
        let (ms, interval) = (1_000_000u64, 1_000_000_000u64);
        let search = 250 * ms;
        // Quiet scene: thumbnails only, looked at every `search`.
        assert_eq!(next_wait(Look::Still, 0, search, interval), (search, 0));
        // Forwards that find nobody: 500 ms, 1 s, then the interval.
        let (w, n) = next_wait(Look::Empty, 0, search, interval);
        assert_eq!((w, n), (500 * ms, 1));
        let (w, n) = next_wait(Look::Empty, n, search, interval);
        assert_eq!((w, n), (interval, 2));
        assert_eq!(next_wait(Look::Empty, 40, search, interval), (interval, 41));
        // A still moment keeps the count, so intermittent motion does not reset it.
        assert_eq!(next_wait(Look::Still, n, search, interval), (search, n));
        // Found: the regular interval, and a new search starts fast.
        assert_eq!(next_wait(Look::Found, n, search, interval), (interval, 0));
        // A search interval above the interval is the interval.
        assert_eq!(
            next_wait(Look::Still, 0, 2 * interval, interval),
            (interval, 0)
        );
        assert_eq!(next_wait(Look::Empty, 0, 0, interval).0, 0);
        // The longest waits the properties allow do not overflow.
        let minute = 60_000 * ms;
        assert_eq!(next_wait(Look::Empty, 40, minute, minute), (minute, 41));
        assert_eq!(
            next_wait(Look::Empty, u32::MAX, minute, minute),
            (minute, u32::MAX)
        );
    }

    #[test]
    fn a_look_is_found_only_with_a_moving_person() {
        let person = |motion| Person {
            region: Region::new(0, 0, 10, 20),
            confidence: 0.9,
            motion,
        };
        assert_eq!(look_of(false, &[]), Look::Still);
        assert_eq!(look_of(true, &[]), Look::Empty);
        assert_eq!(look_of(true, &[person(0.0)]), Look::Empty);
        assert_eq!(look_of(true, &[person(0.0), person(0.2)]), Look::Found);
    }

    #[test]
    fn changed_pixels_need_more_than_the_threshold() {
        let mask = changed(
            &[10, 10, 10],
            &[10 + CHANGE_THRESHOLD, 10 + CHANGE_THRESHOLD + 1, 0],
        );
        assert_eq!(mask, vec![false, true, false]);
    }

    #[test]
    fn moving_area_ignores_scattered_pixels_and_bounds_moving_cells() {
        let (w, h) = (32, 16);
        let mut mask = vec![false; w * h];
        // One flickering pixel: no cell reaches its share.
        mask[3 * w + 30] = true;
        assert_eq!(moving_area(&mask, w, h), None);
        // A 4x4 block at (8, 4) and another at (20, 8).
        for y in 4..8 {
            for x in 8..12 {
                mask[y * w + x] = true;
            }
        }
        for y in 8..12 {
            for x in 20..24 {
                mask[y * w + x] = true;
            }
        }
        assert_eq!(moving_area(&mask, w, h), Some(Region::new(8, 4, 16, 8)));
    }

    #[test]
    fn detection_region_is_the_frame_without_motion_and_a_closer_look_with_it() {
        assert_eq!(
            detection_region(None, (160, 90), (1280, 720), 128),
            Region::new(0, 0, 1280, 720)
        );
        // 10x10 thumbnail pixels at (100, 40) of 160x90 = 80x80 source pixels at (800, 320);
        // with the margin 160x160, centred.
        let r = detection_region(
            Some(Region::new(100, 40, 10, 10)),
            (160, 90),
            (1280, 720),
            128,
        );
        assert_eq!(r, Region::new(760, 280, 160, 160));
        // A tiny area grows to the minimum width (and the frame's proportion in height).
        let r = detection_region(Some(Region::new(0, 0, 2, 2)), (160, 90), (1280, 720), 256);
        assert_eq!((r.x, r.y, r.width, r.height), (0, 0, 256, 144));
        // A large one stays inside the frame.
        let r = detection_region(
            Some(Region::new(0, 0, 150, 90)),
            (160, 90),
            (1280, 720),
            128,
        );
        assert_eq!(r, Region::new(0, 0, 1280, 720));
    }

    #[test]
    fn input_size_is_a_multiple_of_32_in_the_regions_aspect() {
        assert_eq!(input_size(Region::new(0, 0, 1280, 720), 384), (384, 224));
        assert_eq!(input_size(Region::new(0, 0, 100, 100), 384), (384, 384));
        assert_eq!(input_size(Region::new(0, 0, 100, 1000), 384), (384, 768));
        assert_eq!(input_size(Region::new(0, 0, 1000, 10), 390), (384, 64));
    }

    #[test]
    fn decode_maps_rows_into_the_region_and_drops_weak_or_empty_ones() {
        let region = Region::new(100, 50, 200, 100);
        let rows = [
            [0.0, 0.0, 0.5, 0.25, 0.9],
            [0.5, 0.5, 1.0, 1.0, 0.2],
            [0.1, 0.1, 0.1, 0.1, 0.95],
            [0.0, 0.0, 1.0, 1.0, f32::NAN],
        ];
        assert_eq!(
            decode(&rows, region, 0.3),
            vec![(Region::new(100, 50, 50, 50), 0.9)]
        );
        assert_eq!(decode(&rows, region, 0.1).len(), 2);
    }

    #[test]
    fn region_motion_is_the_changed_share_inside_the_box() {
        let (tw, th) = (8, 4);
        let mut mask = vec![false; tw * th];
        mask[0] = true;
        mask[1] = true;
        // The left half of the top row of a 80x40 frame (thumb 8x4): 2 of its 4 pixels.
        let r = region_motion(Some(&mask), (8, 4), (80, 40), Region::new(0, 0, 40, 10));
        assert_eq!(r, 0.5);
        assert_eq!(
            region_motion(None, (8, 4), (80, 40), Region::new(0, 0, 40, 10)),
            0.0
        );
        assert_eq!(
            region_motion(Some(&mask), (8, 4), (80, 40), Region::new(40, 20, 40, 20)),
            0.0
        );
    }

    #[test]
    fn detections_are_due_once_per_interval_and_after_a_seek() {
        assert!(due(None, 5, 1000));
        assert!(!due(Some(0), 999, 1000));
        assert!(due(Some(0), 1000, 1000));
        assert!(due(Some(5000), 10, 1000));
        assert!(due(Some(5), 5, 0));
    }
}
