//! The workloads of [`hvbench_proto::catalog::WORKLOADS`], each behind one [`Workload`] trait.
//!
//! Setting a workload up ([`prepare`]) allocates and first-touches whatever it needs, outside
//! any timed window; [`Workload::run`] is the timed loop; [`Workload::value`] turns a window
//! into the catalog's metric.

mod chains;
mod clock_gettime;
mod cpu_float;
mod cpu_int;
mod cpuid;
pub mod cpus;
pub mod disk;
mod fork_exec;
mod fork_exit;
mod futex_wake;
mod mem_bandwidth;
mod mem_latency;
mod mmap;
pub mod net;
mod page_fault;
mod pipe_switch;
mod port_io;
pub(crate) mod process;
mod rng;
mod syscall;
mod timer_overshoot;

pub use clock_gettime::{ClockGettime, VdsoProbe};
pub use cpu_float::{CpuFloat, FLOPS_PER_ITERATION};
pub use cpu_int::{CpuInt, OPS_PER_ITERATION};
pub use cpuid::Cpuid;
pub use fork_exec::{ForkExec, EXIT_NOW_FLAG};
pub use fork_exit::ForkExit;
pub use futex_wake::FutexWake;
pub use mem_bandwidth::{auto_size_mib, MemBandwidth, StreamKernel};
pub use mem_latency::MemLatency;
pub use mmap::Mmap;
pub use page_fault::PageFault;
pub use pipe_switch::PipeSwitch;
pub use port_io::PortIo;
pub use syscall::Syscall;
pub use timer_overshoot::TimerOvershoot;

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
    /// What set-up learned about the machine (the disk it chose, the peer it reached), sent
    /// as a `Facts` frame before the first window.
    fn facts(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// A workload that measures a curve (`mem-latency`: one point per working-set size) names
    /// the metric of each point (`latency@64KiB`); each point is selected, calibrated and
    /// measured on its own. Empty (the default): one point, the catalog's metric.
    fn points(&self) -> Vec<String> {
        Vec::new()
    }
    /// Set up point `point` of [`Workload::points`] (untimed) before it is measured.
    fn select_point(&mut self, _point: usize) {}
}

/// What a workload may need from the plan beyond its parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Env<'a> {
    /// The network peer's address ([`hvbench_proto::AgentPlan::peer`]).
    pub peer: Option<&'a str>,
    /// The tools tree ([`hvbench_proto::AgentPlan::tools_root`]), for the `stress-ng`
    /// stressor.
    pub tools_root: Option<&'a str>,
}

/// Look a workload up in the catalog, check its parameters (absent ones take the catalog's
/// defaults) and set it up. The error is a reason fit for a `Failed` frame.
pub fn prepare(
    name: &str,
    params: &BTreeMap<String, Value>,
) -> Result<(&'static WorkloadDef, Box<dyn Workload>), String> {
    prepare_with(name, params, &Env::default())
}

/// [`prepare`], with what the plan provides besides parameters (the network peer).
pub fn prepare_with(
    name: &str,
    params: &BTreeMap<String, Value>,
    env: &Env<'_>,
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
        "cpu-int" => Box::new(CpuInt::new(cpus::thread_count(int_param(
            &params, "threads",
        )?))),
        "cpu-float" => Box::new(CpuFloat::new(cpus::thread_count(int_param(
            &params, "threads",
        )?))),
        "syscall" => Box::new(Syscall),
        "mem-bandwidth" => Box::new(MemBandwidth::from_params(&params)?),
        "mem-latency" => Box::new(MemLatency::new(int_param(&params, "max_size_mib")?)?),
        "page-fault" => Box::new(PageFault::new(int_param(&params, "size_mib")?)?),
        "clock-gettime" => Box::new(ClockGettime::new()),
        "pipe-switch" => Box::new(PipeSwitch::new()?),
        "fork-exit" => Box::new(ForkExit),
        "fork-exec" => Box::new(ForkExec::new()?),
        "mmap" => Box::new(Mmap::new(int_param(&params, "pages")?)?),
        "futex-wake" => Box::new(FutexWake::new(crate::Mode::current())?),
        "timer-overshoot" => Box::new(TimerOvershoot::new(int_param(&params, "sleep_us")?)?),
        "cpuid" => Box::new(Cpuid::new()?),
        "port-io" => Box::new(PortIo::new(crate::Mode::current())?),
        "disk-seq-read" | "disk-seq-write" | "disk-rand-read" | "disk-rand-write"
        | "disk-fsync" => Box::new(disk::Disk::from_params(def.name, &params)?),
        "net-bulk" => {
            let direction = params.get("direction").and_then(Value::as_str);
            let direction = direction
                .and_then(net::Direction::parse)
                .ok_or_else(|| format!("bad direction {direction:?}"))?;
            Box::new(net::NetBulk::connect(env.peer, direction)?)
        }
        "net-rr" => Box::new(net::NetRr::connect(env.peer)?),
        other => {
            return Err(format!(
                "workload `{other}` is in the catalog but not implemented by this agent"
            ))
        }
    };
    Ok((def, workload))
}

/// A resolved integer parameter (the catalog has filled in every default).
fn int_param(params: &BTreeMap<String, Value>, name: &str) -> Result<u64, String> {
    params
        .get(name)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("parameter `{name}` is missing"))
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
        // A peer for the network workloads, as a driver would start one.
        let listener = crate::peer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let peer = crate::peer::spawn(listener).unwrap().to_string();
        let env = Env {
            peer: Some(&peer),
            ..Env::default()
        };
        // General benchmarks run a tool of the tools tree (`crate::run::tool`), not a Workload.
        for def in catalog::WORKLOADS
            .iter()
            .filter(|d| d.class != catalog::WorkloadClass::General)
        {
            let mut params = BTreeMap::new();
            if ["mem-bandwidth", "page-fault"].contains(&def.name) || def.name.starts_with("disk-")
            {
                params.insert("size_mib".to_string(), Value::from(1));
            }
            if def.name == "mem-latency" {
                params.insert("max_size_mib".to_string(), Value::from(1));
            }
            match prepare_with(def.name, &params, &env) {
                Ok(_) => {}
                // A scratch directory on tmpfs (before Linux 6.6) cannot do O_DIRECT.
                Err(e) if e.contains("O_DIRECT not supported") => {}
                // Port I/O never runs outside a guest; futex-wake needs two CPUs.
                Err(e) if def.name == "port-io" && e.starts_with("skipped:") => {}
                Err(e) if def.name == "futex-wake" && e.starts_with("skipped: needs >= 2") => {}
                Err(e) => panic!("{}: {e}", def.name),
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
