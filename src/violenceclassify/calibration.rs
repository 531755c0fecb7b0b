// SPDX-License-Identifier: MPL-2.0

//! Per-camera calibration: what is normal for one camera, learned without labels from its
//! own footage, so that windows typical of that camera need more evidence to start an event.
//!
//! Each scored window gets a motion descriptor: how much of the picture moves and how
//! strongly, wherever that is (the mean frame-to-frame change of 16x16 luma thumbnails,
//! pooled on a 4x4 grid and sorted, and its strongest cell, on a log scale). Sorting leaves
//! out where the motion is: a camera's crowds cross a different part of the picture from one
//! minute to the next, while how widespread and how strong their motion is stays typical of
//! that camera (on `normal-cctv`, with the pooled cells left in place, the windows of a
//! clip's second half were rarely near any of its first half's).
//!
//! A calibration file holds the descriptors and scores of the camera's ordinary windows (and
//! of false alarms an operator added). A new window whose descriptor lies within `radius` of
//! calibration windows must score `margin` above the best of them, and at least the
//! threshold, to count towards a start: a staircase crowd that scores 0.8 every day raises
//! the bar to 0.9 for crowd-like windows of that camera only, while a window unlike anything
//! the camera showed (two people grappling in one spot) keeps the model's threshold.
//!
//! The raise is a score transform, so the decision (hysteresis, min-consecutive) stays as it
//! is: a score p against a required θ_w ≥ θ becomes p·θ/θ_w below θ_w (it cannot start an
//! event) and θ + (p − θ_w)(1 − θ)/(1 − θ_w) above (monotone, 1 stays 1).
//!
//! The file is tied to the model it was made with by a fingerprint of the model file; another
//! model's file is refused.

use super::scene_cut::GRID;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Pooling grid of the descriptor (a GRID/POOL square of thumbnail cells per entry).
const POOL: usize = 4;
pub const DESCRIPTOR_LEN: usize = POOL * POOL + 1;
/// Format tag written into every file, checked on load.
pub const FORMAT: &str = "gst-violence-calibration/1";
/// Descriptor distance within which a calibration window raises the bar (log-motion units:
/// 0.7 is about a 1.2x change of motion in every sorted cell). Chosen with the margin on the
/// first/second halves of `normal-cctv` and the val fights (models/HISTORY.md).
pub const DEFAULT_RADIUS: f32 = 0.7;
/// How far above the best nearby normal window a score must be.
pub const DEFAULT_MARGIN: f32 = 0.1;
/// The bar never rises above this: a calibration must not make a camera blind.
pub const MAX_REQUIRED: f32 = 0.99;
/// Windows kept in a file; beyond it the lowest scores go first (they never raise a bar).
pub const MAX_WINDOWS: usize = 200_000;

pub type Descriptor = [f32; DESCRIPTOR_LEN];

/// The motion descriptor of a clip from its frames' luma thumbnails; `None` for fewer than
/// two frames.
pub fn describe(thumbnails: &[[f32; GRID * GRID]]) -> Option<Descriptor> {
    if thumbnails.len() < 2 {
        return None;
    }
    let mut change = [0f32; GRID * GRID];
    for pair in thumbnails.windows(2) {
        for (c, (a, b)) in change.iter_mut().zip(pair[0].iter().zip(&pair[1])) {
            *c += (a - b).abs();
        }
    }
    let pairs = (thumbnails.len() - 1) as f32;
    change.iter_mut().for_each(|c| *c /= pairs);
    let side = GRID / POOL;
    let mut d = [0f32; DESCRIPTOR_LEN];
    for (cell, c) in change.iter().enumerate() {
        let (y, x) = (cell / GRID, cell % GRID);
        d[(y / side) * POOL + x / side] += c / (side * side) as f32;
    }
    d[..POOL * POOL].sort_by(|a, b| b.total_cmp(a));
    d[POOL * POOL] = change.iter().copied().fold(0.0, f32::max);
    d.iter_mut().for_each(|v| *v = v.ln_1p());
    Some(d)
}

fn distance(a: &Descriptor, b: &Descriptor) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// Where a window of the file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowKind {
    /// The camera's ordinary footage.
    Normal,
    /// A recorded false alarm an operator added as a negative.
    FalseAlarm,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub descriptor: Descriptor,
    pub score: f32,
    pub kind: WindowKind,
}

/// Identifies a model file: its size and a 64-bit FNV-1a hash of its bytes (an identity
/// check against mix-ups, not a security measure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFingerprint {
    pub file_name: String,
    pub bytes: u64,
    pub fnv1a64: String,
}

