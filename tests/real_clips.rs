// SPDX-License-Identifier: MPL-2.0

//! The real labelled clips in ../shared/data/violence through the full pipeline with the
//! bundled model: the shortest clips and a sample of each dataset and label, each must
//! give at least one score and no error.

mod common;
use common::*;
use gst::prelude::*;
use gstviolence_tools::manifest;

#[test]
fn real_clips_all_get_scores() {
    let data = shared_data("the clips of ../shared/data");
    let dir = data.join("violence");
    let mut rows: Vec<manifest::Row> = manifest::read(&dir, "all")
        .expect("MANIFEST.tsv")
        .into_iter()
        .filter(|r| r.duration_s.is_some())
        .collect();
    assert!(rows.len() > 1000, "manifest has {} rows", rows.len());
    rows.sort_by(|a, b| a.duration_s.unwrap().total_cmp(&b.duration_s.unwrap()));
    let mut chosen: Vec<&manifest::Row> = rows.iter().take(10).collect();
    chosen.extend(rows.iter().skip(10).step_by(40));
    init();
    let model = format!("{}/models/default.pt", env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    for row in &chosen {
        let (path, dataset, duration) = (&row.path, &row.dataset, row.duration_s.unwrap());
        let uri = row.uri(&dir).unwrap();
        let pipeline = gst::parse::launch(&format!(
            "uridecodebin uri={uri} ! videoconvert ! clipbuffer ! violenceclassify mode=sync emit-scores=true model-location={model} ! fakesink"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let out = run_pipeline(&pipeline, || {});
        let scores = out.events("violence-score");
        if out.error.is_some() || scores.is_empty() {
            failures.push(format!(
                "{path} ({dataset}, {duration} s): {} scores, error {:?}",
                scores.len(),
                out.error
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} clips failed:\n{}",
        failures.len(),
        chosen.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} real clips scored, shortest {:.2} s",
        chosen.len(),
        rows[0].duration_s.unwrap()
    );
}
