//! `fork-exec`: fork(2), the child execve(2)s the agent itself with `--exit-now`, the parent
//! waitpid(2)s — lmbench's `lat_proc exec`. On top of fork-exit it pays for replacing the
//! address space and loading a static executable (the agent: no dynamic linker), which
//! exercises page faults and page-table teardown again. `/proc/self/exe` is the agent in host
//! mode and in a guest alike (where the agent is `/init`).

use super::process::{self, exit_child};
use super::Workload;
use std::ffi::CString;
use std::time::Duration;

/// The flag that makes the agent exit 0 at once (see `cli`).
pub const EXIT_NOW_FLAG: &str = "--exit-now";
const SELF_EXE: &str = "/proc/self/exe";

#[derive(Debug)]
pub struct ForkExec {
    path: CString,
    /// argv and envp, NUL-terminated arrays of pointers into `args`; built before any fork,
    /// since a forked child must not allocate.
    args: Vec<CString>,
}

impl ForkExec {
    pub fn new() -> Result<Self, String> {
        if std::fs::metadata(SELF_EXE).is_err() {
            return Err(format!(
                "{SELF_EXE} is not there (is /proc mounted?): cannot exec the agent"
            ));
        }
        let c = |s: &str| CString::new(s).expect("no NUL in a constant");
        Ok(Self {
            path: c(SELF_EXE),
            args: vec![c("hvbench-agent"), c(EXIT_NOW_FLAG)],
        })
    }

    fn spawn_and_wait(&self, argv: &[*const libc::c_char], envp: &[*const libc::c_char]) {
        let pid = process::fork().unwrap_or_else(|e| panic!("fork failed: {e}"));
        if pid == 0 {
            // SAFETY: path, argv and envp are NUL-terminated and outlive the call (they are
            // the parent's memory, copied into this child by fork).
            unsafe { libc::execve(self.path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
            exit_child(127);
        }
        match process::wait_exit(pid) {
            Ok(0) => {}
            Ok(127) => panic!("the child could not exec {SELF_EXE}"),
            Ok(code) => panic!("`hvbench-agent {EXIT_NOW_FLAG}` exited with {code}"),
            Err(e) => panic!("{e}"),
        }
    }
}

impl Workload for ForkExec {
    fn run(&mut self, iterations: u64) {
        let mut argv: Vec<*const libc::c_char> = self.args.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        // An empty environment: the same on every platform.
        let envp = [std::ptr::null()];
        for _ in 0..iterations {
            self.spawn_and_wait(&argv, &envp);
        }
    }

    /// µs per fork, exec, exit and wait.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        elapsed.as_nanos() as f64 / iterations as f64 / 1e3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The exec itself is tested through the real agent binary (tests/host_mode.rs): here
    // /proc/self/exe is the test harness, which knows no --exit-now.
    #[test]
    fn set_up_and_value() {
        let w = ForkExec::new().unwrap();
        assert_eq!(w.args[1].to_str(), Ok(EXIT_NOW_FLAG));
        assert_eq!(w.value(4, Duration::from_micros(1000)), 250.0);
    }
}
