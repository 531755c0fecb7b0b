// SPDX-License-Identifier: MPL-2.0

//! Evaluation of a model through the real pipeline (`make eval`): for every clip of a
//! `MANIFEST.tsv` (one split, default `val`; a manifest without a `split` column is
//! evaluated whole) it runs
//!   uridecodebin ! videoconvert ! clipbuffer ! violenceclassify mode=sync emit-scores=true ! fakesink
//! (with `opticalflow preset=fast` before clipbuffer when the model's `inputs` include
//! `flow`, as extract-clips --flow made its training clips) with the model's own clip settings, takes the maximum of the clip's window scores and
//! compares it with the model's `threshold` (from `metadata()`, chosen on training data).
//! A clip that errors or yields no score counts as wrong, never skipped: its score is the
//! worst one for its label (0 for a violent clip, 1 for a non-violent one).
//!
//! Events, as an NVR meets them, with violenceclassify's default decision
//! settings: per dataset, the normal clips that played without error on their own are
//! played again back to back as one stream (concat, every clip converted to the first
//! clip's size, frame rate and pixel format, then restamped to one segment), so that
//! hysteresis, min-consecutive, hold-time and clipbuffer's windows carry across clip
//! boundaries as on a camera; its `violence-start` events are false events,
//! reported per hour of footage with an exact Poisson 95 % upper bound. Each fight clip's
//! own run gives event recall (a `violence-start` in the clip) and the detection latency.
//!
//! Usage: evaluate DATA_DIR MODEL OUT_DIR [--split val|train|all] [--threshold P]
//!        [--every N] [--device cpu] [--normal FOOTAGE_DIR] [--calibration]
//!        [--front ELEMENTS] [--stride N]
//!
//! `--front` puts elements before clipbuffer in every run, e.g. `opticalflow !
//! hardattentioncrop region-source=motion` to score crops of where things move. A model
//! whose metadata says `people_crop` gets `persondetect model-location=models/people.pt`
//! in front unless `--front` already has a persondetect. `--stride N` sets clipbuffer's
//! stride (input frames between two windows; default the element's, 8).
//!
//! `--calibration` also measures per-camera calibration through the element (see
//! `calibration_check`): footage clips learned on their first half and judged on the
//! second, and each dataset calibrated on its train normal clips with its val fights
//! played again (`calibration` in metrics.json).
//!
//! Continuous ordinary footage (`--normal DIR`, e.g. `normal-cctv`; its manifest needs
//! `path` and may leave out `label`): every clip of the split is played as its own stream,
//! as a camera would, and each `violence-start` is a false alarm, reported per clip and
//! overall per hour with the exact Poisson 95 % upper bound (`continuous_footage` in
//! metrics.json; `continuous` rows in events.tsv and windows.tsv).
//!
//! Writes OUT/scores.tsv (one row per clip), OUT/events.tsv (one row per violence-start),
//! OUT/windows.tsv (one row per window score, for replaying decision rules offline),
//! OUT/metrics.json and OUT/roc.png; prints two lines per dataset (clip metrics, events)
//! and, last, the overall figures.

mod figures;
mod play;

pub(crate) use gstviolence_tools::{event_metrics, manifest};

pub(crate) use ab_glyph::{Font, FontRef, PxScale};
pub(crate) use gst::prelude::*;
pub(crate) use gstviolence::event::{EventKind, ViolenceEvent};
pub(crate) use serde_json::json;
pub(crate) use std::collections::BTreeMap;
pub(crate) use std::io::Write;
pub(crate) use std::path::Path;
pub(crate) use std::sync::{Arc, Mutex};
pub(crate) use std::time::{Duration, Instant};

