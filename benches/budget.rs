// SPDX-License-Identifier: MPL-2.0

//! make bench-budget (and the last part of make bench-scale): cameras per box as an
//! operator judges them. N cameras are held when, over SECONDS (60) of real time with every
//! camera started at its own point of the footage, no clip is dropped and the p99 of the
//! decision delay (a clip's decision time minus the time of its last frame) is at most 1 s:
//! an alert within a couple of seconds of the fight. Both footages: ordinary (most of an
//! NVR's hours) and fights (the worst case); both forms: 720p30 analysed directly, and the
//! NVR form (the 640x360 sub-stream analysed, the 1280x720 main stream recorded by events).
//! The classifiers share one pool of inference workers, one per core. Then the analysis CPU
//! of 4 ordinary 720p30 streams as a multiple of their decoding's, from the same run: the
//! median of 3 pairs of runs (one run's ratio moves by ±0.1 on a 2-core virtual machine).
//!
//! Usage: budget MODEL FIGHTS_720 FIGHTS_360 NORMAL_720 NORMAL_360 [SECONDS=60]
//!
//! For experiments: `BUDGET_TRIALS="nvr-fights:6,8 direct-ordinary:8"` runs only those
//! (form-footage: counts, every count tried) and skips the CPU part; `CLASSIFY="max-pending=4"`
//! adds violenceclassify properties to every camera; `BUDGET_COMPARE=OTHER.pt` measures a
//! second model in the CPU part's rounds, beside the first.

#[path = "common/trials.rs"]
mod trials;

use trials::*;

/// The alert budget: p99 of the decision delay, in seconds.
const BUDGET_S: f64 = 1.0;
const DIRECT_COUNTS: [usize; 8] = [1, 2, 3, 4, 6, 8, 10, 12];
const NVR_COUNTS: [usize; 11] = [1, 2, 4, 6, 8, 10, 12, 16, 20, 24, 32];
const CPU_STREAMS: usize = 4;
/// Decode-only and analysed runs of the CPU part (odd: the median is one pair).
const CPU_PAIRS: usize = 3;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

struct Row {
    n: usize,
    dropped: u64,
    /// Share of the scored clips scored by the model's screen (`screen-after`).
    screened: f64,
    clips: usize,
    p50: f64,
    p99: f64,
    max: f64,
    /// Fewest and most clips scored by one camera.
    scored: (u64, u64),
    /// Cores busy (process CPU over wall time).
    cores_busy: f64,
}

impl Row {
    fn of(n: usize, trial: &Trial) -> Row {
        let mut delays = trial.decision_delays.clone();
        delays.sort_by(f64::total_cmp);
        Row {
            n,
            dropped: trial.dropped,
            screened: trial.screened as f64 / trial.scored.max(1) as f64,
            clips: delays.len(),
            p50: percentile(&delays, 50.0),
            p99: percentile(&delays, 99.0),
            max: delays.last().copied().unwrap_or(f64::NAN),
            cores_busy: trial.cpu_per_stream * n as f64,
            scored: trial.scored_range(),
        }
    }

    /// Held: every camera analysed all along (none scored under 90 % of the busiest's
    /// clips), none dropped, and the delay within the budget.
    fn held(&self) -> bool {
        self.dropped == 0
            && self.clips > 0
            && every_camera_played(self.scored)
            && self.p99 <= BUDGET_S
    }
}

