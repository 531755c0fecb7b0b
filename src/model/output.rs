// SPDX-License-Identifier: MPL-2.0

//! A forward's output, checked against the shape the model's contract promises and read
//! back as rows of f32, one per clip of the batch.

use super::contract::{ModelConfig, OutputKind};
use tch::{Device, Kind, Tensor};

/// Checks a [B, output_len] output and returns it as rows of f32.
pub fn output_rows(
    config: &ModelConfig,
    output: Tensor,
    batch: usize,
) -> Result<Vec<Vec<f32>>, String> {
    let size = output.size();
    if size != [batch as i64, config.output_len as i64] {
        return Err(format!(
            "wrong output shape {size:?}, expected [{batch}, {}] ({} output{})",
            config.output_len,
            match config.output {
                OutputKind::Logits => "logits",
                OutputKind::QValues => "q_values",
            },
            if config.output_len == 1 { "" } else { "s" }
        ));
    }
    let flat = output
        .f_to_kind(Kind::Float)
        .and_then(|t| t.f_to_device(Device::Cpu))
        .and_then(|t| t.f_contiguous())
        .map_err(|e| e.to_string())?;
    let values = Vec::<f32>::try_from(flat.view([-1])).map_err(|e| e.to_string())?;
    Ok(values
        .chunks(config.output_len)
        .map(<[f32]>::to_vec)
        .collect())
}
