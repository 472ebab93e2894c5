//! The far end of the network workloads: `hvbench-agent --peer ADDR`, started for one trial —
//! on the host's loopback, or on the bridge of the trial's network namespace
//! ([`crate::trial::vnet`]) — and killed, with its whole process group, when the trial ends.

use crate::trial::loopmount::TreeAt;
use hvbench_proto::PEER_READY;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long a peer may take to say where it listens.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// A peer outlives its trial's limit by this much at most, should the driver die without
/// killing it.
const LIFETIME_MARGIN: Duration = Duration::from_secs(60);

/// A running peer; dropping it kills its process group.
#[derive(Debug)]
pub struct PeerProcess {
    child: Child,
    addr: SocketAddr,
    /// The tools image's loop device, where the peer's tree is a shipped image.
    _tools: Option<crate::trial::loopmount::LoopDevice>,
}

impl PeerProcess {
    /// Start `agent --peer 127.0.0.1:0` and wait for the address it listens on. `trial` is the
    /// trial's time limit; the peer exits by itself a little after it.
    pub fn start(agent: &Path, trial: Duration, tools: Option<&TreeAt>) -> Result<Self, String> {
        Self::spawn(agent, "127.0.0.1:0", trial, None, tools)
    }

    /// Start the peer inside the trial's network namespace, on the bridge's address, where
    /// the guest finds it ([`crate::drivers::qemu::GUEST_PEER`]).
    pub fn start_in(
        agent: &Path,
        trial: Duration,
        net: &crate::trial::vnet::TrialNet,
        tools: Option<&TreeAt>,
    ) -> Result<Self, String> {
        Self::spawn(
            agent,
            crate::drivers::qemu::GUEST_PEER,
            trial,
            Some(net),
            tools,
        )
    }

    fn spawn(
        agent: &Path,
        bind: &str,
        trial: Duration,
        net: Option<&crate::trial::vnet::TrialNet>,
        tools: Option<&TreeAt>,
    ) -> Result<Self, String> {
        let lifetime = trial.saturating_add(LIFETIME_MARGIN).as_secs().max(1);
        let mut cmd = Command::new(agent);
        if let Some(net) = net {
            net.enter(&mut cmd);
        }
        cmd.args(["--peer", bind, "--peer-lifetime-s"])
            .arg(lifetime.to_string());
        // General benchmarks with a far end (iperf3): the peer runs their servers from the
        // same tools tree as the agent's.
        let device = match tools {
            Some(tree) => {
                cmd.arg("--peer-tools").arg(tree.root());
                tree.prepare(&mut cmd).map_err(|e| {
                    format!("cannot mount the tools image for the network peer: {e}")
                })?
            }
            None => None,
        };
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start the network peer {}: {e}", agent.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(READY_TIMEOUT).unwrap_or_default();
        let addr = line
            .trim()
            .strip_prefix(PEER_READY)
            .and_then(|a| a.parse::<SocketAddr>().ok());
        let mut peer = PeerProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            _tools: device,
        };
        match addr {
            Some(addr) => {
                peer.addr = addr;
                Ok(peer)
            }
            None => {
                peer.kill();
                let mut stderr = String::new();
                if let Some(mut e) = peer.child.stderr.take() {
                    let _ = e.read_to_string(&mut stderr);
                }
                Err(format!(
                    "the network peer did not start (it said {:?}{})",
                    line.trim(),
                    if stderr.trim().is_empty() {
                        String::new()
                    } else {
                        format!("; stderr: {}", stderr.trim())
                    }
                ))
            }
        }
    }

    /// The bridge's address outside any namespace of hvbench's: refused by the peer.
    #[cfg(test)]
    pub(crate) fn spawn_outside_for_test(agent: &Path) -> Result<Self, String> {
        Self::spawn(
            agent,
            crate::drivers::qemu::GUEST_PEER,
            Duration::from_secs(5),
            None,
            None,
        )
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn kill(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill takes integers only; -pid names the process group the peer leads
            // (process_group(0) above), which holds nothing but the peer.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let _ = self.child.wait();
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_that_is_no_peer_is_reported_and_reaped() {
        let e =
            PeerProcess::start(Path::new("/bin/true"), Duration::from_secs(1), None).unwrap_err();
        assert!(e.contains("did not start"), "{e}");
        let e = PeerProcess::start(
            Path::new("/nonexistent/agent"),
            Duration::from_secs(1),
            None,
        )
        .unwrap_err();
        assert!(e.contains("cannot start"), "{e}");
    }

    #[test]
    fn the_embedded_agent_serves_as_peer_until_dropped() {
        let d = tempfile::tempdir().unwrap();
        let agent =
            crate::guest::agent::agent_path(&crate::guest::cache::Cache::at(d.path())).unwrap();
        let peer = PeerProcess::start(&agent, Duration::from_secs(5), None).unwrap();
        let addr = peer.addr();
        assert!(addr.ip().is_loopback() && addr.port() != 0);
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        use std::io::Write;
        s.write_all(b"H\0\0\0\0\0\0\0\0").unwrap();
        let mut hello = [0u8; 8];
        s.read_exact(&mut hello).unwrap();
        assert_eq!(&hello, b"HVBPEER1");
        drop(peer);
        // Killed: nothing accepts any more.
        assert!(std::net::TcpStream::connect(addr).is_err());
    }
}
