//! The lab as machines reached over SSH (docs/architecture.md, "The lab"): each emulated host
//! (Xen, KVM) is booted once and kept up, with `sshd` inside reachable only on
//! `127.0.0.1:<port>` (QEMU user networking with a host forward), so that lab platforms run
//! through exactly the SSH path of a real machine. Its keys are hvbench's own: a client key,
//! and a host key per lab host that hvbench generated and pins in a known_hosts file of its own.
//! A lab host's state (pid, port, boot time) is a small JSON file under `<cache>/lab/up/`, so
//! that `hvbench lab status|down` and later runs find it.
//!
//! A third lab machine, "dual" ([`up_dual`]), is one emulated host that boots either Xen or
//! Linux with KVM, as a dual-boot machine does: a supervisor (a small `sh` script) runs its
//! QEMU and, each time the host reboots, reads a boot selector (a small disk that the host
//! writes with `hvbench-lab-select xen|kvm`) and boots the chosen one again on the same port.

use super::argv::{dual_argv, SELECT_SERIAL};
use super::{build, write_file, LabHost, LabImages, INIT};
use crate::cache::{sha256_hex, Cache};
use crate::image::{self, Entry};
use crate::remote::ssh::Ssh;
use crate::{PlatformError, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use hvbench_spec::{HostSpec, SshTarget};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long an emulated host may take from QEMU's start to answering SSH.
pub const LAB_UP_LIMIT: Duration = Duration::from_secs(300);
/// Where the lab's files live in the lab host's own cache (a tmpfs, its whole rootfs).
const LAB_REMOTE_CACHE: &str = "/hvbench-cache";
/// The dual lab machine's `host` in its record (`dual.json`; its name is `lab-dual`).
pub const DUAL: &str = "dual";
/// The file name of the dual lab machine's supervisor script: it holds the marker, so that
/// [`LabMachine::alive`] recognises the supervisor by its command line.
const DUAL_SCRIPT: &str = "hvbench-lab-serve-dual.sh";
/// The dual lab machine's boot selector disk, and its size.
const DUAL_SELECT: &str = "dual-select.img";
const DUAL_SELECT_BYTES: usize = 4096;
/// The supervisor stops a boot loop: this many boots in a row that each ended within
/// [`DUAL_QUICK_BOOT_S`] of their start.
const DUAL_QUICK_BOOTS: u32 = 3;
const DUAL_QUICK_BOOT_S: u32 = 30;
/// How long a lab host may take to answer a probe after a failed trial before it counts as
/// wedged (a busy emulated host answers within seconds).
const LAB_PROBE: Duration = Duration::from_secs(60);

/// A lab host that is up: what `hvbench lab up` recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabMachine {
    /// `xen`, `kvm` or `dual`.
    pub host: String,
    /// Its QEMU's pid; the dual machine's supervisor's (also its process group).
    pub pid: u32,
    /// The loopback port that reaches its sshd.
    pub port: u16,
    /// When QEMU was started, and how long until SSH answered.
    pub started_ms: u64,
    pub boot_s: f64,
    /// The lab images it booted (package versions and recipe).
    pub images: String,
    /// Its console log on this machine.
    pub console: PathBuf,
    /// Its emulated CPU, QEMU's `-cpu` value (empty in records of older hvbench versions).
    #[serde(default)]
    pub cpu: String,
}

impl LabMachine {
    /// The machine's name as a `[[host]]`: `lab-xen`, `lab-kvm`, `lab-dual`.
    pub fn name(&self) -> String {
        format!("lab-{}", self.host)
    }

