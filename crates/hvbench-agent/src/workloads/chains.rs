//! Independent copies of a CPU chain, one per thread, for the all-vCPU variants of `cpu-int`
//! and `cpu-float`.
//!
//! Every thread runs the full iteration count of a window, so a window lasts as long as the
//! slowest thread and the aggregate throughput is threads x iterations / window: what the
//! vCPUs deliver together. Threads are started for each window (scoped), which costs tens of
//! microseconds against windows of milliseconds, and are left to the scheduler, unpinned, as
//! `sysbench cpu --threads=N` leaves them.

/// The state of each chain, one per thread.
#[derive(Debug)]
pub struct Chains<T> {
    states: Vec<T>,
}

impl<T: Copy + Send> Chains<T> {
    /// `threads` (at least 1) copies of the chain, all starting from `start`.
    pub fn new(threads: usize, start: T) -> Self {
        Self {
            states: vec![start; threads.max(1)],
        }
    }

    pub fn threads(&self) -> usize {
        self.states.len()
    }

    #[cfg(test)]
    pub fn states(&self) -> &[T] {
        &self.states
    }

    /// Advance every chain by `iterations` steps of `run`, all at once; returns when all have.
    pub fn run(&mut self, iterations: u64, run: fn(T, u64) -> T) {
        match self.states.as_mut_slice() {
            [only] => *only = run(*only, iterations),
            [first, rest @ ..] => std::thread::scope(|scope| {
                for state in rest.iter_mut() {
                    scope.spawn(move || *state = run(*state, iterations));
                }
                // The calling thread runs a chain too rather than waiting idle.
                *first = run(*first, iterations);
            }),
            [] => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(x: u64, n: u64) -> u64 {
        x + n
    }

    #[test]
    fn every_chain_advances_by_the_full_count() {
        let mut c = Chains::new(3, 1u64);
        c.run(10, add);
        c.run(5, add);
        assert_eq!(c.states(), &[16, 16, 16]);
        assert_eq!(c.threads(), 3);
        assert_eq!(Chains::new(0, 0u64).threads(), 1);
    }
}
