// SPDX-License-Identifier: MPL-2.0

//! Builds or extends a camera's calibration file (violenceclassify `calibration-location`)
//! from its own ordinary footage: a recorded file or a live stream, for at most N minutes.
//! With `--false-alarm`, the footage is a recorded false alarm an operator wants the camera
//! to stop raising. The file is tied to the model: another model's file is refused.
//!
//! Usage: calibrate MODEL CALIBRATION_FILE SOURCE [--minutes N] [--false-alarm]
//!   SOURCE: a file path or a URI (rtsp://..., file://...)
//!
//! It runs (with `persondetect` before clipbuffer for a model trained on people crops, as
//! it is served)
//!   uridecodebin uri=SOURCE ! videoconvert ! clipbuffer
//!     ! violenceclassify model-location=MODEL calibration-location=FILE calibration-mode=learn
//!     ! fakesink
//! and stops at the end of the footage or after N minutes of it (EOS, so the file is written).

use gst::prelude::*;
use gstviolence::violenceclassify::calibration::{Calibration, ModelFingerprint};
use std::path::Path;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut positional = Vec::new();
    let (mut minutes, mut false_alarm) = (None::<f64>, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--minutes" => {
                minutes = Some(
                    args.next()
                        .and_then(|m| m.parse().ok())
                        .filter(|m: &f64| *m > 0.0)
                        .ok_or("--minutes needs a positive number")?,
                )
            }
            "--false-alarm" => false_alarm = true,
            _ => positional.push(arg),
        }
    }
    let [model, file, source] = positional.as_slice() else {
        return Err(
            "usage: calibrate MODEL CALIBRATION_FILE SOURCE [--minutes N] [--false-alarm]".into(),
        );
    };
    let uri = if source.contains("://") {
        source.clone()
    } else {
        let path = std::fs::canonicalize(source).map_err(|e| format!("{source}: {e}"))?;
        gst::glib::filename_to_uri(&path, None)
            .map_err(|e| e.to_string())?
            .to_string()
    };
    gst::init().map_err(|e| e.to_string())?;
    gstviolence::plugin_register_static().map_err(|e| e.to_string())?;
    let mode = if false_alarm {
        "learn-false-alarm"
    } else {
        "learn"
    };
    // A model trained on people crops is served behind persondetect, so its calibration must
    // learn the same crops (clipbuffer cuts them), not the whole frames. Loaded as the
    // element's defaults load it (device auto, one worker) and held while the pipeline runs,
    // so that violenceclassify shares this load instead of making its own.
    let loaded = gstviolence::model::acquire(
        Path::new(model),
        gstviolence::model::DeviceRequest::Auto.resolve()?,
        false,
        1,
    )?;
    let people_crop = loaded
        .info()
        .metadata
        .as_ref()
        .is_some_and(|m| m.people_crop);
    let front = if people_crop {
        eprintln!("the model was trained on people crops: persondetect before clipbuffer");
        "persondetect ! "
    } else {
        ""
    };
    let pipeline = gst::parse::launch(&format!(
        "uridecodebin uri=\"{uri}\" ! videoconvert ! {front}clipbuffer ! violenceclassify \
         model-location=\"{model}\" calibration-location=\"{file}\" calibration-mode={mode} \
         ! fakesink sync=false"
    ))
    .map_err(|e| e.to_string())?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot start: {e}"))?;
    let limit = minutes.map(|m| gst::ClockTime::from_nseconds((m * 60e9) as u64));
    let bus = pipeline.bus().ok_or("no bus")?;
    let mut eos_sent = false;
    let result = loop {
        let msg = bus.timed_pop(gst::ClockTime::from_mseconds(200));
        let position = pipeline.query_position::<gst::ClockTime>();
        if let (Some(limit), Some(position), false) = (limit, position, eos_sent) {
            if position >= limit {
                eprintln!("{} of footage: stopping", position.display());
                pipeline.send_event(gst::event::Eos::new());
                eos_sent = true;
            }
        }
        let Some(msg) = msg else { continue };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => {
                break Err(format!("{}: {}", e.error(), e.debug().unwrap_or_default()))
            }
            _ => (),
        }
    };
    // The learned windows are written when violenceclassify stops.
    let stopped = pipeline.set_state(gst::State::Null);
    drop(loaded);
    result?;
    stopped.map_err(|e| format!("cannot stop: {e}"))?;
    let model = ModelFingerprint::of_file(Path::new(model))?;
    let calibration = Calibration::load(Path::new(file), &model)?;
    println!(
        "{file}: {} windows, {:.0} s of normal footage, {:.0} s of false alarms (model {})",
        calibration.windows.len(),
        calibration.normal_seconds,
        calibration.false_alarm_seconds,
        calibration.model.file_name
    );
    Ok(())
}
