//! `hvbench-agent`: PID 1 of a guest, or a plain process on a host (see the library docs).
//!
//! The C `main` is ours rather than Rust's runtime's (`no_main`). Before a Rust `main` runs, the
//! runtime checks fds 0-2 and, finding them closed, opens `/dev/null` on them or, when there is
//! no `/dev/null` either, aborts. The kernel starts init with fds 0-2 closed when it cannot open
//! `/dev/console` (a custom kernel whose built-in initramfs lacks the node, a console device that
//! is not there); as PID 1 that abort would be a kernel panic before the agent could mount
//! devtmpfs and open the console itself (see `guest`). Arguments still reach `std::env` (glibc
//! hands them to std's initialiser), and the agent flushes its own output before returning.

#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    use std::io::Write;
    if std::process::id() == 1 {
        hvbench_agent::guest::main();
    }
    let status = hvbench_agent::cli::main(std::env::args_os().skip(1));
    let _ = std::io::stdout().flush();
    status
}
