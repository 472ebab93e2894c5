//! The CPUs a workload may use, thread pinning, and the cache sizes the kernel reports.

use std::io;
use std::path::Path;

/// The CPUs the calling thread may run on (its affinity mask), in ascending order; what
/// "one per CPU" means for a workload, since cgroups or `taskset` may allow fewer than are online.
pub fn allowed_cpus() -> Vec<usize> {
    match Affinity::current() {
        Ok(a) => a.cpus(),
        // Without the mask, fall back to the count of online CPUs, numbered from 0.
        Err(_) => (0..online_cpus()).collect(),
    }
}

fn online_cpus() -> usize {
    // SAFETY: sysconf only reads its integer argument.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(1)
}

/// The CPUs a `cpu_set_t` can name.
const MAX_CPUS: usize = 8 * std::mem::size_of::<libc::cpu_set_t>();

/// A thread's CPU affinity mask.
#[derive(Clone, Copy)]
pub struct Affinity(libc::cpu_set_t);

impl Affinity {
    /// The calling thread's mask.
    pub fn current() -> io::Result<Affinity> {
        // SAFETY: cpu_set_t is a plain bit array; all zeroes is an empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: pid 0 is the calling thread; the kernel writes at most the size we pass into
        // the set we own.
        let rc =
            unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Affinity(set))
    }

    /// A mask holding `cpu` alone (empty if `cpu` is beyond what a mask can hold).
    pub fn only(cpu: usize) -> Affinity {
        // SAFETY: as above, an empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        if cpu < MAX_CPUS {
            // SAFETY: cpu is within the set's bits.
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
        Affinity(set)
    }

    /// The CPUs in the mask, ascending.
    pub fn cpus(&self) -> Vec<usize> {
        // SAFETY: every index is within the set's bits.
        (0..MAX_CPUS)
            .filter(|&c| unsafe { libc::CPU_ISSET(c, &self.0) })
            .collect()
    }

    /// Make this the calling thread's mask.
    pub fn apply(&self) -> io::Result<()> {
        // SAFETY: pid 0 is the calling thread; the set is initialised and its size is exact.
        let rc =
            unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.0) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl std::fmt::Debug for Affinity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.cpus()).finish()
    }
}

/// How many threads a `threads` parameter asks for: 0 means one per allowed CPU.
pub fn thread_count(requested: u64) -> usize {
    match requested {
        0 => allowed_cpus().len().max(1),
        n => usize::try_from(n).unwrap_or(usize::MAX),
    }
}

/// The last-level cache one thread on `cpu` can use, in bytes: the highest-level data or
/// unified cache in `SYS/devices/system/cpu/cpuN/cache/index*/` (what the kernel took from
/// CPUID leaf 4 or 0x8000001D).
pub fn last_level_cache_bytes(sys_dir: &Path, cpu: usize) -> Option<u64> {
    let dir = sys_dir.join(format!("devices/system/cpu/cpu{cpu}/cache"));
    let mut best: Option<(u32, u64)> = None;
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        let read = |name: &str| std::fs::read_to_string(path.join(name)).ok();
        let Some(kind) = read("type") else { continue };
        if kind.trim() == "Instruction" {
            continue;
        }
        let (Some(level), Some(size)) = (
            read("level").and_then(|l| l.trim().parse::<u32>().ok()),
            read("size").and_then(|s| parse_cache_size(&s)),
        ) else {
            continue;
        };
        if best.is_none_or(|(l, _)| level > l) {
            best = Some((level, size));
        }
    }
    best.map(|(_, size)| size)
}

/// A sysfs cache size (`32768K`, `1M`, `512`) in bytes.
pub fn parse_cache_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, scale) = match t.as_bytes().last()? {
        b'K' => (&t[..t.len() - 1], 1 << 10),
        b'M' => (&t[..t.len() - 1], 1 << 20),
        b'G' => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

/// The CPU the calling thread is running on now (0 if the kernel will not say).
pub fn current_cpu() -> usize {
    // SAFETY: sched_getcpu takes no arguments.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sizes_parse() {
        assert_eq!(parse_cache_size("32768K\n"), Some(32 << 20));
        assert_eq!(parse_cache_size("1M"), Some(1 << 20));
        assert_eq!(parse_cache_size("512"), Some(512));
        assert_eq!(parse_cache_size("K"), None);
        assert_eq!(parse_cache_size(""), None);
    }

    #[test]
    fn llc_is_the_highest_level_non_instruction_cache() {
        let root = std::env::temp_dir().join(format!("hvbench-llc-{}", std::process::id()));
        let write = |index: u32, kind: &str, level: u32, size: &str| {
            let d = root.join(format!("devices/system/cpu/cpu0/cache/index{index}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("type"), kind).unwrap();
            std::fs::write(d.join("level"), level.to_string()).unwrap();
            std::fs::write(d.join("size"), size).unwrap();
        };
        write(0, "Data\n", 1, "32K\n");
        write(1, "Instruction\n", 1, "32K\n");
        write(2, "Unified\n", 2, "1024K\n");
        write(3, "Unified\n", 3, "32768K\n");
        let llc = last_level_cache_bytes(&root, 0);
        let none = last_level_cache_bytes(&root, 7);
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(llc, Some(32 << 20));
        assert_eq!(none, None);
    }

    #[test]
    fn affinity_round_trips() {
        let mine = Affinity::current().unwrap();
        let cpus = mine.cpus();
        assert!(!cpus.is_empty());
        assert_eq!(allowed_cpus(), cpus);
        assert_eq!(Affinity::only(3).cpus(), vec![3]);
        assert_eq!(thread_count(0), cpus.len());
        assert_eq!(thread_count(3), 3);
    }
}
