//! "Remote machines" for tests: Debian's real sshd, started by the test on a loopback port with
//! host and client keys the test generates, and a known_hosts file that trusts exactly that
//! host key. Nothing listens beyond 127.0.0.1; the daemon is killed when the value is dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// Debian's sshd and the OpenSSH client are needed: `.ci/run` installs them
/// (scripts/setup.sh). Say so plainly if they are missing.
pub fn require_openssh() {
    assert!(
        Path::new(SSHD).is_file()
            && Command::new("ssh").arg("-V").output().is_ok()
            && Command::new("ssh-keygen").arg("--help").output().is_ok(),
        "Debian's openssh-server and openssh-client are needed for the SSH tests: \
         apt-get install openssh-server openssh-client (scripts/setup.sh does)"
    );
}

/// The user the tests log in as: whoever runs them (sshd on a high port can only log its own
/// user in unless it runs as root).
pub fn user() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "hvbench-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("run ssh-keygen")
        .success();
    assert!(ok, "ssh-keygen failed for {}", path.display());
}

/// The client side shared by the test's machines: one key pair.
pub struct Client {
    pub identity: PathBuf,
}

impl Client {
    pub fn new(dir: &Path) -> Client {
        let identity = dir.join("id_ed25519");
        if !identity.exists() {
            keygen(&identity);
        }
        Client { identity }
    }
}

/// One sshd on 127.0.0.1.
pub struct Sshd {
    child: Child,
    pub port: u16,
    /// `[127.0.0.1]:PORT <key>`: the line that trusts this daemon's host key.
    pub known_hosts_line: String,
    pub name: String,
}

impl Sshd {
    /// Start a daemon named `name` (its files go in `dir`), accepting `client`'s key.
    pub fn start(dir: &Path, name: &str, client: &Client) -> Sshd {
        require_openssh();
        // sshd's privilege separation directory; Debian's service would make it.
        std::fs::create_dir_all("/run/sshd").ok();
        let host_key = dir.join(format!("{name}-host-key"));
        keygen(&host_key);
        let authorized = dir.join(format!("{name}-authorized_keys"));
        std::fs::copy(client.identity.with_extension("pub"), &authorized).unwrap();
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let config = dir.join(format!("{name}-sshd_config"));
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
                 PidFile {}\nLogLevel ERROR\nMaxSessions 64\nMaxStartups 64\n",
                host_key.display(),
                authorized.display(),
                dir.join(format!("{name}-sshd.pid")).display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join(format!("{name}-sshd.log"))).unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "sshd `{name}` did not listen on 127.0.0.1:{port}: {}",
                std::fs::read_to_string(dir.join(format!("{name}-sshd.log"))).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let public = std::fs::read_to_string(host_key.with_extension("pub")).unwrap();
        let key: Vec<&str> = public.split_whitespace().take(2).collect();
        Sshd {
            child,
            port,
            known_hosts_line: format!("[127.0.0.1]:{port} {}\n", key.join(" ")),
            name: name.to_string(),
        }
    }

    /// `user@127.0.0.1:port`.
    pub fn target(&self) -> String {
        format!("{}@127.0.0.1:{}", user(), self.port)
    }

    /// Stop the daemon now (a machine that went down).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}
