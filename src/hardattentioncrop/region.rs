// SPDX-License-Identifier: MPL-2.0

//! Where to crop, as pure logic: margin, minimum size, the output's aspect, clamping to the
//! frame, temporal smoothing, and moving region boxes into the crop's coordinates.

use crate::meta::Region;

/// A box in pixels, with fractional coordinates while it is smoothed; `to_pixels` gives
/// the pixel box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub fn new(x: f64, y: f64, w: f64, h: f64) -> Self {
        Rect { x, y, w, h }
    }

    /// Integer pixel box inside a `fw` x `fh` frame, at least 1x1.
    pub fn to_pixels(self, fw: u32, fh: u32) -> Region {
        let x = (self.x.round().max(0.0) as u32).min(fw.saturating_sub(1));
        let y = (self.y.round().max(0.0) as u32).min(fh.saturating_sub(1));
        let w = (self.w.round().max(1.0) as u32).min(fw - x);
        let h = (self.h.round().max(1.0) as u32).min(fh - y);
        Region::new(x, y, w, h)
    }
}

impl From<Region> for Rect {
    fn from(r: Region) -> Self {
        Rect::new(r.x as f64, r.y as f64, r.width as f64, r.height as f64)
    }
}

/// How the crop meets the output's aspect ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aspect {
    /// Grow the crop (inside the frame) to the output aspect: no bars, no distortion.
    Expand,
    /// Keep the crop, letterbox it in the output with black bars.
    Pad,
    /// Scale the crop to fill the output, distorting it.
    Stretch,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropParams {
    /// Fraction of the region's size added on every side.
    pub margin: f64,
    /// Smallest crop side, in source pixels.
    pub min_size: f64,
    pub aspect: Aspect,
    /// Weight of the previous crop in the exponential smoothing (0: none).
    pub smoothing: f64,
}

/// The crop for a region (source pixels) in a `fw` x `fh` frame, for an output of aspect
/// `out_aspect` (width / height), before smoothing.
pub fn target_crop(region: Rect, fw: u32, fh: u32, out_aspect: f64, p: &CropParams) -> Rect {
    let (fw, fh) = (fw as f64, fh as f64);
    let cx = region.x + region.w / 2.0;
    let cy = region.y + region.h / 2.0;
    let mut w = (region.w * (1.0 + 2.0 * p.margin)).max(p.min_size).min(fw);
    let mut h = (region.h * (1.0 + 2.0 * p.margin)).max(p.min_size).min(fh);
    if p.aspect == Aspect::Expand {
        if w / h < out_aspect {
            w = (h * out_aspect).min(fw);
            h = h.max(w / out_aspect).min(fh);
        } else {
            h = (w / out_aspect).min(fh);
            w = w.max(h * out_aspect).min(fw);
        }
    }
    // Centred on the region, shifted (not shrunk) to stay inside the frame.
    let x = (cx - w / 2.0).clamp(0.0, fw - w);
    let y = (cy - h / 2.0).clamp(0.0, fh - h);
    Rect::new(x, y, w, h)
}

/// Exponential smoothing of the crop from one frame to the next.
pub fn smooth(previous: Option<Rect>, target: Rect, smoothing: f64) -> Rect {
    match previous {
        None => target,
        Some(p) => {
            let a = smoothing.clamp(0.0, 0.999);
            let mix = |old: f64, new: f64| a * old + (1.0 - a) * new;
            Rect::new(
                mix(p.x, target.x),
                mix(p.y, target.y),
                mix(p.w, target.w),
                mix(p.h, target.h),
            )
        }
    }
}

/// Where the crop lands in the output: the whole output, or a letterboxed box for `Pad`.
pub fn placement(crop: Region, out_w: u32, out_h: u32, aspect: Aspect) -> Region {
    if aspect != Aspect::Pad {
        return Region::new(0, 0, out_w, out_h);
    }
    let (cw, ch) = (crop.width as f64, crop.height as f64);
    let scale = (out_w as f64 / cw).min(out_h as f64 / ch);
    let (w, h) = (
        ((cw * scale).round() as u32).clamp(1, out_w),
        ((ch * scale).round() as u32).clamp(1, out_h),
    );
    Region::new((out_w - w) / 2, (out_h - h) / 2, w, h)
}

