//! `fork-bomb`: fork children that `_exit` at once, as fast as it can, with at most
//! `max_children` alive (unreaped) at a time, so the machine survives. Children are waited
//! for by pid, oldest first, never with `waitpid(-1)`, so that no other child of the process
//! is reaped by mistake. A refused fork (EAGAIN: a pids limit) waits for a child and retries.
//! Children still alive at the end of a window stay so into the next; all are reaped when it
//! stops.

use super::{over, Running, Work};
use crate::workloads::process;
use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Refused forks in a row, with no child to wait for, after which a window gives up (and
/// reports no forks) rather than spin until its end.
const MAX_REFUSED_IN_A_ROW: u64 = 1000;

/// The children alive and what happened so far.
pub struct Bomb {
    max: usize,
    alive: VecDeque<libc::pid_t>,
    refused: u64,
    failed_waits: Vec<String>,
    /// Every pid forked, kept only in tests (to check that all were reaped).
    forked: Vec<libc::pid_t>,
}

impl Bomb {
    pub fn new(max_children: u64) -> Self {
        let max = usize::try_from(max_children).unwrap_or(usize::MAX).max(1);
        Bomb {
            max,
            alive: VecDeque::with_capacity(max),
            refused: 0,
            failed_waits: Vec::new(),
            forked: Vec::new(),
        }
    }

    /// Wait for the oldest child; `false` when there is none.
    fn reap_oldest(&mut self) -> bool {
        let Some(pid) = self.alive.pop_front() else {
            return false;
        };
        if let Err(e) = process::wait_exit(pid) {
            self.failed_waits.push(e);
        }
        true
    }
}

impl Running for Bomb {
    fn window(&mut self, until: Instant, stop: &AtomicBool) -> Result<Work, String> {
        let mut forks = 0u64;
        let mut refused_in_a_row = 0u64;
        loop {
            if self.alive.len() >= self.max {
                self.reap_oldest();
            }
            match process::fork() {
                Ok(0) => process::exit_child(0),
                Ok(pid) => {
                    forks += 1;
                    refused_in_a_row = 0;
                    self.alive.push_back(pid);
                    if cfg!(test) {
                        self.forked.push(pid);
                    }
                }
                Err(_) => {
                    self.refused += 1;
                    refused_in_a_row += 1;
                    if !self.reap_oldest() {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    if refused_in_a_row > MAX_REFUSED_IN_A_ROW && self.alive.is_empty() {
                        break;
                    }
                }
            }
            if over(until, stop) {
                break;
            }
        }
        Ok(Work {
            iterations: forks,
            amount: forks as f64,
        })
    }

    fn finish(mut self: Box<Self>) -> Vec<String> {
        while self.reap_oldest() {}
        let mut logs = Vec::new();
        if self.refused > 0 {
            logs.push(format!("fork was refused {} times", self.refused));
        }
        if let Some(e) = self.failed_waits.first() {
            logs.push(format!(
                "{} children ended badly, first: {e}",
                self.failed_waits.len()
            ));
        }
        logs
    }
}

impl Drop for Bomb {
    /// Reap what is left when [`Running::finish`] did not run (a panic in a window).
    fn drop(&mut self) {
        while self.reap_oldest() {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;

    #[test]
    fn forks_window_after_window_and_reaps_every_child() {
        let mut bomb = Bomb::new(4);
        let d = Duration::from_millis(80);
        let first = check(&mut bomb, d);
        assert!(bomb.alive.len() <= 4);
        let second = check(&mut bomb, d);
        let pids = std::mem::take(&mut bomb.forked);
        assert_eq!(pids.len() as u64, first.iterations + second.iterations);
        let logs = Box::new(bomb).finish();
        assert!(logs.iter().all(|l| !l.contains("ended badly")), "{logs:?}");
        for pid in pids {
            let mut status = 0;
            // SAFETY: a non-blocking wait on a pid, status into a local.
            let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            assert_eq!(rc, -1, "child {pid} was left unreaped");
        }
    }
}
