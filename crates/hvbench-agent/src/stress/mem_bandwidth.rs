//! `mem-bandwidth`: STREAM copy (`b = a`) between two arrays of `size_mib` MiB each, one
//! MiB block at a time; the rate counts bytes read plus bytes written, as STREAM does.

use super::{over, try_filled, Running, Work, MIB};
use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Elements copied between two looks at the clock (1 MiB of f64).
const BLOCK: usize = (MIB / 8) as usize;

/// The two arrays, allocated and first-touched once, and where the copy has got to.
pub struct StreamCopy {
    a: Vec<f64>,
    b: Vec<f64>,
    /// The next block to copy: a window goes on where the last one stopped.
    next: usize,
    logs: Vec<String>,
}

impl StreamCopy {
    pub fn new(size_mib: u64) -> Result<Self, String> {
        let entered = Instant::now();
        let mut logs = Vec::new();
        let size_mib = super::fit_to_memory(size_mib, 2, &mut logs);
        let n = usize::try_from(size_mib * MIB / 8).map_err(|_| "size_mib too large")?;
        let a = try_filled(n, 1.0f64, "the source array")?;
        let b = try_filled(n, 0.0f64, "the destination array")?;
        logs.push(format!(
            "setup (allocating and first-touching 2 x {size_mib} MiB) took {:?} of the duration",
            entered.elapsed()
        ));
        Ok(StreamCopy {
            a,
            b,
            next: 0,
            logs,
        })
    }
}

impl Running for StreamCopy {
    fn window(&mut self, until: Instant, stop: &AtomicBool) -> Result<Work, String> {
        let blocks = self.a.len().div_ceil(BLOCK);
        let mut elements = 0u64;
        loop {
            let from = self.next * BLOCK;
            let to = (from + BLOCK).min(self.a.len());
            let dst = &mut self.b[from..to];
            dst.copy_from_slice(&self.a[from..to]);
            black_box(&mut *dst);
            elements += (to - from) as u64;
            self.next = (self.next + 1) % blocks;
            if over(until, stop) {
                break;
            }
        }
        Ok(Work {
            iterations: elements,
            amount: elements as f64 * 16.0 / 1e6,
        })
    }

    fn take_logs(&mut self) -> Vec<String> {
        std::mem::take(&mut self.logs)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;
    use std::time::Duration;

    #[test]
    fn copies_window_after_window() {
        let mut copy = StreamCopy::new(3).unwrap();
        assert!(copy.take_logs()[0].contains("2 x 3 MiB"));
        let d = Duration::from_millis(80);
        check(&mut copy, d);
        check(&mut copy, d);
        assert!(copy.b.iter().all(|&v| v == 1.0), "every block was copied");
    }
}
