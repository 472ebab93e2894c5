//! `cache`: a random read-modify-write walk over a buffer about the size of the last-level
//! cache, so that the lines of whoever shares that cache are evicted (and written back).
//! The accesses are independent of each other, so many misses are in flight at once.

use super::{over, try_filled, Running, Work, MIB};
use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Accesses between two looks at the clock.
const CHUNK: u64 = 1 << 14;

/// The buffer, allocated and first-touched once, and the walk's random state.
pub struct Walk {
    buf: Vec<u64>,
    rng: u64,
    logs: Vec<String>,
}

impl Walk {
    pub fn new(size_mib: u64) -> Result<Self, String> {
        let entered = Instant::now();
        let mut logs = Vec::new();
        let size_mib = super::fit_to_memory(size_mib, 1, &mut logs);
        let n = usize::try_from(size_mib * MIB / 8).map_err(|_| "size_mib too large")?;
        let mut buf = try_filled(n, 0u64, "the buffer")?;
        for (i, v) in buf.iter_mut().enumerate() {
            *v = i as u64;
        }
        logs.push(format!(
            "setup (allocating and first-touching {size_mib} MiB) took {:?} of the duration",
            entered.elapsed()
        ));
        Ok(Walk {
            buf,
            rng: 0x2545_F491_4F6C_DD1D,
            logs,
        })
    }
}

impl Running for Walk {
    fn window(&mut self, until: Instant, stop: &AtomicBool) -> Result<Work, String> {
        let n = self.buf.len();
        let buf = &mut self.buf;
        let mut rng = self.rng;
        let mut accesses = 0u64;
        loop {
            for _ in 0..CHUNK {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                // Multiply-shift maps the 64-bit draw onto 0..n without a division.
                let i = ((u128::from(rng) * n as u128) >> 64) as usize;
                buf[i] = buf[i].wrapping_add(1);
            }
            accesses += CHUNK;
            if over(until, stop) {
                break;
            }
        }
        black_box(&mut *buf);
        self.rng = rng;
        Ok(Work {
            iterations: accesses,
            amount: accesses as f64,
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
    fn walks_window_after_window() {
        let mut walk = Walk::new(4).unwrap();
        assert!(walk.take_logs()[0].contains("4 MiB"));
        let d = Duration::from_millis(80);
        let first = check(&mut walk, d);
        let second = check(&mut walk, d);
        let total: u64 = walk
            .buf
            .iter()
            .enumerate()
            .map(|(i, v)| v.wrapping_sub(i as u64))
            .sum();
        assert_eq!(total, first.iterations + second.iterations);
    }
}