/// Trials at growing N until one is not held (or every count, unless `stop_early`).
fn climb(counts: &[usize], stop_early: bool, mut trial: impl FnMut(usize) -> Trial) -> Vec<Row> {
    let mut rows = Vec::new();
    for &n in counts {
        let row = Row::of(n, &trial(n));
        eprintln!(
            "  {n} cameras: {} dropped, {} clips ({} to {} a camera, {:.1} % screened), decision delay p50 {:.2} s, p99 {:.2} s, max {:.2} s, {:.2} cores busy",
            row.dropped, row.clips, row.scored.0, row.scored.1, row.screened * 100.0, row.p50, row.p99, row.max, row.cores_busy

        );
        let held = row.held();
        rows.push(row);
        if !held && stop_early {
            break;
        }
    }
    rows
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.len() < 5 {
        eprintln!("usage: budget MODEL FIGHTS_720 FIGHTS_360 NORMAL_720 NORMAL_360 [SECONDS=60]");
        std::process::exit(2);
    }
    let (model, seconds) = (&args[0], args.get(5).map_or(60, |s| s.parse().unwrap()));
    gst::init().unwrap();
    gstviolence::plugin_register_static().unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let classify = format!(
        "inference-workers={cores} emit-scores=true {}",
        std::env::var("CLASSIFY").unwrap_or_default()
    );
    let spec = std::env::var("BUDGET_TRIALS").ok();
    let chosen = spec.as_deref().map(parse_trials);
    // The analysis CPU part runs in a full run, or when BUDGET_TRIALS names `cpu`.
    let cpu_part = spec
        .as_deref()
        .is_none_or(|s| s.split_whitespace().any(|w| w == "cpu"));
    let out = std::path::Path::new("target/bench/budget");
    let footages = [
        ("ordinary", &args[3], &args[4]),
        ("fights", &args[1], &args[2]),
    ];
    let mut table: Table = Vec::new();
    for (footage, main, sub) in footages {
        let (main_uri, sub_uri) = (to_uri(main), to_uri(sub));
        let length = duration(&main_uri);
        let counts_of = |form: &str, all: &[usize]| -> Option<(Vec<usize>, bool)> {
            match &chosen {
                None => Some((all.to_vec(), true)),
                Some(trials) => trials
                    .iter()
                    .find(|(f, g, _)| f == form && g == footage)
                    .map(|(_, _, counts)| (counts.clone(), false)),
            }
        };
        if let Some((counts, stop_early)) = counts_of("direct", &DIRECT_COUNTS) {
            eprintln!("==> {footage}, 720p30 analysed directly");
            let direct = climb(&counts, stop_early, |n| {
                let cameras = stream_cameras(&main_uri, Some(model), n, &classify);
                trial_from(cameras, seconds, &spread_starts(length, n, seconds))
            });
            table.push(("720p30 analysed directly", footage, direct));
        }
        if let Some((counts, stop_early)) = counts_of("nvr", &NVR_COUNTS) {
            eprintln!("==> {footage}, NVR form");
            let nvr = climb(&counts, stop_early, |n| {
                let cameras = nvr_cameras(main, &sub_uri, model, n, out, &classify);
                trial_from(cameras, seconds, &spread_starts(length, n, seconds))
            });
            table.push(("NVR form (640x360 analysed, 720p recorded)", footage, nvr));
        }
    }
    let _ = std::fs::remove_dir_all(out);
    if !cpu_part {
        print_table(&table, seconds, model, cores);
        return;
    }

    // Analysis CPU against decoding, same streams, same run: CPU_PAIRS pairs of runs, each
    // pair's order alternated (a machine that slows or speeds up during the run weighs on
    // both sides), judged by the median pair.
    let normal_uri = to_uri(&args[3]);
    let starts = spread_starts(duration(&normal_uri), CPU_STREAMS, seconds);
    let cpu = |model: Option<&str>| {
        trial_from(
            stream_cameras(&normal_uri, model, CPU_STREAMS, &classify),
            seconds,
            &starts,
        )
        .cpu_per_stream
    };
    // BUDGET_COMPARE=OTHER.pt measures a second model in the same rounds, the order of the three
    // runs rotated from round to round: two models compared within one run.
    let other = std::env::var("BUDGET_COMPARE")
        .ok()
        .filter(|s| !s.is_empty());
    let mut runs: Vec<Option<&str>> = vec![None, Some(model)];
    if let Some(other) = &other {
        runs.push(Some(other));
    }
    // rounds[i][j]: run j (decode-only, the model, the other) of round i.
    let rounds: Vec<Vec<f64>> = (0..CPU_PAIRS)
        .map(|i| {
            let mut measured = vec![0.0; runs.len()];
            for k in 0..runs.len() {
                // Pairs alternate (0,1), (1,0); triples rotate (0,1,2), (1,2,0), (2,0,1).
                let j = (k + i) % runs.len();
                measured[j] = cpu(runs[j]);
            }
            measured
        })
        .collect();
    print_table(&table, seconds, model, cores);
    println!();
    for (j, name) in runs.iter().enumerate().skip(1) {
        let ratio = |r: &Vec<f64>| (r[j] - r[0]) / r[0];
        let each = rounds
            .iter()
            .map(|r| format!("{:.2}", ratio(r)))
            .collect::<Vec<_>>()
            .join(", ");
        let mut sorted: Vec<&Vec<f64>> = rounds.iter().collect();
        sorted.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
        let median = sorted[sorted.len() / 2];
        let (decode_only, with_model) = (median[0], median[j]);
        let rounds = if other.is_some() {
            "rounds of three runs"
        } else {
            "pairs of runs"
        };
        let label = if other.is_some() {
            format!(" ({})", name.unwrap_or_default())
        } else {
            String::new()
        };
        println!(
            "| analysis CPU{label}, {CPU_STREAMS} ordinary 720p30 streams, median of {CPU_PAIRS} {rounds} ({each}) | {:.1} % of a core per stream beside decoding's {:.1} %: {:.2}x the decoding (goal <= 0.5x) |",
            (with_model - decode_only) * 100.0,
            decode_only * 100.0,
            (with_model - decode_only) / decode_only
        );
    }
    if other.is_some() {
        let mut relative: Vec<f64> = rounds
            .iter()
            .map(|r| (r[2] - r[0]) / (r[1] - r[0]))
            .collect();
        let each = relative
            .iter()
            .map(|v| format!("{v:.2}"))
            .collect::<Vec<_>>()
            .join(", ");
        relative.sort_by(f64::total_cmp);
        println!(
            "| the second model's analysis CPU over the first's, round by round ({each}) | median {:.2} |",
            relative[relative.len() / 2]
        );
    }
}

