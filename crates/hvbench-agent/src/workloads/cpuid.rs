//! `cpuid`: the round trip of CPUID leaf 0. Under VMX and SVM the instruction always exits to
//! the hypervisor (it cannot be configured not to), so this is the cheapest complete VM exit and
//! return a user program can make — the loop of kvm-unit-tests' `vmexit cpuid` test, seen from
//! user space. On bare metal it is a slow but local instruction; under TCG, an emulation helper.

use super::Workload;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Cpuid;

impl Cpuid {
    pub fn new() -> Result<Self, String> {
        if cfg!(target_arch = "x86_64") {
            Ok(Cpuid)
        } else {
            Err("skipped: cpuid is an x86 instruction".into())
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn cpuid_leaf0() -> u32 {
    use core::arch::x86_64::__cpuid;
    // `__cpuid` is safe in newer Rust; the block keeps older compilers building.
    #[allow(unused_unsafe)]
    // SAFETY: CPUID exists on every x86_64 CPU and leaf 0 is always implemented.
    let r = unsafe { __cpuid(std::hint::black_box(0)) };
    r.eax
}

#[cfg(not(target_arch = "x86_64"))]
fn cpuid_leaf0() -> u32 {
    0
}

impl Workload for Cpuid {
    fn run(&mut self, iterations: u64) {
        for _ in 0..iterations {
            std::hint::black_box(cpuid_leaf0());
        }
    }

    /// ns per CPUID.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        elapsed.as_nanos() as f64 / iterations as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn leaf_0_reports_the_highest_standard_leaf() {
        assert!(cpuid_leaf0() >= 1);
        let mut w = Cpuid::new().unwrap();
        w.run(100);
        assert_eq!(w.value(100, Duration::from_micros(10)), 100.0);
    }
}
