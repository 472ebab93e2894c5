//! The workloads the agent knows: names, metrics, units, direction and parameters.
//! The experiment-file parser validates against this table, the agent runs from it, and the
//! report labels with it, so all three agree by construction. This file holds the shared
//! types; the tables are in `workloads` and `stressors`, parameter checks in `params`.

mod params;
mod stressors;
mod workloads;

use serde::{Deserialize, Serialize};
use std::fmt;

pub use params::{ParamDef, ParamError, ParamKind};
pub use stressors::{stressor, stressor_devices, StressorDef, STRESSORS};
pub use workloads::{
    workload, workload_names, WorkloadDef, MEM_BANDWIDTH_AUTO_FLOOR_MIB, STRESS_NG_DEFAULT,
    STRESS_NG_STRESSORS, WORKLOADS,
};

/// Which direction of a metric is better: the one type for it in every crate. It is stored, and
/// written to JSON and CSV, as `higher` or `lower` ([`Better::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Higher,
    Lower,
}

impl Better {
    /// As stored: `higher` or `lower`.
    pub fn as_str(self) -> &'static str {
        match self {
            Better::Higher => "higher",
            Better::Lower => "lower",
        }
    }

    /// From a stored `better` field: `higher` or `lower`; anything else is unknown.
    pub fn parse(better: &str) -> Option<Better> {
        [Better::Higher, Better::Lower]
            .into_iter()
            .find(|b| b.as_str() == better)
    }

    /// In words: `higher is better`, `lower is better`.
    pub fn describe(self) -> &'static str {
        match self {
            Better::Higher => "higher is better",
            Better::Lower => "lower is better",
        }
    }

    /// How many times worse `other / baseline = ratio` is: > 1 worse, < 1 better.
    pub fn times_worse(self, ratio: f64) -> f64 {
        match self {
            Better::Lower => ratio,
            Better::Higher => 1.0 / ratio,
        }
    }
}

impl fmt::Display for Better {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What part of a platform a workload exercises: each workload of the catalog has one
/// ([`WorkloadDef::class`]); `Other` is for a workload outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadClass {
    Cpu,
    Memory,
    KernelPaths,
    Exits,
    Disk,
    Network,
    /// The field's own benchmark tools (sysbench, stress-ng, ...), Debian 12's builds, run the
    /// same way in every guest and on the host.
    General,
    Other,
}

impl WorkloadClass {
    /// In report order.
    pub const ALL: [WorkloadClass; 8] = [
        WorkloadClass::Cpu,
        WorkloadClass::Memory,
        WorkloadClass::KernelPaths,
        WorkloadClass::Exits,
        WorkloadClass::Disk,
        WorkloadClass::Network,
        WorkloadClass::General,
        WorkloadClass::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            WorkloadClass::Cpu => "CPU",
            WorkloadClass::Memory => "memory",
            WorkloadClass::KernelPaths => "kernel paths",
            WorkloadClass::Exits => "virtualization exits",
            WorkloadClass::Disk => "disk",
            WorkloadClass::Network => "network",
            WorkloadClass::General => "general benchmarks",
            WorkloadClass::Other => "other",
        }
    }
}

/// A device a workload needs from its platform, beyond CPUs and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    /// A scratch block device (in a guest) or a directory on a real file system (on a host).
    Disk,
    /// A network path to a peer on the host.
    Network,
    /// The tools tree (Debian's benchmark tools as files): a directory on a host, a read-only
    /// disk labelled [`crate::TOOLS_LABEL`] in a guest.
    Tools,
}

#[cfg(test)]
mod tests;
