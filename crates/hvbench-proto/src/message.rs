//! The messages carried in frames, and the plan a host hands to an agent.

use crate::catalog::{Better, Device};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One message from the agent to the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Message {
    /// First frame of every agent run.
    Hello {
        agent_version: String,
        /// "guest" when the agent is PID 1 in a guest, "host" when it runs as a plain process.
        mode: String,
    },
    /// What the agent can see about the machine it runs on (kernel, clocksource, CPU, ...).
    Facts { facts: BTreeMap<String, String> },
    /// One measurement window of one workload.
    Sample {
        /// The request's label ([`WorkloadRequest::label`]).
        workload: String,
        metric: String,
        unit: String,
        better: Better,
        /// Warm-up windows are sent too, marked, so the store can keep them apart.
        warmup: bool,
        /// Window number within this agent run, workload and metric, warm-up windows first.
        /// A workload that measures a curve (`mem-latency`) sends one metric per point, named
        /// `METRIC@POINT` (`latency@64KiB`), each numbered from 0.
        index: u32,
        value: f64,
        /// Loop iterations in the window and the window's length, for auditing calibration.
        iterations: u64,
        elapsed_ns: u64,
    },
    /// A workload could not run (or crashed); the agent goes on with the next one.
    Failed { workload: String, reason: String },
    /// Free-form diagnostics.
    Log { message: String },
    /// A general benchmark's raw output from one run of its tool (docs/architecture.md, "The
    /// tools tree"): the command, its exit status and time, its standard output and error (each
    /// at most the last 64 KiB). `window`: which run, as the agent numbers them: `setup`, a
    /// window index (`3`), a second run of the same window (`3 reverse`), or the counted
    /// evidence run (`4 (counted)`). Stored with the trial's samples.
    Output {
        workload: String,
        window: String,
        output: String,
    },
    /// Last frame of every agent run: `samples` counts every `Sample` frame sent, warm-ups
    /// included, and `failures` every `Failed` frame, so the host can check nothing was lost.
    Done { samples: u32, failures: u32 },
    /// Evidence (docs/architecture.md, "Evidence"): the agent is about to start (`begin`) or has
    /// just ended (`end`) measured window `index` of `workload`'s `metric`. Sent only when the
    /// plan asks for evidence; whatever runs the guest snapshots its counters at each edge.
    Window {
        workload: String,
        metric: String,
        index: u32,
        edge: WindowEdge,
    },
    /// Evidence: counters over one measured window (`workload`, `metric`, `index` as in the
    /// window's `Sample`), from `source`: `guest` (the agent's own view: steal time), or the
    /// collector on the machine that runs the guest (`kvm.stats`, `kvm.exits`, `xen.trace`,
    /// `host.threads`, ...), which writes them between the agent's frames. `span_ns`: how long
    /// the source counted, on its own clock; values are totals over that span, so a rate is
    /// `value / span_ns` whatever the lag between the window and the counting.
    /// `source = "uncounted"`: an extra window the agent ran with no counting at all
    /// (`values`: `value`, `iterations`, `elapsed_ns`), to measure what counting costs.
    Counters {
        workload: String,
        metric: String,
        index: u32,
        source: String,
        span_ns: u64,
        values: BTreeMap<String, f64>,
    },
    /// Isolation experiments: what happened to one of the co-scheduled agent runs (the victim
    /// or an aggressor) of a cell, written by the host-side co-scheduler (`hvbench`, or
    /// `hvbench-executor` on a machine reached over SSH), never by an agent.
    Instance {
        /// `victim`, or `aggressor1`, `aggressor2`, ...
        instance: String,
        /// Milliseconds since the cell started, on the co-scheduler's monotonic clock: the
        /// instances of one cell share it, so their windows can be compared for overlap.
        at_ms: u64,
        event: InstanceEvent,
    },
}

/// Which edge of a measured window a [`Message::Window`] marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowEdge {
    Begin,
    End,
}

