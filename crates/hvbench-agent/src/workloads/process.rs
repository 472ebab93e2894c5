//! Small wrappers for the process workloads: pipes, waiting for a child.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A pipe's read and write ends, closed on exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Write one byte; in a child after fork this is all it may do (no allocation, no locks).
pub fn write_byte(fd: &impl AsRawFd, byte: u8) -> isize {
    // SAFETY: one byte from a local to an open descriptor.
    unsafe { libc::write(fd.as_raw_fd(), (&byte as *const u8).cast(), 1) }
}

/// Read one byte; `None` on end of file or error.
pub fn read_byte(fd: &impl AsRawFd) -> Option<u8> {
    let mut byte = 0u8;
    // SAFETY: one byte into a local from an open descriptor.
    let n = unsafe { libc::read(fd.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) };
    (n == 1).then_some(byte)
}

/// Wait for `pid` and return its exit status; a child that did not exit normally, or a wait
/// that fails, is an error described for the `Failed` frame.
pub fn wait_exit(pid: libc::pid_t) -> Result<i32, String> {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child, status into a local.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(format!("waitpid({pid}) failed: {err}"));
        }
    }
    if libc::WIFEXITED(status) {
        Ok(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Err(format!(
            "child {pid} was killed by signal {}",
            libc::WTERMSIG(status)
        ))
    } else {
        Err(format!("child {pid} ended with wait status {status:#x}"))
    }
}

/// fork(2), as a Result.
pub fn fork() -> io::Result<libc::pid_t> {
    // SAFETY: the callers' children only make async-signal-safe calls (read, write, execve,
    // _exit) before they exit, as POSIX requires after fork in a possibly threaded process.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid)
}

/// In a forked child: make `read` its fd 0 and `write` its fd 1, and close every other
/// descriptor from 2 up. A child must not keep copies of descriptors the parent opened for
/// other purposes (another workload's pipe, in a threaded test run): a pipe whose write end
/// lives on in some child never reaches end of file. Only async-signal-safe calls.
pub fn child_stdio_only(read: &impl AsRawFd, write: &impl AsRawFd) {
    // SAFETY: dup2 and close on descriptor numbers; nothing else in this child uses them.
    unsafe {
        let (r, w) = (read.as_raw_fd(), write.as_raw_fd());
        // Move the write end out of the way first, in case it is fd 0.
        let w = if w == 0 {
            libc::fcntl(w, libc::F_DUPFD, 3)
        } else {
            w
        };
        libc::dup2(r, 0);
        libc::dup2(w, 1);
        if libc::syscall(libc::SYS_close_range, 2u32, u32::MAX, 0u32) != 0 {
            for fd in 2..4096 {
                libc::close(fd);
            }
        }
    }
}

/// End a forked child at once, without running the parent's exit handlers or flushing its
/// buffers (which would duplicate frames on the console).
pub fn exit_child(code: i32) -> ! {
    // SAFETY: _exit ends the process and cannot fail.
    unsafe { libc::_exit(code) }
}
