//! `mem-bandwidth`: the four STREAM kernels over three arrays of `f64`.
//!
//! Bytes are counted the way STREAM counts them (J. D. McCalpin, "Memory Bandwidth and Machine
//! Balance in Current High Performance Computers", 1995): the bytes the kernel reads and writes
//! per element, 16 for copy and scale, 24 for add and triad, with no allowance for the
//! write-allocate traffic the hardware may add. Arrays of at least four times the last-level
//! cache make the result a memory figure rather than a cache figure; choosing the size is the
//! plan's business.

use super::Workload;
use crate::facts;
use serde_json::Value;
use std::collections::BTreeMap;
use std::hint::black_box;
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
        })
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
        Self::new(kernel, size_mib)
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
    fn impossible_sizes_fail_instead_of_aborting() {
        // 2^40 MiB per array: no machine has it, whether the kernel or the allocator says so.
        let e = MemBandwidth::new(StreamKernel::Copy, 1 << 40).unwrap_err();
        assert!(e.contains("MiB"), "{e}");
        let e = MemBandwidth::new(StreamKernel::Copy, 0).unwrap_err();
        assert!(e.contains("size_mib"), "{e}");
    }
}
