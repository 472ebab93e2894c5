//! `mem-latency`: load-to-use latency by working-set size, the curve lmbench's `lat_mem_rd`
//! draws (L. McVoy and C. Staelin, "lmbench: Portable tools for performance analysis", USENIX
//! 1996), measured with a random chase rather than a fixed stride.
//!
//! The working set is cut into 64-byte cache lines. The first word of each line holds the index
//! of the next line to visit, and the visiting order is one random cycle through all of them,
//! made by Sattolo's algorithm (S. Sattolo, "An algorithm to generate a random cyclic
//! permutation", Information Processing Letters 22, 1986; Knuth, TAOCP vol. 2, 3.4.2). One
//! cycle visits every line before any repeats, so the whole working set is in use; the random
//! order defeats the hardware prefetchers and, past a few MiB, touches a new page at almost every
//! load, so beyond TLB reach each load also pays a page walk — two-dimensional under nested
//! paging, which is what this curve shows about a hypervisor. Each load's address comes from the
//! load before, so loads cannot overlap: time / loads is the latency of one.
//!
//! Sizes double from [`MIN_SIZE`] to `max_size_mib`; each is a point of the curve, calibrated
//! and measured on its own, reported as metric `latency@SIZE` (`latency@64KiB`). The buffer
//! takes the system's default page policy (transparent huge pages where enabled): the
//! `thp.enabled` fact says which, and it changes the curve past TLB reach.

use super::rng::SplitMix64;
use super::Workload;
use crate::facts;
use std::hint::black_box;
use std::time::Duration;

/// The smallest working set: inside any L1 data cache of the last decade (32-48 KiB).
pub const MIN_SIZE: usize = 16 << 10;
const LINE_BYTES: usize = 64;
const WORD_BYTES: usize = std::mem::size_of::<u64>();
const WORDS_PER_LINE: usize = LINE_BYTES / WORD_BYTES;
/// A fixed seed: the same permutation on every platform and every run.
const SEED: u64 = 0x0068_7662_656e_6368;

/// The chase buffer, the working-set sizes, and where the chase is.
#[derive(Debug)]
pub struct MemLatency {
    buf: Vec<u64>,
    sizes: Vec<usize>,
    /// Word index of the line the chase is on.
    at: usize,
}

/// The working-set sizes of the curve, in bytes: `MIN_SIZE`, doubling, up to `max_bytes`
/// (which is always the last point, even when it is not a power of two times `MIN_SIZE`).
pub fn sizes(max_bytes: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut s = MIN_SIZE;
    while s < max_bytes {
        out.push(s);
        s *= 2;
    }
    out.push(max_bytes.max(MIN_SIZE));
    out
}

/// The metric of one point: `latency@16KiB`, `latency@4MiB`.
pub fn metric_for(size: usize) -> String {
    if size.is_multiple_of(1 << 20) {
        format!("latency@{}MiB", size >> 20)
    } else {
        format!("latency@{}KiB", size >> 10)
    }
}

impl MemLatency {
    /// Allocate and first-touch the buffer for working sets up to `max_size_mib`.
    pub fn new(max_size_mib: u64) -> Result<Self, String> {
        let max_bytes = usize::try_from(max_size_mib)
            .ok()
            .and_then(|m| m.checked_mul(1 << 20))
            .filter(|&b| b > 0)
            .ok_or_else(|| format!("max_size_mib = {max_size_mib} is not a usable size"))?;
        check_memory_available(max_size_mib)?;
        let words = max_bytes / WORD_BYTES;
        let mut buf = Vec::new();
        buf.try_reserve_exact(words)
            .map_err(|e| format!("cannot allocate {max_size_mib} MiB to chase through: {e}"))?;
        // Written, not just allocated, so that no page fault is timed.
        buf.resize(words, 0);
        let mut w = Self {
            buf,
            sizes: sizes(max_bytes),
            at: 0,
        };
        w.select_point(0);
        Ok(w)
    }

