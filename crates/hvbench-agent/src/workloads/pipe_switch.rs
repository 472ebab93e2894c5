//! `pipe-switch`: a one-byte ping-pong through two pipes between this process and a forked
//! child, the loop of `perf bench sched pipe` (after Ingo Molnar's pipe-test): each round trip
//! is two writes, two reads, and two wake-ups of a sleeping process — on one CPU two context
//! switches, across CPUs two cross-CPU wake-ups. Neither process is pinned, as in perf's
//! default, so the scheduler's placement is part of what is measured.

use super::process::{self, exit_child, read_byte, write_byte};
use super::Workload;
use std::os::fd::OwnedFd;
use std::time::Duration;

/// A descriptor number, not owned (the child's 0 and 1).
struct Fd(std::os::fd::RawFd);

impl std::os::fd::AsRawFd for Fd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0
    }
}

/// The parent's ends of the two pipes, and the child answering on the other ends.
#[derive(Debug)]
pub struct PipeSwitch {
    to_child: Option<OwnedFd>,
    from_child: OwnedFd,
    child: libc::pid_t,
}

impl PipeSwitch {
    /// Start the echoing child.
    pub fn new() -> Result<Self, String> {
        let (child_reads, to_child) = process::pipe().map_err(|e| format!("pipe: {e}"))?;
        let (from_child, child_writes) = process::pipe().map_err(|e| format!("pipe: {e}"))?;
        let pid = process::fork().map_err(|e| format!("fork: {e}"))?;
        if pid == 0 {
            // The child: echo every byte on its fd 0 to its fd 1 until the parent closes its
            // end. Only dup2, close, read, write and _exit here.
            process::child_stdio_only(&child_reads, &child_writes);
            let (stdin, stdout) = (Fd(0), Fd(1));
            while let Some(b) = read_byte(&stdin) {
                if write_byte(&stdout, b) != 1 {
                    break;
                }
            }
            exit_child(0);
        }
        drop(child_reads);
        drop(child_writes);
        Ok(Self {
            to_child: Some(to_child),
            from_child,
            child: pid,
        })
    }
}

impl Workload for PipeSwitch {
    fn run(&mut self, iterations: u64) {
        let to_child = self.to_child.as_ref().expect("the child's pipe is open");
        for i in 0..iterations {
            let b = i as u8;
            assert_eq!(
                write_byte(to_child, b),
                1,
                "writing to the echo child failed"
            );
            assert_eq!(
                read_byte(&self.from_child),
                Some(b),
                "the echo child stopped answering"
            );
        }
    }

    /// ns per round trip.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        elapsed.as_nanos() as f64 / iterations as f64
    }
}

impl Drop for PipeSwitch {
    fn drop(&mut self) {
        // End of file on its pipe ends the child; then reap it.
        drop(self.to_child.take());
        let _ = process::wait_exit(self.child);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_pong_and_the_child_is_reaped() {
        let mut w = PipeSwitch::new().unwrap();
        w.run(1000);
        let child = w.child;
        drop(w);
        // Reaped: waiting again finds no such child.
        // SAFETY: waitpid on a pid that is no longer our child only returns ECHILD.
        let rc = unsafe { libc::waitpid(child, std::ptr::null_mut(), libc::WNOHANG) };
        assert_eq!(rc, -1);
    }
}