/// A source-pixel box moved into output coordinates of a crop placed at `place`; `None`
/// when it falls outside the crop.
pub fn to_output(b: Region, crop: Region, place: Region) -> Option<Region> {
    let sx = place.width as f64 / crop.width as f64;
    let sy = place.height as f64 / crop.height as f64;
    let x0 = (b.x as f64).max(crop.x as f64);
    let y0 = (b.y as f64).max(crop.y as f64);
    let x1 = ((b.x + b.width) as f64).min((crop.x + crop.width) as f64);
    let y1 = ((b.y + b.height) as f64).min((crop.y + crop.height) as f64);
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let map_x = |v: f64| place.x as f64 + (v - crop.x as f64) * sx;
    let map_y = |v: f64| place.y as f64 + (v - crop.y as f64) * sy;
    let (ox, oy) = (map_x(x0).round() as u32, map_y(y0).round() as u32);
    let (ox1, oy1) = (map_x(x1).round() as u32, map_y(y1).round() as u32);
    Some(Region::new(ox, oy, (ox1 - ox).max(1), (oy1 - oy).max(1)))
}

/// A person box (source pixels) and the share of it that moved (persondetect's `motion`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PersonBox {
    pub rect: Rect,
    pub motion: f64,
}

impl PersonBox {
    /// The people persondetect attached to a frame.
    pub fn of_frame(buffer: &gst::BufferRef) -> Vec<PersonBox> {
        crate::meta::people(buffer)
            .into_iter()
            .map(|(region, motion)| PersonBox {
                rect: Rect::from(region),
                motion,
            })
            .collect()
    }
}

/// A person counts as moving above this share of changed pixels in the box.
pub const PERSON_MOTION: f64 = 0.05;
/// Two people belong to one group when the gap between their boxes is at most this
/// fraction of the taller one's height: close enough to touch.
pub const GROUP_GAP: f64 = 0.5;

/// The region to look at among people: the group of people close together with the most
/// moving members (ties: the most members, then the most moving area), as the box around the
/// group; `None` when nobody moves. A fight is people moving next to each other; a crowd of
/// still people, or one walker far from the rest, is not where to look first.
pub fn people_region(people: &[PersonBox]) -> Option<Rect> {
    let n = people.len();
    let mut group: Vec<usize> = (0..n).collect();
    fn root(group: &mut [usize], mut i: usize) -> usize {
        while group[i] != i {
            group[i] = group[group[i]];
            i = group[i];
        }
        i
    }
    let gap = |a: &Rect, b: &Rect| {
        let dx = (b.x - (a.x + a.w)).max(a.x - (b.x + b.w)).max(0.0);
        let dy = (b.y - (a.y + a.h)).max(a.y - (b.y + b.h)).max(0.0);
        dx.max(dy)
    };
    for i in 0..n {
        for j in i + 1..n {
            let (a, b) = (&people[i].rect, &people[j].rect);
            if gap(a, b) <= GROUP_GAP * a.h.max(b.h) {
                let (ri, rj) = (root(&mut group, i), root(&mut group, j));
                group[ri] = rj;
            }
        }
    }
    // Per group root: (moving members, members, moving area).
    let mut score = vec![(0usize, 0usize, 0.0f64); n];
    for (i, p) in people.iter().enumerate() {
        let r = root(&mut group, i);
        score[r].1 += 1;
        if p.motion >= PERSON_MOTION {
            score[r].0 += 1;
            score[r].2 += p.rect.w * p.rect.h * p.motion;
        }
    }
    let best = (0..n).filter(|&r| score[r].0 > 0).max_by(|&a, &b| {
        (score[a].0, score[a].1)
            .cmp(&(score[b].0, score[b].1))
            .then(score[a].2.total_cmp(&score[b].2))
    })?;
    people
        .iter()
        .enumerate()
        .filter(|(i, _)| root(&mut group, *i) == best)
        .map(|(_, p)| p.rect)
        .reduce(|a, b| {
            let (x0, y0) = (a.x.min(b.x), a.y.min(b.y));
            let (x1, y1) = ((a.x + a.w).max(b.x + b.w), (a.y + a.h).max(b.y + b.h));
            Rect::new(x0, y0, x1 - x0, y1 - y0)
        })
}