    /// Link the first `size` bytes into one random cycle of lines (Sattolo's algorithm, run in
    /// place on the lines' first words: the array read as a function line -> next line is the
    /// permutation).
    fn link(&mut self, size: usize) {
        let lines = (size / LINE_BYTES).max(1);
        for line in 0..lines {
            self.buf[line * WORDS_PER_LINE] = (line * WORDS_PER_LINE) as u64;
        }
        let mut rng = SplitMix64::new(SEED);
        for i in (1..lines).rev() {
            // j < i, strictly: that is what makes the permutation a single cycle (with j <= i
            // it would be Fisher-Yates, a uniformly random permutation of any cycle shape).
            let j = rng.below(i as u64) as usize;
            self.buf.swap(i * WORDS_PER_LINE, j * WORDS_PER_LINE);
        }
        self.at = 0;
    }

    /// Follow `loads` links from the current line.
    fn chase(&mut self, loads: u64) {
        let buf = &self.buf[..];
        let mut p = black_box(self.at);
        for _ in 0..loads {
            p = buf[p] as usize;
        }
        self.at = black_box(p);
    }

    fn lines(&self, point: usize) -> u64 {
        (self.sizes[point] / LINE_BYTES).max(1) as u64
    }
}

/// Refuse, rather than meet the OOM killer, when the buffer cannot be backed.
fn check_memory_available(max_size_mib: u64) -> Result<(), String> {
    let Some(available_kib) = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| facts::meminfo_kib(&m, "MemAvailable"))
    else {
        return Ok(());
    };
    if max_size_mib.saturating_mul(1024) > available_kib {
        return Err(format!(
            "a working set of {max_size_mib} MiB does not fit in the {} MiB available \
             (give the guest more memory or lower max_size_mib)",
            available_kib / 1024
        ));
    }
    Ok(())
}

impl Workload for MemLatency {
    fn run(&mut self, iterations: u64) {
        self.chase(iterations);
    }

    /// ns per load.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        elapsed.as_nanos() as f64 / iterations as f64
    }

    fn points(&self) -> Vec<String> {
        self.sizes.iter().map(|&s| metric_for(s)).collect()
    }

    fn select_point(&mut self, point: usize) {
        self.link(self.sizes[point]);
        // One lap before timing: the working set is then in whatever cache or TLB holds it.
        let lap = self.lines(point);
        self.chase(lap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_double_from_l1_to_the_maximum() {
        assert_eq!(
            sizes(1 << 20),
            vec![
                16 << 10,
                32 << 10,
                64 << 10,
                128 << 10,
                256 << 10,
                512 << 10,
                1 << 20
            ]
        );
        assert_eq!(sizes(256 << 20).len(), 15);
        assert_eq!(sizes(3 << 20).last(), Some(&(3 << 20)));
        assert_eq!(metric_for(16 << 10), "latency@16KiB");
        assert_eq!(metric_for(256 << 20), "latency@256MiB");
    }

    #[test]
    fn every_point_is_one_cycle_through_every_line() {
        let mut w = MemLatency::new(1).unwrap();
        for point in 0..w.sizes.len() {
            w.select_point(point);
            let lines = w.lines(point) as usize;
            let mut seen = vec![false; lines];
            let mut p = 0usize;
            for _ in 0..lines {
                let line = p / WORDS_PER_LINE;
                assert!(!seen[line], "line {line} visited twice at point {point}");
                seen[line] = true;
                p = w.buf[p] as usize;
            }
            assert_eq!(p, 0, "the chase is back where it began after one lap");
            assert!(seen.iter().all(|&s| s));
        }
    }

    #[test]
    fn points_name_their_sizes() {
        let w = MemLatency::new(1).unwrap();
        let points = w.points();
        assert_eq!(points.first().map(String::as_str), Some("latency@16KiB"));
        assert_eq!(points.last().map(String::as_str), Some("latency@1MiB"));
        assert_eq!(w.value(1000, Duration::from_micros(5)), 5.0);
    }

    #[test]
    fn impossible_sizes_fail() {
        assert!(MemLatency::new(1 << 40).is_err());
        assert!(MemLatency::new(0).is_err());
    }
}
