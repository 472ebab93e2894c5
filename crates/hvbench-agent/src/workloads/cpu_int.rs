//! `cpu-int`: integer throughput of a dependent chain of add/shift/xor/multiply steps.
//!
//! Each step needs the previous step's result, so the chain measures the latency of the
//! integer units as one thread sees them: it is what a vCPU gives a single integer-bound thread,
//! with no memory traffic at all. With `threads` > 1 every thread runs its own chain and the
//! value is the aggregate (see [`super::chains`]).

use super::chains::Chains;
use super::{per_microsecond, Workload};
use std::hint::black_box;
use std::time::Duration;

/// Integer operations in one iteration of [`mix`]: 1 add, 3 shifts, 3 xors, 2 multiplies.
pub const OPS_PER_ITERATION: u64 = 9;

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
const MIX_1: u64 = 0xbf58_476d_1ce4_e5b9;
const MIX_2: u64 = 0x94d0_49bb_1331_11eb;

/// One iteration: an add, then a xorshift-multiply finaliser (9 operations, each needing the
/// one before). Feeding the result back as the next input keeps the chain dependent, and the
/// chain has no closed form the compiler could substitute.
#[inline(always)]
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(MIX_1);
    z = (z ^ (z >> 27)).wrapping_mul(MIX_2);
    z ^ (z >> 31)
}

/// `iterations` steps of the chain from `start`.
fn chain(start: u64, iterations: u64) -> u64 {
    // black_box on the way in and out: the start is unknown to the compiler and the end is
    // observed, so the whole chain must be computed.
    let mut x = black_box(start);
    for _ in 0..iterations {
        x = mix(x);
    }
    black_box(x)
}

/// The chains' states, carried from window to window.
#[derive(Debug)]
pub struct CpuInt {
    chains: Chains<u64>,
}

impl CpuInt {
    /// `threads` (at least 1) chains run at once.
    pub fn new(threads: usize) -> Self {
        Self {
            chains: Chains::new(threads, 1),
        }
    }

    pub fn threads(&self) -> usize {
        self.chains.threads()
    }
}

impl Workload for CpuInt {
    fn run(&mut self, iterations: u64) {
        self.chains.run(iterations, chain);
    }

    /// Mop/s: millions of integer operations per second, all threads together.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        let ops = iterations as f64 * OPS_PER_ITERATION as f64 * self.threads() as f64;
        per_microsecond(ops, elapsed)
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        vec![("cpu-int.threads", self.threads().to_string())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_advances_and_is_deterministic() {
        let mut a = CpuInt::new(1);
        let mut b = CpuInt::new(1);
        a.run(1000);
        b.run(400);
        b.run(600);
        assert_eq!(a.chains.states(), b.chains.states());
        assert_ne!(a.chains.states(), CpuInt::new(1).chains.states());
    }

    #[test]
    fn value_is_operations_per_microsecond_of_all_threads() {
        // 1e6 iterations x 9 ops in 1 ms = 9e6 ops / 1000 µs = 9000 Mop/s.
        let v = CpuInt::new(1).value(1_000_000, Duration::from_millis(1));
        assert!((v - 9000.0).abs() < 1e-6, "{v}");
        let v = CpuInt::new(2).value(1_000_000, Duration::from_millis(1));
        assert!((v - 18000.0).abs() < 1e-6, "{v}");
    }

    #[test]
    fn threads_run_the_same_chain() {
        let mut w = CpuInt::new(2);
        w.run(100);
        let s = w.chains.states();
        assert_eq!(s[0], s[1]);
        assert_eq!(s[0], chain(1, 100));
    }
}
