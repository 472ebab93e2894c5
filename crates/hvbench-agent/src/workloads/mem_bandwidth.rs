//! `mem-bandwidth`: the four STREAM kernels over three arrays of `f64`.
//!
//! Bytes are counted the way STREAM counts them (J. D. McCalpin, "Memory Bandwidth and Machine
//! Balance in Current High Performance Computers", 1995): the bytes the kernel reads and writes
//! per element, 16 for copy and scale, 24 for add and triad, with no allowance for the
//! write-allocate traffic the hardware may add. Arrays of at least four times the last-level
//! cache make the result a memory figure rather than a cache figure (STREAM's rule, in the
//! comments of stream.c): `size_mib = 0` asks the agent to size them so from the last-level
//! cache it sees ([`auto_size_mib`]); any other value is used as given.

use super::{cpus, Workload};
use crate::facts;
use hvbench_proto::catalog::MEM_BANDWIDTH_AUTO_FLOOR_MIB;
use serde_json::Value;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

const MIB: usize = 1 << 20;
const ELEMENT_BYTES: usize = std::mem::size_of::<f64>();
/// STREAM's scalar.
const Q: f64 = 3.0;

/// Which STREAM kernel one iteration runs over the whole arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKernel {
    /// a = b
    Copy,
    /// a = q * b
    Scale,
    /// a = b + c
    Add,
    /// a = b + q * c
    Triad,
}

impl StreamKernel {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "copy" => StreamKernel::Copy,
            "scale" => StreamKernel::Scale,
            "add" => StreamKernel::Add,
            "triad" => StreamKernel::Triad,
            _ => return None,
        })
    }

    /// Bytes read plus bytes written per array element, as STREAM counts them.
    pub fn bytes_per_element(self) -> u64 {
        let arrays_touched = match self {
            StreamKernel::Copy | StreamKernel::Scale => 2,
            StreamKernel::Add | StreamKernel::Triad => 3,
        };
        arrays_touched * ELEMENT_BYTES as u64
    }
}

/// Three first-touched arrays and the kernel to run over them.
#[derive(Debug)]
pub struct MemBandwidth {
    kernel: StreamKernel,
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
    /// How the size was chosen, when it was chosen automatically.
    sizing: Option<AutoSize>,
}

/// The most `size_mib = 0` gives each array.
pub const AUTO_MAX_MIB: u64 = 4096;

/// What `size_mib = 0` chose, and from what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoSize {
    pub size_mib: u64,
    /// The last-level cache the agent saw, if it saw one.
    pub llc_bytes: Option<u64>,
    /// Whether free memory, not the cache, set the size (then STREAM's rule is not met).
    pub limited_by_memory: bool,
}

/// The array size for `size_mib = 0`: four times the last-level cache (STREAM's rule), at least
/// [`MEM_BANDWIDTH_AUTO_FLOOR_MIB`] and at most [`AUTO_MAX_MIB`], and never more than lets the
/// three arrays fit in three quarters of the memory available.
pub fn auto_size_mib(llc_bytes: Option<u64>, available_kib: Option<u64>) -> AutoSize {
    const MIB: u64 = 1 << 20;
    let wanted = llc_bytes
        .map_or(0, |b| b.saturating_mul(4).div_ceil(MIB))
        .clamp(MEM_BANDWIDTH_AUTO_FLOOR_MIB, AUTO_MAX_MIB);
    let fits = available_kib.map(|kib| (kib / 1024 * 3 / 4 / 3).max(1));
    let size_mib = fits.map_or(wanted, |f| wanted.min(f));
    AutoSize {
        size_mib,
        llc_bytes,
        limited_by_memory: size_mib < wanted,
    }
}

impl MemBandwidth {
    /// Allocate and first-touch three arrays of `size_mib` MiB each. Refuses (rather than
    /// letting the OOM killer decide) when the memory is not there.
    pub fn new(kernel: StreamKernel, size_mib: u64) -> Result<Self, String> {
        let bytes = usize::try_from(size_mib)
            .ok()
            .and_then(|m| m.checked_mul(MIB))
            .filter(|&b| b > 0)
            .ok_or_else(|| format!("size_mib = {size_mib} is not a usable array size"))?;
        check_memory_available(size_mib)?;
        let len = bytes / ELEMENT_BYTES;
        Ok(Self {
            kernel,
            a: first_touched(len, 1.0)?,
            b: first_touched(len, 2.0)?,
            c: first_touched(len, 0.5)?,
            sizing: None,
        })
    }

