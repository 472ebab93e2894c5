//! What a lab host boots to serve SSH: its rootfs with an overlay appended (the current init,
//! sshd's configuration, the keys; for the dual machine, its boot selector's tools).

use super::argv::SELECT_SERIAL;
use super::keys::LabKeys;
use super::machine::DUAL;
use super::shell::fill;
use super::{write_file, LabImages, INIT};
use crate::guest::cache::sha256_hex;
use crate::guest::image::{self, Entry};
use crate::{PlatformError, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `hvbench-lab-select`, its `@SERIAL@` the boot selector's ([`select_script`]).
const SELECT: &str = include_str!("dual_select.sh");
/// `reboot` in the dual lab host, whose rootfs has none (no init system: /init is a shell
/// script): restart the machine at once, as `reboot -f` does on a real one.
const REBOOT_SCRIPT: &str = include_str!("dual_reboot.sh");

/// sshd's configuration in a lab host.
const SSHD_CONFIG: &str = "Port 22\nHostKey /hvbench/ssh/host_key\n\
    AuthorizedKeysFile /hvbench/ssh/authorized_keys\nPermitRootLogin prohibit-password\n\
    PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
    UseDNS no\nPidFile /run/sshd.pid\nLogLevel ERROR\nMaxSessions 64\nMaxStartups 64\n\
    ClientAliveInterval 15\nClientAliveCountMax 4\n";

/// The overlay that makes a lab host serve SSH: the current init, the marker that selects
/// serve mode, sshd's configuration, its host key and the authorized client key; for the dual
/// machine, also `hvbench-lab-select` and `reboot` in /usr/local/sbin.
pub(super) fn serve_overlay(keys: &LabKeys, host: &str) -> Result<Vec<u8>> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(PlatformError::io(format!("cannot read {}", p.display())))
    };
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
            SSHD_CONFIG.as_bytes().to_vec(),
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
            file("usr/local/sbin/hvbench-lab-select", 0o755, select_script()),
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

/// The lab host's initrd for serving: the lab rootfs with `overlay` appended, named after the
/// lab images and the overlay both (a rebuilt lab, new packages or recipe, must not boot an old
/// combined image). Older ones of this host are removed.
pub(super) fn combined_initrd(
    dir: &Path,
    images: &LabImages,
    host: &str,
    overlay: &[u8],
) -> Result<PathBuf> {
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

/// `hvbench-lab-select xen|kvm` in the dual lab host: writes the boot selector disk (found by
/// its serial), as `grub-reboot` chooses the next boot of a real dual-boot machine.
fn select_script() -> Vec<u8> {
    fill(SELECT, &[("SERIAL", SELECT_SERIAL.as_bytes())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

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
        let s = String::from_utf8(select_script()).unwrap();
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
}
