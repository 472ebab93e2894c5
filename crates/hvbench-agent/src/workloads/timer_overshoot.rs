//! `timer-overshoot`: how late a sleeping thread wakes. Each iteration is a relative
//! clock_nanosleep(CLOCK_MONOTONIC) of `sleep_us`; the value is the mean time past the request
//! (cyclictest's latency in its relative mode, `cyclictest -r`). Under a hypervisor it includes
//! the timer's programming (often an exit), the host timer, the interrupt's injection and the
//! vCPU's wake-up.
//!
//! Linux lets a normal thread's timers fire up to its *timer slack* late (50 µs by default) so
//! that wake-ups can be batched; that would dominate the figure and hide the platform. The
//! thread's slack is set to 1 ns (the smallest; 0 means "the default") for the workload and
//! restored afterwards.

use super::Workload;
use std::time::Duration;

/// Timer slack while measuring, in ns.
pub const SLACK_NS: libc::c_ulong = 1;

#[derive(Debug)]
pub struct TimerOvershoot {
    sleep: libc::timespec,
    sleep_us: u64,
    saved_slack: libc::c_int,
}

fn timer_slack() -> libc::c_int {
    // SAFETY: PR_GET_TIMERSLACK takes no pointer and returns the calling thread's slack.
    unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) }
}

fn set_timer_slack(ns: libc::c_ulong) -> bool {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and affects the calling thread only.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns, 0, 0, 0) == 0 }
}

impl TimerOvershoot {
    pub fn new(sleep_us: u64) -> Result<Self, String> {
        if sleep_us == 0 {
            return Err("sleep_us must be at least 1".into());
        }
        let saved_slack = timer_slack();
        if !set_timer_slack(SLACK_NS) {
            return Err(format!(
                "cannot set the timer slack: {}",
                std::io::Error::last_os_error()
            ));
        }
        let ns = sleep_us * 1000;
        Ok(Self {
            sleep: libc::timespec {
                tv_sec: (ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as libc::c_long,
            },
            sleep_us,
            saved_slack,
        })
    }
}

impl Workload for TimerOvershoot {
    fn run(&mut self, iterations: u64) {
        for _ in 0..iterations {
            let mut left = self.sleep;
            loop {
                let request = left;
                // SAFETY: valid clock, relative sleep, both timespecs ours.
                let rc =
                    unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &request, &mut left) };
                // Interrupted (a signal): sleep the rest.
                if rc != libc::EINTR {
                    break;
                }
            }
        }
    }

    /// Mean µs slept past the request.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        elapsed.as_nanos() as f64 / iterations as f64 / 1e3 - self.sleep_us as f64
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        vec![("timer-overshoot.timer_slack_ns", SLACK_NS.to_string())]
    }
}

impl Drop for TimerOvershoot {
    fn drop(&mut self) {
        if self.saved_slack > 0 {
            set_timer_slack(self.saved_slack as libc::c_ulong);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_at_least_the_request_and_restores_the_slack() {
        let before = timer_slack();
        let mut w = TimerOvershoot::new(50).unwrap();
        assert_eq!(timer_slack(), SLACK_NS as libc::c_int);
        let t = std::time::Instant::now();
        w.run(20);
        let v = w.value(20, t.elapsed());
        assert!(v.is_finite() && v > 0.0, "{v}");
        drop(w);
        assert_eq!(timer_slack(), before);
        // 10 sleeps of 50 µs in 1 ms: 50 µs past the request on average.
        let w = TimerOvershoot::new(50).unwrap();
        assert_eq!(w.value(10, Duration::from_millis(1)), 50.0);
    }
}
