// SPDX-License-Identifier: MPL-2.0

//! violenceclassify's inference: streams sharing a model are batched, an inference pool
//! serves several streams, and a model's frame encoder encodes each frame once (or is
//! refused when its contract does not hold).
//! The synthetic video's motion starts and stops at known frames, and the test model is
//! violent exactly for clips in which two consecutive frames differ, so every start and end
//! PTS can be computed here (helpers in common/classify.rs).

mod common;
use common::classify::*;
use common::*;

/// Runs the same synthetic video through `n` pipelines at once, in one process, sharing the
/// model; returns each pipeline's outcome.
fn run_parallel(n: usize, video: &Synthetic, extra: &str) -> Vec<Outcome> {
    init();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let extra = extra.to_string();
            let video = video.clone();
            std::thread::spawn(move || run_synthetic(&video, &classify(&extra)))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn streams_sharing_a_model_are_batched_and_each_exact() {
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 100,
        motion: 30..60,
    };
    let single = run_synthetic(&video, &classify("min-consecutive=1"));
    let outs = run_parallel(
        4,
        &video,
        "min-consecutive=1 batch-size=4 batch-timeout=20000000 stats-interval=40000000",
    );
    let clips = violent_clips(30, 60, 100);
    for out in &outs {
        assert_eq!(out.error, None);
        assert_eq!(
            out.events("violence-start"),
            single
                .events("violence-start")
                .into_iter()
                .map(|mut e| {
                    e.stream_id = out.events("violence-start")[0].stream_id.clone();
                    e
                })
                .collect::<Vec<_>>()
        );
        assert_eq!(
            out.events("violence-end")[0].pts,
            clip_last_ns(*clips.end())
        );
        assert!(
            !out.named("violence-stats").is_empty(),
            "stats are posted periodically"
        );
    }
    let batched = outs
        .iter()
        .flat_map(|o| o.named("violence-stats"))
        .any(|s| s.get::<u32>("last-batch-size").unwrap() > 1);
    assert!(
        batched,
        "four synchronous streams with a batch timeout share forwards"
    );
}

/// The names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .collect()
}

/// `inference-workers=2`: one pool of two threads, each with its own copy of the model,
/// shared by the streams that ask for it; every stream still gets exactly its own events.
#[test]
fn streams_over_an_inference_pool_each_get_their_own_events() {
    init();
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 100,
        motion: 30..60,
    };
    let single = run_synthetic(&video, &classify("min-consecutive=1"));
    let acquire = || {
        gstviolence::model::acquire(
            std::path::Path::new(&model("motion.pt")),
            tch::Device::Cpu,
            false,
            2,
        )
        .unwrap()
    };
    // Held here, the pool the elements below ask for is this one.
    let pool = acquire();
    assert_eq!(pool.workers(), 2);
    let names = thread_names();
    for worker in ["vinfer-cpu-0", "vinfer-cpu-1"] {
        assert!(
            names.iter().any(|n| n == worker),
            "{worker} runs: {names:?}"
        );
    }
    let outs = run_parallel(
        4,
        &video,
        "min-consecutive=1 inference-workers=2 batch-size=4 batch-timeout=20000000",
    );
    for out in &outs {
        assert_eq!(out.error, None);
        let starts = out.events("violence-start");
        assert_eq!(starts.len(), 1, "{starts:?}");
        let expected = only(single.events("violence-start"));
        assert_eq!(starts[0].pts, expected.pts);
        assert_eq!(starts[0].clip_end, expected.clip_end);
        assert_eq!(
            out.events("violence-end")[0].pts,
            single.events("violence-end")[0].pts
        );
    }
    assert!(
        std::sync::Arc::ptr_eq(&pool, &acquire()),
        "one pool per key"
    );
}

/// A model with a frame encoder scores as its plain forward does, event for event, while
/// each sampled frame is encoded once although every frame is in up to T/STRIDE clips.
#[test]
fn a_frame_encoder_encodes_each_frame_once_and_scores_as_forward() {
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 120,
        motion: 30..60,
    };
    let run = |file: &str| {
        let launch = format!(
            "clipbuffer stride={STRIDE} ! violenceclassify model-location={} mode=sync \
             emit-scores=true min-consecutive=2 stats-interval={FRAME_NS}",
            model(file)
        );
        let out = run_synthetic(&video, &launch);
        assert_eq!(out.error, None);
        out
    };
    let (plain, encoded) = (run("motion.pt"), run("motion-encoded.pt"));
    let scores = |out: &Outcome| -> Vec<(u64, bool)> {
        let scored = out.events("violence-score");
        scored.iter().map(|e| (e.pts, e.score >= 0.5)).collect()
    };
    assert_eq!(scores(&plain), scores(&encoded));
    for kind in ["violence-start", "violence-end"] {
        let pts = |out: &Outcome| out.events(kind).iter().map(|e| e.pts).collect::<Vec<_>>();
        assert_eq!(pts(&plain), pts(&encoded), "{kind}");
        assert_eq!(pts(&encoded).len(), 1, "{kind}");
    }
    let encoded_frames = |out: &Outcome| {
        let stats = out.named("violence-stats");
        stats
            .iter()
            .map(|s| s.get::<u64>("frames-encoded").unwrap())
            .max()
    };
    assert_eq!(encoded_frames(&plain), Some(0));
    let clips = scores(&encoded).len() as u64;
    let frames = encoded_frames(&encoded).unwrap();
    // The last stats message may come before the last clips; every clip brings STRIDE new
    // frames after the first, which brings T.
    assert!(
        frames <= video.frames && frames >= T + STRIDE * (clips - 1) - 4 * STRIDE,
        "{frames} frames encoded for {clips} clips of {T} frames"
    );
}

/// A file whose head(encode(frames)) is not its forward is refused at start, by name.
#[test]
fn a_frame_encoder_that_breaks_the_contract_is_refused() {
    let launch = format!(
        "videotestsrc num-buffers=20 ! video/x-raw,width=64,height=64 ! clipbuffer ! \
         violenceclassify model-location={} ! fakesink",
        model("encoder-mismatch.pt")
    );
    let error = start_error(&launch).expect("the model is refused");
    assert!(error.contains("encoder-mismatch.pt"), "{error}");
    assert!(
        error.contains("frame_encoder contract does not hold"),
        "{error}"
    );
}
