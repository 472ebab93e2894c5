//! `syscall`: the cost of the cheapest real system call, `getppid(2)`.
//!
//! It goes through `syscall(2)` on purpose: libc wrappers may be served from a cache or the
//! vDSO for other calls, and the point is a real kernel entry and exit, which is what a
//! hypervisor makes more or less expensive (PV guests, KPTI, exits).

use super::Workload;
use std::hint::black_box;
use std::time::Duration;

/// No state: every iteration is one system call.
#[derive(Debug, Default)]
pub struct Syscall;

/// One raw `getppid` system call.
#[inline(always)]
fn getppid_raw() -> libc::c_long {
    // SAFETY: getppid takes no arguments, touches no memory of ours and cannot fail.
    unsafe { libc::syscall(libc::SYS_getppid) }
}

impl Workload for Syscall {
    fn run(&mut self, iterations: u64) {
        for _ in 0..iterations {
            black_box(getppid_raw());
        }
    }

    /// ns per call.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        elapsed.as_nanos() as f64 / iterations as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_call_agrees_with_std() {
        assert_eq!(
            getppid_raw(),
            libc::c_long::from(std::os::unix::process::parent_id())
        );
    }

    #[test]
    fn value_is_nanoseconds_per_call() {
        assert_eq!(Syscall.value(1000, Duration::from_micros(250)), 250.0);
    }
}
