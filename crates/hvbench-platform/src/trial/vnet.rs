//! The network a guest's NIC is on for one trial: a network namespace hvbench makes for the
//! trial, `hvbench-<pid>-<n>`, holding a bridge ([`BRIDGE`]) with the peer's address, the
//! guest's back-end port on it (a tap for QEMU, [`TAP`]; the vif netback makes for a Xen domain,
//! moved in by [`xen_vif_hook`]), and the peer, which listens on the bridge.
//!
//! Nothing of it touches the machine's own interfaces: the namespace holds only what hvbench
//! put there, and deleting it (when the trial ends, [`TrialNet`]'s drop) removes the bridge and
//! the tap with it. A run killed before that leaves a namespace named after its PID; the next
//! trial on the machine removes every such namespace whose process is gone ([`leftovers`]).
//!
//! The guest's side is the same everywhere: the agent gives its first NIC 10.0.2.15/24 and
//! finds the peer at [`crate::drivers::qemu::GUEST_PEER`] (10.0.2.100), the bridge's address.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Every namespace hvbench makes starts so; the rest is `<pid>-<n>`.
pub const NETNS_PREFIX: &str = "hvbench-";
/// The bridge in the trial's namespace: the peer's address, every guest port.
pub const BRIDGE: &str = hvbench_proto::PEER_BRIDGE;
/// A QEMU guest's tap in the trial's namespace.
pub const TAP: &str = "hvtap0";

/// The bridge's address and prefix: the peer's address in [`crate::drivers::qemu::GUEST_PEER`].
pub fn bridge_address() -> String {
    let ip = crate::drivers::qemu::GUEST_PEER
        .split_once(':')
        .map_or(crate::drivers::qemu::GUEST_PEER, |(ip, _)| ip);
    format!("{ip}/24")
}

/// The name of this process's `seq`-th namespace.
pub fn netns_name(pid: u32, seq: u32) -> String {
    format!("{NETNS_PREFIX}{pid}-{seq}")
}

/// The `ip` commands that make namespace `ns` with its bridge, and a tap on it when `tap`.
pub fn setup_commands(ns: &str, tap: bool) -> Vec<Vec<String>> {
    let ip = |args: &[&str]| -> Vec<String> {
        std::iter::once("ip")
            .chain(args.iter().copied())
            .map(String::from)
            .collect()
    };
    let addr = bridge_address();
    let mut c = vec![
        ip(&["netns", "add", ns]),
        ip(&["-n", ns, "link", "set", "lo", "up"]),
        ip(&["-n", ns, "link", "add", BRIDGE, "type", "bridge"]),
        ip(&["-n", ns, "addr", "add", &addr, "dev", BRIDGE]),
        ip(&["-n", ns, "link", "set", BRIDGE, "up"]),
    ];
    if tap {
        // A persistent tap that QEMU, started inside the namespace, attaches to by name.
        c.push(ip(&["-n", ns, "tuntap", "add", "dev", TAP, "mode", "tap"]));
        c.push(ip(&["-n", ns, "link", "set", TAP, "master", BRIDGE]));
        c.push(ip(&["-n", ns, "link", "set", TAP, "up"]));
    }
    c
}

/// The command that removes namespace `ns`, and with it the bridge and any tap.
pub fn teardown_command(ns: &str) -> Vec<String> {
    ["ip", "netns", "del", ns].map(String::from).to_vec()
}

/// The namespaces in `ip netns list` output that a run no longer alive left behind: named
/// `hvbench-<pid>-<n>` for a `pid` that `alive` says is gone.
pub fn leftovers(list: &str, alive: &dyn Fn(u32) -> bool) -> Vec<String> {
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|name| {
            let rest = name.strip_prefix(NETNS_PREFIX)?;
            let (pid, seq) = rest.split_once('-')?;
            let pid: u32 = pid.parse().ok()?;
            seq.parse::<u32>().ok()?;
            (!alive(pid)).then(|| name.to_string())
        })
        .collect()
}

fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Remove the namespaces of runs that are gone (their processes killed first); returns their
/// names.
pub fn clean_leftovers() -> Vec<String> {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return Vec::new();
    };
    let gone = leftovers(&String::from_utf8_lossy(&out.stdout), &process_alive);
    for ns in &gone {
        remove(ns);
    }
    gone
}

/// Kill what still runs in `ns` (a peer), then delete it.
fn remove(ns: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            // SAFETY: kill takes integers only; these are processes inside hvbench's own
            // namespace for this trial (its peer), never anything else.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    let t = teardown_command(ns);
    let _ = Command::new(&t[0])
        .args(&t[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Why a trial's network namespace cannot be made here, if it cannot: hvbench must be root,
/// `ip` (iproute2) must run, and a tap needs `/dev/net/tun`.
pub fn unavailable(tap: bool) -> Option<String> {
    // SAFETY: geteuid has no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("making a network namespace, bridge and tap needs root".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => {}
        _ => return Some("`ip` (iproute2) cannot be run: apt-get install iproute2".into()),
    }
    if tap && !Path::new("/dev/net/tun").exists() {
        let _ = Command::new("modprobe").arg("tun").output();
        if !Path::new("/dev/net/tun").exists() {
            return Some("no /dev/net/tun (the tun module is not loaded)".into());
        }
    }
    None
}

/// Why vhost-net cannot serve a KVM guest here, if it cannot (`/dev/vhost-net`, loading the
/// module once if it is missing).
pub fn vhost_unavailable() -> Option<String> {
    let dev = Path::new("/dev/vhost-net");
    if !dev.exists() {
        let _ = Command::new("modprobe").arg("vhost_net").output();
    }
    match std::fs::OpenOptions::new().read(true).write(true).open(dev) {
        Ok(_) => None,
        Err(e) => Some(format!("cannot open /dev/vhost-net: {e}")),
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A trial's network namespace; dropping it kills what runs in it and deletes it.
#[derive(Debug)]
pub struct TrialNet {
    name: String,
    /// `/run/netns/<name>`, open: what [`TrialNet::enter`] joins.
    handle: File,
}

impl TrialNet {
    /// Clean up what killed runs left, then make the namespace, its bridge and (with `tap`)
    /// its tap.
    pub fn create(tap: bool) -> Result<TrialNet, String> {
        clean_leftovers();
        let name = netns_name(std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        for argv in setup_commands(&name, tap) {
            let out = Command::new(&argv[0]).args(&argv[1..]).output();
            let failed = match out {
                Ok(o) if o.status.success() => None,
                Ok(o) => Some(String::from_utf8_lossy(&o.stderr).trim().to_string()),
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = failed {
                remove(&name);
                return Err(format!(
                    "cannot set up the trial's network (`{}`): {why}",
                    argv.join(" ")
                ));
            }
        }
        match File::open(Path::new("/run/netns").join(&name)) {
            Ok(handle) => Ok(TrialNet { name, handle }),
            Err(e) => {
                remove(&name);
                Err(format!("cannot open the network namespace {name}: {e}"))
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Make `cmd` run inside the namespace (it joins it between fork and exec).
    pub fn enter(&self, cmd: &mut Command) {
        enter_on_exec(cmd, &self.handle);
    }

    /// Wait (until [`PortWatch::finish`], or `limit`) for a guest port on the bridge whose link is up, then
    /// describe it: `net.port`, `net.port.mtu`, `net.port.offloads`, and for a tap `net.vhost.workers`
    /// (the vhost-net workers serving a process in the namespace, or `none`). A guest that
    /// never connects its NIC gives `net.port = none up`.
    ///
    /// `backends`: processes outside the namespace that serve its tap too (a QEMU that libvirtd
    /// started in its own namespace, its tap moved in afterwards).
    pub fn watch_port(&self, limit: Duration, backends: &[u32]) -> PortWatch {
        let backends = backends.to_vec();
        let name = self.name.clone();
        let handle = self.handle.try_clone();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let worker = std::thread::spawn(move || {
            let stop = flag;
            let started = Instant::now();
            let mut facts = BTreeMap::new();
            while !stop.load(Ordering::Relaxed) && started.elapsed() < limit {
                let out = Command::new("ip")
                    .args(["-n", &name, "-o", "link", "show", "master", BRIDGE])
                    .output();
                let ports = out
                    .map(|o| parse_ports(&String::from_utf8_lossy(&o.stdout)))
                    .unwrap_or_default();
                if let Some(p) = ports.into_iter().find(|p| p.up) {
                    // Offloads are agreed once the guest's driver has opened the device.
                    std::thread::sleep(Duration::from_millis(500));
                    facts.insert(hvbench_proto::facts::NET_PORT.into(), p.name.clone());
                    facts.insert(hvbench_proto::facts::NET_PORT_MTU.into(), p.mtu.to_string());
                    let mut cmd = Command::new("ethtool");
                    cmd.arg("-k").arg(&p.name);
                    let offloads = match &handle {
                        Ok(h) => {
                            enter_on_exec(&mut cmd, h);
                            match cmd.output() {
                                Ok(o) if o.status.success() => {
                                    offloads_on(&String::from_utf8_lossy(&o.stdout))
                                }
                                Ok(o) => format!(
                                    "unknown (ethtool: {})",
                                    String::from_utf8_lossy(&o.stderr).trim()
                                ),
                                Err(e) => format!("unknown (cannot run ethtool: {e})"),
                            }
                        }
                        Err(e) => format!("unknown ({e})"),
                    };
                    facts.insert(hvbench_proto::facts::NET_PORT_OFFLOADS.into(), offloads);
                    if p.name != TAP {
                        return facts;
                    }
                    // vhost-net serves a QEMU through a worker named `vhost-<QEMU's pid>` (a
                    // kernel thread before Linux 6.4, a thread of QEMU's since): its presence
                    // shows that the rings really are served in the kernel.
                    let mut pids: Vec<u32> = Command::new("ip")
                        .args(["netns", "pids", &name])
                        .output()
                        .map(|o| {
                            String::from_utf8_lossy(&o.stdout)
                                .split_whitespace()
                                .filter_map(|p| p.parse().ok())
                                .collect()
                        })
                        .unwrap_or_default();
                    pids.extend(&backends);
                    let workers = vhost_workers(Path::new("/proc"), &pids);
                    facts.insert(
                        hvbench_proto::facts::NET_VHOST_WORKERS.into(),
                        if workers.is_empty() {
                            "none".into()
                        } else {
                            workers.join(" ")
                        },
                    );
                    return facts;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            facts.insert(hvbench_proto::facts::NET_PORT.into(), "none up".into());
            facts
        });
        PortWatch { stop, worker }
    }
}

/// The `ip` commands that move tap `tap` (made in this machine's own namespace, where a
/// hypervisor's manager such as libvirtd opened it) into namespace `ns` as [`TAP`], on the
/// bridge and up: from there on the guest's port is as the qemu driver's.
pub fn adopt_tap_commands(ns: &str, tap: &str) -> Vec<Vec<String>> {
    [
        vec!["link", "set", "dev", tap, "netns", ns],
        vec!["-n", ns, "link", "set", "dev", tap, "name", TAP],
        vec!["-n", ns, "link", "set", "dev", TAP, "master", BRIDGE],
        vec!["-n", ns, "link", "set", "dev", TAP, "up"],
    ]
    .into_iter()
    .map(|a| std::iter::once("ip").chain(a).map(String::from).collect())
    .collect()
}

/// A port watch under way ([`TrialNet::watch_port`]).
pub struct PortWatch {
    stop: Arc<AtomicBool>,
    worker: std::thread::JoinHandle<BTreeMap<String, String>>,
}

impl PortWatch {
    /// Stop watching (the guest is gone) and take the facts it found.
    pub fn finish(self) -> BTreeMap<String, String> {
        self.stop.store(true, Ordering::Relaxed);
        self.worker.join().unwrap_or_default()
    }
}

/// Make `cmd` join the network namespace `handle` (an open `/run/netns/<name>`) between fork
/// and exec. `handle` must stay open until the child has been spawned.
fn enter_on_exec(cmd: &mut Command, handle: &File) {
    let fd = handle.as_raw_fd();
    // SAFETY: the closure only makes the setns system call, which is async-signal-safe, on a
    // descriptor the caller keeps open until the child has exec'd.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

impl Drop for TrialNet {
    fn drop(&mut self) {
        remove(&self.name);
    }
}

/// The vhost workers (`vhost-<pid>`) serving any of `pids`, found under `proc` among the
/// processes and among the threads of `pids`.
pub fn vhost_workers(proc: &Path, pids: &[u32]) -> Vec<String> {
    let wanted: Vec<String> = pids.iter().map(|p| format!("vhost-{p}")).collect();
    let comm = |dir: &Path| {
        std::fs::read_to_string(dir.join("comm"))
            .map(|c| c.trim().to_string())
            .unwrap_or_default()
    };
    let mut found = std::collections::BTreeSet::new();
    let mut dirs: Vec<std::path::PathBuf> = std::fs::read_dir(proc)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .map(|e| e.path())
        .collect();
    for pid in pids {
        dirs.extend(
            std::fs::read_dir(proc.join(pid.to_string()).join("task"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path()),
        );
    }
    for d in dirs {
        let c = comm(&d);
        if wanted.contains(&c) {
            found.insert(c);
        }
    }
    found.into_iter().collect()
}

/// One port of the bridge, from `ip -o link show master BRIDGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub mtu: u32,
    /// The link is up with a carrier: for a vif, the guest's netfront has connected.
    pub up: bool,
}

/// Parse `ip -o link show master BRIDGE` output.
pub fn parse_ports(text: &str) -> Vec<Port> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            f.next()?; // "3:"
            let name = f.next()?.trim_end_matches(':');
            let name = name.split('@').next()?.to_string();
            let words: Vec<&str> = l.split_whitespace().collect();
            let after = |key: &str| {
                words
                    .iter()
                    .position(|w| *w == key)
                    .and_then(|i| words.get(i + 1))
                    .copied()
            };
            let mtu = after("mtu")?.parse().ok()?;
            let flags = words.get(2).copied().unwrap_or("");
            let up = flags.contains("LOWER_UP") && after("state") != Some("DOWN");
            Some(Port { name, mtu, up })
        })
        .collect()
}

/// The offloads that matter for a guest's network path, those `ethtool -k` says are on.
pub fn offloads_on(text: &str) -> String {
    const KEPT: [(&str, &str); 6] = [
        ("rx-checksumming", "rx-csum"),
        ("tx-checksumming", "tx-csum"),
        ("scatter-gather", "sg"),
        ("tcp-segmentation-offload", "tso"),
        ("generic-segmentation-offload", "gso"),
        ("generic-receive-offload", "gro"),
    ];
    let on: Vec<&str> = KEPT
        .iter()
        .filter(|(long, _)| {
            text.lines().any(|l| {
                l.trim()
                    .strip_prefix(long)
                    .and_then(|r| r.strip_prefix(':'))
                    .is_some_and(|v| v.trim().starts_with("on"))
            })
        })
        .map(|(_, short)| *short)
        .collect();
    if on.is_empty() {
        "none".into()
    } else {
        on.join(" ")
    }
}

/// The hotplug script xl runs for a Xen guest's vif (`script=` in its vif spec): it moves the
/// vif netback has just made into namespace `ns` and onto its bridge. xl passes the interface
/// in `$vif` and the action as the first argument; nothing is to be done on removal (the vif
/// goes with the domain, the namespace with the trial).
pub fn xen_vif_hook(ns: &str) -> String {
    format!(
        "#!/bin/sh\n\
         # hvbench: put the Xen guest's vif on the bridge of the trial's network namespace.\n\
         case \"$1\" in online|add) ;; *) exit 0 ;; esac\n\
         ip link set dev \"$vif\" netns {ns} || exit 1\n\
         ip -n {ns} link set dev \"$vif\" master {BRIDGE} || exit 1\n\
         exec ip -n {ns} link set dev \"$vif\" up\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_commands_snapshot() {
        let c: Vec<String> = setup_commands("hvbench-42-0", true)
            .into_iter()
            .map(|a| a.join(" "))
            .collect();
        assert_eq!(
            c,
            [
                "ip netns add hvbench-42-0",
                "ip -n hvbench-42-0 link set lo up",
                "ip -n hvbench-42-0 link add hvbr0 type bridge",
                "ip -n hvbench-42-0 addr add 10.0.2.100/24 dev hvbr0",
                "ip -n hvbench-42-0 link set hvbr0 up",
                "ip -n hvbench-42-0 tuntap add dev hvtap0 mode tap",
                "ip -n hvbench-42-0 link set hvtap0 master hvbr0",
                "ip -n hvbench-42-0 link set hvtap0 up",
            ]
        );
        // A Xen guest's port is its vif, which the hook brings: no tap.
        assert_eq!(setup_commands("hvbench-42-1", false).len(), 5);
        // A tap libvirtd opened in the machine's namespace, moved in as the qemu driver's.
        let c: Vec<String> = adopt_tap_commands("hvbench-42-2", "hvl42-1")
            .into_iter()
            .map(|a| a.join(" "))
            .collect();
        assert_eq!(
            c,
            [
                "ip link set dev hvl42-1 netns hvbench-42-2",
                "ip -n hvbench-42-2 link set dev hvl42-1 name hvtap0",
                "ip -n hvbench-42-2 link set dev hvtap0 master hvbr0",
                "ip -n hvbench-42-2 link set dev hvtap0 up",
            ]
        );
        assert_eq!(
            teardown_command("hvbench-42-0").join(" "),
            "ip netns del hvbench-42-0"
        );
    }

    #[test]
    fn names_fit_and_say_whose_they_are() {
        assert_eq!(netns_name(4194304, 12), "hvbench-4194304-12");
        // Interface names must fit IFNAMSIZ (15 characters and a NUL).
        assert!(BRIDGE.len() < 16 && TAP.len() < 16);
    }

    #[test]
    fn leftovers_are_the_namespaces_of_runs_that_are_gone() {
        let list = "hvbench-100-0 (id: 3)\nhvbench-100-1\nhvbench-200-0 (id: 1)\n\
                    hvbench-abc-0\nhvbench-300\nother-100-0\nhvbench-300-x\n";
        let alive = |pid: u32| pid == 200;
        assert_eq!(leftovers(list, &alive), ["hvbench-100-0", "hvbench-100-1"]);
        assert!(leftovers("", &alive).is_empty());
    }

    #[test]
    fn bridge_ports_from_ip_link() {
        let text = "4: hvtap0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel \
                    master hvbr0 state UP mode DEFAULT group default qlen 1000\\    link/ether \
                    52:54:00:12:34:56 brd ff:ff:ff:ff:ff:ff\n\
                    5: vif3.0: <BROADCAST,MULTICAST,UP> mtu 1500 qdisc noop master hvbr0 \
                    state DOWN mode DEFAULT group default qlen 32\n\
                    6: vif4.0@NONE: <BROADCAST,UP,LOWER_UP> mtu 9000 master hvbr0 state UNKNOWN\n";
        assert_eq!(
            parse_ports(text),
            [
                Port {
                    name: "hvtap0".into(),
                    mtu: 1500,
                    up: true
                },
                Port {
                    name: "vif3.0".into(),
                    mtu: 1500,
                    up: false
                },
                Port {
                    name: "vif4.0".into(),
                    mtu: 9000,
                    up: true
                },
            ]
        );
        assert!(parse_ports("").is_empty());
    }

    #[test]
    fn vhost_workers_are_found_as_kernel_threads_or_as_threads_of_qemu() {
        let d = tempfile::tempdir().unwrap();
        let put = |rel: &str, comm: &str| {
            let dir = d.path().join(rel);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
        };
        put("10", "qemu-system-x86");
        put("10/task/10", "qemu-system-x86");
        put("10/task/12", "vhost-10"); // Linux 6.4 and later
        put("11", "hvbench-agent");
        put("55", "vhost-99"); // another QEMU's
        assert_eq!(vhost_workers(d.path(), &[10, 11]), ["vhost-10"]);
        put("56", "vhost-11"); // a kernel thread, before Linux 6.4
        assert_eq!(vhost_workers(d.path(), &[10, 11]), ["vhost-10", "vhost-11"]);
        assert!(vhost_workers(d.path(), &[7]).is_empty());
    }

    #[test]
    fn offloads_that_are_on() {
        let text = "Features for hvtap0:\nrx-checksumming: off [fixed]\n\
                    tx-checksumming: on\n\ttx-checksum-ipv4: off [fixed]\n\
                    scatter-gather: on\n\ttx-scatter-gather: on\n\
                    tcp-segmentation-offload: on\ngeneric-segmentation-offload: on\n\
                    generic-receive-offload: off\n";
        assert_eq!(offloads_on(text), "tx-csum sg tso gso");
        assert_eq!(offloads_on("Features for x:\n"), "none");
    }

    #[test]
    fn the_vif_hook_moves_the_vif_into_the_namespace() {
        assert_eq!(
            xen_vif_hook("hvbench-7-2"),
            "#!/bin/sh\n\
             # hvbench: put the Xen guest's vif on the bridge of the trial's network namespace.\n\
             case \"$1\" in online|add) ;; *) exit 0 ;; esac\n\
             ip link set dev \"$vif\" netns hvbench-7-2 || exit 1\n\
             ip -n hvbench-7-2 link set dev \"$vif\" master hvbr0 || exit 1\n\
             exec ip -n hvbench-7-2 link set dev \"$vif\" up\n"
        );
    }

    /// The real thing, where it can run: a namespace with its bridge and tap, a peer on the
    /// bridge reached from inside the namespace, and nothing left once it is dropped — also
    /// what a run killed before its drop left.
    #[test]
    fn a_trial_network_is_made_and_removed() {
        if let Some(why) = unavailable(true) {
            eprintln!("skipped: {why}");
            return;
        }
        let net = TrialNet::create(true).unwrap();
        let name = net.name().to_string();
        let list = || {
            String::from_utf8_lossy(
                &Command::new("ip")
                    .args(["netns", "list"])
                    .output()
                    .unwrap()
                    .stdout,
            )
            .into_owned()
        };
        assert!(list().contains(&name));
        let links = Command::new("ip")
            .args(["-n", &name, "-o", "link", "show", "master", BRIDGE])
            .output()
            .unwrap();
        let ports = parse_ports(&String::from_utf8_lossy(&links.stdout));
        assert_eq!(
            ports.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            [TAP]
        );
        // Nothing of it is in this machine's namespace.
        assert!(!Path::new("/sys/class/net").join(BRIDGE).exists());
        // The peer listens on the bridge inside it (it refuses that address anywhere else).
        let d = tempfile::tempdir().unwrap();
        let agent =
            crate::guest::agent::agent_path(&crate::guest::cache::Cache::at(d.path())).unwrap();
        let peer =
            crate::trial::peer::PeerProcess::start_in(&agent, Duration::from_secs(5), &net, None)
                .unwrap();
        assert_eq!(peer.addr().to_string(), crate::drivers::qemu::GUEST_PEER);
        assert!(crate::trial::peer::PeerProcess::spawn_outside_for_test(&agent).is_err());
        drop(peer);
        drop(net);
        assert!(!list().contains(&name));

        // A killed run's namespace (its PID gone) is removed by the next trial's cleanup.
        let dead = netns_name(u32::MAX - 1, 0);
        assert!(Command::new("ip")
            .args(["netns", "add", &dead])
            .status()
            .unwrap()
            .success());
        let net = TrialNet::create(false).unwrap();
        assert!(!list().contains(&dead), "{}", list());
        drop(net);
    }
}
