//! `mem-bandwidth`: STREAM copy (`b = a`) between two arrays of `size_mib` MiB each, one
//! MiB block at a time; the rate counts bytes read plus bytes written, as STREAM does.

use super::{try_filled, Outcome, MIB};
use std::hint::black_box;
use std::time::Instant;

/// Elements copied between two looks at the clock (1 MiB of f64).
const BLOCK: usize = (MIB / 8) as usize;

pub fn run(size_mib: u64, until: Instant) -> Result<Outcome, String> {
    let entered = Instant::now();
    let n = usize::try_from(size_mib * MIB / 8).map_err(|_| "size_mib too large".to_string())?;
    let a = try_filled(n, 1.0f64, "the source array")?;
    let mut b = try_filled(n, 0.0f64, "the destination array")?;
    let start = Instant::now();
    let logs = vec![format!(
        "setup (allocating and first-touching 2 x {size_mib} MiB) took {:?} of the duration",
        start - entered
    )];
    let mut elements = 0u64;
    'passes: loop {
        for (dst, src) in b.chunks_mut(BLOCK).zip(a.chunks(BLOCK)) {
            dst.copy_from_slice(src);
            black_box(&mut *dst);
            elements += dst.len() as u64;
            if Instant::now() >= until {
                break 'passes;
            }
        }
    }
    let elapsed = start.elapsed();
    let bytes = elements as f64 * 16.0;
    Ok(Outcome::rate(elements, bytes / 1e6, elapsed, "MB/s", logs))
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;
    use std::time::Duration;

    #[test]
    fn copies_for_its_duration() {
        let started = Instant::now();
        let d = Duration::from_millis(150);
        let o = run(8, started + d).unwrap();
        check(&o, d, started);
        assert_eq!(o.unit, "MB/s");
    }
}
