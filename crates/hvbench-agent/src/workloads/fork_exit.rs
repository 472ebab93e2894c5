//! `fork-exit`: fork(2), the child _exit(2)s at once, the parent waitpid(2)s — lmbench's
//! `lat_proc fork`. The cost is mostly copying the page tables of the parent and tearing down
//! the child's, which hypervisors make dearer (PV page-table validation, shadow paging, EPT/NPT
//! invalidations). It grows with the parent's mapped memory: the agent is a small static
//! process, and every workload frees its memory before the next one starts.

use super::process::{self, exit_child};
use super::Workload;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct ForkExit;

impl Workload for ForkExit {
    fn run(&mut self, iterations: u64) {
        for _ in 0..iterations {
            let pid = process::fork().unwrap_or_else(|e| panic!("fork failed: {e}"));
            if pid == 0 {
                exit_child(0);
            }
            match process::wait_exit(pid) {
                Ok(0) => {}
                Ok(code) => panic!("the forked child exited with {code}"),
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// µs per fork, exit and wait.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        elapsed.as_nanos() as f64 / iterations as f64 / 1e3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forks_and_reaps() {
        ForkExit.run(5);
        assert_eq!(ForkExit.value(10, Duration::from_micros(1000)), 100.0);
    }
}