    /// Size the arrays by STREAM's rule from the cache of the CPU this thread runs on (the
    /// kernel runs on one thread, so one last-level cache instance is what it can use).
    pub fn new_auto(kernel: StreamKernel) -> Result<Self, String> {
        let llc = cpus::last_level_cache_bytes(Path::new("/sys"), cpus::current_cpu());
        let available = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| facts::meminfo_kib(&m, "MemAvailable"));
        let sizing = auto_size_mib(llc, available);
        let mut w = Self::new(kernel, sizing.size_mib)?;
        w.sizing = Some(sizing);
        Ok(w)
    }

    /// Set up from resolved catalog parameters.
    pub fn from_params(params: &BTreeMap<String, Value>) -> Result<Self, String> {
        let kernel = params
            .get("kernel")
            .and_then(Value::as_str)
            .ok_or("parameter `kernel` is missing")?;
        let kernel =
            StreamKernel::parse(kernel).ok_or_else(|| format!("unknown kernel `{kernel}`"))?;
        let size_mib = params
            .get("size_mib")
            .and_then(Value::as_u64)
            .ok_or("parameter `size_mib` is missing")?;
        match size_mib {
            0 => Self::new_auto(kernel),
            n => Self::new(kernel, n),
        }
    }

    fn bytes_per_pass(&self) -> u64 {
        self.kernel.bytes_per_element() * self.a.len() as u64
    }
}

/// A vector of `len` copies of `value`, every page written before anything is timed, so that
/// page faults are not measured as bandwidth. Allocation failure is an error, never an abort.
fn first_touched(len: usize, value: f64) -> Result<Vec<f64>, String> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|e| {
        format!(
            "cannot allocate an array of {} MiB: {e}",
            len * ELEMENT_BYTES / MIB
        )
    })?;
    v.resize(len, value);
    Ok(v)
}

/// With overcommit, an allocation that cannot be backed succeeds and the first touch brings the
/// OOM killer (in a guest, onto PID 1: a kernel panic). Ask the kernel first when it can say.
fn check_memory_available(size_mib: u64) -> Result<(), String> {
    let Some(available_kib) = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| facts::meminfo_kib(&m, "MemAvailable"))
    else {
        return Ok(());
    };
    let need_kib = size_mib.saturating_mul(3 * 1024);
    if need_kib > available_kib {
        return Err(format!(
            "three arrays of {size_mib} MiB need {} MiB, but only {} MiB is available \
             (give the guest more memory or lower size_mib)",
            need_kib / 1024,
            available_kib / 1024
        ));
    }
    Ok(())
}

impl Workload for MemBandwidth {
    fn run(&mut self, iterations: u64) {
        let q = black_box(Q);
        for _ in 0..iterations {
            // Opaque to the compiler on every pass: it can neither hoist a pass out of the
            // loop nor drop stores that nothing seems to read.
            let a = black_box(&mut self.a[..]);
            let b = black_box(&self.b[..]);
            let c = black_box(&self.c[..]);
            match self.kernel {
                StreamKernel::Copy => {
                    for (x, &y) in a.iter_mut().zip(b) {
                        *x = y;
                    }
                }
                StreamKernel::Scale => {
                    for (x, &y) in a.iter_mut().zip(b) {
                        *x = q * y;
                    }
                }
                StreamKernel::Add => {
                    for ((x, &y), &z) in a.iter_mut().zip(b).zip(c) {
                        *x = y + z;
                    }
                }
                StreamKernel::Triad => {
                    for ((x, &y), &z) in a.iter_mut().zip(b).zip(c) {
                        *x = y + q * z;
                    }
                }
            }
            black_box(a);
        }
    }

