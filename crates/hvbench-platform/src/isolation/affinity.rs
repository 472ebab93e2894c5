//! CPU affinity on the controller's machine: which CPUs this process may use, and pinning a
//! thread or a child to some of them. The one place that builds a `cpu_set_t`; placement (an
//! isolation instance's CPUs) and QMP (a KVM guest's vCPU threads) both come here.

use std::io;

/// A CPU set of `cpus` (numbers at or above `CPU_SETSIZE` are left out). Built without
/// allocating, so it may be called between fork and exec.
pub fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain data for which all-zero bytes are the empty set; CPU_SET
    // writes only inside it, and only for numbers below CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            if c < libc::CPU_SETSIZE as usize {
                libc::CPU_SET(c, &mut set);
            }
        }
        set
    }
}

/// Pin thread (or process) `tid` to `set`; 0 is the calling thread. Async-signal-safe: only
/// sched_setaffinity(2).
pub fn set_affinity(tid: libc::pid_t, set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: sched_setaffinity reads exactly size_of::<cpu_set_t>() bytes from the set we
    // were lent.
    let rc = unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The CPUs this process may run on (its affinity mask), in order.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: sched_getaffinity(2) fills the zeroed set we own; CPU_ISSET only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_thread_can_be_pinned_and_read_back() {
        let all = allowed_cpus().unwrap();
        assert!(!all.is_empty());
        let last = *all.last().unwrap();
        // On a thread of its own, so that the test harness's other threads keep their CPUs.
        std::thread::spawn(move || {
            set_affinity(0, &cpu_set(&[last])).unwrap();
            assert_eq!(allowed_cpus().unwrap(), [last]);
        })
        .join()
        .unwrap();
        // Out-of-range numbers are left out rather than written past the set.
        let set = cpu_set(&[usize::MAX, 0]);
        // SAFETY: CPU_ISSET reads inside the set we own.
        assert!(unsafe { libc::CPU_ISSET(0, &set) });
    }
}