    /// The facts of a platform run on it: which lab machine, its images and address, and that
    /// its timings are emulated.
    pub fn facts(&self) -> std::collections::BTreeMap<String, String> {
        let what = if self.host == DUAL {
            "dual-boot (Xen or KVM)"
        } else {
            self.host.as_str()
        };
        [
            (hvbench_proto::facts::LAB, self.host.clone()),
            ("lab.images", self.images.clone()),
            (
                hvbench_proto::facts::LAB_EMULATION,
                format!("{what} host nested under QEMU TCG on this machine: timings are emulated"),
            ),
            ("lab.ssh", format!("127.0.0.1:{}", self.port)),
            ("lab.cpu", self.cpu.clone()),
            ("lab.boot_s", format!("{:.1}", self.boot_s)),
            (hvbench_proto::facts::HOST_EMULATED, "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Whether its QEMU still runs (the pid is a QEMU of this lab host); for the dual machine,
    /// whether its supervisor does (also while the host reboots).
    pub fn alive(&self) -> bool {
        std::fs::read(format!("/proc/{}/cmdline", self.pid))
            .map(|c| String::from_utf8_lossy(&c).contains(&marker(&self.host)))
            .unwrap_or(false)
    }

    /// The `[[host]]` that reaches it: root on 127.0.0.1:port with the lab's own key, its host
    /// key pinned.
    pub fn host_spec(&self, keys: &LabKeys) -> Result<HostSpec> {
        let known = keys.dir.join(format!("known_hosts-{}", self.host));
        let public = std::fs::read_to_string(keys.host_key(&self.host).with_extension("pub"))
            .map_err(PlatformError::io("cannot read the lab's host key"))?;
        let key: Vec<&str> = public.split_whitespace().take(2).collect();
        write_file(
            &known,
            format!("[127.0.0.1]:{} {}\n", self.port, key.join(" ")).as_bytes(),
            0o600,
        )?;
        Ok(HostSpec {
            name: self.name(),
            ssh: SshTarget {
                user: Some("root".into()),
                address: "127.0.0.1".into(),
                port: Some(self.port),
            },
            identity_file: Some(keys.client.clone()),
            known_hosts: Some(known),
            cache_dir: Some(LAB_REMOTE_CACHE.into()),
            lab: false,
            boots: Vec::new(),
        })
    }
}

/// The QEMU `-name` of a lab host kept up: how its process is recognised.
fn marker(host: &str) -> String {
    format!("hvbench-lab-serve-{host}")
}

/// The lab's SSH keys, generated once into `<cache>/lab/keys/`.
pub struct LabKeys {
    pub dir: PathBuf,
    pub client: PathBuf,
}

impl LabKeys {
    pub fn ensure(cache: &Cache) -> Result<LabKeys> {
        let dir = cache
            .dir("lab/keys")
            .map_err(PlatformError::io("cannot create the lab's key directory"))?;
        let _ = std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let keys = LabKeys {
            client: dir.join("client"),
            dir,
        };
        for path in [
            keys.client.clone(),
            keys.host_key("xen"),
            keys.host_key("kvm"),
            keys.host_key(DUAL),
        ] {
            if !path.exists() {
                let out = Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-C", "hvbench-lab", "-f"])
                    .arg(&path)
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|e| {
                        PlatformError::unavailable(
                            format!("cannot run ssh-keygen: {e}"),
                            "apt-get install openssh-client",
                        )
                    })?;
                if !out.status.success() {
                    return Err(PlatformError::unavailable(
                        format!(
                            "ssh-keygen failed: {}",
                            String::from_utf8_lossy(&out.stderr).trim()
                        ),
                        format!("remove {} and retry", keys.dir.display()),
                    ));
                }
            }
        }
        Ok(keys)
    }

    fn host_key(&self, host: &str) -> PathBuf {
        self.dir.join(format!("host-{host}"))
    }
}

/// The state files' directory.
fn state_dir(cache: &Cache) -> Result<PathBuf> {
    cache
        .dir("lab/up")
        .map_err(PlatformError::io("cannot create the lab's state directory"))
}

/// The lab hosts recorded as up (alive or not).
pub fn recorded(cache: &Cache) -> Vec<LabMachine> {
    let Ok(dir) = state_dir(cache) else {
        return Vec::new();
    };
    let mut out: Vec<LabMachine> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    out.sort_by(|a, b| a.host.cmp(&b.host));
    out
}

/// The lab host `host` if it is up and alive.
pub fn running(cache: &Cache, host: LabHost) -> Option<LabMachine> {
    running_named(cache, host.as_str())
}

/// The dual lab machine if it is up and alive (also while it reboots).
pub fn running_dual(cache: &Cache) -> Option<LabMachine> {
    running_named(cache, DUAL)
}

fn running_named(cache: &Cache, host: &str) -> Option<LabMachine> {
    recorded(cache)
        .into_iter()
        .find(|m| m.host == host && m.alive())
}

/// The overlay that makes a lab host serve SSH: the current init, the marker that selects
/// serve mode, sshd's configuration, its host key and the authorized client key; for the dual
/// machine, also `hvbench-lab-select` and `reboot` in /usr/local/sbin.
fn serve_overlay(keys: &LabKeys, host: &str) -> Result<Vec<u8>> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(PlatformError::io(format!("cannot read {}", p.display())))
    };
    let sshd_config = "Port 22\nHostKey /hvbench/ssh/host_key\n\
        AuthorizedKeysFile /hvbench/ssh/authorized_keys\nPermitRootLogin prohibit-password\n\
        PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
        UseDNS no\nPidFile /run/sshd.pid\nLogLevel ERROR\nMaxSessions 64\nMaxStartups 64\n\
        ClientAliveInterval 15\nClientAliveCountMax 4\n";
    let file = |path: &str, mode: u32, data: Vec<u8>| Entry::File {
        path: path.into(),
        mode,
        data,
    };
    let mut entries = vec![
        file("init", 0o755, INIT.as_bytes().to_vec()),
        Entry::Dir {
            path: "hvbench".into(),
            mode: 0o755,
        },
        file("hvbench/serve", 0o644, host.as_bytes().to_vec()),
        Entry::Dir {
            path: "hvbench/ssh".into(),
            mode: 0o700,
        },
        file(
            "hvbench/ssh/sshd_config",
            0o600,
            sshd_config.as_bytes().to_vec(),
        ),
        file("hvbench/ssh/host_key", 0o600, read(&keys.host_key(host))?),
        file(
            "hvbench/ssh/authorized_keys",
            0o600,
            read(&keys.client.with_extension("pub"))?,
        ),
    ];
    if host == DUAL {
        // The rootfs has these directories; a cpio entry for a file needs its parent.
        entries.extend([
            file(
                "usr/local/sbin/hvbench-lab-select",
                0o755,
                select_script().into_bytes(),
            ),
            file(
                "usr/local/sbin/reboot",
                0o755,
                REBOOT_SCRIPT.as_bytes().to_vec(),
            ),
        ]);
    }
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&image::cpio_newc(&entries))
        .map_err(PlatformError::io("cannot compress the lab overlay"))?;
    gz.finish()
        .map_err(PlatformError::io("cannot compress the lab overlay"))
}

/// A free loopback port (the kernel's choice; QEMU binds it right after).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(PlatformError::io("cannot find a free loopback port"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(PlatformError::io("cannot find a free loopback port"))
}

/// The lab host's initrd for serving: the lab rootfs with `overlay` appended, named after the
/// lab images and the overlay both (a rebuilt lab, new packages or recipe, must not boot an old
/// combined image). Older ones of this host are removed.
fn combined_initrd(dir: &Path, images: &LabImages, host: &str, overlay: &[u8]) -> Result<PathBuf> {
    let mut keyed = images.key.as_bytes().to_vec();
    keyed.extend_from_slice(overlay);
    let name = format!("{host}-{}.cpio.gz", &sha256_hex(&keyed)[..12]);
    let initrd = dir.join(&name);
    for old in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let n = old.file_name().to_string_lossy().into_owned();
        if n != name && n.starts_with(&format!("{host}-")) && n.ends_with(".cpio.gz") {
            let _ = std::fs::remove_file(old.path());
        }
    }
    if !initrd.exists() {
        let mut combined = std::fs::read(&images.rootfs)
            .map_err(PlatformError::io("cannot read the lab rootfs"))?;
        combined.extend_from_slice(overlay);
        write_file(&initrd, &combined, 0o600)?;
    }
    Ok(initrd)
}

