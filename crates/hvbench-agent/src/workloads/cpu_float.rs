//! `cpu-float`: floating-point throughput of a dependent chain of f64 multiplies and adds.
//!
//! Each iteration is two affine steps, `x = x * a + b`, with |a| < 1, so the chain converges to
//! a normal (never subnormal) value and stays there: no operand ever takes a slow path. Rust
//! never contracts `x * a + b` into a fused multiply-add (that needs fast-math flags, and the
//! agent's baseline x86-64 target has no FMA), so every iteration is 2 multiplies and 2 adds,
//! each waiting for the one before: the chain measures the FP units' latency as one thread sees
//! them, with no memory traffic. `threads` works as for `cpu-int`.

use super::chains::Chains;
use super::{per_microsecond, Workload};
use std::hint::black_box;
use std::time::Duration;

/// Floating-point operations in one iteration of [`step`]: 2 multiplies, 2 adds.
pub const FLOPS_PER_ITERATION: u64 = 4;

const A1: f64 = 0.999_999_9;
const B1: f64 = 1.0e-3;
const A2: f64 = 0.999_999_7;
const B2: f64 = 3.0e-3;

#[inline(always)]
fn step(x: f64) -> f64 {
    let y = x * A1 + B1;
    y * A2 + B2
}

/// `iterations` steps of the chain from `start`.
fn chain(start: f64, iterations: u64) -> f64 {
    let mut x = black_box(start);
    for _ in 0..iterations {
        x = step(x);
    }
    black_box(x)
}

/// The chains' states, carried from window to window.
#[derive(Debug)]
pub struct CpuFloat {
    chains: Chains<f64>,
}

impl CpuFloat {
    /// `threads` (at least 1) chains run at once.
    pub fn new(threads: usize) -> Self {
        Self {
            chains: Chains::new(threads, 1.0),
        }
    }

    pub fn threads(&self) -> usize {
        self.chains.threads()
    }
}

impl Workload for CpuFloat {
    fn run(&mut self, iterations: u64) {
        self.chains.run(iterations, chain);
    }

    /// MFLOP/s: millions of floating-point operations per second, all threads together.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        let flops = iterations as f64 * FLOPS_PER_ITERATION as f64 * self.threads() as f64;
        per_microsecond(flops, elapsed)
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        vec![("cpu-float.threads", self.threads().to_string())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_stays_normal_and_finite() {
        // From the start, from far away and after many steps the value stays a normal number.
        for start in [1.0, -1.0e6, 0.0, 1.0e12] {
            let x = chain(start, 5_000_000);
            assert!(x.is_normal(), "{start} -> {x}");
        }
        let mut w = CpuFloat::new(1);
        w.run(1000);
        assert!(w.chains.states()[0].is_normal());
        assert_ne!(w.chains.states()[0], 1.0);
    }

    #[test]
    fn value_is_flops_per_microsecond_of_all_threads() {
        // 1e6 iterations x 4 flops in 1 ms = 4000 MFLOP/s; two threads, twice that.
        let v = CpuFloat::new(1).value(1_000_000, Duration::from_millis(1));
        assert!((v - 4000.0).abs() < 1e-6, "{v}");
        let v = CpuFloat::new(2).value(1_000_000, Duration::from_millis(1));
        assert!((v - 8000.0).abs() < 1e-6, "{v}");
    }
}
