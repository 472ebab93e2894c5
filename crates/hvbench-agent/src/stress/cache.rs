//! `cache`: a random read-modify-write walk over a buffer about the size of the last-level
//! cache, so that the lines of whoever shares that cache are evicted (and written back).
//! The accesses are independent of each other, so many misses are in flight at once.

use super::{try_filled, Outcome, MIB};
use std::hint::black_box;
use std::time::Instant;

/// Accesses between two looks at the clock.
const CHUNK: u64 = 1 << 14;

pub fn run(size_mib: u64, until: Instant) -> Result<Outcome, String> {
    let entered = Instant::now();
    let n = usize::try_from(size_mib * MIB / 8).map_err(|_| "size_mib too large".to_string())?;
    let mut buf = try_filled(n, 0u64, "the buffer")?;
    for (i, v) in buf.iter_mut().enumerate() {
        *v = i as u64;
    }
    let start = Instant::now();
    let logs = vec![format!(
        "setup (allocating and first-touching {size_mib} MiB) took {:?} of the duration",
        start - entered
    )];
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
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
        if Instant::now() >= until {
            break;
        }
    }
    let elapsed = start.elapsed();
    black_box(&buf);
    Ok(Outcome::rate(
        accesses,
        accesses as f64,
        elapsed,
        "ops/s",
        logs,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;
    use std::time::Duration;

    #[test]
    fn walks_for_its_duration() {
        let started = Instant::now();
        let d = Duration::from_millis(150);
        let o = run(4, started + d).unwrap();
        check(&o, d, started);
        assert_eq!(o.unit, "ops/s");
    }
}
