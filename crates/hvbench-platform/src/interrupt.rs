//! Ctrl-C and SIGTERM during a campaign. The handler only records which signal came; the
//! console loop ([`crate::console::run`]) sees it within [`POLL`], kills the child's process
//! group (guest, lab host, host agent) and returns, and the runner then closes the trial as
//! interrupted, marks the run and stops — so the store is left consistent and the run can be
//! resumed. A second signal of the same kind gets the default action (the handler is reset
//! once it has run): a user who presses Ctrl-C twice stops hvbench at once.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// How often a waiting console loop looks at the flag.
pub const POLL: Duration = Duration::from_millis(100);

/// The signal received, or 0.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    // An atomic store is async-signal-safe; nothing else happens here.
    SIGNAL.store(sig, Ordering::SeqCst);
}

/// Catch SIGINT and SIGTERM from now on: they set the flag instead of ending the process.
pub fn install() -> std::io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed `sigaction` is a valid value (no handler, empty flags) that is then
        // filled in; `sigemptyset` gets a pointer to its own mask field; `sigaction(2)` reads
        // the struct we own and installs a handler that only does an atomic store.
        // SA_RESTART keeps blocking reads in other threads from failing with EINTR.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESTART | libc::SA_RESETHAND;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The signal that asked hvbench to stop, if one did.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Act as if `sig` had been received (tests, and callers that stop a campaign themselves).
pub fn request(sig: i32) {
    SIGNAL.store(sig, Ordering::SeqCst);
}

/// Forget a received signal (tests).
pub fn clear() {
    SIGNAL.store(0, Ordering::SeqCst);
}

/// "SIGINT", "SIGTERM", or "signal N".
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
