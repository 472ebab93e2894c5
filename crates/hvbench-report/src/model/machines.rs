//! The machines of a run and whom each platform is compared with.
//!
//! A platform that ran over SSH (docs/architecture.md, "Machines over SSH") carries the fact
//! `machine = <host name>`; every other platform ran on the controller's own machine,
//! [`LOCAL_MACHINE`]. Each machine's first platform with driver "host" is that machine's
//! baseline: its other platforms are compared with it, so that a ratio measures the hypervisor
//! on its own hardware. A machine without one falls back to the run's baseline. With one machine
//! this is the run's baseline for every platform, as it always was.

use super::{Baseline, Platform, HOST_DRIVER};

/// The name of the controller's own machine: the machine of every platform without a `machine`
/// fact. It cannot collide with a `[[host]]` name, which has no space.
pub const LOCAL_MACHINE: &str = "this machine";

pub(crate) struct Machine<'a> {
    /// The `[[host]]` name, or [`LOCAL_MACHINE`].
    pub name: &'a str,
    /// Its platforms (indices into the model's platforms), in platform order.
    pub platforms: Vec<usize>,
    /// Its first platform with driver "host": the baseline of its other platforms.
    pub host: Option<usize>,
}

impl Machine<'_> {
    pub(crate) fn is_local(&self) -> bool {
        self.name == LOCAL_MACHINE
    }

    /// "machine xenbox", or "this machine".
    pub(crate) fn described(&self) -> String {
        if self.is_local() {
            LOCAL_MACHINE.to_string()
        } else {
            format!("machine {}", self.name)
        }
    }
}

/// The machine a platform's facts name, or [`LOCAL_MACHINE`].
pub(super) fn machine_name<'a>(platform: &Platform<'a>) -> &'a str {
    platform
        .facts
        .and_then(|f| f.get(hvbench_proto::facts::MACHINE))
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
        .unwrap_or(LOCAL_MACHINE)
}

/// The machines in the order their first platform comes, each platform's `machine` set to its
/// machine's index.
pub(super) fn machines<'a>(platforms: &mut [Platform<'a>]) -> Vec<Machine<'a>> {
    let mut out: Vec<Machine<'a>> = Vec::new();
    for (i, p) in platforms.iter_mut().enumerate() {
        let name = machine_name(p);
        let m = match out.iter().position(|m| m.name == name) {
            Some(m) => m,
            None => {
                out.push(Machine {
                    name,
                    platforms: Vec::new(),
                    host: None,
                });
                out.len() - 1
            }
        };
        p.machine = m;
        out[m].platforms.push(i);
        if out[m].host.is_none() && p.driver == HOST_DRIVER {
            out[m].host = Some(i);
        }
    }
    out
}

/// Per platform, the platform it is compared with: its machine's baseline, else the run's; None
/// for a baseline (the run's, or a machine's) and when the run has no baseline at all.
pub(super) fn compared_with(
    platforms: &[Platform],
    machines: &[Machine],
    baseline: Option<&Baseline>,
) -> Vec<Option<usize>> {
    let Some(b) = baseline else {
        return vec![None; platforms.len()];
    };
    platforms
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let base = machines[p.machine].host.unwrap_or(b.index);
            (i != base && i != b.index).then_some(base)
        })
        .collect()
}
