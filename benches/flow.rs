// SPDX-License-Identifier: MPL-2.0

//! make bench-flow: our presets against OpenCV's DIS fast, DIS medium and Farneback on the
//! 8 Middlebury pairs, in the same run: average endpoint error and median ms per pair, at
//! full size and at 320 px wide (flow upscaled back to full size), 2 threads each.
//!
//! Usage: flow MIDDLEBURY_DIR OPENCV_JSON [REPS=5]

use gstviolence::opticalflow::motion::{luma_from_packed, resample_flow};
use gstviolence::opticalflow::{downscale_luma, FlowSolver, Preset};
use std::path::Path;
use std::time::Instant;

const SCENES: [&str; 8] = [
    "Dimetrodon",
    "Grove2",
    "Grove3",
    "Hydrangea",
    "RubberWhale",
    "Urban2",
    "Urban3",
    "Venus",
];

struct Scene {
    width: usize,
    height: usize,
    frames: [Vec<u8>; 2],
    truth: Vec<f32>,
}

fn load_luma(path: &Path) -> (usize, usize, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h, ch) = (
        info.width as usize,
        info.height as usize,
        info.color_type.samples(),
    );
    let mut luma = vec![0u8; w * h];
    if ch >= 3 {
        // The same conversion as the element's for RGB input.
        luma_from_packed(&buf, w, h, w * ch, ch, [0, 1, 2], &mut luma);
    } else {
        luma.iter_mut()
            .zip(buf.chunks(ch))
            .for_each(|(l, p)| *l = p[0]);
    }
    (w, h, luma)
}

fn load(dir: &Path, name: &str) -> Scene {
    let (w, h, a) = load_luma(&dir.join(name).join("frame10.png"));
    let (_, _, b) = load_luma(&dir.join(name).join("frame11.png"));
    let bytes = std::fs::read(dir.join(name).join("flow10.flo")).unwrap();
    let truth = bytes[12..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    Scene {
        width: w,
        height: h,
        frames: [a, b],
        truth,
    }
}

fn epe(scene: &Scene, u: &[f32], v: &[f32]) -> f64 {
    let (mut sum, mut n) = (0f64, 0usize);
    for i in 0..scene.width * scene.height {
        let (tu, tv) = (scene.truth[2 * i], scene.truth[2 * i + 1]);
        if tu.abs() < 1e9 && tv.abs() < 1e9 {
            sum += (((u[i] - tu).powi(2) + (v[i] - tv).powi(2)) as f64).sqrt();
            n += 1;
        }
    }
    sum / n as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// (average EPE, median ms per pair) of a preset at full size or 320 px wide.
fn ours(scenes: &[Scene], preset: Preset, small: bool, reps: usize) -> (f64, f64) {
    let (mut errors, mut times) = (Vec::new(), Vec::new());
    for s in scenes {
        let (w, h) = if small {
            (320, (s.height * 320 + s.width / 2) / s.width)
        } else {
            (s.width, s.height)
        };
        let frames: Vec<Vec<u8>> = s
            .frames
            .iter()
            .map(|f| {
                let mut out = vec![0u8; w * h];
                downscale_luma(f, s.width, s.height, s.width, &mut out, w, h);
                out
            })
            .collect();
        let mut solver = FlowSolver::new(w, h, preset, 2);
        let (mut u, mut v) = (vec![0f32; w * h], vec![0f32; w * h]);
        solver.compute(&frames[0], w, &frames[1], w, &mut u, &mut v);
        for _ in 0..reps {
            let t = Instant::now();
            solver.compute(&frames[0], w, &frames[1], w, &mut u, &mut v);
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let mut full = vec![0f32; 2 * s.width * s.height];
        resample_flow(&u, &v, w, h, s.width, s.height, &mut full);
        let (fu, fv) = full.split_at(s.width * s.height);
        errors.push(epe(s, fu, fv));
    }
    (
        errors.iter().sum::<f64>() / errors.len() as f64,
        median(times),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let dir = Path::new(&args[1]);
    let opencv: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&args[2]).unwrap()).unwrap();
    let reps: usize = args.get(3).map_or(5, |r| r.parse().unwrap());
    let scenes: Vec<Scene> = SCENES.iter().map(|n| load(dir, n)).collect();
    let cv = |name: &str, size: &str| {
        let e = &opencv[format!("{name}|{size}")];
        (e["epe"].as_f64().unwrap(), e["ms"].as_f64().unwrap())
    };
    println!("bench-flow: 8 Middlebury pairs, 2 threads, median ms per pair over {reps} runs, average EPE");
    println!("| method | EPE full | ms full | EPE 320 | ms 320 |");
    println!("|---|---|---|---|---|");
    let mut results = Vec::new();
    for (label, preset) in [
        ("ours accurate", Preset::Accurate),
        ("ours fast", Preset::Fast),
    ] {
        let full = ours(&scenes, preset, false, reps);
        let small = ours(&scenes, preset, true, reps);
        println!(
            "| {label} | {:.3} | {:.1} | {:.3} | {:.1} |",
            full.0, full.1, small.0, small.1
        );
        results.push((full, small));
    }
    for name in ["DIS medium", "DIS fast", "Farneback"] {
        let (full, small) = (cv(name, "full"), cv(name, "320"));
        println!(
            "| OpenCV {name} | {:.3} | {:.1} | {:.3} | {:.1} |",
            full.0, full.1, small.0, small.1
        );
    }
    let (acc, fast) = (results[0], results[1]);
    let (medium, dis_fast) = (
        (cv("DIS medium", "full"), cv("DIS medium", "320")),
        (cv("DIS fast", "full"), cv("DIS fast", "320")),
    );
    println!();
    println!("accurate vs DIS medium: speed {:.2}x at full size, {:.2}x at 320; EPE {:.3} vs {:.3} (full), {:.3} vs {:.3} (320)",
        medium.0 .1 / acc.0 .1, medium.1 .1 / acc.1 .1, acc.0 .0, medium.0 .0, acc.1 .0, medium.1 .0);
    println!("fast vs DIS fast: speed {:.2}x at full size, {:.2}x at 320; EPE {:.3} vs {:.3} (full), {:.3} vs {:.3} (320)",
        dis_fast.0 .1 / fast.0 .1, dis_fast.1 .1 / fast.1 .1, fast.0 .0, dis_fast.0 .0, fast.1 .0, dis_fast.1 .0);
    println!("(speed ratio > 1: ours is faster)");
}