/// One event of an isolation cell's instance ([`Message::Instance`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum InstanceEvent {
    /// The instance was launched (its guest starts booting, or its process starts).
    Started {
        /// What the co-scheduler applied to it: CPU set, cgroup or scheduler weight and cap.
        #[serde(default)]
        placement: BTreeMap<String, String>,
    },
    /// A frame from the instance's agent.
    Frame { message: Box<Message> },
    /// A console line that looked like a frame but could not be trusted.
    Bad { error: String, excerpt: String },
    /// The instance ended. `stopped`: the co-scheduler ended it (an aggressor once the victim
    /// was done); otherwise it ended on its own, and `reason` says why when it failed.
    Ended {
        ok: bool,
        stopped: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// The first line an `hvbench-agent --peer` prints on stdout, followed by the address it
/// listens on: how the driver that started it learns its port.
pub const PEER_READY: &str = "hvbench-peer listening on ";
/// The bridge hvbench makes in a trial's network namespace for a guest's NIC: the only
/// interface besides loopback whose address a peer may listen on.
pub const PEER_BRIDGE: &str = "hvbr0";

/// The version of [`AgentPlan`] this build writes and accepts.
pub const PLAN_VERSION: u32 = 1;

/// What the host asks one agent run to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentPlan {
    pub version: u32,
    /// Measurement windows per workload that are run and discarded before measuring.
    pub warmup: u32,
    /// Measured windows per workload.
    pub samples: u32,
    /// The shortest measurement window; loops grow until a window lasts at least this long.
    pub min_window_ms: u64,
    pub workloads: Vec<WorkloadRequest>,
    /// Where the `net-*` workloads find their peer, as `address:port`: an `hvbench-agent
    /// --peer` that the driver starts on the host's loopback for the trial (for a guest, the
    /// address on the guest's virtual network that the driver forwards to it). Set by the
    /// driver, never by the experiment file; absent when the plan has no network workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// An aggressor's plan: run this stressor instead of workloads (`workloads` is then empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stress: Option<StressPlan>,
    /// Evidence: mark every measured window with [`Message::Window`] edges, send the guest's
    /// own counters per window ([`Message::Counters`] from `guest`), and run one uncounted
    /// window per workload and metric after the measured ones.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub evidence: bool,
    /// Where the general benchmarks find the tools tree (Debian's tools as files, run with
    /// `chroot`): its directory on a host; [`GUEST_TOOLS_ROOT`] in a guest, where the agent
    /// mounts the read-only disk labelled [`TOOLS_LABEL`]. Set by the driver, never by the
    /// experiment file; absent when the plan has no general benchmark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools_root: Option<String>,
}

/// The ext4 label of the tools tree's disk image, by which a guest's agent finds it.
pub const TOOLS_LABEL: &str = "hvbench-tools";
/// Where a guest's agent mounts the tools disk (read-only).
pub const GUEST_TOOLS_ROOT: &str = "/tools";
/// Where the tools tree keeps the compile workload's C sources (bash 5.2's example loadable
/// builtins from Debian's `bash-builtins`).
pub const COMPILE_SOURCE: &str = "/usr/src/hvbench-compile/bash-loadables";

impl AgentPlan {
    /// Whether any workload of the plan (or its stressor) needs `device` from the platform.
    pub fn needs(&self, device: Device) -> bool {
        self.workloads.iter().any(|w| {
            crate::catalog::workload(&w.name).is_some_and(|d| d.devices().contains(&device))
        }) || self
            .stress
            .as_ref()
            .is_some_and(|s| crate::catalog::stressor_devices(&s.kind).contains(&device))
    }
}

/// One stressor run as an aggressor: it loads its resource until `duration_ms` is over or the
/// agent gets SIGTERM, and sends one `Sample` (workload `stress-KIND`, metric `throughput`)
/// per `report_ms` of work, so the host sees the aggressor's rate over time and knows it is alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StressPlan {
    /// One of [`crate::catalog::STRESSORS`].
    pub kind: String,
    /// Parameters as the agent's `--param k=v` takes them; checked by the agent.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    pub duration_ms: u64,
    pub report_ms: u64,
}

/// One workload and its parameters, already validated against the [`crate::catalog`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadRequest {
    pub name: String,
    /// The label the agent puts in the `workload` field of this request's frames, so that the
    /// same workload listed twice with different parameters stays apart; empty means `name`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
}