type Table<'a> = Vec<(&'static str, &'a str, Vec<Row>)>;

fn print_table(table: &Table, seconds: u64, model: &str, cores: usize) {
    println!();
    println!(
        "alert budget: no clip dropped and p99 decision delay <= {BUDGET_S:.1} s over {seconds} s per N; {model}; {cores} cores"
    );
    println!();
    println!("| form | footage | cameras held | per core | at the largest N tried: dropped, screened, decision delay p50 / p99 / max |");
    println!("|---|---|---|---|---|");
    for (form, footage, rows) in table {
        let held = rows
            .iter()
            .take_while(|r| r.held())
            .last()
            .map_or(0, |r| r.n);
        let last = rows.last().unwrap();
        println!(
            "| {form} | {footage} | {held} | {:.1} | {} cameras: {} dropped, {:.1} % screened, {:.2} / {:.2} / {:.2} s |",
            held as f64 / cores as f64,
            last.n,
            last.dropped,
            last.screened * 100.0,
            last.p50,
            last.p99,
            last.max
        );
    }
}

/// `BUDGET_TRIALS`: space-separated `form-footage:n,n`, form `direct` or `nvr`, footage
/// `ordinary` or `fights`; the word `cpu` (the analysis CPU part) is not a trial.
fn parse_trials(spec: &str) -> Vec<(String, String, Vec<usize>)> {
    spec.split_whitespace()
        .filter(|word| *word != "cpu")
        .map(|trial| {
            let (which, counts) = trial
                .split_once(':')
                .expect("BUDGET_TRIALS: form-footage:n,n");
            let (form, footage) = which.split_once('-').expect("BUDGET_TRIALS: form-footage");
            let counts = counts
                .split(',')
                .map(|n| n.parse().expect("BUDGET_TRIALS: counts are numbers"))
                .collect();
            (form.to_string(), footage.to_string(), counts)
        })
        .collect()
}
