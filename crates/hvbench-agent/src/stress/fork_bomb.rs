//! `fork-bomb`: fork children that `_exit` at once, as fast as it can, with at most
//! `max_children` alive (unreaped) at a time, so the machine survives. Children are waited
//! for by pid, oldest first, never with `waitpid(-1)`, so that no other child of the process
//! is reaped by mistake. A refused fork (EAGAIN: a pids limit) waits for a child and retries.

use super::Outcome;
use crate::workloads::process;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Returns the outcome and the pids it forked (all reaped), for the tests.
pub fn run(max_children: u64, until: Instant) -> (Outcome, Vec<libc::pid_t>) {
    let max = usize::try_from(max_children).unwrap_or(usize::MAX).max(1);
    let start = Instant::now();
    let mut alive: VecDeque<libc::pid_t> = VecDeque::with_capacity(max);
    let mut forks = 0u64;
    let mut refused = 0u64;
    let mut failed_waits = Vec::new();
    let mut forked = Vec::new();
    let keep_pids = cfg!(test);
    while Instant::now() < until || forks == 0 {
        if alive.len() >= max {
            if let Some(pid) = alive.pop_front() {
                if let Err(e) = process::wait_exit(pid) {
                    failed_waits.push(e);
                }
            }
        }
        match process::fork() {
            Ok(0) => process::exit_child(0),
            Ok(pid) => {
                forks += 1;
                alive.push_back(pid);
                if keep_pids {
                    forked.push(pid);
                }
            }
            Err(_) => {
                refused += 1;
                match alive.pop_front() {
                    Some(pid) => {
                        if let Err(e) = process::wait_exit(pid) {
                            failed_waits.push(e);
                        }
                    }
                    None => std::thread::sleep(Duration::from_millis(1)),
                }
                if refused > 1000 && forks == 0 {
                    break;
                }
            }
        }
    }
    let elapsed = start.elapsed();
    for pid in alive.drain(..) {
        if let Err(e) = process::wait_exit(pid) {
            failed_waits.push(e);
        }
    }
    let mut logs = Vec::new();
    if refused > 0 {
        logs.push(format!("fork was refused {refused} times"));
    }
    if let Some(e) = failed_waits.first() {
        logs.push(format!(
            "{} children ended badly, first: {e}",
            failed_waits.len()
        ));
    }
    (
        Outcome::rate(forks, forks as f64, elapsed, "forks/s", logs),
        forked,
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;

    #[test]
    fn forks_and_reaps_every_child() {
        let started = Instant::now();
        let d = Duration::from_millis(150);
        let (o, pids) = run(4, started + d);
        check(&o, d, started);
        assert_eq!(o.unit, "forks/s");
        assert_eq!(pids.len() as u64, o.iterations);
        for pid in pids {
            let mut status = 0;
            // SAFETY: a non-blocking wait on a pid, status into a local.
            let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            assert_eq!(rc, -1, "child {pid} was left unreaped");
        }
    }
}