/// QEMU's user network with sshd forwarded to `127.0.0.1:port`.
fn serve_net(port: u16) -> Vec<OsString> {
    [
        "-netdev".to_string(),
        format!("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22"),
        "-device".to_string(),
        "virtio-net-pci,netdev=n0".to_string(),
    ]
    .map(Into::into)
    .into()
}

/// Boot lab host `host` and keep it up, serving SSH on a loopback port; returns once SSH
/// answers. An old record of it (a host that died) is replaced.
pub fn up(cache: &Cache, host: LabHost, say: &mut dyn FnMut(&str)) -> Result<LabMachine> {
    if let Some(m) = running(cache, host) {
        return Ok(m);
    }
    let images: LabImages = build(cache, say)?;
    let keys = LabKeys::ensure(cache)?;
    let overlay = serve_overlay(&keys, host.as_str())?;
    let dir = state_dir(cache)?;
    let initrd = combined_initrd(&dir, &images, host.as_str(), &overlay)?;
    let port = free_port()?;
    let console = dir.join(format!("{}-console.log", host.as_str()));
    let mut argv = super::host_argv(&format!("serve-{}", host.as_str()), host, &images, &initrd);
    argv.extend(serve_net(port));
    let mut cmd = Command::new(crate::qemu::qemu_binary());
    cmd.args(&argv);
    say(&format!(
        "booting the {} lab host (ssh on 127.0.0.1:{port})",
        host.as_str()
    ));
    serve_until_ssh(
        cmd,
        host.as_str(),
        port,
        &images,
        &keys,
        &dir,
        &console,
        say,
    )
}

/// Boot the dual lab machine and keep it up, serving SSH on a loopback port; returns once SSH
/// answers (its first boot is Xen, as GRUB's first entry). If it is up (alive, also while it
/// reboots), it is returned as it is. Inside, `hvbench-lab-select xen|kvm` then `reboot`
/// boots the other one on the same port, with the same host key.
pub fn up_dual(cache: &Cache, say: &mut dyn FnMut(&str)) -> Result<LabMachine> {
    if let Some(m) = running_dual(cache) {
        return Ok(m);
    }
    let images: LabImages = build(cache, say)?;
    let keys = LabKeys::ensure(cache)?;
    let overlay = serve_overlay(&keys, DUAL)?;
    let dir = state_dir(cache)?;
    let initrd = combined_initrd(&dir, &images, DUAL, &overlay)?;
    let port = free_port()?;
    let select = dir.join(DUAL_SELECT);
    write_file(&select, &select_disk(LabHost::Xen), 0o600)?;
    // One log for all its boots, each headed by a line of the supervisor's.
    let console = dir.join(format!("{DUAL}-console.log"));
    let boot = |h: LabHost| {
        let mut a = dual_argv(h, &images, &initrd, &select);
        a.extend(serve_net(port));
        a
    };
    let script = dir.join(DUAL_SCRIPT);
    write_file(
        &script,
        &supervisor_script(
            &crate::qemu::qemu_binary(),
            &select,
            &console,
            &boot(LabHost::Xen),
            &boot(LabHost::Kvm),
        ),
        0o700,
    )?;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg(&script);
    say(&format!(
        "booting the dual lab machine, Xen first (ssh on 127.0.0.1:{port})"
    ));
    serve_until_ssh(cmd, DUAL, port, &images, &keys, &dir, &console, say)
}

