//! What every guest trial sets up beside its guest and tears down after it, whatever the
//! hypervisor: the scratch disk ([`crate::trial::scratch`]), the network peer and the trial's
//! network namespace ([`crate::trial::peer`], [`crate::trial::vnet`]), the isolation
//! instance's placement, and the evidence collectors that count around the console
//! ([`crate::evidence`]). A driver prepares a [`GuestResources`] once, opens a [`GuestTrial`]
//! for each trial, puts what it got into its own configuration, and runs its command through
//! [`GuestTrial::run`]; dropping the trial tears everything down.

use crate::evidence::{Collector, Counting};
use crate::isolation::placement::InstancePlace;
use crate::trial::console::{self, TrialEnd};
use crate::trial::peer::PeerProcess;
use crate::trial::scratch::{ScratchDisks, ScratchImage};
use crate::trial::vnet::{PortWatch, TrialNet};
use crate::TrialRequest;
use hvbench_proto::{Event, Message};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the network peer runs and how the guest reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerNet {
    /// On the host's loopback (QEMU's user network forwards the guest to it).
    Loopback,
    /// On the bridge of a network namespace made for each trial; with `tap`, the bridge has a
    /// tap for the hypervisor process (which the driver runs in the namespace), without, the
    /// driver plugs the guest's port in itself (Xen's vif hook).
    Namespace { tap: bool },
}

/// What a guest platform's trials need, prepared once: where their scratch disks are made
/// (plans with disk workloads), and the agent that serves as their network peer and where it
/// runs (plans with network workloads).
pub struct GuestResources {
    scratch: Option<ScratchDisks>,
    peer: Option<(PathBuf, PeerNet)>,
    /// The tools tree's directory on this machine, for the peer's side of general benchmarks
    /// (iperf3's server).
    peer_tools: Option<crate::trial::loopmount::TreeAt>,
}

impl GuestResources {
    pub fn new(scratch: Option<ScratchDisks>, peer: Option<(PathBuf, PeerNet)>) -> Self {
        GuestResources {
            scratch,
            peer,
            peer_tools: None,
        }
    }

    /// Give the trials' peers the tools tree (plans with general benchmarks).
    pub fn with_peer_tools(mut self, tree: Option<crate::trial::loopmount::TreeAt>) -> Self {
        self.peer_tools = tree;
        self
    }

    /// The scratch disks, for the platform's facts.
    pub fn scratch(&self) -> Option<&ScratchDisks> {
        self.scratch.as_ref()
    }

    /// Set up one trial of `req`: a new scratch disk (named `disk_name` where the driver names
    /// its trials' files), then the trial's network namespace and the peer in it, or the peer
    /// on the loopback. What was made before a failure is torn down again; the error is the
    /// trial's failure.
    pub fn open<'r>(
        &mut self,
        req: &'r TrialRequest<'r>,
        disk_name: Option<&str>,
    ) -> Result<GuestTrial<'r>, String> {
        let disk = match &mut self.scratch {
            Some(s) => Some(s.create(disk_name)?),
            None => None,
        };
        let (peer, net) = match &self.peer {
            None => (None, None),
            Some((agent, PeerNet::Loopback)) => (
                Some(PeerProcess::start(
                    agent,
                    req.timeout,
                    self.peer_tools.as_ref(),
                )?),
                None,
            ),
            Some((agent, PeerNet::Namespace { tap })) => {
                let net = TrialNet::create(*tap)?;
                let peer =
                    PeerProcess::start_in(agent, req.timeout, &net, self.peer_tools.as_ref())?;
                (Some(peer), Some(net))
            }
        };
        Ok(GuestTrial {
            req,
            counting: Counting::default(),
            peer,
            net,
            disk,
            backends: Vec::new(),
        })
    }
}

/// One trial's resources, torn down when it is dropped: the peer is killed, then its
/// namespace goes, then the scratch disk (fields drop in their order). A driver whose guest
/// may outlive its process (a Xen domain) destroys the guest before dropping this.
pub struct GuestTrial<'r> {
    req: &'r TrialRequest<'r>,
    counting: Counting,
    peer: Option<PeerProcess>,
    net: Option<TrialNet>,
    disk: Option<ScratchImage>,
    backends: Vec<u32>,
}

