//! Evaluation of a model through the real pipeline (`make eval`): for every clip of a
//! `MANIFEST.tsv` (one split, default `val`) it runs
//!   uridecodebin ! videoconvert ! clipbuffer ! violenceclassify mode=sync emit-scores=true ! fakesink
//! (with `opticalflow preset=fast` before clipbuffer when the model's `inputs` include
//! `flow`, as extract-clips --flow made its training clips) with the model's own clip settings, takes the maximum of the clip's window scores and
//! compares it with the model's `threshold` (from `metadata()`, chosen on training data).
//! A clip that errors or yields no score counts as wrong, never skipped: its score is the
//! worst one for its label (0 for a violent clip, 1 for a non-violent one).
//!
//! Usage: evaluate DATA_DIR MODEL OUT_DIR [--split val|train|all] [--threshold P]
//!        [--every N] [--device cpu]
//!
//! Writes OUT/scores.tsv (one row per clip), OUT/metrics.json and OUT/roc.png; prints one
//! line per dataset and, last, the overall accuracy and AUC.

#[path = "manifest.rs"]
mod manifest;

use ab_glyph::{Font, FontRef, PxScale};
use gst::prelude::*;
use gstviolence::event::{EventKind, ViolenceEvent};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

static FONT: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

struct ClipResult {
    row: manifest::Row,
    scores: Vec<f32>,
    error: Option<String>,
    seconds: f64,
}

impl ClipResult {
    /// The clip's score for the figures: the maximum window score, or the worst score for
    /// its label when it has none.
    fn score(&self) -> f32 {
        match (self.error.is_some(), self.scores.is_empty()) {
            (false, false) => self.scores.iter().copied().fold(f32::MIN, f32::max),
            _ if self.row.violent() => 0.0,
            _ => 1.0,
        }
    }

    fn predicted(&self, threshold: f32) -> bool {
        if self.error.is_some() || self.scores.is_empty() {
            !self.row.violent()
        } else {
            self.score() >= threshold
        }
    }
}

fn run_clip(uri: &str, model: &str, device: &str, flow: bool) -> (Vec<f32>, Option<String>) {
    // clipbuffer takes its inputs (rgb or rgb+flow) from the model.
    let flow = if flow {
        "opticalflow preset=fast ! "
    } else {
        ""
    };
    let launch = format!(
        "uridecodebin uri=\"{uri}\" ! videoconvert ! {flow}clipbuffer ! violenceclassify mode=sync \
         emit-scores=true device={device} model-location=\"{model}\" ! fakesink sync=false"
    );
    let pipeline = match gst::parse::launch(&launch) {
        Ok(p) => p,
        Err(e) => return (Vec::new(), Some(e.to_string())),
    };
    let mut scores = Vec::new();
    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        return (scores, Some(format!("cannot start: {e}")));
    }
    let bus = pipeline.bus().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut error = Some("timed out after 300 s".to_string());
    while let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(
        deadline.saturating_duration_since(Instant::now()).as_secs(),
    )) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                if let Some(ev) = e.structure().and_then(ViolenceEvent::from_structure) {
                    if ev.kind == EventKind::Score {
                        scores.push(ev.score);
                    }
                }
            }
            gst::MessageView::Error(e) => {
                error = Some(format!("{}: {}", e.error(), e.debug().unwrap_or_default()));
                break;
            }
            gst::MessageView::Eos(_) => {
                error = scores.is_empty().then(|| "no score".to_string());
                break;
            }
            _ => (),
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    (scores, error)
}

/// Wilson score interval for k successes out of n, 95%.
fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let (z, n, p) = (1.959964, n as f64, k as f64 / n as f64);
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    (centre - half, centre + half)
}

/// ROC points (false positive rate, true positive rate) from high to low thresholds, and
/// the area (ties count one half).
fn roc(items: &[(f32, bool)]) -> (Vec<(f64, f64)>, f64) {
    let pos = items.iter().filter(|i| i.1).count() as f64;
    let neg = items.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return (vec![(0.0, 0.0), (1.0, 1.0)], f64::NAN);
    }
    let mut sorted = items.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp, mut auc) = (0.0, 0.0, 0.0);
    let mut i = 0;
    while i < sorted.len() {
        let (mut dtp, mut dfp) = (0.0, 0.0);
        let s = sorted[i].0;
        while i < sorted.len() && sorted[i].0 == s {
            if sorted[i].1 {
                dtp += 1.0
            } else {
                dfp += 1.0
            }
            i += 1;
        }
        auc += dfp * (tp + dtp / 2.0);
        tp += dtp;
        fp += dfp;
        points.push((fp / neg, tp / pos));
    }
    (points, auc / (pos * neg))
}

