//! The workload table: every workload of the battery with its metric, unit, direction and
//! parameters, how to look one up, and what each needs from its platform (devices, guest
//! memory).

use super::{Better, Device, ParamDef, ParamKind, WorkloadClass};
use serde_json::Value;
use std::collections::BTreeMap;

/// One workload of the battery.
#[derive(Debug, Clone, Copy)]
pub struct WorkloadDef {
    pub name: &'static str,
    pub summary: &'static str,
    pub metric: &'static str,
    pub unit: &'static str,
    pub better: Better,
    /// What part of a platform it exercises: how the report groups it.
    pub class: WorkloadClass,
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

/// The stress-ng stressors hvbench runs, as stress-ng spells their options: the `stressor`
/// of the `stress-ng` workload and of the `stress-ng` isolation stressor
/// ([`super::STRESSORS`]).
pub const STRESS_NG_STRESSORS: &[&str] =
    &["cpu", "matrix", "memcpy", "switch", "vm", "fork", "hdd"];

/// The stress-ng stressor run when none is named.
pub const STRESS_NG_DEFAULT: &str = "cpu";

/// Every workload the agent implements.
pub const WORKLOADS: &[WorkloadDef] = &[
    WorkloadDef {
        name: "cpu-int",
        summary: "integer CPU throughput: a dependent chain of multiply/xor/shift/add steps (xorshift-multiply mix)",
        metric: "throughput",
        unit: "Mop/s",
        better: Better::Higher,
        class: WorkloadClass::Cpu,
        params: &[THREADS],
    },
    WorkloadDef {
        name: "cpu-float",
        summary: "floating-point CPU throughput: a dependent chain of f64 multiplies and adds (no FMA)",
        metric: "throughput",
        unit: "MFLOP/s",
        better: Better::Higher,
        class: WorkloadClass::Cpu,
        params: &[THREADS],
    },
    WorkloadDef {
        name: "syscall",
        summary: "null system call latency: getppid(2) through the raw syscall instruction (never the vDSO)",
        metric: "latency",
        unit: "ns",
        better: Better::Lower,
        class: WorkloadClass::KernelPaths,
        params: &[],
    },
    WorkloadDef {
        name: "mem-bandwidth",
        summary: "memory bandwidth, STREAM-style kernels over three arrays of f64",
        metric: "bandwidth",
        unit: "MB/s",
        better: Better::Higher,
        class: WorkloadClass::Memory,
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
        class: WorkloadClass::Memory,
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
        class: WorkloadClass::Memory,
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
        class: WorkloadClass::KernelPaths,
        params: &[],
    },
    WorkloadDef {
        name: "pipe-switch",
        summary: "pipe ping-pong between two processes, one byte each way (as `perf bench sched pipe`)",
        metric: "round-trip",
        unit: "ns",
        better: Better::Lower,
        class: WorkloadClass::KernelPaths,
        params: &[],
    },
    WorkloadDef {
        name: "fork-exit",
        summary: "fork(2), the child _exit(2)s at once, waitpid(2)",
        metric: "latency",
        unit: "µs",
        better: Better::Lower,
        class: WorkloadClass::KernelPaths,
        params: &[],
    },
    WorkloadDef {
        name: "fork-exec",
        summary: "fork(2), the child execs the agent itself with --exit-now, waitpid(2)",
        metric: "latency",
        unit: "µs",
        better: Better::Lower,
        class: WorkloadClass::KernelPaths,
        params: &[],
    },
    WorkloadDef {
        name: "mmap",
        summary: "mmap(2) anonymous pages, write one byte per page, munmap(2); ns per round",
        metric: "latency",
        unit: "ns",
        better: Better::Lower,
        class: WorkloadClass::KernelPaths,
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
        class: WorkloadClass::KernelPaths,
        params: &[],
    },
    WorkloadDef {
        name: "timer-overshoot",
        summary: "timer wake-up latency: how far a relative clock_nanosleep(CLOCK_MONOTONIC) \
                  oversleeps, timer slack set to 1 ns",
        metric: "overshoot",
        unit: "µs",
        better: Better::Lower,
        class: WorkloadClass::KernelPaths,
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
        class: WorkloadClass::Exits,
        params: &[],
    },
    WorkloadDef {
        name: "port-io",
        summary: "port I/O round trip: iopl(3), then inb from port 0x80; only as PID 1 in a guest, \
                  never on a host",
        metric: "latency",
        unit: "ns",
        better: Better::Lower,
        class: WorkloadClass::Exits,
        params: &[],
    },
    WorkloadDef {
        name: "disk-seq-read",
        summary: "sequential reads of 1 MiB blocks, wrapping over the test region",
        metric: "bandwidth",
        unit: "MB/s",
        better: Better::Higher,
        class: WorkloadClass::Disk,
        params: &[DISK_MODE, DISK_SIZE],
    },
    WorkloadDef {
        name: "disk-seq-write",
        summary: "sequential writes of 1 MiB blocks, wrapping over the test region; each window \
                  ends with fdatasync",
        metric: "bandwidth",
        unit: "MB/s",
        better: Better::Higher,
        class: WorkloadClass::Disk,
        params: &[DISK_MODE, DISK_SIZE],
    },
    WorkloadDef {
        name: "disk-rand-read",
        summary: "random 4 KiB reads, aligned, uniform over the test region, one at a time",
        metric: "iops",
        unit: "IOPS",
        better: Better::Higher,
        class: WorkloadClass::Disk,
        params: &[DISK_MODE, DISK_SIZE],
    },
    WorkloadDef {
        name: "disk-rand-write",
        summary: "random 4 KiB writes, aligned, uniform over the test region, one at a time; each \
                  window ends with fdatasync",
        metric: "iops",
        unit: "IOPS",
        better: Better::Higher,
        class: WorkloadClass::Disk,
        params: &[DISK_MODE, DISK_SIZE],
    },
    WorkloadDef {
        name: "disk-fsync",
        summary: "fsync latency: one 4 KiB write then fsync(2), as a database commits its log",
        metric: "latency",
        unit: "µs",
        better: Better::Lower,
        class: WorkloadClass::Disk,
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
        class: WorkloadClass::Network,
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
        class: WorkloadClass::Network,
        params: &[],
    },
    // General benchmarks: the field's own tools. Each measured window is one run of the tool;
    // the metric is the primary one its parser gives, the others go out as extra metrics.
    WorkloadDef {
        name: "sysbench-cpu",
        summary: "sysbench 1.0 `cpu` (Debian 12): prime sieving up to max_prime, one run of \
                  time_s seconds per window",
        metric: "events-per-second",
        unit: "events/s",
        better: Better::Higher,
        class: WorkloadClass::General,
        params: &[
            TOOL_TIME,
            TOOL_THREADS,
            ParamDef {
                name: "max_prime",
                kind: ParamKind::Int { min: 3, max: 100_000_000, default: 10_000 },
                help: "sysbench --cpu-max-prime",
            },
        ],
    },
    WorkloadDef {
        name: "sysbench-memory",
        summary: "sysbench 1.0 `memory` (Debian 12): block reads or writes over a buffer, one \
                  run of time_s seconds per window; also `operations` (ops/s)",
        metric: "transfer",
        unit: "MiB/s",
        better: Better::Higher,
        class: WorkloadClass::General,
        params: &[
            TOOL_TIME,
            TOOL_THREADS,
            ParamDef {
                name: "block_size_kib",
                kind: ParamKind::Int { min: 1, max: 1 << 20, default: 1 },
                help: "sysbench --memory-block-size, in KiB",
            },
            ParamDef {
                name: "oper",
                kind: ParamKind::Choice { choices: &["read", "write"], default: "write" },
                help: "sysbench --memory-oper",
            },
        ],
    },
    WorkloadDef {
        name: "stress-ng",
        summary: "stress-ng 0.15 (Debian 12), one stressor with --metrics for time_s seconds \
                  per window: bogo-ops per second of wall-clock time; also per CPU second",
        metric: "bogo-ops-per-s-real",
        unit: "bogo-ops/s",
        better: Better::Higher,
        class: WorkloadClass::General,
        params: &[
            TOOL_TIME,
            ParamDef {
                name: "stressor",
                kind: ParamKind::Choice {
                    choices: STRESS_NG_STRESSORS,
                    default: STRESS_NG_DEFAULT,
                },
                help: "the stress-ng stressor",
            },
            ParamDef {
                name: "instances",
                kind: ParamKind::Int { min: 1, max: 4096, default: 1 },
                help: "instances of the stressor",
            },
        ],
    },
    WorkloadDef {
        name: "sysbench-threads",
        summary: "sysbench 1.0 `threads` (Debian 12): threads that yield and take mutexes (the \
                  scheduler's paths), one run of time_s seconds per window; also latency-avg (ms)",
        metric: "events-per-second",
        unit: "events/s",
        better: Better::Higher,
        class: WorkloadClass::General,
        params: &[
            TOOL_TIME,
            TOOL_THREADS,
            ParamDef {
                name: "thread_yields",
                kind: ParamKind::Int { min: 1, max: 1_000_000, default: 1000 },
                help: "sysbench --thread-yields: yields per event",
            },
            ParamDef {
                name: "thread_locks",
                kind: ParamKind::Int { min: 1, max: 1_000_000, default: 8 },
                help: "sysbench --thread-locks: mutexes shared by the threads",
            },
        ],
    },
    WorkloadDef {
        name: "fio",
        summary: "fio 3.33 (Debian 12), one job over the first size_mib MiB of the scratch disk \
                  (a guest) or of a scratch file (the host), filled once by a sequential write, \
                  then one time_s run per window: IOPS of all directions; also MiB/s and each \
                  direction's completion latency p50/p99 (µs)",
        metric: "iops",
        unit: "IOPS",
        better: Better::Higher,
        class: WorkloadClass::General,
        params: &[
            TOOL_TIME,
            ParamDef {
                name: "rw",
                kind: ParamKind::Choice {
                    choices: &["randread", "randwrite", "read", "write", "randrw"],
                    default: "randread",
                },
                help: "fio --rw, the I/O pattern",
            },
            ParamDef {
                name: "bs",
                kind: ParamKind::Choice {
                    choices: &["512", "4k", "8k", "16k", "32k", "64k", "128k", "256k", "1m"],
                    default: "4k",
                },
                help: "fio --bs, the block size",
            },
            ParamDef {
                name: "iodepth",
                kind: ParamKind::Int { min: 1, max: 1024, default: 1 },
                help: "fio --iodepth, I/Os in flight (above 1 only with ioengine libaio)",
            },
            ParamDef {
                name: "ioengine",
                kind: ParamKind::Choice { choices: &["psync", "libaio"], default: "psync" },
                help: "fio --ioengine",
            },
            ParamDef {
                name: "direct",
                kind: ParamKind::Bool { default: true },
                help: "fio --direct: O_DIRECT, bypassing the page cache",
            },
            ParamDef {
                name: "size_mib",
                kind: ParamKind::Int { min: 1, max: 65_536, default: 256 },
                help: "the region fio uses, MiB (the scratch disk is made at least this large)",
            },
        ],
    },
    WorkloadDef {
        name: "iperf3",
        summary: "iperf3 3.12 (Debian 12), TCP against an iperf3 server that the trial's \
                  network peer runs from the same tools tree: per window one time_s test with the \
                  guest sending, then one with the peer sending (--reverse); Gbit/s received, \
                  also reverse-throughput",
        metric: "throughput",
        unit: "Gbit/s",
        better: Better::Higher,
        class: WorkloadClass::General,
        params: &[TOOL_TIME],
    },
    WorkloadDef {
        name: "redis",
        summary: "redis 7.0 (Debian 12): redis-server in the guest (on the host for the \
                  baseline), without persistence; per window redis-benchmark, run by the trial's \
                  network peer from the same tools tree across the virtual network, `requests` GETs \
                  and SETs from `clients` connections: GET requests/s; also GET p50/p99 and SET \
                  requests/s, p50/p99 (ms)",
        metric: "get-rps",
        unit: "requests/s",
        better: Better::Higher,
        class: WorkloadClass::General,
        params: &[
            ParamDef {
                name: "requests",
                kind: ParamKind::Int { min: 100, max: 100_000_000, default: 10_000 },
                help: "redis-benchmark -n: requests of each test (GET, SET) per window",
            },
            ParamDef {
                name: "clients",
                kind: ParamKind::Int { min: 1, max: 1000, default: 10 },
                help: "redis-benchmark -c: parallel connections",
            },
        ],
    },
    WorkloadDef {
        name: "oltp",
        summary: "PostgreSQL 15 with pgbench (Debian 12), its data on an ext4 file system on the \
                  scratch disk (a guest) or a scratch directory (the host), tables filled at \
                  `scale` once; per window one time_s pgbench run of its TPC-B-like transaction \
                  from `clients` connections: transactions/s; also latency-avg (ms)",
        metric: "tps",
        unit: "transactions/s",
        better: Better::Higher,
        class: WorkloadClass::General,
        params: &[
            TOOL_TIME,
            ParamDef {
                name: "clients",
                kind: ParamKind::Int { min: 1, max: 1000, default: 2 },
                help: "pgbench -c: client connections",
            },
            ParamDef {
                name: "scale",
                kind: ParamKind::Int { min: 1, max: 10_000, default: 1 },
                help: "pgbench -i -s: 100,000 accounts (about 16 MiB) per unit",
            },
            ParamDef {
                name: "size_mib",
                kind: ParamKind::Int { min: 128, max: 1_048_576, default: 512 },
                help: "the scratch disk the database lives on, MiB (at least 128 + 20 x scale)",
            },
        ],
    },
    WorkloadDef {
        name: "compile",
        summary: "gcc 12 (Debian 12) building a fixed C source tree from a Debian package: the \
                  first `files` (sorted by name) of bash 5.2's example loadable builtins \
                  (bash-builtins), each compiled with -O2 -fPIC and linked into a shared object \
                  by make -j `jobs`, from a clean build directory per window: seconds per build",
        metric: "build-time",
        unit: "s",
        better: Better::Lower,
        class: WorkloadClass::General,
        params: &[
            ParamDef {
                name: "files",
                kind: ParamKind::Int { min: 1, max: 40, default: 10 },
                help: "source files built (bash-builtins 5.2.15 holds 40 that build alone)",
            },
            ParamDef {
                name: "jobs",
                kind: ParamKind::Int { min: 1, max: 256, default: 1 },
                help: "make -j: compilers run at once",
            },
        ],
    },
];

/// Every metric `fio` can report: the totals first, then each direction's (its IOPS and MiB/s
/// only when the job both reads and writes).
const FIO_METRICS: [&str; 10] = [
    "iops",
    "bandwidth",
    "read-iops",
    "read-bandwidth",
    "read-clat-p50",
    "read-clat-p99",
    "write-iops",
    "write-bandwidth",
    "write-clat-p50",
    "write-clat-p99",
];

/// The `time_s` parameter of the tool workloads: how long one run (one window) lasts.
const TOOL_TIME: ParamDef = ParamDef {
    name: "time_s",
    kind: ParamKind::Int {
        min: 1,
        max: 3600,
        default: 2,
    },
    help: "seconds each run of the tool lasts; each measured window is one run",
};

/// The `threads` parameter of the sysbench workloads.
const TOOL_THREADS: ParamDef = ParamDef {
    name: "threads",
    kind: ParamKind::Int {
        min: 1,
        max: 4096,
        default: 1,
    },
    help: "sysbench --threads; the value is the aggregate rate",
};

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

/// Look a workload up by name.
pub fn workload(name: &str) -> Option<&'static WorkloadDef> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// The names of all workloads, for error messages.
pub fn workload_names() -> Vec<&'static str> {
    WORKLOADS.iter().map(|w| w.name).collect()
}
impl WorkloadDef {
    /// The devices this workload needs from its platform: `disk-*` workloads a disk, `net-*`
    /// workloads a network path to a peer, general benchmarks the tools tree (and `fio` a disk).
    pub fn devices(&self) -> &'static [Device] {
        if self.name == "fio" || self.name == "oltp" {
            &[Device::Tools, Device::Disk]
        } else if self.name == "iperf3" || self.name == "redis" {
            &[Device::Tools, Device::Network]
        } else if self.class == WorkloadClass::General {
            &[Device::Tools]
        } else if self.name.starts_with("disk-") {
            &[Device::Disk]
        } else if self.name.starts_with("net-") {
            &[Device::Network]
        } else {
            &[]
        }
    }

    /// The tool of the tools tree a general benchmark runs (`sysbench`, `stress-ng`; the
    /// names `hvbench_platform::guest::tools::tool_packages` knows), `None` for the others.
    pub fn tool(&self) -> Option<&'static str> {
        match self.name {
            "sysbench-cpu" | "sysbench-memory" | "sysbench-threads" => Some("sysbench"),
            "stress-ng" => Some("stress-ng"),
            "fio" => Some("fio"),
            "iperf3" => Some("iperf3"),
            "redis" => Some("redis"),
            "oltp" => Some("oltp"),
            "compile" => Some("compile"),
            _ => None,
        }
    }

    /// Every metric a general benchmark reports, the catalog's [`WorkloadDef::metric`] first
    /// and then the extras its tool's parser gives; just the catalog's metric for the others.
    pub fn metrics(&'static self) -> &'static [&'static str] {
        match self.name {
            "sysbench-cpu" => &["events-per-second"],
            "sysbench-memory" => &["transfer", "operations"],
            "stress-ng" => &["bogo-ops-per-s-real", "bogo-ops-per-s-usr-sys"],
            "sysbench-threads" => &["events-per-second", "latency-avg"],
            "fio" => &FIO_METRICS,
            "iperf3" => &["throughput", "reverse-throughput"],
            "redis" => &[
                "get-rps", "get-p50", "get-p99", "set-rps", "set-p50", "set-p99",
            ],
            "oltp" => &["tps", "latency-avg"],
            _ => std::slice::from_ref(&self.metric),
        }
    }

    /// The metrics a workload reports with these resolved parameters: [`WorkloadDef::metrics`],
    /// less those its parameters rule out (a `fio` job that only reads reports no write latency,
    /// and its per-direction IOPS and MiB/s are its totals, reported once).
    pub fn metrics_with(&'static self, params: &BTreeMap<String, Value>) -> Vec<&'static str> {
        if self.name != "fio" {
            return self.metrics().to_vec();
        }
        let rw = params
            .get("rw")
            .and_then(Value::as_str)
            .unwrap_or("randread");
        let reads = matches!(rw, "read" | "randread" | "randrw");
        let writes = matches!(rw, "write" | "randwrite" | "randrw");
        let both = reads && writes;
        FIO_METRICS
            .iter()
            .copied()
            .filter(|m| {
                let dir_ok = |dir: &str| match m.strip_prefix(dir) {
                    Some(rest) => {
                        let on = if dir == "read-" { reads } else { writes };
                        on && (both || rest.starts_with("clat"))
                    }
                    None => true,
                };
                if m.starts_with("read-") {
                    dir_ok("read-")
                } else if m.starts_with("write-") {
                    dir_ok("write-")
                } else {
                    true
                }
            })
            .collect()
    }

    /// How long one window of this workload lasts at least, in ms, given resolved parameters:
    /// a general benchmark's window is one run of its tool, `time_s` long; the others grow
    /// their loops to the plan's `min_window_ms`.
    pub fn window_ms(&self, params: &BTreeMap<String, Value>, min_window_ms: u64) -> u64 {
        if self.class == WorkloadClass::General {
            params
                .get("time_s")
                .and_then(Value::as_u64)
                .map_or(min_window_ms, |s| s.saturating_mul(1000))
        } else {
            min_window_ms
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
            // The database server's shared buffers (`shared_buffers=64MB`), its processes and
            // the page cache of its tables.
            "oltp" => 192,
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
