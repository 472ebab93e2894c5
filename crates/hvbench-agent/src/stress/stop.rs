//! Stopping an aggressor from outside: the host ends an aggressor that outlasts its victim
//! with SIGTERM (an interactive user with SIGINT), and the aggressor must then clean up and
//! still send `Done`, so that "stopped" is told apart from "died".
//!
//! The handlers (signal-hook's, which only store to atomics) set [`flag`]; every stressor looks
//! at it as often as at its deadline. Handlers are installed only when the agent runs a
//! stressor: a workload run keeps the default actions. A second signal of the same kind gets
//! the default action, so a second SIGTERM kills an agent whose clean-up hangs.

use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Once, OnceLock};

/// Set by the handlers when SIGTERM or SIGINT arrives.
static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

fn stop() -> &'static Arc<AtomicBool> {
    STOP.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// The flag the signal handlers set; pass it to [`super::drive`].
pub fn flag() -> &'static AtomicBool {
    stop()
}

/// Make SIGTERM and SIGINT set [`flag`] instead of ending the process (once; later calls do
/// nothing).
pub fn install_handlers() -> io::Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = (|| {
            for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
                // Registered first, so that it sees the state before this signal: the second
                // signal of a kind finds its own flag set and takes the default action.
                let seen = Arc::new(AtomicBool::new(false));
                signal_hook::flag::register_conditional_default(signal, Arc::clone(&seen))?;
                signal_hook::flag::register(signal, seen)?;
                signal_hook::flag::register(signal, Arc::clone(stop()))?;
            }
            Ok(())
        })();
    });
    result
}
