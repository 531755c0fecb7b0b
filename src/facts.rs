// SPDX-License-Identifier: MPL-2.0

//! The vocabulary that clip shapes (`clipshape`) and the model contract (`model::contract`)
//! share: the kinds of model input, and how a fact set on an element overrides the model's.
//! A leaf module, so that neither of the two needs the other for it.

use serde::Deserialize;
use std::fmt;

/// One positional model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    /// Float[B,3,T,H,W], normalized.
    Rgb,
    /// Float[B,2,T,H,W], model-size pixels per frame.
    Flow,
    /// Float[B,S], one-hot attention step.
    Step,
}

impl InputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Rgb => "rgb",
            InputKind::Flow => "flow",
            InputKind::Step => "step",
        }
    }
}

/// Parses `rgb`, `rgb+flow`, `rgb,flow,step`, ... as the ordered list of inputs.
pub fn parse_inputs(s: &str) -> Result<Vec<InputKind>, String> {
    let mut inputs = Vec::new();
    for part in s.split(['+', ',']).map(str::trim) {
        let kind = match part {
            "rgb" => InputKind::Rgb,
            "flow" => InputKind::Flow,
            "step" => InputKind::Step,
            other => {
                return Err(format!(
                    "unknown input '{other}' (expected rgb, flow or step)"
                ))
            }
        };
        if inputs.contains(&kind) {
            return Err(format!("input '{part}' listed twice"));
        }
        inputs.push(kind);
    }
    if !inputs
        .iter()
        .any(|k| matches!(k, InputKind::Rgb | InputKind::Flow))
    {
        return Err(format!("inputs '{s}' contain neither rgb nor flow"));
    }
    Ok(inputs)
}

pub fn inputs_to_string(inputs: &[InputKind]) -> String {
    inputs
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join("+")
}

/// A fact chosen by a property over the file, to be logged.
#[derive(Debug, Clone, PartialEq)]
pub struct OverrideNote {
    pub fact: &'static str,
    pub file_value: String,
    pub property_value: String,
}

impl fmt::Display for OverrideNote {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "property {}={} overrides the model's {}",
            self.fact, self.property_value, self.file_value
        )
    }
}

/// The precedence rule of docs/architecture.md for one fact: the property `set` on the element wins,
/// then what the `model` says, then `default`. A property that differs from the model's
/// value is noted, to be logged.
pub fn pick<T: Clone + PartialEq + fmt::Debug>(
    fact: &'static str,
    set: &Option<T>,
    model: &Option<T>,
    default: &Option<T>,
    notes: &mut Vec<OverrideNote>,
) -> Option<T> {
    if let (Some(s), Some(m)) = (set, model) {
        if s != m {
            notes.push(OverrideNote {
                fact,
                file_value: format!("{m:?}"),
                property_value: format!("{s:?}"),
            });
        }
    }
    set.clone()
        .or_else(|| model.clone())
        .or_else(|| default.clone())
}
