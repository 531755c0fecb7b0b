// SPDX-License-Identifier: MPL-2.0

//! The SSHA hard-attention loop as pure logic (Mohammadi & Nazerfard's semi-supervised
//! hard attention): a q_values model sees the whole frame, picks a prior box (a region
//! action) or a class, looks again at the chosen box, and so on until a class action or
//! the step limit. Boxes are relative (x, y, w, h) in [0, 1].

/// The whole frame.
pub const FULL_FRAME: [f32; 4] = [0.0, 0.0, 1.0, 1.0];

/// What the q-values of one step say to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAction {
    /// Look at prior box `index` of the current region.
    Zoom(usize),
    /// Stop: a class action won, or the step limit forces the best class.
    Decide,
}

/// The best action of a q row [R region actions, non-violent, violent] at step `step`
/// (0-based) of at most `max_steps`.
pub fn next_action(q: &[f32], regions: usize, step: u32, max_steps: u32) -> StepAction {
    let best = q
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |acc, (i, v)| {
            if *v > acc.1 {
                (i, *v)
            } else {
                acc
            }
        });
    if best.0 < regions && step + 1 < max_steps {
        StepAction::Zoom(best.0)
    } else {
        StepAction::Decide
    }
}

/// Prior box `prior` (relative to `current`) as a box relative to the whole frame.
pub fn compose(current: [f32; 4], prior: [f32; 4]) -> [f32; 4] {
    [
        current[0] + prior[0] * current[2],
        current[1] + prior[1] * current[3],
        prior[2] * current[2],
        prior[3] * current[3],
    ]
}

/// A relative box in pixels of a `width` x `height` frame: at least one pixel, inside it.
pub fn to_pixels(rel: [f32; 4], width: u32, height: u32) -> (u32, u32, u32, u32) {
    let clamp = |v: f32, max: u32| (v.round().max(0.0) as u32).min(max);
    let x = clamp(rel[0] * width as f32, width.saturating_sub(1));
    let y = clamp(rel[1] * height as f32, height.saturating_sub(1));
    let right = clamp((rel[0] + rel[2]) * width as f32, width).max(x + 1);
    let bottom = clamp((rel[1] + rel[3]) * height as f32, height).max(y + 1);
    (x, y, right - x, bottom - y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions() {
        // Two regions, then non-violent, violent.
        assert_eq!(
            next_action(&[0.9, 0.1, 0.2, 0.3], 2, 0, 3),
            StepAction::Zoom(0)
        );
        assert_eq!(
            next_action(&[0.1, 0.9, 0.2, 0.3], 2, 1, 3),
            StepAction::Zoom(1)
        );
        assert_eq!(
            next_action(&[0.1, 0.9, 0.2, 0.3], 2, 2, 3),
            StepAction::Decide,
            "step limit"
        );
        assert_eq!(
            next_action(&[0.1, 0.1, 0.2, 0.3], 2, 0, 3),
            StepAction::Decide
        );
        assert_eq!(
            next_action(&[0.9, 0.1, 0.2, 0.3], 2, 0, 1),
            StepAction::Decide
        );
    }

    #[test]
    fn nested_boxes_and_pixels() {
        let top_right = [0.5, 0.0, 0.5, 0.5];
        let r = compose(FULL_FRAME, top_right);
        assert_eq!(r, top_right);
        let r = compose(r, [0.5, 0.5, 0.5, 0.5]);
        assert_eq!(r, [0.75, 0.25, 0.25, 0.25]);
        assert_eq!(to_pixels(r, 640, 480), (480, 120, 160, 120));
        assert_eq!(
            to_pixels([0.99, 0.99, 0.001, 0.001], 100, 100),
            (99, 99, 1, 1)
        );
        assert_eq!(to_pixels(FULL_FRAME, 7, 5), (0, 0, 7, 5));
    }
}
