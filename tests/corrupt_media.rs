// SPDX-License-Identifier: MPL-2.0

//! Corrupt media: real clips from ../shared/data/violence, truncated and bit-flipped at many
//! offsets, each pushed through the full pipeline (uridecodebin ! videoconvert ! clipbuffer
//! ! violenceclassify). Every case must end within a bounded time, with an error message
//! from the demuxer or decoder, or at EOS with the frames that could be decoded. No crash
//! (the test process would die), no hang (a case over its deadline fails the test), and no
//! error from our own elements: whatever a decoder outputs, they must take.

mod common;
use common::*;
use gst::prelude::*;
use gstviolence_tools::manifest;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Clips per dataset (the shortest ones of each label: small files, many cases).
const CLIPS_PER_GROUP: usize = 2;
const THREADS: usize = 4;
const CASE_DEADLINE: Duration = Duration::from_secs(30);
/// How long a pipeline may sit before preroll with no frame out (see `run_case`).
const PREROLL_DEADLINE: Duration = Duration::from_secs(5);
/// The element name given to a case that never prerolled (its error was lost upstream).
const NO_PREROLL: &str = "no-preroll";

#[derive(Clone, Debug)]
enum Mutation {
    Intact,
    Truncate(usize),
    FlipBit(usize, u8),
    Burst(usize, usize, u64),
}

impl Mutation {
    fn apply(&self, data: &[u8]) -> Vec<u8> {
        match *self {
            Mutation::Intact => data.to_vec(),
            Mutation::Truncate(len) => data[..len.min(data.len())].to_vec(),
            Mutation::FlipBit(at, bit) => {
                let mut d = data.to_vec();
                d[at] ^= 1 << bit;
                d
            }
            Mutation::Burst(at, len, seed) => {
                let mut d = data.to_vec();
                let mut rng = Rng(seed | 1);
                let end = (at + len).min(d.len());
                for b in &mut d[at..end] {
                    *b = rng.next() as u8;
                }
                d
            }
        }
    }
}

/// xorshift64*: deterministic offsets, so a failing case can be reproduced.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// 40 mutations of a file of `len` bytes: truncations from nothing to almost everything,
/// single bit flips anywhere, in the first and the last 4 KiB (where the container headers
/// sit: `moov` is at the end of the hockey files, at the start of the scf ones), and bursts
/// of random bytes.
fn mutations(len: usize, seed: u64) -> Vec<Mutation> {
    let mut rng = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
    let mut m = vec![Mutation::Intact];
    for cut in [0, 7, 64, 1000] {
        m.push(Mutation::Truncate(cut));
    }
    for percent in [5, 20, 35, 50, 65, 80, 95, 99] {
        m.push(Mutation::Truncate(len * percent / 100));
    }
    for _ in 0..10 {
        m.push(Mutation::FlipBit(rng.below(len), rng.below(8) as u8));
    }
    let edge = 4096.min(len);
    for _ in 0..5 {
        m.push(Mutation::FlipBit(rng.below(edge), rng.below(8) as u8));
        m.push(Mutation::FlipBit(
            len - 1 - rng.below(edge),
            rng.below(8) as u8,
        ));
    }
    for _ in 0..7 {
        let n = [1, 16, 256][rng.below(3)];
        m.push(Mutation::Burst(rng.below(len), n, rng.next()));
    }
    m
}

#[derive(Debug)]
struct CaseResult {
    name: String,
    /// None: EOS; Some: the error message and the element that posted it.
    error: Option<(String, String)>,
    frames: u64,
    scores: usize,
    elapsed: Duration,
}

/// How a case ended: the error (message, element) if any, frames out, scores posted.
type CaseEnd = (Option<(String, String)>, u64, usize);