    /// MB/s with 1 MB = 1e6 bytes, as STREAM reports.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        let bytes = self.bytes_per_pass() as f64 * iterations as f64;
        // bytes per ns = GB/s; x 1e3 = MB/s.
        bytes / elapsed.as_nanos() as f64 * 1e3
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        let mut f = vec![(
            "mem-bandwidth.size_mib",
            (self.a.len() * ELEMENT_BYTES / MIB).to_string(),
        )];
        if let Some(s) = &self.sizing {
            let rule = match (s.llc_bytes, s.limited_by_memory) {
                (_, true) => "auto, limited by free memory: below STREAM's 4x last-level cache",
                (Some(_), false) => "auto: at least 4x the last-level cache (STREAM's rule)",
                (None, false) => "auto: last-level cache unknown, the default floor",
            };
            f.push(("mem-bandwidth.sizing", rule.to_string()));
            if let Some(b) = s.llc_bytes {
                f.push(("mem-bandwidth.llc_kib", (b / 1024).to_string()));
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_compute_what_stream_defines() {
        for (kernel, expected) in [
            (StreamKernel::Copy, 2.0),
            (StreamKernel::Scale, 6.0),
            (StreamKernel::Add, 2.5),
            (StreamKernel::Triad, 3.5),
        ] {
            let mut w = MemBandwidth::new(kernel, 1).unwrap();
            w.run(2);
            assert!(w.a.iter().all(|&x| x == expected), "{kernel:?}");
            assert_eq!(w.a.len(), MIB / 8);
        }
    }

    #[test]
    fn bytes_are_counted_as_stream_does() {
        assert_eq!(StreamKernel::Copy.bytes_per_element(), 16);
        assert_eq!(StreamKernel::Scale.bytes_per_element(), 16);
        assert_eq!(StreamKernel::Add.bytes_per_element(), 24);
        assert_eq!(StreamKernel::Triad.bytes_per_element(), 24);
        let w = MemBandwidth::new(StreamKernel::Triad, 1).unwrap();
        // 1 MiB arrays: 131072 elements x 24 bytes = 3145728 bytes per pass; 10 passes in
        // 1 ms = 31457.28 MB/s.
        let v = w.value(10, Duration::from_millis(1));
        assert!((v - 31457.28).abs() < 1e-6, "{v}");
    }

    #[test]
    fn auto_size_follows_streams_rule_within_bounds() {
        let mib = 1 << 20;
        // 32 MiB LLC: 128 MiB arrays, memory permitting.
        let s = auto_size_mib(Some(32 * mib), Some(64 << 20));
        assert_eq!((s.size_mib, s.limited_by_memory), (128, false));
        // A small or unknown LLC: the floor.
        assert_eq!(auto_size_mib(Some(mib), None).size_mib, 64);
        assert_eq!(auto_size_mib(None, None).size_mib, 64);
        // A huge one: the cap.
        assert_eq!(auto_size_mib(Some(1 << 40), None).size_mib, AUTO_MAX_MIB);
        // 400 MiB available: three arrays within 300 MiB, so 100 MiB each, and said so.
        let s = auto_size_mib(Some(32 * mib), Some(400 * 1024));
        assert_eq!((s.size_mib, s.limited_by_memory), (100, true));
        // Never zero.
        assert_eq!(auto_size_mib(None, Some(0)).size_mib, 1);
    }

    #[test]
    fn auto_size_runs_and_says_how_it_chose() {
        let mut params = BTreeMap::new();
        params.insert("kernel".to_string(), Value::from("copy"));
        params.insert("size_mib".to_string(), Value::from(0));
        let mut w = MemBandwidth::from_params(&params).unwrap();
        w.run(1);
        let facts = w.facts();
        assert!(
            facts.iter().any(|(k, _)| *k == "mem-bandwidth.sizing"),
            "{facts:?}"
        );
        assert_eq!(facts[0].0, "mem-bandwidth.size_mib");
        let size: u64 = facts[0].1.parse().unwrap();
        assert!(size >= 1, "{facts:?}");
    }

    #[test]
    fn impossible_sizes_fail_instead_of_aborting() {
        // 2^40 MiB per array: no machine has it, whether the kernel or the allocator says so.
        let e = MemBandwidth::new(StreamKernel::Copy, 1 << 40).unwrap_err();
        assert!(e.contains("MiB"), "{e}");
        let e = MemBandwidth::new(StreamKernel::Copy, 0).unwrap_err();
        assert!(e.contains("size_mib"), "{e}");
    }
}