/// Start `cmd` (lab host `host`'s QEMU, or the dual machine's supervisor), wait until its sshd
/// answers on `port`, and record it; it is stopped if it does not answer in time. Its output
/// goes to `console`, emptied first and appended to (the dual machine's supervisor appends its
/// own lines); it runs in its own process group, so that it outlives this hvbench and
/// `hvbench lab down` ends it with everything it started.
#[allow(clippy::too_many_arguments)]
fn serve_until_ssh(
    mut cmd: Command,
    host: &str,
    port: u16,
    images: &LabImages,
    keys: &LabKeys,
    dir: &Path,
    console: &Path,
    say: &mut dyn FnMut(&str),
) -> Result<LabMachine> {
    let log = std::fs::File::create(console)
        .and_then(|_| std::fs::OpenOptions::new().append(true).open(console))
        .map_err(PlatformError::io(format!(
            "cannot create {}",
            console.display()
        )))?;
    cmd.stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(PlatformError::io("cannot log the lab console"))?,
        )
        .stderr(log)
        .process_group(0);
    let started = Instant::now();
    let child = cmd
        .spawn()
        .map_err(PlatformError::io("cannot start QEMU for the lab"))?;
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut machine = LabMachine {
        host: host.into(),
        pid: child.id(),
        port,
        started_ms,
        boot_s: 0.0,
        images: images.key.clone(),
        console: console.to_path_buf(),
        cpu: lab_cpu(host),
    };
    // Not waited for here: it is reaped by whoever ends it, or by init once this process ends.
    std::mem::forget(child);
    let spec = machine.host_spec(keys)?;
    let ssh = Ssh::new(&spec, &crate::remote::control_dir());
    loop {
        if !machine.alive() {
            // The dual machine's QEMU may outlive its supervisor.
            stop(&machine);
            return Err(PlatformError::unavailable(
                format!(
                    "the {host} lab host stopped while booting; its console: {}",
                    console.display()
                ),
                "see the console log; `hvbench lab build` rebuilds the lab",
            ));
        }
        // Alive still once SSH answers: the dual machine's supervisor may have died meanwhile,
        // its QEMU answering on (the check above then stops it).
        if ssh.connect().is_ok() && machine.alive() {
            break;
        }
        if started.elapsed() > LAB_UP_LIMIT {
            stop(&machine);
            return Err(PlatformError::unavailable(
                format!(
                    "the {host} lab host did not answer SSH within {} s; its console: {}",
                    LAB_UP_LIMIT.as_secs(),
                    console.display()
                ),
                "see the console log; a loaded machine boots the lab slowly",
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    machine.boot_s = started.elapsed().as_secs_f64();
    write_file(
        &dir.join(format!("{host}.json")),
        &serde_json::to_vec_pretty(&machine).expect("state serialises"),
        0o600,
    )?;
    say(&format!(
        "the {host} lab host answers SSH after {:.1} s",
        machine.boot_s
    ));
    Ok(machine)
}

/// The emulated CPU of lab machine `host` (`xen`, `kvm` or the dual machine, whose two boots
/// have one CPU unless an override gives each its own).
fn lab_cpu(host: &str) -> String {
    match host {
        "xen" => super::argv::cpu_model(LabHost::Xen),
        "kvm" => super::argv::cpu_model(LabHost::Kvm),
        _ => {
            let (x, k) = (
                super::argv::cpu_model(LabHost::Xen),
                super::argv::cpu_model(LabHost::Kvm),
            );
            if x == k {
                x
            } else {
                format!("xen: {x}; kvm: {k}")
            }
        }
    }
}

/// The boot selector disk saying `boot`: its first line, then zeros.
fn select_disk(boot: LabHost) -> Vec<u8> {
    let mut d = format!("{}\n", boot.as_str()).into_bytes();
    d.resize(DUAL_SELECT_BYTES, 0);
    d
}

/// `s` as one word of POSIX shell, single-quoted (bytes as they are: paths need not be UTF-8).
fn sh_word(s: &std::ffi::OsStr) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &b in s.as_bytes() {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// The dual lab machine's supervisor: boots the host as the selector says, and again after
/// each reboot (QEMU runs with `-no-reboot`, so a reboot inside ends QEMU with status 0). QEMU
/// failing, QEMU ended by a signal, a boot loop, or a signal to the supervisor ends it (QEMU
/// with it). `xen` and `kvm` are QEMU's arguments for each boot.
fn supervisor_script(
    qemu: &Path,
    select: &Path,
    console: &Path,
    xen: &[OsString],
    kvm: &[OsString],
) -> Vec<u8> {
    let command = |args: &[OsString]| {
        let mut c = b"\"$qemu\"".to_vec();
        for a in args {
            c.extend_from_slice(b" \\\n      ");
            c.extend_from_slice(&sh_word(a));
        }
        c.extend_from_slice(b" \\\n      </dev/null >>\"$console\" 2>&1 &\n");
        c
    };
    let mut s = Vec::new();
    s.extend_from_slice(
        b"#!/bin/sh\n\
             # hvbench's dual lab machine (hvbench-lab-serve-dual): one emulated host that boots\n\
             # Xen or Linux with KVM as its boot selector says, like a dual-boot machine. QEMU\n\
             # runs with -no-reboot: a reboot inside ends it with status 0, and the selector is\n\
             # read again for the next boot. QEMU failing or ended by a signal, a boot loop, or\n\
             # a signal to this script stops the machine. `hvbench lab down dual` ends it.\n\
             # Written by hvbench; do not edit.\n",
    );
    for (name, value) in [("qemu", qemu), ("selector", select), ("console", console)] {
        s.extend_from_slice(name.as_bytes());
        s.push(b'=');
        s.extend_from_slice(&sh_word(value.as_os_str()));
        s.push(b'\n');
    }
    s.extend_from_slice(
        b"say() { echo \"hvbench-lab-dual: $*\" >>\"$console\"; }\n\
             child=\n\
             stop() {\n\
            \x20 [ -n \"$child\" ] && kill -TERM \"$child\" 2>/dev/null\n\
            \x20 say \"stopped by a signal\"\n\
            \x20 exit 143\n\
             }\n\
             trap stop TERM INT HUP\n\
             boot=0\n\
             quick=0\n\
             while :; do\n\
            \x20 boot=$((boot + 1))\n\
            \x20 sel=$(head -c 512 \"$selector\" 2>/dev/null | tr -d '\\000' | head -n 1 | tr -d ' \\t\\r')\n\
            \x20 case \"$sel\" in\n\
            \x20   xen|kvm) ;;\n\
            \x20   *) say \"the boot selector says '$sel', not xen or kvm: booting xen\"; sel=xen ;;\n\
            \x20 esac\n\
            \x20 say \"boot $boot: $sel ($(date -u '+%Y-%m-%dT%H:%M:%SZ'))\"\n\
            \x20 t0=$(date +%s)\n\
            \x20 if [ \"$sel\" = kvm ]; then\n\
            \x20   ",
    );
    s.extend_from_slice(&command(kvm));
    s.extend_from_slice(b"  else\n    ");
    s.extend_from_slice(&command(xen));
    s.extend_from_slice(
        format!(
            "  fi\n\
            \x20 child=$!\n\
            \x20 wait \"$child\"\n\
            \x20 rc=$?\n\
            \x20 child=\n\
            \x20 if [ \"$rc\" -ne 0 ]; then\n\
            \x20   say \"QEMU exited with status $rc: stopping\"\n\
            \x20   exit \"$rc\"\n\
            \x20 fi\n\
            \x20 # QEMU ends with status 0 on SIGTERM too: that is not a reboot.\n\
            \x20 if tail -n 3 \"$console\" | grep -q 'terminating on signal'; then\n\
            \x20   say \"QEMU was ended by a signal: stopping\"\n\
            \x20   exit 0\n\
            \x20 fi\n\
            \x20 if [ $(($(date +%s) - t0)) -lt {DUAL_QUICK_BOOT_S} ]; then\n\
            \x20   quick=$((quick + 1))\n\
            \x20 else\n\
            \x20   quick=0\n\
            \x20 fi\n\
            \x20 if [ \"$quick\" -ge {DUAL_QUICK_BOOTS} ]; then\n\
            \x20   say \"{DUAL_QUICK_BOOTS} boots in a row ended within {DUAL_QUICK_BOOT_S} s: a boot loop, stopping\"\n\
            \x20   exit 1\n\
            \x20 fi\n\
            \x20 say \"the $sel host rebooted\"\n\
             done\n"
        )
        .as_bytes(),
    );
    s
}

/// `hvbench-lab-select xen|kvm` in the dual lab host: writes the boot selector disk (found by
/// its serial), as `grub-reboot` chooses the next boot of a real dual-boot machine.
fn select_script() -> String {
    format!(
        "#!/bin/sh\n\
         # hvbench-lab-select xen|kvm: what the dual lab machine boots next (then `reboot`). It\n\
         # writes the boot selector, a small virtio disk of serial {SELECT_SERIAL} that the\n\
         # machine outside reads before each boot.\n\
         if [ $# -ne 1 ] || {{ [ \"$1\" != xen ] && [ \"$1\" != kvm ]; }}; then\n\
        \x20 echo \"usage: hvbench-lab-select xen|kvm\" >&2\n\
        \x20 exit 2\n\
         fi\n\
         dev=\n\
         for s in /sys/block/vd*/serial; do\n\
        \x20 [ -r \"$s\" ] && [ \"$(cat \"$s\")\" = {SELECT_SERIAL} ] || continue\n\
        \x20 d=${{s%/serial}}\n\
        \x20 dev=/dev/${{d##*/}}\n\
         done\n\
         if [ -z \"$dev\" ]; then\n\
        \x20 echo \"hvbench-lab-select: no boot selector here (a virtio disk of serial {SELECT_SERIAL})\" >&2\n\
        \x20 exit 1\n\
         fi\n\
         printf '%s\\n' \"$1\" | dd of=\"$dev\" bs=512 count=1 conv=sync,fsync status=none || {{\n\
        \x20 echo \"hvbench-lab-select: cannot write $dev\" >&2\n\
        \x20 exit 1\n\
         }}\n\
         echo \"hvbench-lab-select: the next boot is $1\"\n"
    )
}

/// `reboot` in the dual lab host, whose rootfs has none (no init system: /init is a shell
/// script): restart the machine at once, as `reboot -f` does on a real one.
const REBOOT_SCRIPT: &str = "#!/bin/sh\n\
# reboot: restart this lab host at once (it has no init system to stop services first).\n\
sync\n\
busybox reboot -f\n\
echo 1 >/proc/sys/kernel/sysrq\n\
echo b >/proc/sysrq-trigger\n\
sleep 10\n\
echo \"reboot: the machine did not restart\" >&2\n\
exit 1\n";

/// End a lab host: its QEMU, or the dual machine's supervisor and QEMU.
fn stop(m: &LabMachine) {
    if m.host == DUAL {
        stop_group(m)
    } else {
        stop_pid(m)
    }
}

/// End the dual machine's process group (the supervisor and its QEMU): SIGTERM, then SIGKILL
/// after 10 s.
fn stop_group(m: &LabMachine) {
    let pgid = m.pid as libc::pid_t;
    // A supervisor that died (killed alone) may leave its QEMU running in its group.
    if !m.alive() && !group_has_marked(pgid, &marker(&m.host)) {
        return;
    }
    // SAFETY: kill(2) on the dual machine's process group (the supervisor was started in a
    // group of its own): its supervisor or its QEMU, checked just above, is in it.
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    let gone = || {
        // Reap the supervisor if it is our child (it is when this process booted it).
        // SAFETY: waitpid(2) on one pid with WNOHANG, no status wanted.
        unsafe { libc::waitpid(pgid, std::ptr::null_mut(), libc::WNOHANG) };
        // SAFETY: signal 0 only checks whether the group has a member.
        unsafe { libc::kill(-pgid, 0) != 0 }
    };
    let t = Instant::now();
    while !gone() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if !gone() {
        // SAFETY: as above; the group is still the dual machine's (its members remain).
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let t = Instant::now();
        while !gone() && t.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether a process of process group `pgid` has `marker` in its command line.
fn group_has_marked(pgid: libc::pid_t, marker: &str) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.flatten().any(|e| {
        let dir = e.path();
        // The fields after the command's closing parenthesis: state, ppid, pgrp, ...
        let pgrp = std::fs::read_to_string(dir.join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')').and_then(|(_, rest)| {
                    rest.split_whitespace().nth(2)?.parse::<libc::pid_t>().ok()
                })
            });
        pgrp == Some(pgid)
            && std::fs::read(dir.join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
    })
}

/// End a lab host's QEMU: SIGTERM, then SIGKILL after 5 s.
fn stop_pid(m: &LabMachine) {
    let pid = m.pid as libc::pid_t;
    if !m.alive() {
        return;
    }
    // SAFETY: kill(2) with a pid checked just above to be this lab host's QEMU.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let t = Instant::now();
    while m.alive() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if m.alive() {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    // Reap it if it is our child (it is when this process booted it).
    // SAFETY: waitpid(2) on one pid with WNOHANG, no status wanted.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
}

/// Take lab host `host` down (every lab host with None, the dual machine too), and forget it.
pub fn down(cache: &Cache, host: Option<LabHost>) -> Vec<LabMachine> {
    down_where(cache, |h| host.is_none_or(|host| host.as_str() == h))
}

/// Take the dual lab machine down (its supervisor and QEMU), and forget it.
pub fn down_dual(cache: &Cache) -> Vec<LabMachine> {
    down_where(cache, |h| h == DUAL)
}

fn down_where(cache: &Cache, which: impl Fn(&str) -> bool) -> Vec<LabMachine> {
    let mut ended = Vec::new();
    let Ok(dir) = state_dir(cache) else {
        return ended;
    };
    for m in recorded(cache) {
        if !which(&m.host) {
            continue;
        }
        stop(&m);
        let _ = std::fs::remove_file(dir.join(format!("{}.json", m.host)));
        ended.push(m);
    }
    ended
}

/// A `lab = true` platform run through the SSH path: a [`crate::remote::RemotePlatform`] on the
/// lab host of its hypervisor, booted once (or found up) rather than once per trial. A lab host
/// that died is booted again before the next trial, and the platform prepared on it again.
pub struct ServedLabPlatform {
    inner: crate::remote::RemotePlatform,
    host: LabHost,
    /// Whether this campaign booted the lab host (then it takes it down at the end).
    booted_here: bool,
    args: Prepared,
}

/// What preparing the platform again needs.
struct Prepared {
    spec: hvbench_spec::PlatformSpec,
    guest: hvbench_spec::GuestSpec,
    plan: hvbench_proto::AgentPlan,
    cell_plans: Vec<hvbench_proto::AgentPlan>,
    cache: Cache,
    executor: &'static [u8],
}

impl ServedLabPlatform {
    pub fn prepare(
        spec: &hvbench_spec::PlatformSpec,
        guest: &hvbench_spec::GuestSpec,
        plan: &hvbench_proto::AgentPlan,
        cell_plans: &[hvbench_proto::AgentPlan],
        cache: &Cache,
        executor: &'static [u8],
        say: &mut dyn FnMut(&str),
    ) -> Result<ServedLabPlatform> {
        let host = LabHost::for_driver(&spec.driver).ok_or_else(|| {
            PlatformError::unavailable(
                "the host driver cannot run in the lab",
                "remove `lab = true` from the host platform",
            )
        })?;
        let args = Prepared {
            spec: spec.clone(),
            guest: guest.clone(),
            plan: plan.clone(),
            cell_plans: cell_plans.to_vec(),
            cache: cache.clone(),
            executor,
        };
        let was_up = running(cache, host).is_some();
        let inner = Self::on_host(&args, host, say)?;
        Ok(ServedLabPlatform {
            inner,
            host,
            booted_here: !was_up,
            args,
        })
    }

    /// Bring the lab host up if needed and prepare the platform on it.
    fn on_host(
        args: &Prepared,
        host: LabHost,
        say: &mut dyn FnMut(&str),
    ) -> Result<crate::remote::RemotePlatform> {
        let machine = up(&args.cache, host, say)?;
        let keys = LabKeys::ensure(&args.cache)?;
        let spec = machine.host_spec(&keys)?;
        let mut inner = crate::remote::RemotePlatform::prepare(
            &args.spec,
            &spec,
            &args.guest,
            &args.plan,
            &args.cell_plans,
            &args.cache,
            args.executor,
            say,
        )?;
        let facts = inner.facts_mut();
        // The lab runs on this machine: its platforms are this machine's in the report.
        facts.remove(hvbench_proto::facts::MACHINE);
        facts.extend(machine.facts());
        Ok(inner)
    }

    /// How long the lab host's console log is now (where a trial's part of it begins).
    fn console_len(&self) -> u64 {
        running(&self.args.cache, self.host)
            .and_then(|m| std::fs::metadata(&m.console).ok())
            .map_or(0, |m| m.len())
    }

    /// A trial that did not complete: a lab fault ([`super::fault`]) when the lab host's console
    /// since `from`, its sshd or the trial's reason say the lab failed under it (a wedged host is
    /// stopped, so that the next trial boots it again), else the trial's own end.
    fn lab_fault(&mut self, end: crate::TrialEnd, from: u64) -> crate::TrialEnd {
        let reason = match &end {
            crate::TrialEnd::Failed(r) | crate::TrialEnd::Lost(r) => r.clone(),
            _ => return end,
        };
        if crate::interrupt::requested().is_some() {
            return end;
        }
        let machine = running(&self.args.cache, self.host);
        let console = machine
            .as_ref()
            .and_then(|m| std::fs::read(&m.console).ok())
            .map(|b| {
                String::from_utf8_lossy(b.get(from as usize..).unwrap_or_default()).into_owned()
            })
            .unwrap_or_default();
        let ssh = machine.as_ref().and_then(|m| {
            let keys = LabKeys::ensure(&self.args.cache).ok()?;
            Some(Ssh::new(
                &m.host_spec(&keys).ok()?,
                &crate::remote::control_dir(),
            ))
        });
        let answers = ssh.as_ref().is_some_and(|s| {
            s.run("true", b"", LAB_PROBE)
                .is_ok_and(|o| o.status.success())
        });
        let Some(fault) = super::fault::diagnose(&reason, &console, answers) else {
            return end;
        };
        let logs = match (&ssh, answers) {
            (Some(s), true) => s
                .run(super::fault::LOGS_SCRIPT, b"", LAB_PROBE)
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default(),
            _ => String::new(),
        };
        if fault.kind == super::fault::FaultKind::HostWedged {
            if let Some(m) = &machine {
                stop(m);
            }
        }
        crate::TrialEnd::LabFault(fault.explain(self.host.as_str(), &reason, &logs))
    }

    /// The lab host this platform runs on.
    pub fn lab_host(&self) -> LabHost {
        self.host
    }

    /// Whether this campaign booted its lab host.
    pub fn booted_here(&self) -> bool {
        self.booted_here
    }

    /// Before a trial: a lab host that died is booted again, and the platform prepared on it.
    fn ensure_up(&mut self) -> std::result::Result<(), String> {
        if running(&self.args.cache, self.host).is_some() {
            return Ok(());
        }
        let mut say = |m: &str| eprintln!("lab: {m}");
        say(&format!(
            "the {} lab host is gone; booting it again",
            self.host.as_str()
        ));
        match Self::on_host(&self.args, self.host, &mut say) {
            Ok(inner) => {
                self.inner = inner;
                self.booted_here = true;
                Ok(())
            }
            Err(e) => Err(format!(
                "the {} lab host could not be booted again: {e}",
                self.host.as_str()
            )),
        }
    }
}

impl crate::Platform for ServedLabPlatform {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn driver(&self) -> &'static str {
        self.inner.driver()
    }
    /// The lab hosts run on this machine's CPUs: their platforms take turns with this
    /// machine's others, so that one never measures beside another.
    fn machine(&self) -> Option<&str> {
        None
    }
    fn facts(&self) -> std::collections::BTreeMap<String, String> {
        self.inner.facts()
    }
    fn run_trial(
        &mut self,
        req: &crate::TrialRequest<'_>,
        on_event: &mut dyn FnMut(hvbench_proto::Event),
    ) -> crate::TrialEnd {
        if let Err(e) = self.ensure_up() {
            return crate::TrialEnd::Failed(e);
        }
        let from = self.console_len();
        let end = self.inner.run_trial(req, on_event);
        self.lab_fault(end, from)
    }
    fn run_cell(
        &mut self,
        cell: &crate::isolation::Cell,
        timeout: Duration,
        logs: Option<&Path>,
        on_message: &mut dyn FnMut(hvbench_proto::Message),
    ) -> crate::TrialEnd {
        if let Err(e) = self.ensure_up() {
            return crate::TrialEnd::Failed(e);
        }
        let from = self.console_len();
        let end = self.inner.run_cell(cell, timeout, logs, on_message);
        self.lab_fault(end, from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(Into::into).collect()
    }

    /// The supervisor script in `dir` with a fake QEMU (`fake`, a shell script body that sees
    /// `$n`, its run count, and `$sel`, the selector's path); returns (script, selector,
    /// console).
    fn supervisor_with(dir: &Path, fake: &str) -> (PathBuf, PathBuf, PathBuf) {
        let qemu = dir.join("fake qemu");
        let select = dir.join("it's select.img");
        let console = dir.join("console.log");
        let count = dir.join("count");
        std::fs::write(
            &qemu,
            format!(
                "#!/bin/sh\nn=$(($(cat {c} 2>/dev/null || echo 0) + 1)); echo $n >{c}\n\
                 sel={s}\nprintf '%s\\n' \"$@\" >{d}/argv-$n\necho \"fake qemu run $n\"\n{fake}\n",
                c = String::from_utf8(sh_word(count.as_os_str())).unwrap(),
                s = String::from_utf8(sh_word(select.as_os_str())).unwrap(),
                d = String::from_utf8(sh_word(dir.as_os_str())).unwrap(),
            ),
        )
        .unwrap();
        std::fs::set_permissions(&qemu, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(&select, select_disk(LabHost::Xen)).unwrap();
        let script = dir.join(DUAL_SCRIPT);
        std::fs::write(
            &script,
            supervisor_script(
                &qemu,
                &select,
                &console,
                &os(&["-name", "xen boot", "it's $HOME `x`"]),
                &os(&["-name", "kvm boot"]),
            ),
        )
        .unwrap();
        (script, select, console)
    }

    fn run_sh(script: &Path) -> std::process::Output {
        Command::new("/bin/sh").arg(script).output().unwrap()
    }

    #[test]
    fn supervisor_quotes_each_argument() {
        let s = supervisor_script(
            Path::new("/usr/bin/qemu"),
            Path::new("/st'ate/dual-select.img"),
            Path::new("/state/dual console.log"),
            &os(&["-append", "a b 'c' $x"]),
            &os(&["-kernel", "/k"]),
        );
        let s = String::from_utf8(s).unwrap();
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.contains("\nqemu='/usr/bin/qemu'\n"));
        assert!(s.contains("\nselector='/st'\\''ate/dual-select.img'\n"));
        assert!(s.contains("\nconsole='/state/dual console.log'\n"));
        assert!(s.contains("\"$qemu\" \\\n      '-append' \\\n      'a b '\\''c'\\'' $x' \\\n"));
        assert!(s.contains("\"$qemu\" \\\n      '-kernel' \\\n      '/k' \\\n"));
        assert!(s.contains("trap stop TERM INT HUP"));
    }

    #[test]
    fn supervisor_boots_as_the_selector_says_and_stops_when_qemu_fails() {
        let d = tempfile::tempdir().unwrap();
        // Run 1 (xen) selects kvm and reboots; run 2 (kvm) writes nonsense and reboots; run 3
        // boots xen, saying so, and fails.
        let (script, _, console) = supervisor_with(
            d.path(),
            "case $n in 1) printf 'kvm\\n' >\"$sel\" ;; 2) printf 'windows\\n' >\"$sel\" ;; \
             *) exit 3 ;; esac",
        );
        let out = run_sh(&script);
        assert_eq!(out.status.code(), Some(3), "{out:?}");
        let argv = |n: u32| std::fs::read_to_string(d.path().join(format!("argv-{n}"))).unwrap();
        assert_eq!(argv(1), "-name\nxen boot\nit's $HOME `x`\n");
        assert_eq!(argv(2), "-name\nkvm boot\n");
        assert_eq!(argv(3), argv(1));
        assert!(!d.path().join("argv-4").exists());
        let log = std::fs::read_to_string(&console).unwrap();
        let lines: Vec<&str> = log.lines().map(|l| l.split(" (").next().unwrap()).collect();
        assert_eq!(
            lines,
            [
                "hvbench-lab-dual: boot 1: xen",
                "fake qemu run 1",
                "hvbench-lab-dual: the xen host rebooted",
                "hvbench-lab-dual: boot 2: kvm",
                "fake qemu run 2",
                "hvbench-lab-dual: the kvm host rebooted",
                "hvbench-lab-dual: the boot selector says 'windows', not xen or kvm: booting xen",
                "hvbench-lab-dual: boot 3: xen",
                "fake qemu run 3",
                "hvbench-lab-dual: QEMU exited with status 3: stopping",
            ]
        );
    }

    #[test]
    fn supervisor_stops_a_boot_loop_and_a_qemu_ended_by_a_signal() {
        let d = tempfile::tempdir().unwrap();
        let (script, _, console) = supervisor_with(d.path(), "exit 0");
        let out = run_sh(&script);
        assert_eq!(out.status.code(), Some(1));
        assert!(d.path().join(format!("argv-{DUAL_QUICK_BOOTS}")).exists());
        assert!(!d
            .path()
            .join(format!("argv-{}", DUAL_QUICK_BOOTS + 1))
            .exists());
        assert!(std::fs::read_to_string(&console)
            .unwrap()
            .ends_with("a boot loop, stopping\n"));

        let d = tempfile::tempdir().unwrap();
        let (script, _, console) = supervisor_with(
            d.path(),
            "echo 'qemu-system-x86_64: terminating on signal 15 from pid 1' >&2; exit 0",
        );
        let out = run_sh(&script);
        assert_eq!(out.status.code(), Some(0));
        assert!(!d.path().join("argv-2").exists());
        assert!(std::fs::read_to_string(&console)
            .unwrap()
            .ends_with("hvbench-lab-dual: QEMU was ended by a signal: stopping\n"));
    }

    #[test]
    fn supervisor_takes_qemu_down_when_signalled() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("qemu.pid");
        let (script, _, console) = supervisor_with(
            d.path(),
            &format!(
                "echo $$ >{}; exec sleep 30",
                String::from_utf8(sh_word(pidfile.as_os_str())).unwrap()
            ),
        );
        let mut child = Command::new("/bin/sh").arg(&script).spawn().unwrap();
        let t = Instant::now();
        let qemu: libc::pid_t = loop {
            if let Some(p) = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break p;
            }
            assert!(t.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(20));
        };
        // SAFETY: kill(2) on the supervisor this test started.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(143));
        // Its fake QEMU is gone (or a zombie waiting for init).
        let t = Instant::now();
        loop {
            let state = std::fs::read_to_string(format!("/proc/{qemu}/stat"))
                .map(|s| s.rsplit(')').next().unwrap_or("").trim().to_string());
            if state.map_or(true, |s| s.starts_with('Z')) {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "the fake QEMU lives on"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(std::fs::read_to_string(&console)
            .unwrap()
            .ends_with("hvbench-lab-dual: stopped by a signal\n"));
    }

    #[test]
    fn a_group_is_found_by_the_marker_of_its_members() {
        let mut child = Command::new("/bin/sh")
            .args(["-c", "sleep 30; exit 0", "hvbench-lab-serve-dual-test"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as libc::pid_t;
        let t = Instant::now();
        while !group_has_marked(pgid, "hvbench-lab-serve-dual-test") {
            assert!(t.elapsed() < Duration::from_secs(5), "not found");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!group_has_marked(pgid, "hvbench-lab-serve-xen"));
        // SAFETY: getpgrp(2) has no preconditions.
        let ours = unsafe { libc::getpgrp() };
        assert!(!group_has_marked(ours, "hvbench-lab-serve-dual-test"));
        // SAFETY: kill(2) on the group this test started (the shell and its sleep).
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        child.wait().unwrap();
        assert!(!group_has_marked(pgid, "hvbench-lab-serve-dual-test"));
    }

    #[test]
    fn select_disk_says_the_boot_on_its_first_line() {
        let d = select_disk(LabHost::Kvm);
        assert_eq!(d.len(), DUAL_SELECT_BYTES);
        assert!(d.starts_with(b"kvm\n\0"));
        assert!(d[4..].iter().all(|&b| b == 0));
    }

    #[test]
    fn select_script_refuses_anything_but_xen_or_kvm() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("hvbench-lab-select");
        std::fs::write(&p, select_script()).unwrap();
        for args in [&[][..], &["windows"], &["xen", "kvm"], &["Xen"], &[""]] {
            let out = Command::new("/bin/sh").arg(&p).args(args).output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            assert_eq!(
                String::from_utf8_lossy(&out.stderr),
                "usage: hvbench-lab-select xen|kvm\n"
            );
        }
        let s = select_script();
        assert!(s.contains("/sys/block/vd*/serial"));
        assert!(s.contains("= hvbench-select ]"));
        assert!(s.contains("| dd of=\"$dev\" bs=512 count=1 conv=sync,fsync status=none"));
        let r = REBOOT_SCRIPT;
        assert!(r.starts_with("#!/bin/sh\n"));
        let (sync, force, sysrq) = (
            r.find("\nsync\n").unwrap(),
            r.find("busybox reboot -f").unwrap(),
            r.find("echo b >/proc/sysrq-trigger").unwrap(),
        );
        assert!(sync < force && force < sysrq);
    }

    #[test]
    fn dual_machine_is_named_and_marked() {
        assert!(DUAL_SCRIPT.contains(&marker(DUAL)));
        let m = LabMachine {
            host: DUAL.into(),
            pid: std::process::id(),
            port: 1,
            started_ms: 0,
            boot_s: 0.0,
            images: String::new(),
            console: PathBuf::new(),
            cpu: String::new(),
        };
        assert_eq!(m.name(), "lab-dual");
        // This test's process is no supervisor.
        assert!(!m.alive());
    }
}
