//! Turning panics into reports. A panicking workload becomes a `Failed` frame and the agent goes
//! on; a panic anywhere else becomes a `Log` frame (and, as PID 1, still a clean power-off).

use std::any::Any;
use std::panic;
use std::sync::Mutex;

/// The last panic's message with its location, recorded by the hook.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Install a hook that records each panic's message and location for [`message`]. With
/// `echo_to_stderr`, the previous hook runs too (a host user sees the usual report); as PID 1
/// stderr is the console, where only frames are worth the bandwidth.
pub fn install_hook(echo_to_stderr: bool) {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let text = match info.location() {
            Some(at) => format!("{} at {at}", payload_text(info.payload())),
            None => payload_text(info.payload()),
        };
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(text);
        if echo_to_stderr {
            previous(info);
        }
    }));
}

/// Describe a panic caught by `catch_unwind`: the hook's record if [`install_hook`] ran,
/// the payload's text otherwise.
pub fn message(payload: &(dyn Any + Send)) -> String {
    LAST_PANIC
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_else(|| payload_text(payload))
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_text_of_both_kinds() {
        let caught = panic::catch_unwind(|| panic!("static text")).unwrap_err();
        assert!(message(caught.as_ref()).contains("static text"));
        let n = 7;
        let caught = panic::catch_unwind(|| panic!("formatted {n}")).unwrap_err();
        assert!(message(caught.as_ref()).contains("formatted 7"));
    }
}