pub(crate) use figures::*;
pub(crate) use play::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let (mut split, mut threshold, mut every, mut device) =
        ("val".to_string(), None::<f32>, 1usize, "cpu".to_string());
    let mut normal_dir = None::<std::path::PathBuf>;
    let mut calibrate = false;
    let mut front = None::<String>;
    let mut stride = None::<u32>;
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
            "--calibration" => calibrate = true,
            "--front" => front = Some(it.next().ok_or("--front needs elements")?),
            "--stride" => stride = Some(it.next().ok_or("--stride needs a value")?.parse()?),
            "--normal" => normal_dir = Some(it.next().ok_or("--normal needs a folder")?.into()),
            _ => positional.push(arg),
        }
    }
    if positional.len() != 3 {
        return Err("usage: evaluate DATA_DIR MODEL OUT_DIR [--split val|train|all] [--threshold P] [--every N] [--device cpu] [--normal FOOTAGE_DIR] [--calibration] [--front ELEMENTS] [--stride N]".into());
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
        1,
    )?;
    let meta = worker.info().metadata.clone().unwrap_or_default();
    // The events use the element's own threshold, unless one is given here.
    let element_threshold = threshold;
    let threshold = threshold.or(meta.threshold).unwrap_or(0.5);
    let flow = meta
        .inputs
        .as_ref()
        .is_some_and(|i| i.contains(&gstviolence::model::InputKind::Flow));
    // A model trained on people crops is served behind persondetect (its clipbuffer cuts the
    // frames around the people), as it was extracted for training.
    let front = match front {
        Some(f) if f.contains("persondetect") || !meta.people_crop => Some(f),
        f if meta.people_crop => {
            let people = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/people.pt");
            let detect = format!("persondetect model-location=\"{}\"", people.display());
            println!("the model was trained on people crops: {detect} before clipbuffer");
            Some(match f {
                Some(f) if !f.trim().is_empty() => format!("{detect} ! {f}"),
                _ => detect,
            })
        }
        f => f,
    };
    let model_str = model.to_string_lossy().to_string();
    let tail_with = |calibration: Option<Calibration>| {
        analysis_tail(
            &model_str,
            &device,
            flow,
            front.as_deref(),
            stride,
            element_threshold,
            calibration,
        )
    };
    let tail = tail_with(None);
    let rows: Vec<manifest::Row> = manifest::read(data, &split)?
        .into_iter()
        .step_by(every)
        .collect();
    if rows.is_empty() {
        return Err(format!("no clip of split '{split}' in {}", data.display()).into());
    }
    // A manifest without a split column is evaluated whole.
    if rows.iter().all(|r| r.split == "all") {
        split = "all".to_string();
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
        let run = run_row(&row, data, &tail);
        results.push(ClipResult {
            row,
            windows: run.windows,
            starts: run.starts,
            error: run.error,
            seconds: t.elapsed().as_secs_f64(),
        });
        if (i + 1) % 25 == 0 {
            let el = started.elapsed().as_secs_f64();
            eprintln!("[{}] {:.1} clips/s", i + 1, (i + 1) as f64 / el);
        }
    }
    let wall = started.elapsed().as_secs_f64();

    // Per dataset, its normal clips as one stream; a clip that failed on its own is left out.
    let mut datasets: Vec<String> = results.iter().map(|r| r.row.dataset.clone()).collect();
    datasets.sort();
    datasets.dedup();
    let mut streams = Vec::new();
    for dataset in datasets {
        let (mut played, mut excluded, mut uris) = (Vec::new(), Vec::new(), Vec::new());
        for r in results
            .iter()
            .filter(|r| r.row.dataset == dataset && !r.row.violent())
        {
            match (r.error.is_none(), r.row.uri(data)) {
                (true, Ok(uri)) => {
                    played.push(r.row.path.clone());
                    uris.push(uri);
                }
                _ => excluded.push(r.row.path.clone()),
            }
        }
        if uris.is_empty() {
            continue;
        }
        eprintln!(
            "{dataset}: {} normal clips as one stream{}",
            uris.len(),
            if excluded.is_empty() {
                String::new()
            } else {
                format!(" ({} failed on their own, left out)", excluded.len())
            }
        );
        let t = Instant::now();
        let stream = run_normal_stream(&uris, &tail);
        if let Some(e) = &stream.run.error {
            eprintln!("error: {dataset} normal stream: {e}");
        }
        eprintln!(
            "{dataset}: {:.1} s of footage in {:.1} s",
            stream.played as f64 / 1e9,
            t.elapsed().as_secs_f64()
        );
        streams.push(NormalStreamResult {
            dataset,
            played,
            excluded,
            stream,
        });
    }
    // Continuous ordinary footage, each clip as its own camera.
    let footage_rows = match &normal_dir {
        Some(dir) => manifest::read_normal(dir, &split)?,
        None => Vec::new(),
    };
    let footage_name = normal_dir
        .as_deref()
        .and_then(|d| {
            std::fs::canonicalize(d)
                .ok()?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "normal".to_string());
    let mut footage = Vec::new();
    for row in footage_rows {
        let t = Instant::now();
        let run = run_row(&row, normal_dir.as_deref().unwrap_or(data), &tail);
        eprintln!(
            "{footage_name}/{}: {:.1} s of footage, {} false alarms, in {:.1} s",
            row.path,
            run.played as f64 / 1e9,
            run.starts.len(),
            t.elapsed().as_secs_f64()
        );
        footage.push(FootageResult { row, run });
    }
    let calibration_json = if calibrate {
        Some(calibration_check(
            &footage,
            normal_dir.as_deref(),
            &results,
            data,
            out,
            &tail_with,
        )?)
    } else {
        None
    };
    drop(worker);
    write_event_rows(
        &out.join("events.tsv"),
        EventKind::Start,
        &results,
        &streams,
        &footage,
        &footage_name,
    )?;
    write_event_rows(
        &out.join("windows.tsv"),
        EventKind::Score,
        &results,
        &streams,
        &footage,
        &footage_name,
    )?;

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
            r.windows.len(),
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
        let mut m = m;
        let events = event_figures(
            &streams
                .iter()
                .filter(|s| &s.dataset == name)
                .collect::<Vec<_>>(),
            rs,
        );
        println!("{}", show_events(name, &events));
        m["events"] = events;
        per_dataset.insert(name.clone(), m);
    }
    let all: Vec<&ClipResult> = results.iter().collect();
    let (mut overall, points) = metrics(&all, threshold);
    overall["events"] = event_figures(&streams.iter().collect::<Vec<_>>(), &all);
    curves.insert(
        0,
        (
            "overall".into(),
            points,
            overall["roc_auc"].as_f64().unwrap_or(f64::NAN),
        ),
    );
    plot_roc(&out.join("roc.png"), &curves)?;
    let footage_json = normal_dir
        .as_deref()
        .map(|dir| footage_figures(&footage, dir, &split));
    let clips_per_s = results.len() as f64 / wall;
    let report = json!({
        "model": model, "model_name": meta.name, "data": std::fs::canonicalize(data)?,
        "split": split, "threshold": threshold, "decision": "max window score >= threshold",
        "front": front, "stride": stride,
        "clips_per_second": clips_per_s, "wall_seconds": wall,
        "events": event_settings(),
        "overall": overall, "datasets": per_dataset,
        "continuous_footage": footage_json,
        "calibration": calibration_json,
    });
    std::fs::write(
        out.join("metrics.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!(
        "{clips_per_s:.2} clips/s ({} clips in {wall:.0} s); wrote {d}/metrics.json, {d}/scores.tsv, {d}/roc.png, {d}/events.tsv, {d}/windows.tsv",
        results.len(),
        d = out.display()
    );
    println!("{}", show("overall", &overall));
    println!("{}", show_events("overall", &overall["events"]));
    if let Some(f) = &footage_json {
        for c in f["clips"].as_array().into_iter().flatten() {
            let mut line = show_footage(c["path"].as_str().unwrap_or("?"), c);
            line.push_str(&format!(
                ", max window score {:.3}",
                c["max_score"].as_f64().unwrap_or(f64::NAN)
            ));
            if let Some(e) = c["error"].as_str() {
                line.push_str(&format!(" (error: {e})"));
            }
            println!("  {line}");
        }
        println!(
            "{}",
            show_footage(
                &format!("{footage_name} (continuous footage)"),
                &f["overall"]
            )
        );
    }
    if let Some(c) = &calibration_json {
        let h = &c["footage_halves"];
        println!(
            "calibration, footage learned on first halves: {} false alarms in {:.1} s of second halves, {} uncalibrated",
            h["false_alarms_calibrated"],
            h["second_half_seconds"].as_f64().unwrap_or(f64::NAN),
            h["false_alarms"]
        );
        for (name, d) in c["datasets_calibrated_on_train_normals"]
            .as_object()
            .into_iter()
            .flatten()
        {
            println!(
                "calibration, {name} calibrated on its train normal clips: val event recall {:.3} (uncalibrated {:.3})",
                d["event_recall_calibrated"].as_f64().unwrap_or(f64::NAN),
                d["event_recall"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    let acc = overall["accuracy"].as_f64().unwrap_or(f64::NAN);
    let auc = overall["roc_auc"].as_f64().unwrap_or(f64::NAN);
    println!("overall accuracy {acc:.4} AUC {auc:.4}");
    Ok(())
}