impl ModelFingerprint {
    pub fn of_file(path: &Path) -> Result<Self, String> {
        let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for &byte in &data {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        Ok(ModelFingerprint {
            file_name: path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            bytes: data.len() as u64,
            fnv1a64: format!("{hash:016x}"),
        })
    }

    fn same_model(&self, other: &ModelFingerprint) -> bool {
        self.bytes == other.bytes && self.fnv1a64 == other.fnv1a64
    }
}

/// The contents of a calibration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub format: String,
    pub model: ModelFingerprint,
    pub radius: f32,
    pub margin: f32,
    /// Seconds of footage learned, of each kind (for the operator; not used in decisions).
    pub normal_seconds: f64,
    pub false_alarm_seconds: f64,
    pub windows: Vec<Window>,
}

impl Calibration {
    pub fn new(model: ModelFingerprint) -> Self {
        Calibration {
            format: FORMAT.to_string(),
            model,
            radius: DEFAULT_RADIUS,
            margin: DEFAULT_MARGIN,
            normal_seconds: 0.0,
            false_alarm_seconds: 0.0,
            windows: Vec::new(),
        }
    }

    /// Reads a file made for `model`; an error names the file and what is wrong with it.
    pub fn load(path: &Path, model: &ModelFingerprint) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("calibration file {}: {e}", path.display()))?;
        let c: Calibration = serde_json::from_str(&text).map_err(|e| {
            format!(
                "calibration file {}: not a calibration file ({e})",
                path.display()
            )
        })?;
        if c.format != FORMAT {
            return Err(format!(
                "calibration file {}: format {:?}, this version reads {FORMAT:?}",
                path.display(),
                c.format
            ));
        }
        if !c.model.same_model(model) {
            return Err(format!(
                "calibration file {} was made with model {} ({} bytes, fingerprint {}), not \
                 with {} ({} bytes, fingerprint {}): calibrate this camera again with this model",
                path.display(),
                c.model.file_name,
                c.model.bytes,
                c.model.fnv1a64,
                model.file_name,
                model.bytes,
                model.fnv1a64
            ));
        }
        if !(c.radius.is_finite() && c.radius >= 0.0 && (0.0..1.0).contains(&c.margin)) {
            return Err(format!(
                "calibration file {}: radius {} or margin {} out of range",
                path.display(),
                c.radius,
                c.margin
            ));
        }
        Ok(c)
    }

    /// Writes the file whole (a temporary file renamed over it, so a crash never leaves
    /// half a file).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string(self).map_err(|e| e.to_string())?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("calibration file {}: {e}", path.display()))
    }

    /// Adds learned windows, keeping at most [`MAX_WINDOWS`] (false alarms and the highest
    /// scores stay).
    pub fn add(
        &mut self,
        windows: impl IntoIterator<Item = Window>,
        kind: WindowKind,
        seconds: f64,
    ) {
        self.windows.extend(windows);
        match kind {
            WindowKind::Normal => self.normal_seconds += seconds,
            WindowKind::FalseAlarm => self.false_alarm_seconds += seconds,
        }
        if self.windows.len() > MAX_WINDOWS {
            let rank = |w: &Window| match w.kind {
                WindowKind::FalseAlarm => f32::INFINITY,
                WindowKind::Normal => w.score,
            };
            self.windows.sort_by(|a, b| rank(b).total_cmp(&rank(a)));
            self.windows.truncate(MAX_WINDOWS);
        }
    }

    /// The score a window with `descriptor` must reach to count as at the threshold `θ`.
    pub fn required(&self, descriptor: &Descriptor, threshold: f32) -> f32 {
        let nearby_best = self
            .windows
            .iter()
            .filter(|w| w.score + self.margin > threshold)
            .filter(|w| distance(&w.descriptor, descriptor) <= self.radius)
            .map(|w| w.score)
            .fold(f32::NEG_INFINITY, f32::max);
        (nearby_best + self.margin).min(MAX_REQUIRED).max(threshold)
    }
}

/// A stream's calibration while it plays: applied to its scores, or learned from them.
#[derive(Debug)]
pub enum Calibrating {
    Apply(Calibration),
    Learn {
        kind: WindowKind,
        windows: Vec<Window>,
        /// Running times (ns) of the first and last frame of the windows learned.
        span: Option<(u64, u64)>,
        /// The file the windows go to at the end, and the model they belong to.
        file: PathBuf,
        model: ModelFingerprint,
    },
}

