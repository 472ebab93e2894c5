//! The workloads the agent knows: names, metrics, units, direction and parameters.
//! The experiment-file parser validates against this table, the agent runs from it, and the
//! report labels with it, so all three agree by construction.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Which direction of a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Higher,
    Lower,
}

impl Better {
    pub fn as_str(self) -> &'static str {
        match self {
            Better::Higher => "higher",
            Better::Lower => "lower",
        }
    }
}

impl fmt::Display for Better {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
}

#[derive(Debug, Clone, Copy)]
pub struct ParamDef {
    pub name: &'static str,
    pub kind: ParamKind,
    pub help: &'static str,
}

/// One workload of the battery.
#[derive(Debug, Clone, Copy)]
pub struct WorkloadDef {
    pub name: &'static str,
    pub summary: &'static str,
    pub metric: &'static str,
    pub unit: &'static str,
    pub better: Better,
    pub params: &'static [ParamDef],
}

/// Every workload the agent implements.
pub const WORKLOADS: &[WorkloadDef] = &[
    WorkloadDef {
        name: "cpu-int",
        summary: "integer CPU throughput: a dependent chain of multiply/xor/shift/add steps (xorshift-multiply mix)",
        metric: "throughput",
        unit: "Mop/s",
        better: Better::Higher,
        params: &[],
    },
    WorkloadDef {
        name: "syscall",
        summary: "null system call latency: getppid(2) through the raw syscall instruction (never the vDSO)",
        metric: "latency",
        unit: "ns",
        better: Better::Lower,
        params: &[],
    },
    WorkloadDef {
        name: "mem-bandwidth",
        summary: "memory bandwidth, STREAM-style kernels over three arrays of f64",
        metric: "bandwidth",
        unit: "MB/s",
        better: Better::Higher,
        params: &[
            ParamDef {
                name: "kernel",
                kind: ParamKind::Choice { choices: &["copy", "scale", "add", "triad"], default: "triad" },
                help: "STREAM kernel: copy a=b, scale a=q*b, add a=b+c, triad a=b+q*c",
            },
            ParamDef {
                name: "size_mib",
                kind: ParamKind::Int { min: 1, max: 65536, default: 64 },
                help: "size of each of the three arrays in MiB (STREAM asks for at least 4x the last-level cache)",
            },
        ],
    },
];

/// Look a workload up by name.
pub fn workload(name: &str) -> Option<&'static WorkloadDef> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// The names of all workloads, for error messages.
pub fn workload_names() -> Vec<&'static str> {
    WORKLOADS.iter().map(|w| w.name).collect()
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

    /// Guest memory this workload needs beyond the kernel's own, given resolved parameters.
    pub fn memory_need_mib(&self, params: &BTreeMap<String, Value>) -> u64 {
        match self.name {
            "mem-bandwidth" => 3 * params.get("size_mib").and_then(Value::as_u64).unwrap_or(0),
            _ => 0,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn defaults_are_filled_in() {
        let w = workload("mem-bandwidth").unwrap();
        let r = w.resolve(&BTreeMap::new()).unwrap();
        assert_eq!(r["kernel"], "triad");
        assert_eq!(r["size_mib"], 64);
        assert_eq!(w.memory_need_mib(&r), 192);
    }

    #[test]
    fn bad_parameters_are_named() {
        let w = workload("mem-bandwidth").unwrap();
        let e = w
            .resolve(&params(&[("kernel", Value::from("daxpy"))]))
            .unwrap_err();
        assert_eq!(e.param, "kernel");
        assert!(e.message.contains("\"triad\""));
        let e = w
            .resolve(&params(&[("size_mib", Value::from(0))]))
            .unwrap_err();
        assert_eq!(e.param, "size_mib");
        let e = w.resolve(&params(&[("size", Value::from(1))])).unwrap_err();
        assert!(e.message.contains("size_mib"));
        let e = workload("syscall")
            .unwrap()
            .resolve(&params(&[("x", Value::from(1))]))
            .unwrap_err();
        assert!(e.message.contains("takes no parameters"));
    }

    #[test]
    fn names_are_unique() {
        let mut names = workload_names();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), WORKLOADS.len());
    }
}
