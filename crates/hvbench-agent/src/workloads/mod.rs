//! The workloads of [`hvbench_proto::catalog::WORKLOADS`], each behind one [`Workload`] trait.
//!
//! Setting a workload up ([`prepare`]) allocates and first-touches whatever it needs, outside
//! any timed window; [`Workload::run`] is the timed loop; [`Workload::value`] turns a window
//! into the catalog's metric.

mod cpu_int;
mod mem_bandwidth;
mod syscall;

pub use cpu_int::{CpuInt, OPS_PER_ITERATION};
pub use mem_bandwidth::{MemBandwidth, StreamKernel};
pub use syscall::Syscall;

use hvbench_proto::catalog::{self, WorkloadDef};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// One workload, set up and ready to be timed.
pub trait Workload {
    /// Run `iterations` iterations of the timed loop. All set-up is done before.
    fn run(&mut self, iterations: u64);
    /// The catalog metric for a window of `iterations` iterations that took `elapsed`.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64;
}

/// Look a workload up in the catalog, check its parameters (absent ones take the catalog's
/// defaults) and set it up. The error is a reason fit for a `Failed` frame.
pub fn prepare(
    name: &str,
    params: &BTreeMap<String, Value>,
) -> Result<(&'static WorkloadDef, Box<dyn Workload>), String> {
    let def = catalog::workload(name).ok_or_else(|| {
        format!(
            "unknown workload `{name}`; this agent ({}) knows: {}",
            crate::AGENT_VERSION,
            catalog::workload_names().join(", ")
        )
    })?;
    let params = def
        .resolve(params)
        .map_err(|e| format!("bad parameter {e}"))?;
    let workload: Box<dyn Workload> = match def.name {
        "cpu-int" => Box::new(CpuInt::new()),
        "syscall" => Box::new(Syscall),
        "mem-bandwidth" => Box::new(MemBandwidth::from_params(&params)?),
        other => {
            return Err(format!(
                "workload `{other}` is in the catalog but not implemented by this agent"
            ))
        }
    };
    Ok((def, workload))
}

/// `count` events in `elapsed`, per microsecond (events / µs = millions of events / s).
fn per_microsecond(count: f64, elapsed: Duration) -> f64 {
    count / (elapsed.as_nanos() as f64 / 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_workload_is_implemented() {
        for def in catalog::WORKLOADS {
            let mut params = BTreeMap::new();
            if def.name == "mem-bandwidth" {
                params.insert("size_mib".to_string(), Value::from(1));
            }
            if let Err(e) = prepare(def.name, &params) {
                panic!("{}: {e}", def.name);
            }
        }
    }

    #[test]
    fn unknown_workload_names_the_known_ones() {
        let e = prepare("fork-bomb", &BTreeMap::new()).err().unwrap();
        assert!(
            e.contains("fork-bomb") && e.contains("mem-bandwidth"),
            "{e}"
        );
    }

    #[test]
    fn bad_parameters_are_refused_with_the_catalog_message() {
        let mut params = BTreeMap::new();
        params.insert("kernel".to_string(), Value::from("daxpy"));
        let e = prepare("mem-bandwidth", &params).err().unwrap();
        assert!(e.contains("kernel") && e.contains("triad"), "{e}");
        params.clear();
        params.insert("x".to_string(), Value::from(1));
        let e = prepare("syscall", &params).err().unwrap();
        assert!(e.contains("takes no parameters"), "{e}");
    }
}