impl GuestTrial<'_> {
    /// The scratch disk's image, for the guest's configuration.
    pub fn disk(&self) -> Option<&Path> {
        self.disk.as_ref().map(ScratchImage::path)
    }

    /// The network peer, for the guest's configuration (where it listens on the loopback).
    pub fn peer(&self) -> Option<&PeerProcess> {
        self.peer.as_ref()
    }

    /// The trial's network namespace, with [`PeerNet::Namespace`].
    pub fn net(&self) -> Option<&TrialNet> {
        self.net.as_ref()
    }

    /// The isolation instance's CPUs, weight and cap, which the driver applies its own way;
    /// None: the platform's own configuration.
    pub fn place(&self) -> Option<&InstancePlace> {
        self.req.place
    }

    /// Whether the trial's plan asks for evidence (a battery trial, or an isolation victim):
    /// then the driver gives its collectors to [`GuestTrial::count_with`].
    pub fn wants_evidence(&self) -> bool {
        self.req.plan.evidence
    }

    /// Count with `collectors` over every window the guest marks.
    pub fn count_with(&mut self, collectors: Vec<Box<dyn Collector>>) {
        self.counting = Counting::new(collectors);
    }

    /// Processes outside the trial's namespace that serve the guest's port (a QEMU started by
    /// libvirtd): the port's facts look for their vhost-net workers too.
    pub fn served_by(&mut self, pids: Vec<u32>) {
        self.backends = pids;
    }

    /// Run the guest's `cmd` under the trial's time limit, console log and stop flag, its
    /// console events counted by the collectors, and watch the guest's port on the trial's
    /// bridge meanwhile. Once the guest is gone, `then` reports what the driver learnt of the
    /// trial, and the port's facts follow.
    pub fn run(
        &mut self,
        cmd: Command,
        on_event: &mut dyn FnMut(Event),
        then: impl FnOnce(&mut dyn FnMut(Event)),
    ) -> TrialEnd {
        let req = self.req;
        // The port's facts are read once the guest's NIC is up.
        let port = self
            .net
            .as_ref()
            .map(|n| n.watch_port(req.timeout, &self.backends));
        let end = self.counting.around(on_event, |on_event| {
            console::run_until(
                cmd,
                req.timeout,
                req.console_log.as_deref(),
                req.stop,
                on_event,
            )
        });
        then(on_event);
        if let Some(facts) = port.map(PortWatch::finish) {
            on_event(Event::Frame(Message::Facts { facts }));
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn plan() -> hvbench_proto::AgentPlan {
        hvbench_proto::AgentPlan {
            version: hvbench_proto::PLAN_VERSION,
            warmup: 0,
            samples: 1,
            min_window_ms: 1,
            workloads: Vec::new(),
            peer: None,
            stress: None,
            evidence: false,
            tools_root: None,
        }
    }

    fn request(plan: &hvbench_proto::AgentPlan) -> TrialRequest<'_> {
        TrialRequest {
            plan,
            timeout: Duration::from_secs(5),
            console_log: None,
            stop: None,
            place: None,
        }
    }

    #[test]
    fn a_trial_gets_a_new_disk_and_a_peer_and_both_go_with_it() {
        let d = tempfile::tempdir().unwrap();
        let cache = crate::guest::cache::Cache::at(d.path().join("cache"));
        let agent = crate::guest::agent::agent_path(&cache).unwrap();
        let disks = d.path().join("disks");
        std::fs::create_dir(&disks).unwrap();
        let mut resources = GuestResources::new(
            Some(ScratchDisks::in_dir(disks.clone(), 1 << 20)),
            Some((agent, PeerNet::Loopback)),
        );
        let plan = plan();
        let req = request(&plan);
        let trial = resources.open(&req, Some("dom-1")).unwrap();
        assert_eq!(trial.disk(), Some(disks.join("dom-1.raw").as_path()));
        assert!(trial.disk().unwrap().exists());
        let addr = trial.peer().unwrap().addr();
        assert!(addr.ip().is_loopback());
        assert!(trial.net().is_none() && trial.place().is_none() && !trial.wants_evidence());
        drop(trial);
        assert!(!disks.join("dom-1.raw").exists());
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "the peer is killed"
        );
    }

    #[test]
    fn what_was_set_up_before_a_failure_is_torn_down() {
        let d = tempfile::tempdir().unwrap();
        let mut resources = GuestResources::new(
            Some(ScratchDisks::in_dir(d.path().to_path_buf(), 1 << 20)),
            Some((PathBuf::from("/bin/true"), PeerNet::Loopback)),
        );
        let plan = plan();
        let req = request(&plan);
        let e = resources.open(&req, None).err().unwrap();
        assert!(e.contains("did not start"), "{e}");
        assert!(std::fs::read_dir(d.path()).unwrap().next().is_none());
    }

    #[test]
    fn nothing_asked_nothing_made() {
        let mut resources = GuestResources::new(None, None);
        let plan = plan();
        let req = request(&plan);
        let trial = resources.open(&req, None).unwrap();
        assert!(trial.disk().is_none() && trial.peer().is_none() && trial.net().is_none());
        assert!(resources.scratch().is_none());
    }
}