/// Margin around the moving group when clips are cut around people (clipbuffer for a model
/// trained on such crops): half the group's size on every side, so that the people fill
/// about half of the crop, as they fill the frames of the fight datasets.
pub const PEOPLE_MARGIN: f64 = 0.5;
/// Smallest side of a people crop, in source pixels: the zoom stays moderate.
pub const PEOPLE_MIN_SIZE: f64 = 64.0;

/// The crop (source pixels) around the moving group of `people` in a `fw` x `fh` frame, of
/// aspect `out_aspect` (grown inside the frame); `None` when nobody moves.
pub fn people_crop(people: &[PersonBox], fw: u32, fh: u32, out_aspect: f64) -> Option<Region> {
    let group = people_region(people)?;
    let params = CropParams {
        margin: PEOPLE_MARGIN,
        min_size: PEOPLE_MIN_SIZE,
        aspect: Aspect::Expand,
        smoothing: 0.0,
    };
    Some(target_crop(group, fw, fh, out_aspect, &params).to_pixels(fw, fh))
}

/// How long (ns of stream time) a people crop is kept after the moving group was last
/// reported: a look that misses the people, or a pause in their motion, does not flip the
/// windows between the crop and the whole frame.
pub const PEOPLE_HOLD_NS: u64 = 2_000_000_000;

