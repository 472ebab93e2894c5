//! Stopping an aggressor from outside: the host ends an aggressor that outlasts its victim
//! with SIGTERM (an interactive user with SIGINT), and the aggressor must then clean up and
//! still send `Done`, so that "stopped" is told apart from "died".
//!
//! The handler only stores to a static [`AtomicBool`] (the one thing a signal handler may
//! safely do here); every stressor looks at that flag as often as at its deadline. Handlers
//! are installed only when the agent runs a stressor: a workload run keeps the default
//! actions. The handler resets itself after the first signal (`SA_RESETHAND`), so a second
//! SIGTERM kills an agent whose clean-up hangs.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the handler when SIGTERM or SIGINT arrives.
static STOP: AtomicBool = AtomicBool::new(false);

/// The flag the signal handlers set; pass it to [`super::drive`].
pub fn flag() -> &'static AtomicBool {
    &STOP
}

extern "C" fn on_signal(_signal: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Make SIGTERM and SIGINT set [`flag`] instead of ending the process.
pub fn install_handlers() -> io::Result<()> {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: an all-zero sigaction is a valid value to fill in (empty mask, no flags).
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // Blocking calls go on after the handler (every loop looks at the flag anyway).
        action.sa_flags = libc::SA_RESTART | libc::SA_RESETHAND;
        // SAFETY: `action.sa_mask` is ours to initialise; sigemptyset cannot fail on it.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: a valid signal number and a fully initialised action whose handler only
        // stores to an atomic, which is async-signal-safe; the old action is not wanted.
        if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
