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

/// The `threads` parameter of the CPU workloads.
const THREADS: ParamDef = ParamDef {
    name: "threads",
    kind: ParamKind::Int {
        min: 0,
        max: 1024,
        default: 1,
    },
    help: "threads running the chain at once, each its own copy; 0 = one per CPU the agent may \
           run on; the value is the aggregate throughput",
};

/// Every workload the agent implements.
pub const WORKLOADS: &[WorkloadDef] = &[
    WorkloadDef {
        name: "cpu-int",
        summary: "integer CPU throughput: a dependent chain of multiply/xor/shift/add steps (xorshift-multiply mix)",
        metric: "throughput",
        unit: "Mop/s",
        better: Better::Higher,
        params: &[THREADS],
    },
    WorkloadDef {
        name: "cpu-float",
        summary: "floating-point CPU throughput: a dependent chain of f64 multiplies and adds (no FMA)",
        metric: "throughput",
        unit: "MFLOP/s",
        better: Better::Higher,
        params: &[THREADS],
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
                kind: ParamKind::Int { min: 0, max: 65536, default: 0 },
                help: "size of each of the three arrays in MiB; 0 = STREAM's rule, 4x the last-level \
                       cache the agent sees (at least 64 MiB, at most what fits in free memory)",
            },
        ],
    },
    WorkloadDef {
        name: "mem-latency",
        summary: "memory load latency by working-set size: a dependent pointer chase over a random \
                  cyclic permutation of cache lines, one metric `latency@SIZE` per size",
        metric: "latency",
        unit: "ns",
        better: Better::Lower,
        params: &[ParamDef {
            name: "max_size_mib",
            kind: ParamKind::Int { min: 1, max: 65536, default: 256 },
            help: "largest working set in MiB; sizes double from 16 KiB up to it",
        }],
    },
    WorkloadDef {
        name: "page-fault",
        summary: "first-touch page fault cost: mmap anonymous memory, write one byte per 4 KiB page, \
                  munmap; ns per page",
        metric: "latency",
        unit: "ns",
        better: Better::Lower,
        params: &[ParamDef {
            name: "size_mib",
            kind: ParamKind::Int { min: 1, max: 4096, default: 16 },
            help: "size of each mapping in MiB",
        }],
    },
    WorkloadDef {
        name: "clock-gettime",
        summary: "clock_gettime(CLOCK_MONOTONIC) through libc (the vDSO where the clocksource allows)",
        metric: "latency",
        unit: "ns",
        better: Better::Lower,
        params: &[],
    },
    WorkloadDef {
        name: "pipe-switch",
        summary: "pipe ping-pong between two processes, one byte each way (as `perf bench sched pipe`)",
        metric: "round-trip",
        unit: "ns",
        better: Better::Lower,
        params: &[],
    },
    WorkloadDef {
        name: "fork-exit",
        summary: "fork(2), the child _exit(2)s at once, waitpid(2)",
        metric: "latency",
        unit: "µs",
        better: Better::Lower,
        params: &[],
    },
    WorkloadDef {
        name: "fork-exec",
        summary: "fork(2), the child execs the agent itself with --exit-now, waitpid(2)",
        metric: "latency",
        unit: "µs",
        better: Better::Lower,
        params: &[],
    },
    WorkloadDef {
        name: "mmap",
        summary: "mmap(2) anonymous pages, write one byte per page, munmap(2); ns per round",
        metric: "latency",
        unit: "ns",
        better: Better::Lower,
        params: &[ParamDef {
            name: "pages",
            kind: ParamKind::Int { min: 1, max: 65536, default: 16 },
            help: "4 KiB pages per mapping",
        }],
    },
    WorkloadDef {
        name: "futex-wake",
        summary: "cross-CPU wake-up: two threads pinned to different CPUs ping-pong on a futex; \
                  ns per wake-up (half a round trip); needs 2 CPUs",
        metric: "latency",
        unit: "ns",
        better: Better::Lower,
        params: &[],
    },
    WorkloadDef {
        name: "timer-overshoot",
        summary: "timer wake-up latency: how far a relative clock_nanosleep(CLOCK_MONOTONIC) \
                  oversleeps, timer slack set to 1 ns",
        metric: "overshoot",
        unit: "µs",
        better: Better::Lower,
        params: &[ParamDef {
            name: "sleep_us",
            kind: ParamKind::Int { min: 1, max: 1_000_000, default: 100 },
            help: "requested sleep in microseconds",
        }],
    },
    WorkloadDef {
        name: "cpuid",
        summary: "CPUID leaf 0 round trip (a VM exit under VMX/SVM)",
        metric: "latency",
        unit: "ns",
        better: Better::Lower,
        params: &[],
    },
    WorkloadDef {
        name: "port-io",
        summary: "port I/O round trip: iopl(3), then inb from port 0x80; only as PID 1 in a guest, \
                  never on a host",
        metric: "latency",
        unit: "ns",
        better: Better::Lower,
        params: &[],
    },
    WorkloadDef {
        name: "disk-seq-read",
        summary: "sequential reads of 1 MiB blocks, wrapping over the test region",
        metric: "bandwidth",
        unit: "MB/s",
        better: Better::Higher,
        params: &[DISK_MODE, DISK_SIZE],
    },
    WorkloadDef {
        name: "disk-seq-write",
        summary: "sequential writes of 1 MiB blocks, wrapping over the test region; each window \
                  ends with fdatasync",
        metric: "bandwidth",
        unit: "MB/s",
        better: Better::Higher,
        params: &[DISK_MODE, DISK_SIZE],
    },
    WorkloadDef {
        name: "disk-rand-read",
        summary: "random 4 KiB reads, aligned, uniform over the test region, one at a time",
        metric: "iops",
        unit: "IOPS",
        better: Better::Higher,
        params: &[DISK_MODE, DISK_SIZE],
    },
    WorkloadDef {
        name: "disk-rand-write",
        summary: "random 4 KiB writes, aligned, uniform over the test region, one at a time; each \
                  window ends with fdatasync",
        metric: "iops",
        unit: "IOPS",
        better: Better::Higher,
        params: &[DISK_MODE, DISK_SIZE],
    },
    WorkloadDef {
        name: "disk-fsync",
        summary: "fsync latency: one 4 KiB write then fsync(2), as a database commits its log",
        metric: "latency",
        unit: "µs",
        better: Better::Lower,
        params: &[ParamDef {
            name: "size_mib",
            kind: ParamKind::Int {
                min: 1,
                max: 1 << 20,
                default: 16,
            },
            help: "size of the test region in MiB; the writes rotate over it",
        }],
    },
    WorkloadDef {
        name: "net-bulk",
        summary: "TCP bulk throughput between the agent and a peer on the host, 128 KiB writes",
        metric: "throughput",
        unit: "Mbit/s",
        better: Better::Higher,
        params: &[ParamDef {
            name: "direction",
            kind: ParamKind::Choice {
                choices: &["send", "receive"],
                default: "send",
            },
            help: "send: the agent (in a guest, the guest) sends to the peer; receive: the peer \
                   sends to the agent",
        }],
    },
    WorkloadDef {
        name: "net-rr",
        summary: "TCP request/response latency: 1-byte round trips to a peer on the host \
                  (TCP_NODELAY)",
        metric: "latency",
        unit: "µs",
        better: Better::Lower,
        params: &[],
    },
];

