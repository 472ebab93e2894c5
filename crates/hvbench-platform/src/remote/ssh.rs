//! The transport to a machine reached over SSH: the system's OpenSSH client, so that the user's
//! `~/.ssh/config`, agent, `ProxyJump` and jump hosts work as they expect, with one multiplexed
//! connection per host (ControlMaster), never a password prompt (BatchMode), and host keys
//! always verified (docs/architecture.md, "Machines over SSH"). Remote commands are shell text
//! built here from quoted words only.

use hvbench_spec::HostSpec;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long an idle multiplexing master lingers after its last session: longer than a machine
/// waits while the campaign's other platforms take their turns, so that a trial reuses the
/// connection instead of opening a new one on a busy machine.
const CONTROL_PERSIST_S: u32 = 1800;
/// Keep-alives: a connection that stopped answering is given up after about 4 x 15 s. A closed
/// connection is noticed at once; the margin is for a machine too busy to answer in time (a lab
/// host under emulation booting a nested guest missed 3 x 5 s).
const ALIVE_INTERVAL_S: u32 = 15;
const ALIVE_COUNT: u32 = 4;
/// A lab host under emulation that is busy may take tens of seconds to send its SSH banner
/// ("Connection timed out during banner exchange" at 15 s, seen in CI).
const CONNECT_TIMEOUT_S: u32 = 90;

/// Why a host could not be used; each message names the host and says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshError {
    /// The host's key is not in known_hosts (or differs from the one there).
    HostKey {
        host: String,
        changed: bool,
        detail: String,
    },
    /// Nothing answered (refused, timed out, no route, unknown name).
    Unreachable { host: String, detail: String },
    /// The key (or agent) was refused; BatchMode never asks for a password.
    Auth { host: String, detail: String },
    /// ssh itself could not run, or another failure of the connection.
    Other { host: String, detail: String },
}

impl std::fmt::Display for SshError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SshError::HostKey {
                host,
                changed: false,
                detail,
            } => write!(
                f,
                "host `{host}`: its SSH host key is not trusted ({detail}); check the key \
                 fingerprint with the machine's owner, then add it to known_hosts (for example \
                 `ssh-keyscan -p PORT ADDRESS >> KNOWN_HOSTS`, or one interactive `ssh` to it), \
                 or name a file with `known_hosts` in its [[host]]"
            ),
            SshError::HostKey {
                host,
                changed: true,
                detail,
            } => write!(
                f,
                "host `{host}`: its SSH host key CHANGED since it was trusted ({detail}); this \
                 may be an attack or a reinstalled machine: verify the new key, then replace the \
                 old line in known_hosts (`ssh-keygen -R ADDRESS`)"
            ),
            SshError::Unreachable { host, detail } => write!(
                f,
                "host `{host}` cannot be reached over SSH ({detail}); check that it is up, that \
                 sshd listens at the address and port of its [[host]], and `ssh` to it by hand"
            ),
            SshError::Auth { host, detail } => write!(
                f,
                "host `{host}` refused the login ({detail}); hvbench never asks for a password: \
                 set `identity_file` in its [[host]] or load the key into ssh-agent"
            ),
            SshError::Other { host, detail } => write!(f, "host `{host}`: ssh failed: {detail}"),
        }
    }
}

impl std::error::Error for SshError {}

/// `s` as one word of POSIX shell: single-quoted, each `'` written as `'\''`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// One machine's SSH connection settings.
#[derive(Debug, Clone)]
pub struct Ssh {
    host: String,
    user: Option<String>,
    address: String,
    port: Option<u16>,
    identity_file: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    control_dir: PathBuf,
}

impl Ssh {
    /// The connection to `host`; its multiplexing sockets live in `control_dir` (private).
    pub fn new(host: &HostSpec, control_dir: &Path) -> Ssh {
        Ssh {
            host: host.name.clone(),
            user: host.ssh.user.clone(),
            address: host.ssh.address.clone(),
            port: host.ssh.port,
            identity_file: host.identity_file.clone(),
            known_hosts: host.known_hosts.clone(),
            control_dir: control_dir.to_path_buf(),
        }
    }

    /// The host's name in the experiment file.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `user@address:port` as written, for facts and messages.
    pub fn target(&self) -> String {
        let mut t = String::new();
        if let Some(u) = &self.user {
            t.push_str(u);
            t.push('@');
        }
        if self.address.contains(':') {
            t.push_str(&format!("[{}]", self.address));
        } else {
            t.push_str(&self.address);
        }
        if let Some(p) = self.port {
            t.push_str(&format!(":{p}"));
        }
        t
    }