impl WorkloadRequest {
    /// What the agent reports this request as: its `id`, or its `name` when no id was given.
    pub fn label(&self) -> &str {
        if self.id.is_empty() {
            &self.name
        } else {
            &self.id
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_round_trips_and_rejects_unknown_fields() {
        let plan = AgentPlan {
            version: PLAN_VERSION,
            warmup: 1,
            samples: 2,
            min_window_ms: 200,
            workloads: vec![
                WorkloadRequest {
                    name: "syscall".into(),
                    id: String::new(),
                    params: BTreeMap::new(),
                },
                WorkloadRequest {
                    name: "mem-bandwidth".into(),
                    id: "mem-bandwidth[kernel=copy]".into(),
                    params: BTreeMap::new(),
                },
            ],
            peer: None,
            stress: None,
            evidence: false,
            tools_root: None,
        };
        assert_eq!(plan.workloads[0].label(), "syscall");
        assert_eq!(plan.workloads[1].label(), "mem-bandwidth[kernel=copy]");
        let text = serde_json::to_string(&plan).unwrap();
        assert_eq!(serde_json::from_str::<AgentPlan>(&text).unwrap(), plan);
        let extra = text.replacen('{', r#"{"surprise":1,"#, 1);
        assert!(serde_json::from_str::<AgentPlan>(&extra).is_err());
        assert!(!text.contains("peer"), "no peer, no field: {text}");
        // A plan without general benchmarks serialises as before: the guest image built
        // around it is byte for byte the one it always was.
        assert!(!text.contains("tools_root"), "no tools, no field: {text}");
        let mut with_tools = plan.clone();
        with_tools.tools_root = Some(GUEST_TOOLS_ROOT.into());
        let text = serde_json::to_string(&with_tools).unwrap();
        assert!(text.contains(r#""tools_root":"/tools""#), "{text}");
        assert_eq!(
            serde_json::from_str::<AgentPlan>(&text).unwrap(),
            with_tools
        );
        assert!(!plan.needs(Device::Disk) && !plan.needs(Device::Network));
    }

    #[test]
    fn peer_round_trips_and_devices_follow_the_workloads() {
        let plan = AgentPlan {
            version: PLAN_VERSION,
            warmup: 0,
            samples: 1,
            min_window_ms: 1,
            workloads: vec![WorkloadRequest {
                name: "net-rr".into(),
                id: String::new(),
                params: BTreeMap::new(),
            }],
            peer: Some("127.0.0.1:5201".into()),
            stress: None,
            evidence: false,
            tools_root: None,
        };
        let text = serde_json::to_string(&plan).unwrap();
        assert!(text.contains(r#""peer":"127.0.0.1:5201""#), "{text}");
        assert_eq!(serde_json::from_str::<AgentPlan>(&text).unwrap(), plan);
        assert!(plan.needs(Device::Network) && !plan.needs(Device::Disk));
    }

    #[test]
    fn stress_plans_and_instance_events_round_trip() {
        let plan = AgentPlan {
            version: PLAN_VERSION,
            warmup: 0,
            samples: 1,
            min_window_ms: 1,
            workloads: vec![],
            peer: None,
            stress: Some(StressPlan {
                kind: "disk".into(),
                params: BTreeMap::from([("size_mib".into(), "64".into())]),
                duration_ms: 60_000,
                report_ms: 500,
            }),
            evidence: false,
            tools_root: None,
        };
        let text = serde_json::to_string(&plan).unwrap();
        assert_eq!(serde_json::from_str::<AgentPlan>(&text).unwrap(), plan);
        assert!(plan.needs(Device::Disk) && !plan.needs(Device::Network));
        let m = Message::Instance {
            instance: "aggressor1".into(),
            at_ms: 1234,
            event: InstanceEvent::Frame {
                message: Box::new(Message::Log {
                    message: "hi".into(),
                }),
            },
        };
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Message>(&text).unwrap(), m);
        let m = Message::Instance {
            instance: "victim".into(),
            at_ms: 9,
            event: InstanceEvent::Ended {
                ok: false,
                stopped: false,
                reason: Some("guest died".into()),
            },
        };
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Message>(&text).unwrap(), m);
    }
}
