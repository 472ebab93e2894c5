//! Evidence on the guest's side (docs/architecture.md, "Evidence"): what the agent counts
//! itself over a measured window (steal time), and letting the console drain before a window
//! starts, so that the marks it just wrote are not transmitted, byte by emulated byte, inside
//! the window they mark.

use std::collections::BTreeMap;

/// The guest's own counters, read at a window's start and end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestCounters {
    /// Time the hypervisor ran something else while this guest's vCPUs were runnable, summed
    /// over the guest's CPUs, in clock ticks (`/proc/stat`, the `steal` column).
    steal_ticks: Option<u64>,
}

impl GuestCounters {
    pub fn read() -> GuestCounters {
        GuestCounters {
            steal_ticks: std::fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|t| steal_ticks(&t)),
        }
    }

    /// The counters from `self` (a window's start) to `end`, as a `Counters` frame's values.
    pub fn since(&self, end: &GuestCounters) -> BTreeMap<String, f64> {
        let mut values = BTreeMap::new();
        if let (Some(a), Some(b)) = (self.steal_ticks, end.steal_ticks) {
            let ticks = b.saturating_sub(a);
            values.insert("steal_ns".to_string(), ticks as f64 * tick_ns());
        }
        values
    }
}

/// The `steal` column of the aggregate `cpu` line of /proc/stat, in ticks (its eighth value:
/// user nice system idle iowait irq softirq steal; Documentation/filesystems/proc.rst).
pub fn steal_ticks(proc_stat: &str) -> Option<u64> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    line.split_whitespace().nth(8)?.parse().ok()
}

/// Nanoseconds per /proc/stat tick (USER_HZ, normally 100 per second).
fn tick_ns() -> f64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        1e9 / hz as f64
    } else {
        1e7
    }
}

/// Wait until what was written to standard output has left the machine when it is a terminal
/// (the guest's serial or Xen console): tcdrain(3). A pipe (the agent as a host process) has
/// nothing to wait for.
pub fn drain_console() {
    // SAFETY: isatty and tcdrain take a file descriptor and touch no memory of ours.
    unsafe {
        if libc::isatty(libc::STDOUT_FILENO) == 1 {
            libc::tcdrain(libc::STDOUT_FILENO);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_the_eighth_value_of_the_cpu_line() {
        let stat = "cpu  4705 356 584 3699176 23 0 79 1234 0 0\n\
                    cpu0 4705 356 584 3699176 23 0 79 1234 0 0\nintr 1 2\n";
        assert_eq!(steal_ticks(stat), Some(1234));
        assert_eq!(steal_ticks("cpu  1 2 3\n"), None);
        assert_eq!(steal_ticks("garbage"), None);
    }

    #[test]
    fn steal_over_a_window_is_in_nanoseconds() {
        let a = GuestCounters {
            steal_ticks: Some(10),
        };
        let b = GuestCounters {
            steal_ticks: Some(13),
        };
        let v = a.since(&b);
        assert_eq!(v["steal_ns"], 3.0 * tick_ns());
        assert!(GuestCounters { steal_ticks: None }.since(&b).is_empty());
    }
}
