// SPDX-License-Identifier: MPL-2.0

//! The person detector in libtorch: a TorchScript module taking RGB frames [1,3,H,W] in
//! 0..255 (H and W multiples of 32) and returning [1,K,5] rows (top, left, bottom, right in
//! fractions of the frame, score), as `models/pose/people.py` exports it.

use crate::model::DeviceRequest;
use std::path::Path;
use tch::{CModule, Device, Kind, Tensor};

pub struct Detector {
    module: CModule,
    device: Device,
}

impl Detector {
    /// Loads `path` on `device` and checks, with one forward of a blank frame, that it is a
    /// person detector. Every error names the file and the problem.
    pub fn load(path: &Path, device: DeviceRequest) -> Result<Self, String> {
        if !path.is_file() {
            return Err(format!(
                "person model {} does not exist (models/people.pt is the bundled one)",
                path.display()
            ));
        }
        let device = device.resolve()?;
        crate::model::threads::set_thread_count_once();
        let mut module = CModule::load_on_device(path, device).map_err(|e| {
            format!(
                "person model {} is not a TorchScript module libtorch can load: {}",
                path.display(),
                crate::model::frame_encoder::informative_line(&e.to_string())
            )
        })?;
        module.set_eval();
        // Shipped with half-precision weights (half the file); computed in float.
        module.to(device, Kind::Float, false);
        let detector = Detector { module, device };
        let rows = detector
            .detect(&vec![0u8; 64 * 64 * 3], 64, 64)
            .map_err(|e| format!("person model {}: {e}", path.display()))?;
        if rows.is_empty() {
            return Err(format!(
                "person model {} returned no rows for a blank frame: not a person detector",
                path.display()
            ));
        }
        Ok(detector)
    }

    /// Rows (top, left, bottom, right, score) for one packed RGB frame `width` x `height`.
    pub fn detect(&self, rgb: &[u8], width: u32, height: u32) -> Result<Vec<[f32; 5]>, String> {
        let _guard = tch::no_grad_guard();
        let input = Tensor::from_slice(rgb)
            .view([1, height as i64, width as i64, 3])
            .to_device(self.device)
            .permute([0, 3, 1, 2])
            .to_kind(Kind::Float);
        let output = self.module.forward_ts(&[input]).map_err(|e| {
            crate::model::frame_encoder::informative_line(&e.to_string()).to_string()
        })?;
        let size = output.size();
        if size.len() != 3 || size[0] != 1 || size[2] != 5 {
            return Err(format!(
                "output of shape {size:?}, not [1,K,5] person rows (top, left, bottom, right, score): \
                 not a person detector"
            ));
        }
        let values = Vec::<f32>::try_from(
            output
                .to_device(Device::Cpu)
                .to_kind(Kind::Float)
                .flatten(0, -1),
        )
        .map_err(|e| format!("cannot read the output: {e}"))?;
        Ok(values
            .chunks_exact(5)
            .map(|r| [r[0], r[1], r[2], r[3], r[4]])
            .collect())
    }
}