impl Calibrating {
    pub fn learn(kind: WindowKind, file: PathBuf, model: ModelFingerprint) -> Self {
        Calibrating::Learn {
            kind,
            windows: Vec::new(),
            span: None,
            file,
            model,
        }
    }

    /// The score the decision sees for a window scored `p` (`raw` when learning, or when
    /// the window has no descriptor).
    pub fn on_score(
        &mut self,
        descriptor: Option<&Descriptor>,
        p: f32,
        threshold: f32,
        times: &super::decision::ScoredClip,
    ) -> f32 {
        let Some(descriptor) = descriptor else {
            return p;
        };
        match self {
            Calibrating::Apply(c) => rescale(p, threshold, c.required(descriptor, threshold)),
            Calibrating::Learn {
                kind,
                windows,
                span,
                ..
            } => {
                if p.is_finite() {
                    windows.push(Window {
                        descriptor: *descriptor,
                        score: p,
                        kind: *kind,
                    });
                    let (first, last) =
                        span.get_or_insert((times.first_running_time, times.last_running_time));
                    *first = (*first).min(times.first_running_time);
                    *last = (*last).max(times.last_running_time);
                }
                p
            }
        }
    }

    /// Adds what was learned to its file (created when missing); returns the file and the
    /// windows added, or `None` when applying.
    pub fn save_learned(self) -> Result<Option<(PathBuf, usize)>, String> {
        let Calibrating::Learn {
            kind,
            windows,
            span,
            file,
            model,
        } = self
        else {
            return Ok(None);
        };
        let mut calibration = if file.exists() {
            Calibration::load(&file, &model)?
        } else {
            Calibration::new(model)
        };
        let added = windows.len();
        let seconds = span.map_or(0.0, |(first, last)| last.saturating_sub(first) as f64 / 1e9);
        calibration.add(windows, kind, seconds);
        calibration.save(&file)?;
        Ok(Some((file, added)))
    }
}