/// The `mode` parameter of the disk workloads.
const DISK_MODE: ParamDef = ParamDef {
    name: "mode",
    kind: ParamKind::Choice {
        choices: &["direct", "buffered"],
        default: "direct",
    },
    help: "direct: O_DIRECT, past the page cache (the guest's; the host's depends on the \
           platform's disk cache mode); buffered: through the page cache",
};

/// The `size_mib` parameter of the disk workloads.
const DISK_SIZE: ParamDef = ParamDef {
    name: "size_mib",
    kind: ParamKind::Int {
        min: 1,
        max: 1 << 20,
        default: 256,
    },
    help: "size of the test region in MiB: a temporary file on a host, the start of the scratch \
           disk in a guest",
};

/// A device a workload needs from its platform, beyond CPUs and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    /// A scratch block device (in a guest) or a directory on a real file system (on a host).
    Disk,
    /// A network path to a peer on the host.
    Network,
}

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

    /// The devices this workload needs from its platform: `disk-*` workloads a disk, `net-*`
    /// workloads a network path to a peer.
    pub fn devices(&self) -> &'static [Device] {
        if self.name.starts_with("disk-") {
            &[Device::Disk]
        } else if self.name.starts_with("net-") {
            &[Device::Network]
        } else {
            &[]
        }
    }

    /// Guest memory this workload needs beyond the kernel's own, given resolved parameters.
    pub fn memory_need_mib(&self, params: &BTreeMap<String, Value>) -> u64 {
        match self.name {
            // Auto size (0) is fitted to free memory by the agent; the floor it aims at is
            // what the guest must hold.
            "mem-bandwidth" => match size_mib(params) {
                0 => 3 * MEM_BANDWIDTH_AUTO_FLOOR_MIB,
                n => 3 * n,
            },
            "page-fault" => size_mib(params),
            // The chased buffer; the random cycle is built in place.
            "mem-latency" => params
                .get("max_size_mib")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            _ => 0,
        }
    }
}

