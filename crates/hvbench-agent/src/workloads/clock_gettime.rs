//! `clock-gettime`: the cost of reading CLOCK_MONOTONIC through libc, as programs do.
//!
//! Where the clocksource allows, the kernel's vDSO serves the call in user space (reading the
//! TSC or a paravirtual clock page: tens of ns); otherwise it becomes a real system call, and
//! under a hypervisor possibly an exit. Which one happened is the explanation a slow result
//! needs, so set-up finds out and reports it as facts (`vdso`: yes or no, the key the
//! slow-time-calls anomaly rule reads; `clock-gettime.vdso.method` says how it was decided):
//!
//! 1. the vDSO is mapped: `getauxval(AT_SYSINFO_EHDR)` is non-zero;
//! 2. the clocksource is one with a vDSO clock mode (`tsc`, `kvm-clock`, `hyperv_clocksource_tsc_page`;
//!    `xen` only where the hypervisor offers a stable pvclock for the vDSO);
//! 3. and, deciding: timing — the libc call is compared with the raw `clock_gettime` system call
//!    on the same clock. A vDSO that falls back to the system call costs as much as the call.

use super::Workload;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Calls timed for each of the two paths when deciding whether the vDSO served the call.
const PROBE_CALLS: u32 = 20_000;
/// The libc call counts as served in user space when it costs less than this share of the
/// system call (a vDSO read is several times cheaper than any kernel entry).
const VDSO_SHARE: f64 = 0.5;

/// Clocksources whose vDSO clock mode lets `clock_gettime` stay in user space.
const VDSO_CLOCKSOURCES: &[&str] = &["tsc", "kvm-clock", "hyperv_clocksource_tsc_page", "xen"];

#[inline(always)]
fn libc_monotonic() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a pointer to a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts
}

#[inline(always)]
fn raw_monotonic() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the clock_gettime system call with a valid clock id and a timespec we own.
    unsafe {
        libc::syscall(
            libc::SYS_clock_gettime,
            libc::CLOCK_MONOTONIC,
            &mut ts as *mut libc::timespec,
        )
    };
    ts
}

/// What set-up found about the path `clock_gettime` takes.
#[derive(Debug, Clone, PartialEq)]
pub struct VdsoProbe {
    pub mapped: bool,
    pub clocksource: Option<String>,
    pub libc_ns: f64,
    pub syscall_ns: f64,
}

impl VdsoProbe {
    /// Time both paths and look at the vDSO and the clocksource.
    pub fn run() -> Self {
        let best_of = |f: fn() -> libc::timespec| {
            (0..3)
                .map(|_| {
                    let t = Instant::now();
                    for _ in 0..PROBE_CALLS {
                        black_box(f());
                    }
                    t.elapsed().as_nanos() as f64 / f64::from(PROBE_CALLS)
                })
                .fold(f64::INFINITY, f64::min)
        };
        // SAFETY: getauxval only reads the auxiliary vector the kernel gave the process.
        let ehdr = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) };
        VdsoProbe {
            mapped: ehdr != 0,
            clocksource: std::fs::read_to_string(
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            )
            .ok()
            .map(|s| s.trim().to_string()),
            libc_ns: best_of(libc_monotonic),
            syscall_ns: best_of(raw_monotonic),
        }
    }

    /// Whether the libc call stayed in user space, by the timing comparison.
    pub fn served_by_vdso(&self) -> bool {
        self.mapped && self.libc_ns < self.syscall_ns * VDSO_SHARE
    }

    pub fn clocksource_has_vdso_mode(&self) -> Option<bool> {
        self.clocksource
            .as_deref()
            .map(|c| VDSO_CLOCKSOURCES.contains(&c))
    }

    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let verdict = if self.served_by_vdso() { "yes" } else { "no" };
        let mut f = vec![
            ("vdso", verdict.to_string()),
            (
                "clock-gettime.vdso.method",
                format!(
                    "timing: libc call {:.1} ns vs raw syscall {:.1} ns (best of 3 x {PROBE_CALLS}); \
                     vDSO when below {VDSO_SHARE} of the syscall and mapped",
                    self.libc_ns, self.syscall_ns
                ),
            ),
            ("clock-gettime.vdso.mapped", self.mapped.to_string()),
        ];
        if let (Some(c), Some(capable)) = (&self.clocksource, self.clocksource_has_vdso_mode()) {
            f.push(("clock-gettime.clocksource", c.clone()));
            f.push((
                "clock-gettime.clocksource.vdso_capable",
                capable.to_string(),
            ));
        }
        f
    }
}

/// Every iteration is one `clock_gettime(CLOCK_MONOTONIC)` through libc.
#[derive(Debug)]
pub struct ClockGettime {
    probe: VdsoProbe,
}

impl ClockGettime {
    pub fn new() -> Self {
        Self {
            probe: VdsoProbe::run(),
        }
    }
}

impl Default for ClockGettime {
    fn default() -> Self {
        Self::new()
    }
}

impl Workload for ClockGettime {
    fn run(&mut self, iterations: u64) {
        for _ in 0..iterations {
            black_box(libc_monotonic());
        }
    }

    /// ns per call.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        elapsed.as_nanos() as f64 / iterations as f64
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        self.probe.facts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_paths_read_the_same_clock() {
        let a = libc_monotonic();
        let b = raw_monotonic();
        let c = libc_monotonic();
        let ns = |t: libc::timespec| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
        assert!(ns(a) <= ns(b) && ns(b) <= ns(c));
    }

    #[test]
    fn probe_reports_its_method_and_verdict() {
        let p = VdsoProbe::run();
        assert!(p.libc_ns > 0.0 && p.syscall_ns > 0.0);
        let facts = ClockGettime { probe: p.clone() }.facts();
        let get = |key: &str| {
            facts
                .iter()
                .find(|(f, _)| *f == key)
                .map(|(_, v)| v.clone())
        };
        assert!(matches!(get("vdso").as_deref(), Some("yes" | "no")));
        assert!(get("clock-gettime.vdso.method")
            .unwrap()
            .contains("raw syscall"));
        // The verdict follows the rule it states.
        let fake = VdsoProbe {
            mapped: true,
            clocksource: Some("tsc".into()),
            libc_ns: 20.0,
            syscall_ns: 100.0,
        };
        assert!(fake.served_by_vdso());
        assert_eq!(fake.clocksource_has_vdso_mode(), Some(true));
        let slow = VdsoProbe {
            libc_ns: 110.0,
            clocksource: Some("hpet".into()),
            ..fake
        };
        assert!(!slow.served_by_vdso());
        assert_eq!(slow.clocksource_has_vdso_mode(), Some(false));
    }
}