/// Maps score `p` so that `required` lands on `threshold` (see the module doc).
pub fn rescale(p: f32, threshold: f32, required: f32) -> f32 {
    if required <= threshold || !p.is_finite() {
        p
    } else if p < required {
        p * threshold / required
    } else {
        threshold + (p - required) * (1.0 - threshold) / (1.0 - required)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn still(level: f32) -> [f32; GRID * GRID] {
        [level; GRID * GRID]
    }

    /// Thumbnails whose top-left (or bottom-right) quarter flickers by `amount` each frame.
    fn flicker_quarter(frames: usize, amount: f32, bottom_right: bool) -> Vec<[f32; GRID * GRID]> {
        let offset = if bottom_right { GRID / 2 } else { 0 };
        (0..frames)
            .map(|t| {
                let mut th = still(100.0);
                for y in offset..offset + GRID / 2 {
                    for x in offset..offset + GRID / 2 {
                        th[y * GRID + x] += if t % 2 == 0 { amount } else { 0.0 };
                    }
                }
                th
            })
            .collect()
    }

    fn flicker_top_left(frames: usize, amount: f32) -> Vec<[f32; GRID * GRID]> {
        flicker_quarter(frames, amount, false)
    }

    fn window(d: Descriptor, score: f32) -> Window {
        Window {
            descriptor: d,
            score,
            kind: WindowKind::Normal,
        }
    }

    #[test]
    fn descriptor_measures_how_much_moves_not_where() {
        assert_eq!(describe(&[still(3.0)]), None);
        let d = describe(&vec![still(50.0); 8]).unwrap();
        assert!(
            d.iter().all(|&v| v == 0.0),
            "a still picture has no motion: {d:?}"
        );
        let d = describe(&flicker_top_left(8, 20.0)).unwrap();
        // A quarter of the picture (4 of the 16 pooled cells) moves by 20 levels a frame,
        // the rest not at all: sorted, the first four entries.
        for (i, v) in d[..POOL * POOL].iter().enumerate() {
            let expected = if i < 4 { 21f32.ln() } else { 0.0 };
            assert!((v - expected).abs() < 1e-4, "cell {i}: {v}");
        }
        assert!((d[POOL * POOL] - 21f32.ln()).abs() < 1e-4);
        assert_eq!(describe(&flicker_quarter(8, 20.0, true)), Some(d));
        // Two quarters moving is another kind of motion than one.
        let both: Vec<_> = flicker_quarter(8, 20.0, false)
            .iter()
            .zip(flicker_quarter(8, 20.0, true))
            .map(|(a, b)| {
                let mut sum = *a;
                sum.iter_mut().zip(b).for_each(|(x, y)| *x += y - 100.0);
                sum
            })
            .collect();
        assert!(distance(&describe(&both).unwrap(), &d) > DEFAULT_RADIUS);
    }

    #[test]
    fn nearby_normal_windows_raise_the_bar_and_far_ones_do_not() {
        let mut c = Calibration::new(fingerprint());
        let crowd = describe(&flicker_top_left(8, 20.0)).unwrap();
        c.add(
            [window(crowd, 0.8), window([0.0; DESCRIPTOR_LEN], 0.2)],
            WindowKind::Normal,
            10.0,
        );
        // The same kind of motion needs 0.8 + margin.
        assert!((c.required(&crowd, 0.55) - 0.9).abs() < 1e-6);
        // Much stronger motion elsewhere in the picture keeps the model's threshold.
        let fight = describe(&flicker_top_left(8, 120.0)).unwrap();
        assert_eq!(c.required(&fight, 0.55), 0.55);
        // Low-scoring neighbours never lower the threshold.
        assert_eq!(c.required(&[0.0; DESCRIPTOR_LEN], 0.55), 0.55);
        // The bar has a ceiling.
        c.add([window(crowd, 0.999)], WindowKind::Normal, 1.0);
        assert_eq!(c.required(&crowd, 0.55), MAX_REQUIRED);
    }

    #[test]
    fn rescaling_keeps_order_and_puts_the_bar_on_the_threshold() {
        let (t, r) = (0.55, 0.85);
        assert!((rescale(r, t, r) - t).abs() < 1e-6);
        assert!(rescale(0.84, t, r) < t);
        assert!(rescale(0.9, t, r) > t);
        assert_eq!(rescale(1.0, t, r), 1.0);
        assert_eq!(rescale(0.7, t, t), 0.7);
        let mut last = -1.0;
        for i in 0..=100 {
            let p = rescale(i as f32 / 100.0, t, r);
            assert!(p >= last, "monotone at {i}");
            last = p;
        }
    }

    fn fingerprint() -> ModelFingerprint {
        ModelFingerprint {
            file_name: "m.pt".into(),
            bytes: 3,
            fnv1a64: "00".into(),
        }
    }

    #[test]
    fn a_file_is_tied_to_its_model_and_survives_a_round_trip() {
        let dir = std::env::temp_dir().join(format!("calibration-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let model = dir.join("model.pt");
        std::fs::write(&model, b"model one").unwrap();
        let fp = ModelFingerprint::of_file(&model).unwrap();
        assert_eq!((fp.file_name.as_str(), fp.bytes), ("model.pt", 9));
        let mut c = Calibration::new(fp.clone());
        c.add(
            [window([0.5; DESCRIPTOR_LEN], 0.7)],
            WindowKind::Normal,
            4.0,
        );
        let file = dir.join("cam1.json");
        c.save(&file).unwrap();
        assert_eq!(Calibration::load(&file, &fp).unwrap(), c);
        std::fs::write(&model, b"model two").unwrap();
        let other = ModelFingerprint::of_file(&model).unwrap();
        let err = Calibration::load(&file, &other).unwrap_err();
        assert!(
            err.contains("cam1.json") && err.contains("calibrate"),
            "{err}"
        );
        std::fs::write(&file, b"{}").unwrap();
        let err = Calibration::load(&file, &fp).unwrap_err();
        assert!(err.contains("not a calibration file"), "{err}");
        assert!(Calibration::load(&dir.join("missing.json"), &fp).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_cap_keeps_false_alarms_and_high_scores() {
        let mut c = Calibration::new(fingerprint());
        let many = (0..MAX_WINDOWS + 10).map(|i| window([0.0; DESCRIPTOR_LEN], i as f32 / 1e6));
        c.add(many, WindowKind::Normal, 1.0);
        c.add(
            [Window {
                descriptor: [1.0; DESCRIPTOR_LEN],
                score: 0.0,
                kind: WindowKind::FalseAlarm,
            }],
            WindowKind::FalseAlarm,
            1.0,
        );
        assert_eq!(c.windows.len(), MAX_WINDOWS);
        assert!(c.windows.iter().any(|w| w.kind == WindowKind::FalseAlarm));
        assert!(c
            .windows
            .iter()
            .all(|w| w.kind == WindowKind::FalseAlarm || w.score >= 11e-6));
    }
}
