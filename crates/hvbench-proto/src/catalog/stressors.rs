//! The stressor table of the isolation experiments: each kind with its integer parameters,
//! how to look one up, and what it needs from its platform. Kept apart from the workloads:
//! stressors load a resource, they are not measured.

use super::Device;

/// A stressor kind of the isolation experiments and the parameters it takes: each an integer
/// from `min` to `max`. The agent (`hvbench-agent --stress`) implements them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StressorDef {
    pub kind: &'static str,
    pub summary: &'static str,
    /// (name, min, max)
    pub params: &'static [(&'static str, u64, u64)],
}

const MAX_STRESS_MIB: u64 = 1 << 20;

/// The stressors, after the Isolation Benchmark Suite (Matthews et al., 2007).
pub const STRESSORS: &[StressorDef] = &[
    StressorDef {
        kind: "cpu",
        summary: "spins an integer loop on one CPU",
        params: &[],
    },
    StressorDef {
        kind: "mem-bandwidth",
        summary: "STREAM copy between two arrays of size_mib MiB each (default 256)",
        params: &[("size_mib", 1, MAX_STRESS_MIB)],
    },
    StressorDef {
        kind: "cache",
        summary: "random read-modify-write walk over size_mib MiB (default 32): thrashes the LLC",
        params: &[("size_mib", 1, MAX_STRESS_MIB)],
    },
    StressorDef {
        kind: "memory-bomb",
        summary: "allocates and touches memory until refused (or max_mib), then keeps trying",
        params: &[("max_mib", 1, MAX_STRESS_MIB)],
    },
    StressorDef {
        kind: "fork-bomb",
        summary: "forks children that exit at once, at most max_children alive (default 64)",
        params: &[("max_children", 1, 4096)],
    },
    StressorDef {
        kind: "disk",
        summary: "1 MiB O_DIRECT writes cycling over a size_mib MiB scratch file (default 256)",
        params: &[("size_mib", 1, MAX_STRESS_MIB)],
    },
    StressorDef {
        kind: "net",
        summary: "bulk TCP to the host's peer over `streams` connections (default 1)",
        params: &[("streams", 1, 64)],
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
        _ => &[],
    }
}
