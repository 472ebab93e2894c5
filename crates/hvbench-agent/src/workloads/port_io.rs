//! `port-io`: the round trip of one `inb` from I/O port 0x80 (the PC's POST-code port, which
//! nothing answers with side effects on a read). In a guest every port access exits to the
//! hypervisor, and usually on to the device model in user space (QEMU), so this is the cost of
//! the slowest common exit path.
//!
//! Safety for the machine first: the workload runs only as PID 1 of a guest (the agent's guest
//! mode) on a CPU that says a hypervisor is present. In host mode, or anywhere else, set-up
//! fails with a `skipped:` reason and no port is ever touched. User space needs `iopl(3)`,
//! which only root may ask for.

use super::Workload;
use crate::Mode;
use std::time::Duration;

/// The port read: POST diagnostics, harmless to read on PCs and emulated by every VMM.
pub const PORT: u16 = 0x80;

#[derive(Debug)]
pub struct PortIo {
    _private: (),
}

/// Why port I/O may not run here, if it may not: the checks that keep it off real hardware.
pub fn refusal(mode: Mode, pid: u32, hypervisor_present: bool) -> Option<String> {
    if !cfg!(target_arch = "x86_64") {
        return Some("skipped: port I/O is an x86 feature".into());
    }
    if mode != Mode::Guest || pid != 1 {
        return Some(
            "skipped: port I/O runs only in a guest, as its PID 1; on a host the agent never \
             touches hardware ports"
                .into(),
        );
    }
    if !hypervisor_present {
        return Some(
            "skipped: the CPU reports no hypervisor, so this may be real hardware; port I/O \
             is not attempted"
                .into(),
        );
    }
    None
}

#[cfg(target_arch = "x86_64")]
fn hypervisor_present() -> bool {
    use core::arch::x86_64::__cpuid;
    #[allow(unused_unsafe)]
    // SAFETY: leaf 1 is implemented on every x86_64 CPU.
    let leaf1 = unsafe { __cpuid(1) };
    leaf1.ecx & (1 << 31) != 0
}

#[cfg(not(target_arch = "x86_64"))]
fn hypervisor_present() -> bool {
    false
}

fn iopl(level: libc::c_long) -> std::io::Result<()> {
    // SAFETY: iopl changes only this process's I/O privilege level.
    if unsafe { libc::syscall(libc::SYS_iopl, level) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl PortIo {
    pub fn new(mode: Mode) -> Result<Self, String> {
        if let Some(why) = refusal(mode, std::process::id(), hypervisor_present()) {
            return Err(why);
        }
        iopl(3).map_err(|e| format!("skipped: iopl(3) refused: {e} (the agent must be root)"))?;
        Ok(PortIo { _private: () })
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: only reached after `refusal` passed (guest PID 1 under a hypervisor) and iopl(3)
    // succeeded; reading port 0x80 has no side effects and touches no memory.
    unsafe {
        core::arch::asm!("in al, dx", out("al") value, in("dx") port,
            options(nomem, nostack, preserves_flags));
    }
    value
}

#[cfg(not(target_arch = "x86_64"))]
fn inb(_port: u16) -> u8 {
    unreachable!("PortIo::new refuses off x86_64")
}

impl Workload for PortIo {
    fn run(&mut self, iterations: u64) {
        for _ in 0..iterations {
            std::hint::black_box(inb(PORT));
        }
    }

    /// ns per `inb`.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        elapsed.as_nanos() as f64 / iterations as f64
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        vec![("port-io.port", format!("{PORT:#x}"))]
    }
}

impl Drop for PortIo {
    fn drop(&mut self) {
        let _ = iopl(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_on_a_host_or_outside_pid_1_or_without_a_hypervisor() {
        assert!(refusal(Mode::Host, 1, true)
            .unwrap()
            .starts_with("skipped:"));
        assert!(refusal(Mode::Host, 4242, true).is_some());
        assert!(refusal(Mode::Guest, 4242, true).is_some());
        assert!(refusal(Mode::Guest, 1, false)
            .unwrap()
            .contains("no hypervisor"));
        assert_eq!(refusal(Mode::Guest, 1, true), None);
        // The test process is no PID 1: both modes refuse before any iopl.
        for mode in [Mode::Host, Mode::Guest] {
            assert!(PortIo::new(mode).unwrap_err().starts_with("skipped:"));
        }
    }
}
