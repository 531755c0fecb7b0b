// SPDX-License-Identifier: MPL-2.0

//! Figures from the runs: clip metrics with intervals, ROC, events per hour, calibration,
//! and the rows of the TSV files.

use crate::*;

static FONT: &[u8] = include_bytes!("../../fonts/DejaVuSans-Bold.ttf");

/// Wilson score interval for k successes out of n, 95%.
pub(crate) fn wilson(k: usize, n: usize) -> (f64, f64) {
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
pub(crate) fn roc(items: &[(f32, bool)]) -> (Vec<(f64, f64)>, f64) {
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

pub(crate) fn metrics(
    results: &[&ClipResult],
    threshold: f32,
) -> (serde_json::Value, Vec<(f64, f64)>) {
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
pub(crate) type Curve = (String, Vec<(f64, f64)>, f64);

pub(crate) fn plot_roc(path: &Path, curves: &[Curve]) -> Result<(), String> {
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

/// One dataset's normal clips played as one stream.
pub(crate) struct NormalStreamResult {
    pub(crate) dataset: String,
    /// The clips played, in order.
    pub(crate) played: Vec<String>,
    /// Normal clips left out because they failed on their own.
    pub(crate) excluded: Vec<String>,
    pub(crate) stream: NormalStream,
}

/// One clip of continuous ordinary footage (`--normal`), played as its own stream, as a
/// camera: every `violence-start` in it is a false alarm.
pub(crate) struct FootageResult {
    pub(crate) row: manifest::Row,
    pub(crate) run: ClipRun,
}

/// False alarms per hour of continuous footage, per clip and over all of them.
pub(crate) fn footage_figures(
    footage: &[FootageResult],
    dir: &Path,
    split: &str,
) -> serde_json::Value {
    let rate_json = |events: usize, seconds: f64| {
        let rate = event_metrics::false_event_rate(events as u64, seconds);
        json!({
            "seconds": seconds,
            "false_events": events,
            "false_events_per_hour": rate.as_ref().map_or(json!(null), |r| nan_null(r.per_hour)),
            "false_events_per_hour_upper95":
                rate.as_ref().map_or(json!(null), |r| nan_null(r.per_hour_upper95)),
        })
    };
    let clips: Vec<serde_json::Value> = footage
        .iter()
        .map(|f| {
            let mut c = rate_json(f.run.starts.len(), f.run.played as f64 / 1e9);
            c["path"] = json!(f.row.path);
            c["windows"] = json!(f.run.windows.len());
            c["max_score"] = json!(f.run.windows.iter().map(|w| w.score).fold(0.0, f32::max));
            c["error"] = json!(f.run.error);
            c
        })
        .collect();
    let events = footage.iter().map(|f| f.run.starts.len()).sum();
    let seconds = footage.iter().map(|f| f.run.played as f64 / 1e9).sum();
    let mut overall = rate_json(events, seconds);
    overall["clips"] = json!(footage.len());
    overall["hours"] = json!(seconds / 3600.0);
    overall["errors"] = json!(footage.iter().filter(|f| f.run.error.is_some()).count());
    json!({
        "data": std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()),
        "split": split,
        "played_as": "each clip as its own stream, as a camera",
        "overall": overall,
        "clips": clips,
    })
}

/// Per-camera calibration measured through the element (`--calibration`):
/// (a) each continuous footage clip learned on its first half, false alarms counted on its
///     second half with and without the calibration;
/// (b) each dataset calibrated on its train normal clips (each played on its own, learned
///     into one file per dataset), and its val fight clips played again with it: event recall
///     against the uncalibrated run.
pub(crate) fn calibration_check(
    footage: &[FootageResult],
    footage_dir: Option<&Path>,
    results: &[ClipResult],
    data: &Path,
    out: &Path,
    tail_with: &dyn Fn(Option<Calibration>) -> String,
) -> Result<serde_json::Value, String> {
    let dir = out.join("calibration");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let fresh = |name: &str| {
        let file = dir.join(format!("{name}.json"));
        let _ = std::fs::remove_file(&file);
        file
    };
    let plain = tail_with(None);
    let mut halves = Vec::new();
    let (mut plain_total, mut calibrated_total, mut seconds_total) = (0usize, 0usize, 0f64);
    for f in footage
        .iter()
        .filter(|f| f.run.error.is_none() && f.run.played > 0)
    {
        let uri = f.row.uri(footage_dir.unwrap_or(data))?;
        let half = f.run.played / 2;
        // Beyond the end: the seek's stop is the clip's end.
        let end = f.run.played + 10_000_000_000;
        let stem = Path::new(&f.row.path)
            .file_stem()
            .map_or_else(|| "clip".into(), |s| s.to_string_lossy().into_owned());
        let file = fresh(&format!("footage-{stem}"));
        let learn = run_clip_range(&uri, &tail_with(Some((&file, "learn"))), Some((0, half)));
        if let Some(e) = learn.error {
            return Err(format!("{}: learning the first half: {e}", f.row.path));
        }
        let before = run_clip_range(&uri, &plain, Some((half, end)));
        let after = run_clip_range(&uri, &tail_with(Some((&file, "apply"))), Some((half, end)));
        if let Some(e) = before.error.or(after.error) {
            return Err(format!("{}: second half: {e}", f.row.path));
        }
        eprintln!(
            "calibration {}: learned {:.1} s; second half {:.1} s: {} false alarms, {} calibrated",
            f.row.path,
            learn.played as f64 / 1e9,
            after.played as f64 / 1e9,
            before.starts.len(),
            after.starts.len()
        );
        plain_total += before.starts.len();
        calibrated_total += after.starts.len();
        seconds_total += after.played as f64 / 1e9;
        halves.push(json!({
            "path": f.row.path, "learned_seconds": learn.played as f64 / 1e9,
            "second_half_seconds": after.played as f64 / 1e9,
            "false_alarms": before.starts.len(), "false_alarms_calibrated": after.starts.len(),
            "file": file,
        }));
    }
    let mut datasets = serde_json::Map::new();
    let train = manifest::read(data, "train")?;
    let mut names: Vec<String> = results.iter().map(|r| r.row.dataset.clone()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let file = fresh(&format!("dataset-{name}"));
        let normals: Vec<&manifest::Row> = train
            .iter()
            .filter(|r| r.dataset == name && !r.violent())
            .collect();
        if normals.is_empty() {
            continue;
        }
        let mut learned = 0f64;
        for row in &normals {
            let run = run_clip(&row.uri(data)?, &tail_with(Some((&file, "learn"))));
            learned += run.played as f64 / 1e9;
        }
        let calibrated = tail_with(Some((&file, "apply")));
        let fights: Vec<&ClipResult> = results
            .iter()
            .filter(|r| r.row.dataset == name && r.row.violent())
            .collect();
        let (mut before, mut after) = (0usize, 0usize);
        for r in &fights {
            before += usize::from(r.first_start().is_some());
            let run = run_clip(&r.row.uri(data)?, &calibrated);
            after += usize::from(run.error.is_none() && !run.starts.is_empty());
        }
        let recall = |k: usize| nan_null(k as f64 / fights.len() as f64);
        eprintln!(
            "calibration {name}: {} train normal clips ({learned:.0} s); val fight events {before} -> {after} of {}",
            normals.len(),
            fights.len()
        );
        datasets.insert(
            name,
            json!({
                "train_normal_clips": normals.len(), "learned_seconds": learned,
                "val_fights": fights.len(),
                "event_recall": recall(before), "event_recall_calibrated": recall(after),
                "file": file,
            }),
        );
    }
    Ok(json!({
        "footage_halves": {
            "clips": halves,
            "second_half_seconds": seconds_total,
            "false_alarms": plain_total,
            "false_alarms_calibrated": calibrated_total,
        },
        "datasets_calibrated_on_train_normals": datasets,
    }))
}

pub(crate) fn show_footage(name: &str, f: &serde_json::Value) -> String {
    let n = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    format!(
        "{name}: {} false alarms in {:.1} s{} = {:.1}/h [95% upper {:.1}/h]{}",
        f["false_events"],
        n(&f["seconds"]),
        f["clips"]
            .as_u64()
            .map_or(String::new(), |c| format!(" ({c} clips)")),
        n(&f["false_events_per_hour"]),
        n(&f["false_events_per_hour_upper95"]),
        match f["errors"].as_u64() {
            Some(e) if e > 0 => format!(" (clip errors: {e})"),
            _ => String::new(),
        }
    )
}

pub(crate) fn nan_null(x: f64) -> serde_json::Value {
    if x.is_finite() {
        json!(x)
    } else {
        json!(null)
    }
}

pub(crate) fn median_max_json(m: Option<(f64, f64)>) -> serde_json::Value {
    match m {
        Some((median, max)) => json!({"median": median, "max": max}),
        None => json!({"median": null, "max": null}),
    }
}

/// How the events were decided: violenceclassify's default decision properties.
pub(crate) fn event_settings() -> serde_json::Value {
    let defaults = gst::ElementFactory::make("violenceclassify").build().ok();
    let number = |name: &str| -> serde_json::Value {
        let Some(value) = defaults.as_ref().map(|e| e.property_value(name)) else {
            return json!(null);
        };
        value
            .get::<u32>()
            .map(|v| json!(v))
            .or_else(|_| value.get::<u64>().map(|v| json!(v)))
            .or_else(|_| value.get::<f64>().map(|v| json!(v)))
            .unwrap_or(json!(null))
    };
    json!({
        "element": "violenceclassify mode=sync with its default decision properties \
                    (threshold -1 is the model's threshold, or --threshold when given)",
        "min_consecutive": number("min-consecutive"),
        "hold_time_ns": number("hold-time"),
        "release_threshold": number("release-threshold"),
        "normal_stream": "the normal clips of a dataset played back to back through concat \
                          as one stream, each converted to the first clip's size, frame rate \
                          and pixel format; violence-start events counted",
        "latency_s": "the violence-start event's latency field: running time from the first \
                      frame of the run that started the event to the decision",
        "decided_after_clip_start_s": "running time from the fight clip's start to the \
                                       decision (event running time + latency)",
    })
}

/// Event figures over normal streams and fight clips (one dataset's, or all of them).
pub(crate) fn event_figures(
    streams: &[&NormalStreamResult],
    clips: &[&ClipResult],
) -> serde_json::Value {
    let false_events: usize = streams.iter().map(|s| s.stream.run.starts.len()).sum();
    let seconds: f64 = streams.iter().map(|s| s.stream.played as f64 / 1e9).sum();
    let rate = event_metrics::false_event_rate(false_events as u64, seconds);
    let errors: Vec<String> = streams
        .iter()
        .filter_map(|s| {
            let e = s.stream.run.error.as_ref()?;
            Some(format!("{}: {e}", s.dataset))
        })
        .collect();
    let fights: Vec<Option<event_metrics::FirstStart>> = clips
        .iter()
        .filter(|r| r.row.violent())
        .map(|r| r.first_start())
        .collect();
    let d = event_metrics::fight_detections(&fights);
    let (lo, hi) = wilson(d.detected, d.clips);
    json!({
        "normal_stream": {
            "clips": streams.iter().map(|s| s.played.len()).sum::<usize>(),
            "left_out": streams.iter().flat_map(|s| s.excluded.iter()).collect::<Vec<_>>(),
            "seconds": seconds,
            "hours": seconds / 3600.0,
            "false_events": false_events,
            "false_events_per_hour": rate.as_ref().map_or(json!(null), |r| nan_null(r.per_hour)),
            "false_events_per_hour_upper95":
                rate.as_ref().map_or(json!(null), |r| nan_null(r.per_hour_upper95)),
            "errors": errors,
        },
        "fight_clips": {
            "clips": d.clips,
            "detected": d.detected,
            "event_recall": d.recall.map_or(json!(null), nan_null),
            "event_recall_wilson95": [nan_null(lo), nan_null(hi)],
            "latency_s": median_max_json(d.latency_s),
            "decided_after_clip_start_s": median_max_json(d.decided_after_clip_start_s),
        },
    })
}

pub(crate) fn show_events(name: &str, e: &serde_json::Value) -> String {
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let (n, c) = (&e["normal_stream"], &e["fight_clips"]);
    let errors = n["errors"].as_array().map_or(0, Vec::len);
    format!(
        "{name} events: {} false in {:.4} h of normal footage ({} clips) = {:.1}/h [95% upper {:.1}/h]; \
         event recall {:.3} ({}/{}), latency median {:.2} s max {:.2} s, decided after clip start \
         median {:.2} s max {:.2} s{}",
        n["false_events"],
        f(&n["hours"]),
        n["clips"],
        f(&n["false_events_per_hour"]),
        f(&n["false_events_per_hour_upper95"]),
        f(&c["event_recall"]),
        c["detected"],
        c["clips"],
        f(&c["latency_s"]["median"]),
        f(&c["latency_s"]["max"]),
        f(&c["decided_after_clip_start_s"]["median"]),
        f(&c["decided_after_clip_start_s"]["max"]),
        if errors > 0 {
            format!(" (normal stream errors: {errors})")
        } else {
            String::new()
        }
    )
}

/// One row of events.tsv / windows.tsv: dataset, how it was played, path, label, then the
/// event `at` ns into its clip, its latency, score and scene-cut flag.
pub(crate) fn write_row(
    f: &mut impl Write,
    (dataset, played_as, path, label): (&str, &str, &str, &str),
    at: u64,
    ev: &ViolenceEvent,
) -> std::io::Result<()> {
    writeln!(
        f,
        "{dataset}\t{played_as}\t{path}\t{label}\t{:.3}\t{:.3}\t{:.4}\t{}",
        at as f64 / 1e9,
        ev.latency as f64 / 1e9,
        ev.score,
        u8::from(ev.scene_cut)
    )
}

/// One row per event of `kind` (violence-start for events.tsv, violence-score for
/// windows.tsv): of each clip played on its own (fight clips; every clip for windows), and of
/// each normal stream, with the clip it fell in and the time into that clip. `scene_cut`:
/// the deciding window spans a cut (the scene-cut guard), so that decision rules can be
/// replayed offline on windows.tsv.
pub(crate) fn write_event_rows(
    path: &Path,
    kind: EventKind,
    clips: &[ClipResult],
    streams: &[NormalStreamResult],
    footage: &[FootageResult],
    footage_name: &str,
) -> std::io::Result<()> {
    let pick = |run_windows, run_starts| match kind {
        EventKind::Start => run_starts,
        _ => run_windows,
    };
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        f,
        "dataset\tplayed_as\tpath\tlabel\t{}_in_clip_s\tlatency_s\tscore\tscene_cut",
        if kind == EventKind::Start {
            "start"
        } else {
            "window"
        }
    )?;
    for r in clips {
        for ev in pick(r.windows.as_slice(), r.starts.as_slice()) {
            let row = (
                r.row.dataset.as_str(),
                "clip",
                r.row.path.as_str(),
                r.row.label.as_str(),
            );
            write_row(&mut f, row, ev.running_time, ev)?;
        }
    }
    for s in streams {
        for ev in pick(
            s.stream.run.windows.as_slice(),
            s.stream.run.starts.as_slice(),
        ) {
            let clip = event_metrics::clip_at(&s.stream.clip_starts, ev.running_time);
            let (path, into) = match clip.and_then(|i| Some((s.played.get(i)?, i))) {
                Some((path, i)) => (path.as_str(), ev.running_time - s.stream.clip_starts[i]),
                None => ("?", ev.running_time),
            };
            write_row(
                &mut f,
                (s.dataset.as_str(), "normal-stream", path, "nofight"),
                into,
                ev,
            )?;
        }
    }
    for c in footage {
        for ev in pick(c.run.windows.as_slice(), c.run.starts.as_slice()) {
            let row = (
                footage_name,
                "continuous",
                c.row.path.as_str(),
                c.row.label.as_str(),
            );
            write_row(&mut f, row, ev.running_time, ev)?;
        }
    }
    f.flush()
}