    /// The arguments of every `ssh` call to this host, up to and including the destination.
    pub fn args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut opt = |s: String| {
            a.push("-o".into());
            a.push(s.into());
        };
        opt("BatchMode=yes".into());
        opt("StrictHostKeyChecking=yes".into());
        opt("ControlMaster=auto".into());
        // %C: a hash of the connection's parameters, short enough for a socket path.
        opt(format!("ControlPath={}/%C", self.control_dir.display()));
        opt(format!("ControlPersist={CONTROL_PERSIST_S}"));
        opt(format!("ServerAliveInterval={ALIVE_INTERVAL_S}"));
        opt(format!("ServerAliveCountMax={ALIVE_COUNT}"));
        opt(format!("ConnectTimeout={CONNECT_TIMEOUT_S}"));
        // INFO (ssh's default): a dropped connection says why ("Timeout, server not
        // responding"), and that goes into the trial's failure.
        opt("LogLevel=INFO".into());
        if let Some(k) = &self.known_hosts {
            opt(format!("UserKnownHostsFile={}", k.display()));
        }
        if let Some(i) = &self.identity_file {
            opt("IdentitiesOnly=yes".into());
            a.push("-i".into());
            a.push(i.as_os_str().to_owned());
        }
        if let Some(p) = self.port {
            a.push("-p".into());
            a.push(p.to_string().into());
        }
        if let Some(u) = &self.user {
            a.push("-l".into());
            a.push(u.into());
        }
        a.push("-T".into());
        // The destination is validated (never an option), and `--` ends ssh's options anyway.
        a.push("--".into());
        a.push(self.address.clone().into());
        a
    }

    /// `ssh ... DEST SCRIPT`: SCRIPT runs in the remote user's shell.
    pub fn command(&self, script: &str) -> Command {
        let mut c = Command::new("ssh");
        c.args(self.args()).arg(script);
        c
    }

    /// Run `script` with `input` on its stdin; the output, or why ssh itself failed (exit 255).
    pub fn run(&self, script: &str, input: &[u8], timeout: Duration) -> Result<Output, SshError> {
        let started = Instant::now();
        let out =
            run_bounded(self.command(script), input, timeout).map_err(|e| SshError::Other {
                host: self.host.clone(),
                detail: if e.kind() == std::io::ErrorKind::NotFound {
                    format!("cannot run ssh: {e} (apt-get install openssh-client)")
                } else {
                    e.to_string()
                },
            })?;
        if started.elapsed() >= timeout && !out.status.success() {
            return Err(SshError::Unreachable {
                host: self.host.clone(),
                detail: format!("no answer within {} s", timeout.as_secs()),
            });
        }
        if out.status.code() == Some(255) {
            return Err(self.classify(&String::from_utf8_lossy(&out.stderr)));
        }
        Ok(out)
    }

    /// Open the multiplexed connection (or find it open): a first command that proves the host
    /// answers, its key is trusted and the login works.
    pub fn connect(&self) -> Result<(), SshError> {
        std::fs::create_dir_all(&self.control_dir).map_err(|e| SshError::Other {
            host: self.host.clone(),
            detail: format!("cannot create {}: {e}", self.control_dir.display()),
        })?;
        let out = self.run(
            "true",
            b"",
            Duration::from_secs(u64::from(CONNECT_TIMEOUT_S) + 30),
        )?;
        if !out.status.success() {
            return Err(SshError::Other {
                host: self.host.clone(),
                detail: format!(
                    "`true` exited with {}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        Ok(())
    }

    /// Close the multiplexing master, if one runs.
    pub fn close(&self) {
        let _ = Command::new("ssh")
            .args(self.args_without_destination())
            .args(["-O", "exit", "--", &self.address])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    fn args_without_destination(&self) -> Vec<OsString> {
        let mut a = self.args();
        a.truncate(a.len() - 3); // -T -- DEST
        a
    }

    /// An ssh failure (exit 255) by what ssh printed.
    pub fn classify(&self, stderr: &str) -> SshError {
        let detail = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("@@@") && !l.starts_with("Warning"))
            .take(3)
            .collect::<Vec<_>>()
            .join("; ");
        let detail = if detail.is_empty() {
            "ssh exited with status 255 and said nothing".to_string()
        } else {
            detail
        };
        let host = self.host.clone();
        let has = |s: &str| stderr.contains(s);
        if has("REMOTE HOST IDENTIFICATION HAS CHANGED") {
            SshError::HostKey {
                host,
                changed: true,
                detail,
            }
        } else if has("Host key verification failed") || has("No ED25519 host key is known") {
            SshError::HostKey {
                host,
                changed: false,
                detail,
            }
        } else if has("Permission denied") || has("Too many authentication failures") {
            SshError::Auth { host, detail }
        } else if has("Connection refused")
            || has("timed out")
            || has("No route to host")
            || has("Could not resolve hostname")
            || has("Network is unreachable")
            || has("Connection closed by")
            || has("Connection reset")
        {
            SshError::Unreachable { host, detail }
        } else {
            SshError::Other { host, detail }
        }
    }
}

/// Run `cmd` with `input` on its stdin, killing it once `timeout` has passed; its output. The
/// pipes are read in threads of their own and given up 2 s after the command has gone: with a
/// multiplexed connection the ssh master holds the client's stdin, stdout and stderr (passed to
/// it) until the remote command ends, so on a wedged host they never reach end-of-file, even
/// once the client is killed (a lab test's campaign hung so on its fault probe).
fn run_bounded(mut cmd: Command, input: &[u8], timeout: Duration) -> std::io::Result<Output> {
    use crate::trial::console::join_within;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                break child.wait();
            }
        }
    }?;
    let grace = Duration::from_secs(2);
    let _ = join_within(writer, grace);
    Ok(Output {
        status,
        stdout: join_within(stdout, grace).flatten().unwrap_or_default(),
        stderr: join_within(stderr, grace).flatten().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command killed at its limit returns even while something it started still holds its
    /// output open (as the ssh master holds a multiplexed client's).
    #[test]
    fn a_bounded_run_returns_while_its_pipes_stay_open() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo begun; sleep 30 & sleep 30"]);
        let t0 = Instant::now();
        let out = run_bounded(cmd, b"", Duration::from_millis(500)).unwrap();
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        assert!(!out.status.success());
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "cat; echo done >&2"]);
        let out = run_bounded(cmd, b"in", Duration::from_secs(30)).unwrap();
        assert!(out.status.success());
        assert_eq!(
            (out.stdout.as_slice(), out.stderr.as_slice()),
            (&b"in"[..], &b"done\n"[..])
        );
    }
    use hvbench_spec::SshTarget;

    fn host(user: Option<&str>, address: &str, port: Option<u16>) -> HostSpec {
        HostSpec {
            name: "box".into(),
            ssh: SshTarget {
                user: user.map(str::to_string),
                address: address.into(),
                port,
            },
            identity_file: Some("/k/id".into()),
            known_hosts: Some("/k/known".into()),
            cache_dir: None,
            lab: false,
            boots: Vec::new(),
        }
    }

    #[test]
    fn quoting_survives_every_character() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
        // What the shell makes of it: the same text back.
        for s in ["a b", "$HOME", "x'y\"z", "`id`;rm -rf /", "\\n"] {
            let out = Command::new("sh")
                .args(["-c", &format!("printf %s {}", quote(s))])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), s);
        }
    }

    #[test]
    fn argv_snapshot() {
        let s = Ssh::new(
            &host(Some("root"), "192.0.2.1", Some(2222)),
            Path::new("/c"),
        );
        let a: Vec<String> = s
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            a.join(" "),
            "-o BatchMode=yes -o StrictHostKeyChecking=yes -o ControlMaster=auto \
             -o ControlPath=/c/%C -o ControlPersist=1800 -o ServerAliveInterval=15 \
             -o ServerAliveCountMax=4 -o ConnectTimeout=90 -o LogLevel=INFO \
             -o UserKnownHostsFile=/k/known -o IdentitiesOnly=yes -i /k/id -p 2222 -l root \
             -T -- 192.0.2.1"
        );
        assert_eq!(s.target(), "root@192.0.2.1:2222");
        let v6 = Ssh::new(&host(None, "::1", None), Path::new("/c"));
        assert_eq!(v6.target(), "[::1]");
        assert_eq!(v6.args().last().unwrap(), "::1");
    }

    #[test]
    fn failures_are_told_apart() {
        let s = Ssh::new(&host(Some("root"), "h", None), Path::new("/c"));
        let kind = |text: &str| match s.classify(text) {
            SshError::HostKey { changed, .. } => format!("key changed={changed}"),
            SshError::Unreachable { .. } => "down".into(),
            SshError::Auth { .. } => "auth".into(),
            SshError::Other { .. } => "other".into(),
        };
        assert_eq!(
            kind("Host key verification failed.\r\n"),
            "key changed=false"
        );
        assert_eq!(
            kind("@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed."),
            "key changed=true"
        );
        assert_eq!(
            kind("ssh: connect to host h port 22: Connection refused"),
            "down"
        );
        assert_eq!(kind("root@h: Permission denied (publickey)."), "auth");
        assert_eq!(kind("something else"), "other");
        let msg = s.classify("Host key verification failed.").to_string();
        assert!(
            msg.contains("host `box`") && msg.contains("known_hosts"),
            "{msg}"
        );
    }
}