fn run_case(file: &Path, model: &str) -> Result<CaseEnd, String> {
    let uri = gst::glib::filename_to_uri(file, None).unwrap();
    let pipeline = gst::parse::launch(&format!(
        "uridecodebin uri={uri} ! videoconvert ! clipbuffer ! \
         violenceclassify mode=sync emit-scores=true model-location={model} ! \
         fakesink name=sink"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let frames = Arc::new(AtomicU64::new(0));
    let counted = frames.clone();
    pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counted.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    let bus = pipeline.bus().unwrap();
    let deadline = Instant::now() + CASE_DEADLINE;
    let mut scores = 0;
    let mut error = None;
    let mut ended = false;
    if pipeline.set_state(gst::State::Playing).is_err() {
        // A state change that fails at once is a clean error as well. uridecodebin does not
        // always post an error message for it (its decodebin filters the messages of
        // typefind and qtdemux during its own state change), so it is not waited for.
        let posted = bus
            .timed_pop_filtered(gst::ClockTime::from_seconds(1), &[gst::MessageType::Error])
            .and_then(|m| match m.view() {
                gst::MessageView::Error(e) => Some(e.error().to_string()),
                _ => None,
            });
        let _ = pipeline.set_state(gst::State::Null);
        let error = posted.unwrap_or_else(|| "the pipeline failed to start".into());
        return Ok((
            Some((error, "set_state".into())),
            frames.load(Ordering::Relaxed),
            0,
        ));
    }
    let started = Instant::now();
    let mut prerolled = false;
    while Instant::now() < deadline {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(250)) else {
            // GStreamer 1.22's decodebin (and parsebin) drop an error that qtdemux posts
            // from its task while they are still autoplugging it (it is on their
            // "filtered" list): a file with no playable stream then never prerolls and no
            // error arrives. Applications need a preroll watchdog for that; so does this
            // test. Only a pipeline where nothing reached our elements qualifies.
            if !prerolled
                && frames.load(Ordering::Relaxed) == 0
                && started.elapsed() > PREROLL_DEADLINE
            {
                error = Some(("no preroll and no error".to_string(), NO_PREROLL.into()));
                ended = true;
                break;
            }
            continue;
        };
        if let gst::MessageView::AsyncDone(_) = msg.view() {
            prerolled = true;
        }
        match msg.view() {
            gst::MessageView::Element(e)
                if e.structure().is_some_and(|s| s.name() == "violence-score") =>
            {
                scores += 1
            }
            gst::MessageView::Error(e) => {
                let from = msg
                    .src()
                    .map(|s| {
                        s.downcast_ref::<gst::Element>()
                            .and_then(|e| e.factory())
                            .map_or_else(|| s.name().to_string(), |f| f.name().to_string())
                    })
                    .unwrap_or_default();
                error = Some((e.error().to_string(), from));
                ended = true;
                break;
            }
            gst::MessageView::Eos(_) => {
                ended = true;
                break;
            }
            _ => (),
        }
    }
    if !ended {
        let states: Vec<String> = pipeline
            .iterate_recurse()
            .into_iter()
            .flatten()
            .map(|e| format!("{}={:?}", e.name(), e.current_state()))
            .collect();
        eprintln!("{}: hung; states {}", file.display(), states.join(" "));
        // Shutting a hung pipeline down may hang as well: leave it to a thread.
        std::thread::spawn(move || pipeline.set_state(gst::State::Null));
        return Err(format!("no EOS or error within {CASE_DEADLINE:?}"));
    }
    pipeline
        .set_state(gst::State::Null)
        .map_err(|e| format!("to NULL: {e}"))?;
    Ok((error, frames.load(Ordering::Relaxed), scores))
}

/// The shortest clips of each (dataset, label) in the manifest.
fn chosen_clips(dir: &Path) -> Vec<PathBuf> {
    let mut rows = manifest::read(dir, "all").expect("MANIFEST.tsv");
    let group = |r: &manifest::Row| format!("{}/{}", r.dataset, r.label);
    rows.sort_by(|a, b| {
        group(a).cmp(&group(b)).then(
            a.duration_s
                .unwrap_or(f64::MAX)
                .total_cmp(&b.duration_s.unwrap_or(f64::MAX)),
        )
    });
    let mut chosen = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let group_start = rows.iter().position(|r| group(r) == group(row)).unwrap();
        if i - group_start < CLIPS_PER_GROUP {
            chosen.push(dir.join(&row.path));
        }
    }
    chosen
}