fn metrics(results: &[&ClipResult], threshold: f32) -> (serde_json::Value, Vec<(f64, f64)>) {
    let (mut tp, mut fp, mut tn, mut fneg) = (0, 0, 0, 0);
    for r in results {
        match (r.row.violent(), r.predicted(threshold)) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (false, false) => tn += 1,
            (true, false) => fneg += 1,
        }
    }
    let n = results.len();
    let correct = tp + tn;
    let ratio = |a: usize, b: usize| {
        if b == 0 {
            f64::NAN
        } else {
            a as f64 / b as f64
        }
    };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fneg);
    let f1 = 2.0 * precision * recall / (precision + recall);
    let items: Vec<(f32, bool)> = results
        .iter()
        .map(|r| (r.score(), r.row.violent()))
        .collect();
    let (points, auc) = roc(&items);
    let (lo, hi) = wilson(correct, n);
    let errors = results.iter().filter(|r| r.error.is_some()).count();
    let nan_null = |x: f64| if x.is_finite() { json!(x) } else { json!(null) };
    (
        json!({
            "clips": n, "errors": errors, "accuracy": nan_null(ratio(correct, n)),
            "accuracy_wilson95": [nan_null(lo), nan_null(hi)],
            "precision": nan_null(precision), "recall": nan_null(recall), "f1": nan_null(f1),
            "roc_auc": nan_null(auc),
            "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fneg},
        }),
        points,
    )
}

/// A small ROC plot: one curve per group, the chance diagonal, a legend.
/// A named ROC curve and its area.
type Curve = (String, Vec<(f64, f64)>, f64);

