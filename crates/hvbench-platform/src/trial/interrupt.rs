//! Ctrl-C, SIGTERM and SIGHUP (a closed terminal or SSH session) during a campaign. The handler
//! only records which signal came; the console loop ([`crate::trial::console::run`]) sees it within
//! [`POLL`], kills the child's process group (guest, lab host, host agent) and returns, and the
//! runner then closes the trial as interrupted, marks the run and stops — so the store is left
//! consistent and the run can be resumed. A second signal of the same kind gets the default
//! action: a user who presses Ctrl-C twice stops hvbench at once. A SIGHUP that is ignored when
//! hvbench starts (`nohup`) stays ignored. The handlers are signal-hook's.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::Duration;

/// How often a waiting console loop looks at the flag.
pub const POLL: Duration = Duration::from_millis(100);

/// The signal received, or 0; written by signal-hook's handlers (an atomic store, which is
/// async-signal-safe) and by [`request`].
static SIGNAL: OnceLock<Arc<AtomicUsize>> = OnceLock::new();

fn signal() -> &'static Arc<AtomicUsize> {
    SIGNAL.get_or_init(|| Arc::new(AtomicUsize::new(0)))
}

/// Catch SIGINT, SIGTERM and SIGHUP from now on: they set the flag instead of ending the
/// process; SIGHUP only when it is not ignored already. Installed once; later calls do nothing.
pub fn install() -> std::io::Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = (|| {
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                if sig == libc::SIGHUP && ignored(sig) {
                    continue;
                }
                // Registered first, so that it sees the state before this signal: the second
                // signal of a kind finds its own flag set and takes the default action.
                let seen = Arc::new(AtomicBool::new(false));
                signal_hook::flag::register_conditional_default(sig, Arc::clone(&seen))?;
                signal_hook::flag::register(sig, seen)?;
                signal_hook::flag::register_usize(sig, Arc::clone(signal()), sig as usize)?;
            }
            Ok(())
        })();
    });
    result
}

/// Whether `sig` is ignored now (SIG_IGN, as `nohup` leaves SIGHUP).
fn ignored(sig: i32) -> bool {
    // SAFETY: sigaction(2) with a null new action only reads the current disposition into
    // `old`, a zeroed sigaction of our own.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// The signal that asked hvbench to stop, if one did.
pub fn requested() -> Option<i32> {
    match signal().load(Ordering::SeqCst) {
        0 => None,
        s => Some(s as i32),
    }
}

/// Act as if `sig` had been received (tests, and callers that stop a campaign themselves).
pub fn request(sig: i32) {
    signal().store(sig as usize, Ordering::SeqCst);
}

/// Forget a received signal (tests).
pub fn clear() {
    signal().store(0, Ordering::SeqCst);
}

/// "SIGINT", "SIGTERM", "SIGHUP", or "signal N".
pub fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGHUP => "SIGHUP".into(),
        n => format!("signal {n}"),
    }
}

/// The conventional exit status of a process stopped by `sig`: 128 + its number.
pub fn exit_code(sig: i32) -> u8 {
    (128 + sig).clamp(0, 255) as u8
}