#[test]
fn truncated_and_bit_flipped_clips_end_cleanly() {
    let data = shared_data("the clips of ../shared/data");
    init();
    let clips = chosen_clips(&data.join("violence"));
    assert!(clips.len() >= 4, "only {} clips chosen", clips.len());
    let model = model("motion.pt");
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/corrupt-media");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();

    let mut cases = Vec::new();
    for (c, clip) in clips.iter().enumerate() {
        let bytes = Arc::new(std::fs::read(clip).unwrap());
        for (k, m) in mutations(bytes.len(), c as u64 + 1).into_iter().enumerate() {
            // CORRUPT_MEDIA_CASES=3,4 runs only those mutations (to reproduce one).
            if let Ok(only) = std::env::var("CORRUPT_MEDIA_CASES") {
                if !only.split(',').any(|o| o.trim() == k.to_string()) {
                    continue;
                }
            }
            let name = format!(
                "{}#{k}:{m:?}",
                clip.strip_prefix(data.join("violence")).unwrap().display()
            );
            cases.push((c, k, name, bytes.clone(), m));
        }
    }
    let threads: usize = std::env::var("CORRUPT_MEDIA_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(THREADS);
    let t0 = Instant::now();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    let hangs = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((c, k, name, bytes, m)) = cases.get(i) else {
                    break;
                };
                let file = work.join(format!("clip{c}-case{k}.mp4"));
                std::fs::write(&file, m.apply(bytes)).unwrap();
                let start = Instant::now();
                match run_case(&file, &model) {
                    Ok((error, frames, scores)) => results.lock().unwrap().push(CaseResult {
                        name: name.clone(),
                        error,
                        frames,
                        scores,
                        elapsed: start.elapsed(),
                    }),
                    Err(e) => hangs.lock().unwrap().push(format!("{name}: {e}")),
                }
                let _ = std::fs::remove_file(&file);
            });
        }
    });
    let hangs = hangs.into_inner().unwrap();
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.name.cmp(&b.name));

    let mut report = String::from("case\toutcome\tframes\tscores\tseconds\n");
    for r in &results {
        let outcome = match &r.error {
            None => "eos".to_string(),
            Some((msg, from)) => format!("error from {from}: {msg}"),
        };
        report += &format!(
            "{}\t{outcome}\t{}\t{}\t{:.2}\n",
            r.name,
            r.frames,
            r.scores,
            r.elapsed.as_secs_f64()
        );
    }
    std::fs::write(work.join("results.tsv"), &report).unwrap();

    let ours = ["clipbuffer", "violenceclassify"];
    let our_errors: Vec<String> = results
        .iter()
        .filter_map(|r| r.error.as_ref().map(|e| (r, e)))
        .filter(|(_, (_, from))| ours.contains(&from.as_str()))
        .map(|(r, (msg, from))| format!("{}: {from}: {msg}", r.name))
        .collect();
    let empty_errors: Vec<&String> = results
        .iter()
        .filter(|r| r.error.as_ref().is_some_and(|(m, _)| m.trim().is_empty()))
        .map(|r| &r.name)
        .collect();
    // The intact files decode fully and give scores: the pipeline can tell good from bad.
    let intact: Vec<&CaseResult> = results
        .iter()
        .filter(|r| r.name.ends_with(":Intact"))
        .collect();
    let eos = results.iter().filter(|r| r.error.is_none()).count();
    let partial = results
        .iter()
        .filter(|r| r.error.is_some() && r.frames > 0)
        .count();
    let no_preroll = results
        .iter()
        .filter(|r| r.error.as_ref().is_some_and(|(_, from)| from == NO_PREROLL))
        .count();
    let slowest = results.iter().map(|r| r.elapsed).max().unwrap_or_default();
    eprintln!(
        "corrupt media: {} cases from {} clips in {:.1} s ({threads} threads): {} at EOS, {} \
         with an error ({} of them after decoding some frames, {} of them a lost demuxer \
         error caught by the {PREROLL_DEADLINE:?} preroll watchdog), {} hangs, slowest case \
         {:.2} s; table in {}",
        cases.len(),
        clips.len(),
        t0.elapsed().as_secs_f64(),
        eos,
        results.len() - eos,
        partial,
        no_preroll,
        hangs.len(),
        slowest.as_secs_f64(),
        work.join("results.tsv").display()
    );
    assert!(hangs.is_empty(), "hung cases:\n{}", hangs.join("\n"));
    assert_eq!(results.len(), cases.len());
    assert!(
        our_errors.is_empty(),
        "our elements failed:\n{}",
        our_errors.join("\n")
    );
    assert!(
        empty_errors.is_empty(),
        "errors without a message: {empty_errors:?}"
    );
    if std::env::var_os("CORRUPT_MEDIA_CASES").is_none() {
        assert_eq!(intact.len(), clips.len());
    }
    for r in intact {
        assert!(
            r.error.is_none() && r.frames > 10 && r.scores > 0,
            "intact clip {r:?}"
        );
    }
    if std::env::var_os("CORRUPT_MEDIA_CASES").is_none() {
        assert!(cases.len() >= 200, "{} cases", cases.len());
    }
}
