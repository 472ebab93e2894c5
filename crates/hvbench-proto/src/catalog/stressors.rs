//! The stressor table of the isolation experiments: each kind with its integer parameters,
//! how to look one up, and what it needs from its platform. Kept apart from the workloads:
//! stressors load a resource, they are not measured.

use super::{Device, STRESS_NG_DEFAULT, STRESS_NG_STRESSORS};

/// A stressor kind of the isolation experiments and the parameters it takes: integers from
/// `min` to `max`, and names from a list. The agent (`hvbench-agent --stress`) implements them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StressorDef {
    pub kind: &'static str,
    pub summary: &'static str,
    /// (name, min, max)
    pub params: &'static [(&'static str, u64, u64)],
    /// Parameters whose value is one of a list of names: (name, the names, default). The
    /// default is filled in by the experiment file's validation, so that plans and cell labels
    /// always say which one runs.
    pub choices: &'static [(&'static str, &'static [&'static str], &'static str)],
    /// The program of the tools tree it runs (docs/architecture.md, "The tools tree"), as
    /// [`super::WorkloadDef::tool`] names it; `None` for the agent's own stressors.
    pub tool: Option<&'static str>,
}

impl StressorDef {
    /// Every parameter name, the integers first.
    pub fn param_names(&self) -> Vec<&'static str> {
        self.params
            .iter()
            .map(|p| p.0)
            .chain(self.choices.iter().map(|c| c.0))
            .collect()
    }
}

const MAX_STRESS_MIB: u64 = 1 << 20;

/// The stressors, after the Isolation Benchmark Suite (Matthews et al., 2007).
pub const STRESSORS: &[StressorDef] = &[
    StressorDef {
        kind: "cpu",
        summary: "spins an integer loop on one CPU",
        params: &[],
        choices: &[],
        tool: None,
    },
    StressorDef {
        kind: "mem-bandwidth",
        summary: "STREAM copy between two arrays of size_mib MiB each (default 256)",
        params: &[("size_mib", 1, MAX_STRESS_MIB)],
        choices: &[],
        tool: None,
    },
    StressorDef {
        kind: "cache",
        summary: "random read-modify-write walk over size_mib MiB (default 32): thrashes the LLC",
        params: &[("size_mib", 1, MAX_STRESS_MIB)],
        choices: &[],
        tool: None,
    },
    StressorDef {
        kind: "memory-bomb",
        summary: "allocates and touches memory until refused (or max_mib), then keeps trying",
        params: &[("max_mib", 1, MAX_STRESS_MIB)],
        choices: &[],
        tool: None,
    },
    StressorDef {
        kind: "fork-bomb",
        summary: "forks children that exit at once, at most max_children alive (default 64)",
        params: &[("max_children", 1, 4096)],
        choices: &[],
        tool: None,
    },
    StressorDef {
        kind: "disk",
        summary: "1 MiB O_DIRECT writes cycling over a size_mib MiB scratch file (default 256)",
        params: &[("size_mib", 1, MAX_STRESS_MIB)],
        choices: &[],
        tool: None,
    },
    StressorDef {
        kind: "net",
        summary: "bulk TCP to the host's peer over `streams` connections (default 1)",
        params: &[("streams", 1, 64)],
        choices: &[],
        tool: None,
    },
    StressorDef {
        kind: "stress-ng",
        summary: "Debian 12's stress-ng from the tools tree running `stressor` (default cpu) with \
                  `instances` copies (default 1): the Isolation Benchmark Suite's misbehaving VM",
        params: &[("instances", 1, 4096)],
        choices: &[("stressor", STRESS_NG_STRESSORS, STRESS_NG_DEFAULT)],
        tool: Some("stress-ng"),
    },
];

/// Look a stressor kind up.
pub fn stressor(kind: &str) -> Option<&'static StressorDef> {
    STRESSORS.iter().find(|s| s.kind == kind)
}

/// What a stressor needs from its platform beyond CPUs and memory.
pub fn stressor_devices(kind: &str) -> &'static [Device] {
    match kind {
        "disk" => &[Device::Disk],
        "net" => &[Device::Network],
        _ if stressor(kind).is_some_and(|d| d.tool.is_some()) => &[Device::Tools],
        _ => &[],
    }
}