/// The crop to cut at `now` (ns), with the time its group was last seen: `found` when the
/// moving group is reported, else the `last` crop while it was seen at most `hold` ns ago.
pub fn held_crop(
    found: Option<Region>,
    last: Option<(Region, u64)>,
    now: u64,
    hold: u64,
) -> Option<(Region, u64)> {
    match (found, last) {
        (Some(crop), _) => Some((crop, now)),
        (None, Some((crop, seen))) if now >= seen && now - seen <= hold => Some((crop, seen)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_people_crop_is_held_for_a_while_after_the_group_is_lost() {
        let a = Region::new(10, 10, 64, 64);
        let b = Region::new(100, 10, 64, 64);
        let s = 1_000_000_000u64;
        assert_eq!(held_crop(Some(a), None, 5 * s, 2 * s), Some((a, 5 * s)));
        assert_eq!(
            held_crop(Some(b), Some((a, 4 * s)), 5 * s, 2 * s),
            Some((b, 5 * s))
        );
        // Lost: the last crop, with the time it was seen, up to the hold.
        assert_eq!(
            held_crop(None, Some((a, 4 * s)), 6 * s, 2 * s),
            Some((a, 4 * s))
        );
        assert_eq!(held_crop(None, Some((a, 4 * s)), 6 * s + 1, 2 * s), None);
        // A jump back in time (a seek) drops it.
        assert_eq!(held_crop(None, Some((a, 4 * s)), 3 * s, 2 * s), None);
        assert_eq!(held_crop(None, None, 3 * s, 2 * s), None);
    }

    fn params(aspect: Aspect) -> CropParams {
        CropParams {
            margin: 0.0,
            min_size: 16.0,
            aspect,
            smoothing: 0.0,
        }
    }

    #[test]
    fn margin_min_size_and_clamping() {
        let p = CropParams {
            margin: 0.25,
            ..params(Aspect::Stretch)
        };
        let c = target_crop(Rect::new(100.0, 100.0, 40.0, 20.0), 640, 480, 1.0, &p);
        assert_eq!(c, Rect::new(90.0, 95.0, 60.0, 30.0));
        // Tiny region: the minimum size.
        let c = target_crop(
            Rect::new(10.0, 10.0, 2.0, 2.0),
            640,
            480,
            1.0,
            &params(Aspect::Stretch),
        );
        assert_eq!((c.w, c.h), (16.0, 16.0));
        assert_eq!((c.x, c.y), (3.0, 3.0));
        // Partly outside: shifted inside, not shrunk.
        let c = target_crop(
            Rect::new(620.0, 470.0, 40.0, 40.0),
            640,
            480,
            1.0,
            &params(Aspect::Stretch),
        );
        assert_eq!(c, Rect::new(600.0, 440.0, 40.0, 40.0));
        // Bigger than the frame: the frame.
        let c = target_crop(
            Rect::new(-100.0, -100.0, 5000.0, 5000.0),
            640,
            480,
            1.0,
            &params(Aspect::Stretch),
        );
        assert_eq!(c, Rect::new(0.0, 0.0, 640.0, 480.0));
    }

    #[test]
    fn expand_reaches_the_output_aspect() {
        let c = target_crop(
            Rect::new(300.0, 200.0, 40.0, 120.0),
            1920,
            1080,
            4.0 / 3.0,
            &params(Aspect::Expand),
        );
        assert!((c.w / c.h - 4.0 / 3.0).abs() < 1e-9, "{c:?}");
        assert_eq!(c.h, 120.0);
        // Against the frame's edge the aspect is kept as far as the frame allows.
        let c = target_crop(
            Rect::new(0.0, 0.0, 1900.0, 100.0),
            1920,
            1080,
            4.0 / 3.0,
            &params(Aspect::Expand),
        );
        assert_eq!((c.w, c.h), (1900.0, 1080.0), "the region is kept whole");
    }

    #[test]
    fn smoothing_moves_part_of_the_way() {
        let a = Rect::new(0.0, 0.0, 100.0, 100.0);
        let b = Rect::new(100.0, 0.0, 100.0, 100.0);
        assert_eq!(smooth(None, b, 0.8), b);
        let s = smooth(Some(a), b, 0.75);
        assert_eq!(s.x, 25.0);
    }

    #[test]
    fn letterbox_and_meta_mapping() {
        let r = Region::new;
        assert_eq!(
            placement(r(0, 0, 200, 100), 640, 480, Aspect::Pad),
            r(0, 80, 640, 320)
        );
        assert_eq!(
            placement(r(0, 0, 200, 100), 640, 480, Aspect::Stretch),
            r(0, 0, 640, 480)
        );
        let crop = r(100, 100, 200, 100);
        let place = r(0, 0, 400, 200);
        assert_eq!(
            to_output(r(150, 120, 50, 20), crop, place),
            Some(r(100, 40, 100, 40))
        );
        assert_eq!(to_output(r(0, 0, 50, 50), crop, place), None);
        // Partly inside: clipped to the crop.
        assert_eq!(
            to_output(r(250, 150, 100, 100), crop, place),
            Some(r(300, 100, 100, 100))
        );
        assert_eq!(
            Rect::new(-5.0, 3.4, 1e9, 0.1).to_pixels(100, 50),
            r(0, 3, 100, 1)
        );
    }
    #[test]
    fn people_region_is_the_moving_group_of_people_close_together() {
        let person = |x: f64, y: f64, motion: f64| PersonBox {
            rect: Rect::new(x, y, 40.0, 100.0),
            motion,
        };
        // Nobody moves: nowhere to look.
        assert_eq!(people_region(&[person(0.0, 0.0, 0.0)]), None);
        assert_eq!(people_region(&[]), None);
        // Two people side by side, one moving, and a lone walker far away: the pair.
        let pair = [
            person(100.0, 100.0, 0.3),
            person(150.0, 110.0, 0.0),
            person(600.0, 100.0, 0.2),
        ];
        assert_eq!(
            people_region(&pair),
            Some(Rect::new(100.0, 100.0, 90.0, 110.0))
        );
        // Two moving pairs: the one with more movers wins; a still crowd does not.
        let crowd = [
            person(0.0, 0.0, 0.0),
            person(45.0, 0.0, 0.0),
            person(90.0, 0.0, 0.0),
            person(400.0, 300.0, 0.1),
            person(450.0, 300.0, 0.1),
            person(135.0, 0.0, 0.1),
        ];
        assert_eq!(
            people_region(&crowd),
            Some(Rect::new(400.0, 300.0, 90.0, 100.0))
        );
    }

    #[test]
    fn people_crop_frames_the_moving_group_at_the_model_aspect() {
        let pair = [
            PersonBox {
                rect: Rect::new(600.0, 300.0, 40.0, 100.0),
                motion: 0.3,
            },
            PersonBox {
                rect: Rect::new(650.0, 300.0, 40.0, 100.0),
                motion: 0.3,
            },
        ];
        // 90x100 grows by half on each side to 180x200, then to a square 200x200.
        let crop = people_crop(&pair, 1280, 720, 1.0).unwrap();
        assert_eq!(crop, Region::new(545, 250, 200, 200));
        assert_eq!(people_crop(&[], 1280, 720, 1.0), None);
    }
}
