//! The dual lab machine's supervisor: a small `sh` script (`dual_supervisor.sh`) that runs its
//! QEMU and boots it again, as its boot selector says, each time the host inside reboots.

use super::shell::{fill, sh_word};
use std::ffi::OsString;
use std::path::Path;

/// The file name of the dual lab machine's supervisor script: it holds the marker, so that
/// [`super::machine::LabMachine::alive`] recognises the supervisor by its command line.
pub(super) const DUAL_SCRIPT: &str = "hvbench-lab-serve-dual.sh";
/// The supervisor stops a boot loop: this many boots in a row that each ended within
/// [`DUAL_QUICK_BOOT_S`] of their start.
const DUAL_QUICK_BOOTS: u32 = 3;
const DUAL_QUICK_BOOT_S: u32 = 30;
/// The supervisor, its `@NAME@` placeholders filled by [`supervisor_script`].
const SUPERVISOR: &str = include_str!("dual_supervisor.sh");

/// The dual lab machine's supervisor: boots the host as the selector says, and again after
/// each reboot (QEMU runs with `-no-reboot`, so a reboot inside ends QEMU with status 0). QEMU
/// failing, QEMU ended by a signal, a boot loop, or a signal to the supervisor ends it (QEMU
/// with it). `xen` and `kvm` are QEMU's arguments for each boot.
pub(super) fn supervisor_script(
    qemu: &Path,
    select: &Path,
    console: &Path,
    xen: &[OsString],
    kvm: &[OsString],
) -> Vec<u8> {
    // Each argument on a line of its own, continuing `"$qemu"`.
    let args = |args: &[OsString]| {
        let mut c = Vec::new();
        for a in args {
            c.extend_from_slice(b" \\\n      ");
            c.extend_from_slice(&sh_word(a));
        }
        c
    };
    fill(
        SUPERVISOR,
        &[
            ("QEMU", &sh_word(qemu.as_os_str())),
            ("SELECTOR", &sh_word(select.as_os_str())),
            ("CONSOLE", &sh_word(console.as_os_str())),
            ("KVM_ARGS", &args(kvm)),
            ("XEN_ARGS", &args(xen)),
            ("QUICK_BOOT_S", DUAL_QUICK_BOOT_S.to_string().as_bytes()),
            ("QUICK_BOOTS", DUAL_QUICK_BOOTS.to_string().as_bytes()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::launch::select_disk;
    use crate::lab::LabHost;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::process::Command;
    use std::time::{Duration, Instant};

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
        // Every placeholder is filled.
        assert!(!s.contains('@'), "{s}");
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
}
