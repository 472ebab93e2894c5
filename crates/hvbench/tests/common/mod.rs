//! What the `hvbench` binary tests share: running the binary and showing what it said.
#![allow(dead_code)] // each test binary uses its own subset

pub mod libvirtd;
pub mod sshd;

use std::path::Path;
use std::process::{Command, Output};

/// Run the `hvbench` binary built for these tests, in `cwd`.
pub fn hvbench(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run hvbench")
}

/// Exit status, stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status: {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// QEMU is a hard requirement of the guest tests: `.ci/run` installs it. Say so plainly if it
/// is missing rather than failing somewhere deep inside.
pub fn require_qemu() {
    let ok = Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "qemu-system-x86_64 is needed for the guest tests: apt-get install qemu-system-x86 (scripts/setup.sh)"
    );
}
