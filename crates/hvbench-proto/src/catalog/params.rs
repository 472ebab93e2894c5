//! Workload parameters: their kinds and ranges, and the checking of user-given values against
//! them ([`WorkloadDef::resolve`]), with the error that names what does not fit. The tables
//! that use them are in `workloads`.

use super::WorkloadDef;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// The kind and range of one workload parameter.
#[derive(Debug, Clone, Copy)]
pub enum ParamKind {
    Int {
        min: u64,
        max: u64,
        default: u64,
    },
    Choice {
        choices: &'static [&'static str],
        default: &'static str,
    },
    /// `true` or `false` (a TOML boolean).
    Bool {
        default: bool,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct ParamDef {
    pub name: &'static str,
    pub kind: ParamKind,
    pub help: &'static str,
}

impl WorkloadDef {
    /// Check user-given parameters and fill in defaults. The error names the parameter and
    /// says what is allowed.
    pub fn resolve(
        &self,
        given: &BTreeMap<String, Value>,
    ) -> Result<BTreeMap<String, Value>, ParamError> {
        for key in given.keys() {
            if !self.params.iter().any(|p| p.name == key) {
                return Err(ParamError {
                    param: key.clone(),
                    message: if self.params.is_empty() {
                        format!("workload `{}` takes no parameters", self.name)
                    } else {
                        format!(
                            "unknown parameter for workload `{}`; expected one of: {}",
                            self.name,
                            self.params
                                .iter()
                                .map(|p| p.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    },
                });
            }
        }
        let mut out = BTreeMap::new();
        for p in self.params {
            let value = match (given.get(p.name), p.kind) {
                (None, ParamKind::Int { default, .. }) => Value::from(default),
                (None, ParamKind::Choice { default, .. }) => Value::from(default),
                (None, ParamKind::Bool { default }) => Value::from(default),
                (Some(v), ParamKind::Bool { .. }) => match v.as_bool() {
                    Some(b) => Value::from(b),
                    None => {
                        return Err(ParamError {
                            param: p.name.into(),
                            message: format!("must be true or false ({})", p.help),
                        })
                    }
                },
                (Some(v), ParamKind::Int { min, max, .. }) => match v.as_u64() {
                    Some(n) if (min..=max).contains(&n) => Value::from(n),
                    _ => {
                        return Err(ParamError {
                            param: p.name.into(),
                            message: format!("must be an integer from {min} to {max} ({})", p.help),
                        })
                    }
                },
                (Some(v), ParamKind::Choice { choices, .. }) => match v.as_str() {
                    Some(s) if choices.contains(&s) => Value::from(s),
                    _ => {
                        return Err(ParamError {
                            param: p.name.into(),
                            message: format!("must be one of {} ({})", quoted(choices), p.help),
                        })
                    }
                },
            };
            out.insert(p.name.to_string(), value);
        }
        Ok(out)
    }
}

fn quoted(choices: &[&str]) -> String {
    choices
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A parameter that does not fit its workload.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    pub param: String,
    pub message: String,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.param, self.message)
    }
}

impl std::error::Error for ParamError {}
