//! A private libvirtd for the libvirt driver's tests: Debian's libvirtd, started by the test in
//! a mount namespace of its own, where its configuration, state, logs and sockets are the
//! test's directories (the machine's libvirt, if any, is never touched) and `/dev` has no
//! `kvm` node, so that on a machine whose /dev/kvm cannot run guests (this one's is a PVM
//! host's) libvirt settles on TCG instead of probing QEMU again on every domain. QEMU runs as
//! root (qemu.conf), as the direct driver's does. Dropping it destroys what is left and stops
//! the daemon.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// libvirtd and virsh are hard requirements of these tests: `.ci/run` installs them.
pub fn require_libvirt() {
    for (tool, arg) in [("virsh", "--version"), ("libvirtd", "--version")] {
        let ok = Command::new(tool)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "{tool} is needed for the libvirt tests: apt-get install libvirt-daemon \
             libvirt-daemon-driver-qemu libvirt-clients (scripts/setup.sh)"
        );
    }
}

pub struct Libvirtd {
    dir: tempfile::TempDir,
    child: Child,
}

const START: &str = r#"set -e
D="$1"
mount --make-rprivate /
mkdir "$D/dev.host"
mount --rbind /dev "$D/dev.host"
mount -t tmpfs -o mode=755,size=1m hvbench-test-dev /dev
for n in null zero full random urandom tty ptmx net vhost-net pts shm mqueue hugepages loop-control; do
  [ -e "$D/dev.host/$n" ] || continue
  if [ -d "$D/dev.host/$n" ]; then mkdir "/dev/$n"; else touch "/dev/$n"; fi
  mount --rbind "$D/dev.host/$n" "/dev/$n"
done
for f in "$D"/dev.host/loop[0-9]*; do
  [ -e "$f" ] || continue
  touch "/dev/${f##*/}"; mount --bind "$f" "/dev/${f##*/}"
done
ln -s /proc/self/fd /dev/fd
umount -l "$D/dev.host"
for d in etc:/etc/libvirt run:/run/libvirt lib:/var/lib/libvirt log:/var/log/libvirt cache:/var/cache/libvirt; do
  mkdir -p "$D/${d%%:*}" "${d#*:}"
  mount --bind "$D/${d%%:*}" "${d#*:}"
done
exec libvirtd --pid-file "$D/libvirtd.pid"
"#;

impl Libvirtd {
    pub fn start() -> Libvirtd {
        require_libvirt();
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        for sub in ["etc", "sock"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        std::fs::write(
            d.join("etc/libvirtd.conf"),
            format!(
                "unix_sock_dir = \"{}\"\nunix_sock_rw_perms = \"0700\"\n\
                 auth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\n",
                d.join("sock").display()
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("etc/qemu.conf"),
            "user = \"root\"\ngroup = \"root\"\nstdio_handler = \"file\"\n",
        )
        .unwrap();
        let child = Command::new("unshare")
            .arg("-m")
            .arg("sh")
            .arg("-c")
            .arg(START)
            .arg("sh")
            .arg(d)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("libvirtd.log")).unwrap())
            .spawn()
            .expect("start libvirtd");
        let mut l = Libvirtd { dir, child };
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if l.virsh(&["version"]).is_ok() {
                return l;
            }
            if let Ok(Some(status)) = l.child.try_wait() {
                panic!("libvirtd exited ({status}):\n{}", l.log());
            }
            assert!(
                Instant::now() < until,
                "libvirtd did not answer within 60 s:\n{}",
                l.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The URI of this daemon's QEMU driver.
    pub fn uri(&self) -> String {
        format!(
            "qemu:///system?socket={}",
            self.dir.path().join("sock/libvirt-sock").display()
        )
    }

    pub fn virsh(&self, args: &[&str]) -> Result<String, String> {
        let o = Command::new("virsh")
            .arg("-q")
            .arg("-c")
            .arg(self.uri())
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if o.status.success() {
            Ok(String::from_utf8_lossy(&o.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&o.stderr).into_owned())
        }
    }

    /// Every domain this daemon knows, running or not.
    pub fn domains(&self) -> Vec<String> {
        self.virsh(&["list", "--all", "--name"])
            .expect("virsh list")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("libvirtd.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The QEMU log of domain `name` (libvirt's, with its command line).
    pub fn qemu_log(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("log/qemu/{name}.log"))
    }
}

impl Drop for Libvirtd {
    fn drop(&mut self) {
        if let Ok(list) = self.virsh(&["list", "--name"]) {
            for d in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let _ = self.virsh(&["destroy", d]);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