fn size_mib(params: &BTreeMap<String, Value>) -> u64 {
    params.get("size_mib").and_then(Value::as_u64).unwrap_or(0)
}

/// The smallest array `mem-bandwidth` aims at when `size_mib = 0` (auto) and the agent cannot
/// see its last-level cache, or sees a small one.
pub const MEM_BANDWIDTH_AUTO_FLOOR_MIB: u64 = 64;

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
        assert_eq!(
            r["size_mib"], 0,
            "auto: 4x the last-level cache, sized by the agent"
        );
        assert_eq!(w.memory_need_mib(&r), 3 * MEM_BANDWIDTH_AUTO_FLOOR_MIB);
        let r = w
            .resolve(&params(&[("size_mib", Value::from(100))]))
            .unwrap();
        assert_eq!(w.memory_need_mib(&r), 300);
        let r = w.resolve(&params(&[("size_mib", Value::from(8))])).unwrap();
        assert_eq!(w.memory_need_mib(&r), 24, "the floor is for auto only");
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
            .resolve(&params(&[("size_mib", Value::from(65537))]))
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
    fn memory_needs_follow_the_size_parameters() {
        let need = |name: &str, given: &[(&str, Value)]| {
            let w = workload(name).unwrap();
            w.memory_need_mib(&w.resolve(&params(given)).unwrap())
        };
        assert_eq!(need("mem-latency", &[]), 256);
        assert_eq!(need("mem-latency", &[("max_size_mib", Value::from(1))]), 1);
        assert_eq!(need("page-fault", &[]), 16);
        assert_eq!(need("page-fault", &[("size_mib", Value::from(64))]), 64);
        assert_eq!(need("cpu-int", &[("threads", Value::from(0))]), 0);
    }

    #[test]
    fn cpu_workloads_take_threads() {
        for name in ["cpu-int", "cpu-float"] {
            let w = workload(name).unwrap();
            assert_eq!(w.resolve(&BTreeMap::new()).unwrap()["threads"], 1);
            assert!(w.resolve(&params(&[("threads", Value::from(0))])).is_ok());
            assert!(w
                .resolve(&params(&[("threads", Value::from(1025))]))
                .is_err());
        }
    }

    #[test]
    fn every_workload_is_labelled() {
        for w in WORKLOADS {
            assert!(!w.metric.is_empty() && !w.unit.is_empty() && !w.summary.is_empty());
            for p in w.params {
                if let ParamKind::Int { min, max, default } = p.kind {
                    assert!((min..=max).contains(&default), "{}.{}", w.name, p.name);
                }
            }
        }
    }

    #[test]
    fn disk_and_network_workloads_say_what_they_need() {
        let w = workload("disk-rand-read").unwrap();
        assert_eq!(w.devices(), [Device::Disk]);
        let r = w.resolve(&BTreeMap::new()).unwrap();
        assert_eq!(
            (r["mode"].as_str(), r["size_mib"].as_u64()),
            (Some("direct"), Some(256))
        );
        assert_eq!(workload("net-rr").unwrap().devices(), [Device::Network]);
        assert!(workload("syscall").unwrap().devices().is_empty());
        let e = workload("net-bulk")
            .unwrap()
            .resolve(&params(&[("direction", Value::from("up"))]))
            .unwrap_err();
        assert!(e.message.contains("\"receive\""), "{e}");
    }

    #[test]
    fn names_are_unique() {
        let mut names = workload_names();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), WORKLOADS.len());
    }
}
