// SPDX-License-Identifier: MPL-2.0

//! The hard-attention models' step loop (`q_values` output with `prior_boxes`), run by an
//! inference worker.

use super::{rgb_planes, ClipJob, Runner};
use crate::model::attention::{compose, next_action, to_pixels, StepAction, FULL_FRAME};
use crate::model::contract::{InputKind, ModelConfig};
use crate::model::inputs::{flow_input, frames_tensor, normalize, rgb_input, step_one_hot};
use tch::{Kind, Tensor};

impl Runner {
    /// The hard-attention loop for a batch: every clip still deciding goes through one
    /// forward per step; a clip leaves the batch when a class action wins or at the step
    /// limit. Each clip's attention frames are uploaded once; every later step is one crop
    /// and one bilinear resize on the model's device. Returns (last q row, steps, region).
    #[allow(clippy::type_complexity)]
    pub(super) fn attend(
        &self,
        config: &ModelConfig,
        batch: &[ClipJob],
    ) -> Result<Vec<(Vec<f32>, u32, Option<[f32; 4]>)>, String> {
        let device = self.key.device;
        let (h, w) = (config.height as i64, config.width as i64);
        let sources: Vec<Tensor> = batch
            .iter()
            .map(|job| frames_tensor(job.clip.attention.as_ref().unwrap_or(&job.clip.rgb), device))
            .collect::<Result<_, _>>()?;
        let flows: Vec<Tensor> = if config.uses(InputKind::Flow) {
            batch
                .iter()
                .map(|job| {
                    flow_input(config, &[job.clip.flow.as_ref()], device, Kind::Float)
                        .map(|f| f.squeeze_dim(0))
                })
                .collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        let mut regions = vec![FULL_FRAME; batch.len()];
        let mut decided: Vec<Option<(Vec<f32>, u32)>> = vec![None; batch.len()];
        for step in 0..config.max_steps {
            let active: Vec<usize> = (0..batch.len()).filter(|i| decided[*i].is_none()).collect();
            if active.is_empty() {
                break;
            }
            let inputs: Vec<Tensor> = config
                .inputs
                .iter()
                .map(|kind| match kind {
                    // Step 0 sees the whole frame exactly as a whole-frame model would.
                    InputKind::Rgb if step == 0 => {
                        rgb_input(config, &rgb_planes(batch), device, self.kind())
                    }
                    InputKind::Rgb => {
                        let crops: Vec<Tensor> = active
                            .iter()
                            .map(|i| {
                                let src = &sources[*i];
                                let (sh, sw) = (src.size()[2], src.size()[3]);
                                let (x, y, cw, ch) = to_pixels(regions[*i], sw as u32, sh as u32);
                                src.narrow(3, x as i64, cw as i64)
                                    .narrow(2, y as i64, ch as i64)
                                    .upsample_bilinear2d([h, w], false, None, None)
                                    .permute([1, 0, 2, 3])
                            })
                            .collect();
                        Ok(normalize(
                            Tensor::stack(&crops, 0),
                            config,
                            device,
                            self.kind(),
                        ))
                    }
                    InputKind::Flow => {
                        let crops: Vec<Tensor> = active
                            .iter()
                            .map(|i| {
                                // The flow clip exists at model size only: its crop is
                                // resized up, and its vectors grow by the zoom factor.
                                let (x, y, cw, ch) = to_pixels(regions[*i], w as u32, h as u32);
                                let crop = flows[*i]
                                    .permute([1, 0, 2, 3])
                                    .narrow(3, x as i64, cw as i64)
                                    .narrow(2, y as i64, ch as i64)
                                    .upsample_bilinear2d([h, w], false, None, None);
                                let zoom = Tensor::from_slice(&[
                                    w as f32 / cw as f32,
                                    h as f32 / ch as f32,
                                ])
                                .view([1, 2, 1, 1])
                                .to_device(device);
                                (crop * zoom).permute([1, 0, 2, 3])
                            })
                            .collect();
                        Ok(Tensor::stack(&crops, 0).to_kind(self.kind()))
                    }
                    InputKind::Step => Ok(step_one_hot(
                        active.len() as i64,
                        step as i64,
                        config.max_steps,
                        (self.kind(), device),
                    )),
                })
                .collect::<Result<_, String>>()?;
            let rows = self.forward(config, &inputs, active.len())?;
            for (row, &i) in rows.into_iter().zip(&active) {
                match next_action(&row, config.prior_boxes.len(), step, config.max_steps) {
                    StepAction::Zoom(b) => regions[i] = compose(regions[i], config.prior_boxes[b]),
                    StepAction::Decide => decided[i] = Some((row, step + 1)),
                }
            }
        }
        Ok(decided
            .into_iter()
            .zip(regions)
            .map(|(d, region)| {
                let (row, steps) = d.expect("the step limit decides every clip");
                (row, steps, (steps > 1).then_some(region))
            })
            .collect())
    }
}
