// SPDX-License-Identifier: MPL-2.0

//! The inference threads end, their models freed, by the time the last element that uses
//! them has stopped: a thread still freeing libtorch memory while the process exits corrupts
//! the heap (seen at the end of a benchmark). One test in its own binary, so that no other
//! test's pool is alive beside it.

mod common;

use common::*;

#[test]
fn inference_threads_are_gone_when_their_last_user_is() {
    // The pool directly: two threads while a handle lives, none once it is dropped.
    let path = model("motion.pt");
    let pool = gstviolence::model::acquire(path.as_ref(), tch::Device::Cpu, false, 2).unwrap();
    assert_eq!(gstviolence::model::live_workers(), 2);
    drop(pool);
    assert_eq!(
        gstviolence::model::live_workers(),
        0,
        "dropping the pool waits for its threads"
    );

    // Through an element: after the pipeline stops, nothing is left running.
    let video = Synthetic {
        width: 64,
        height: 64,
        frames: 40,
        motion: 10..20,
    };
    let out = run_synthetic(
        &video,
        &format!("clipbuffer ! violenceclassify inference-workers=2 model-location={path}"),
    );
    assert_eq!(out.error, None);
    assert_eq!(out.buffers.len(), 40);
    assert_eq!(
        gstviolence::model::live_workers(),
        0,
        "the stopped element's pool is joined"
    );
}