fn plot_roc(path: &Path, curves: &[Curve]) -> Result<(), String> {
    const W: usize = 520;
    const H: usize = 520;
    let (x0, y0, side) = (60usize, 20usize, 420usize);
    let mut img = vec![255u8; W * H * 3];
    let put = |img: &mut Vec<u8>, x: i64, y: i64, c: [u8; 3], a: f32| {
        if x >= 0 && y >= 0 && (x as usize) < W && (y as usize) < H {
            let i = (y as usize * W + x as usize) * 3;
            for k in 0..3 {
                img[i + k] = (img[i + k] as f32 * (1.0 - a) + c[k] as f32 * a) as u8;
            }
        }
    };
    let to_px = |fx: f64, fy: f64| {
        (
            x0 as f64 + fx * side as f64,
            y0 as f64 + (1.0 - fy) * side as f64,
        )
    };
    let line = |img: &mut Vec<u8>, a: (f64, f64), b: (f64, f64), c: [u8; 3], w: i64| {
        let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()) * 2.0)
            .ceil()
            .max(1.0) as usize;
        for s in 0..=steps {
            let t = s as f64 / steps as f64;
            let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
            for dx in -(w / 2)..=(w - 1) / 2 {
                for dy in -(w / 2)..=(w - 1) / 2 {
                    put(img, x.round() as i64 + dx, y.round() as i64 + dy, c, 1.0);
                }
            }
        }
    };
    for g in 0..=5 {
        let f = g as f64 / 5.0;
        let grid = [225, 225, 225];
        line(&mut img, to_px(f, 0.0), to_px(f, 1.0), grid, 1);
        line(&mut img, to_px(0.0, f), to_px(1.0, f), grid, 1);
    }
    line(
        &mut img,
        to_px(0.0, 0.0),
        to_px(1.0, 1.0),
        [170, 170, 170],
        1,
    );
    let black = [0, 0, 0];
    line(&mut img, to_px(0.0, 0.0), to_px(1.0, 0.0), black, 1);
    line(&mut img, to_px(0.0, 0.0), to_px(0.0, 1.0), black, 1);
    let colours = [
        [0, 0, 0],
        [31, 119, 180],
        [214, 39, 40],
        [44, 160, 44],
        [148, 103, 189],
        [255, 127, 14],
    ];
    for (i, (_, points, _)) in curves.iter().enumerate() {
        let c = colours[i % colours.len()];
        for p in points.windows(2) {
            line(&mut img, to_px(p[0].0, p[0].1), to_px(p[1].0, p[1].1), c, 3);
        }
    }
    let font = FontRef::try_from_slice(FONT).map_err(|e| e.to_string())?;
    let text = |img: &mut Vec<u8>, s: &str, x: f32, y: f32, c: [u8; 3]| {
        let scale = PxScale::from(14.0);
        let mut pen = x;
        for ch in s.chars() {
            let glyph = font
                .glyph_id(ch)
                .with_scale_and_position(scale, ab_glyph::point(pen, y));
            pen += font.as_scaled(scale).h_advance(glyph.id);
            if let Some(o) = font.outline_glyph(glyph) {
                let b = o.px_bounds();
                o.draw(|gx, gy, a| {
                    put(
                        img,
                        b.min.x as i64 + gx as i64,
                        b.min.y as i64 + gy as i64,
                        c,
                        a,
                    )
                });
            }
        }
    };
    use ab_glyph::ScaleFont;
    for g in 0..=5 {
        let f = g as f64 / 5.0;
        let (px, py) = to_px(f, 0.0);
        text(
            &mut img,
            &format!("{f:.1}"),
            px as f32 - 10.0,
            py as f32 + 18.0,
            black,
        );
        let (px, py) = to_px(0.0, f);
        text(
            &mut img,
            &format!("{f:.1}"),
            px as f32 - 32.0,
            py as f32 + 5.0,
            black,
        );
    }
    text(&mut img, "false positive rate", 200.0, 510.0, black);
    text(&mut img, "TPR", 8.0, 30.0, black);
    for (i, (name, _, auc)) in curves.iter().enumerate() {
        let c = colours[i % colours.len()];
        let y = 330.0 + 20.0 * i as f32;
        text(&mut img, &format!("{name}  AUC {auc:.3}"), 270.0, y, c);
    }
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), W as u32, H as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()
        .and_then(|mut w| w.write_image_data(&img))
        .map_err(|e| e.to_string())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let (mut split, mut threshold, mut every, mut device) =
        ("val".to_string(), None::<f32>, 1usize, "cpu".to_string());
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--split" => split = it.next().ok_or("--split needs a value")?,
            "--threshold" => {
                threshold = Some(it.next().ok_or("--threshold needs a value")?.parse()?)
            }
            "--every" => {
                every = it
                    .next()
                    .ok_or("--every needs a value")?
                    .parse::<usize>()?
                    .max(1)
            }
            "--device" => device = it.next().ok_or("--device needs a value")?,
            _ => positional.push(arg),
        }
    }
    if positional.len() != 3 {
        return Err("usage: evaluate DATA_DIR MODEL OUT_DIR [--split val|train|all] [--threshold P] [--every N] [--device cpu]".into());
    }
    let (data, model, out) = (
        Path::new(&positional[0]),
        std::fs::canonicalize(&positional[1])?,
        Path::new(&positional[2]),
    );
    std::fs::create_dir_all(out)?;
    gst::init()?;
    gstviolence::plugin_register_static()?;
    // Holding the shared worker keeps the model loaded across the per-clip pipelines, and
    // gives the model's own threshold.
    let worker = gstviolence::model::acquire(
        &model,
        device
            .parse::<gstviolence::model::DeviceRequest>()?
            .resolve()?,
        false,
    )?;
    let meta = worker.info().metadata.clone().unwrap_or_default();
    let threshold = threshold.or(meta.threshold).unwrap_or(0.5);
    let flow = meta
        .inputs
        .as_ref()
        .is_some_and(|i| i.contains(&gstviolence::model::InputKind::Flow));
    let model_str = model.to_string_lossy().to_string();
    let rows: Vec<manifest::Row> = manifest::read(data, &split)?
        .into_iter()
        .step_by(every)
        .collect();
    if rows.is_empty() {
        return Err(format!("no clip of split '{split}' in {}", data.display()).into());
    }
    eprintln!(
        "evaluating {} on {} {split} clips of {} (threshold {threshold}{})",
        model.display(),
        rows.len(),
        data.display(),
        if flow {
            ", opticalflow for its flow input"
        } else {
            ""
        }
    );
    let started = Instant::now();
    let mut results = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        let t = Instant::now();
        let (scores, error) = match row.uri(data) {
            Ok(uri) => run_clip(&uri, &model_str, &device, flow),
            Err(e) => (Vec::new(), Some(e)),
        };
        if let Some(e) = &error {
            eprintln!("error: {}: {e}", row.path);
        }
        results.push(ClipResult {
            row,
            scores,
            error,
            seconds: t.elapsed().as_secs_f64(),
        });
        if (i + 1) % 25 == 0 {
            let el = started.elapsed().as_secs_f64();
            eprintln!("[{}] {:.1} clips/s", i + 1, (i + 1) as f64 / el);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    drop(worker);

    let mut f = std::fs::File::create(out.join("scores.tsv"))?;
    writeln!(
        f,
        "path\tlabel\tdataset\tsplit\twindows\tmax_score\tpredicted\tcorrect\tseconds\terror"
    )?;
    for r in &results {
        let pred = r.predicted(threshold);
        writeln!(
            f,
            "{}\t{}\t{}\t{}\t{}\t{:.5}\t{}\t{}\t{:.3}\t{}",
            r.row.path,
            r.row.label,
            r.row.dataset,
            r.row.split,
            r.scores.len(),
            r.score(),
            if pred { "violent" } else { "nonviolent" },
            u8::from(pred == r.row.violent()),
            r.seconds,
            r.error.as_deref().unwrap_or("-").replace(['\t', '\n'], " ")
        )?;
    }
    let mut groups: BTreeMap<String, Vec<&ClipResult>> = BTreeMap::new();
    for r in &results {
        groups.entry(r.row.dataset.clone()).or_default().push(r);
    }
    let mut per_dataset = serde_json::Map::new();
    let mut curves = Vec::new();
    let show = |name: &str, m: &serde_json::Value| {
        let g = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
        let c = &m["confusion"];
        format!(
            "{name}: accuracy {:.3} [95% {:.3}, {:.3}] precision {:.3} recall {:.3} F1 {:.3} AUC {:.3} \
             (n={}, errors {}, tp {} fp {} tn {} fn {})",
            g("accuracy"),
            m["accuracy_wilson95"][0].as_f64().unwrap_or(f64::NAN),
            m["accuracy_wilson95"][1].as_f64().unwrap_or(f64::NAN),
            g("precision"),
            g("recall"),
            g("f1"),
            g("roc_auc"),
            m["clips"],
            m["errors"],
            c["tp"],
            c["fp"],
            c["tn"],
            c["fn"]
        )
    };
    for (name, rs) in &groups {
        let (m, points) = metrics(rs, threshold);
        println!("{}", show(name, &m));
        curves.push((
            name.clone(),
            points,
            m["roc_auc"].as_f64().unwrap_or(f64::NAN),
        ));
        per_dataset.insert(name.clone(), m);
    }
    let all: Vec<&ClipResult> = results.iter().collect();
    let (overall, points) = metrics(&all, threshold);
    curves.insert(
        0,
        (
            "overall".into(),
            points,
            overall["roc_auc"].as_f64().unwrap_or(f64::NAN),
        ),
    );
    plot_roc(&out.join("roc.png"), &curves)?;
    let clips_per_s = results.len() as f64 / wall;
    let report = json!({
        "model": model, "model_name": meta.name, "data": std::fs::canonicalize(data)?,
        "split": split, "threshold": threshold, "decision": "max window score >= threshold",
        "clips_per_second": clips_per_s, "wall_seconds": wall,
        "overall": overall, "datasets": per_dataset,
    });
    std::fs::write(
        out.join("metrics.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!(
        "{clips_per_s:.2} clips/s ({} clips in {wall:.0} s); wrote {d}/metrics.json, {d}/scores.tsv, {d}/roc.png",
        results.len(),
        d = out.display()
    );
    println!("{}", show("overall", &overall));
    let acc = overall["accuracy"].as_f64().unwrap_or(f64::NAN);
    let auc = overall["roc_auc"].as_f64().unwrap_or(f64::NAN);
    println!("overall accuracy {acc:.4} AUC {auc:.4}");
    Ok(())
}
