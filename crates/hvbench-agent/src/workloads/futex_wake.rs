//! `futex-wake`: cross-CPU wake-up latency. Two threads, pinned to two different CPUs, hand a
//! turn back and forth through one futex word; each waits in FUTEX_WAIT (its CPU goes idle)
//! until the other's FUTEX_WAKE. A round trip is two wake-ups of a sleeping thread on another
//! CPU: on bare metal an IPI and an idle exit; in a guest an IPI the hypervisor delivers, often
//! to a halted vCPU it must schedule again. The value is half a round trip: one wake-up.
//! Needs two CPUs; with one, set-up fails with a reason that says so.

use super::cpus::{allowed_cpus, Affinity};
use super::Workload;
use crate::Mode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The main thread's turn: the helper sleeps.
const MAIN: u32 = 0;
/// The helper's turn: the main thread sleeps.
const HELPER: u32 = 1;
/// The helper is to exit.
const STOP: u32 = 2;

fn futex_wait(word: &AtomicU32, expected: u32) {
    // SAFETY: FUTEX_WAIT on a live, aligned u32 that outlives the call; it only sleeps while
    // the word still holds `expected`, and a spurious return is handled by the callers' loops.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            std::ptr::null::<libc::timespec>(),
        )
    };
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE of at most one waiter on a live, aligned u32.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        )
    };
}

/// Wait until `word` no longer holds `value`.
fn wait_while(word: &AtomicU32, value: u32) -> u32 {
    loop {
        let now = word.load(Ordering::Acquire);
        if now != value {
            return now;
        }
        futex_wait(word, value);
    }
}

#[derive(Debug)]
pub struct FutexWake {
    word: Arc<AtomicU32>,
    helper: Option<JoinHandle<()>>,
    /// The main thread's affinity before set-up, restored afterwards.
    saved: Option<Affinity>,
    cpus: (usize, usize),
}

impl FutexWake {
    /// Pin this thread to the first allowed CPU and a helper to the second.
    pub fn new(mode: Mode) -> Result<Self, String> {
        let cpus = allowed_cpus();
        let (Some(&a), Some(&b)) = (cpus.first(), cpus.get(1)) else {
            let who = match mode {
                Mode::Guest => "the guest has",
                Mode::Host => "this host lets the agent use",
            };
            return Err(format!(
                "skipped: needs >= 2 vCPUs, {who} {} (give the guest vcpus = 2 or more)",
                cpus.len()
            ));
        };
        let saved = Affinity::current().map_err(|e| format!("sched_getaffinity: {e}"))?;
        Affinity::only(a)
            .apply()
            .map_err(|e| format!("cannot pin to CPU {a}: {e}"))?;
        let word = Arc::new(AtomicU32::new(MAIN));
        let theirs = Arc::clone(&word);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("futex-wake".into())
            .spawn(move || {
                let pinned = Affinity::only(b).apply();
                let ok = pinned.is_ok();
                let _ = ready_tx.send(pinned.map_err(|e| format!("cannot pin to CPU {b}: {e}")));
                if ok {
                    helper(&theirs);
                }
            });
        let mut w = Self {
            word,
            helper: None,
            saved: Some(saved),
            cpus: (a, b),
        };
        w.helper = Some(spawned.map_err(|e| format!("cannot start the helper thread: {e}"))?);
        ready_rx
            .recv()
            .map_err(|_| "the helper thread died".to_string())??;
        Ok(w)
    }
}

/// The helper: wait for its turn, give it back, until told to stop.
fn helper(word: &AtomicU32) {
    loop {
        if wait_while(word, MAIN) == STOP {
            return;
        }
        word.store(MAIN, Ordering::Release);
        futex_wake(word);
    }
}

impl Workload for FutexWake {
    fn run(&mut self, iterations: u64) {
        let word = &*self.word;
        for _ in 0..iterations {
            word.store(HELPER, Ordering::Release);
            futex_wake(word);
            wait_while(word, HELPER);
        }
    }

    /// ns per wake-up: half a round trip.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        elapsed.as_nanos() as f64 / iterations as f64 / 2.0
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        vec![(
            "futex-wake.cpus",
            format!("{},{}", self.cpus.0, self.cpus.1),
        )]
    }
}

impl Drop for FutexWake {
    fn drop(&mut self) {
        self.word.store(STOP, Ordering::Release);
        futex_wake(&self.word);
        if let Some(h) = self.helper.take() {
            let _ = h.join();
        }
        if let Some(saved) = self.saved.take() {
            let _ = saved.apply();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_pongs_across_cpus_or_says_why_not() {
        let before = Affinity::current().unwrap().cpus();
        match FutexWake::new(Mode::Host) {
            Ok(mut w) => {
                assert_ne!(w.cpus.0, w.cpus.1);
                assert_eq!(Affinity::current().unwrap().cpus(), vec![w.cpus.0]);
                w.run(200);
                assert_eq!(w.value(100, Duration::from_micros(10)), 50.0);
                drop(w);
                assert_eq!(
                    Affinity::current().unwrap().cpus(),
                    before,
                    "affinity restored"
                );
            }
            Err(e) => {
                assert_eq!(before.len(), 1, "{e}");
                assert!(e.starts_with("skipped: needs >= 2 vCPUs"), "{e}");
            }
        }
    }
}
