// SPDX-License-Identifier: MPL-2.0

//! Shared by the pipeline benchmarks: time `appsrc ! <middle> fakesink` over prepared buffers.
#![allow(dead_code)]

use gst::prelude::*;
use std::time::Instant;

/// Seconds from PLAYING to EOS for `appsrc ! {middle} fakesink sync=false`, with every
/// buffer queued up front (so no element pays for a copy of a shared buffer).
pub fn run_appsrc(caps: &gst::Caps, middle: &str, buffers: Vec<gst::Buffer>) -> f64 {
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time ! {middle} fakesink sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    src.set_caps(Some(caps));
    src.set_max_bytes(u64::MAX);
    for b in buffers {
        src.push_buffer(b).unwrap();
    }
    src.end_of_stream().unwrap();
    let started = Instant::now();
    pipeline.set_state(gst::State::Playing).unwrap();
    for msg in pipeline.bus().unwrap().iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}: {:?}", e.error(), e.debug()),
            _ => (),
        }
    }
    let t = started.elapsed().as_secs_f64();
    pipeline.set_state(gst::State::Null).unwrap();
    t
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
