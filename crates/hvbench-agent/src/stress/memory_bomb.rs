//! `memory-bomb`: allocate and touch 64 MiB chunks until an allocation is refused or the cap
//! is reached, then keep touching every page of what it holds (so it stays resident and
//! keeps the victim's pages under pressure). Allocation goes through `try_reserve`, so a
//! refusal ends the growth instead of aborting the agent. The rate is MB/s of pages touched.

use super::{Outcome, MIB};
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::time::Instant;

/// Growth step.
const CHUNK: usize = 64 << 20;
/// Bytes touched between two looks at the clock.
const STEP: usize = 1 << 20;
const PAGE: usize = 4096;

/// The default cap: 90% of MemAvailable.
pub fn default_max_mib() -> Result<u64, String> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .map_err(|e| format!("cannot read /proc/meminfo for the default max_mib: {e}"))?;
    let kib = crate::facts::meminfo_kib(&meminfo, "MemAvailable")
        .ok_or("no MemAvailable in /proc/meminfo; give max_mib")?;
    Ok((kib / 1024 * 9 / 10).max(1))
}

/// Write `value` to the first byte of every page of `bytes`; returns the pages touched. The
/// memory is a `Vec`'s spare capacity: only the page's first byte is ever written, which is
/// all the kernel needs to back the page, and nothing is read from it.
fn touch(bytes: &mut [MaybeUninit<u8>], value: u8) -> u64 {
    let mut pages = 0;
    for page in bytes.chunks_mut(PAGE) {
        page[0].write(value);
        // Keep the store: the memory is freed without being read.
        black_box(&mut page[0]);
        pages += 1;
    }
    pages
}

pub fn run(max_mib: u64, until: Instant) -> Outcome {
    let cap = usize::try_from(max_mib.saturating_mul(MIB)).unwrap_or(usize::MAX);
    let start = Instant::now();
    // Each chunk is an empty `Vec` with `size` bytes of capacity, touched through
    // `spare_capacity_mut`.
    let mut chunks: Vec<(Vec<u8>, usize)> = Vec::new();
    let mut held = 0usize;
    let mut pages = 0u64;
    let mut stopped = "the duration ended";
    'grow: while held < cap {
        let want = CHUNK.min(cap - held);
        let mut chunk = Vec::new();
        if chunk.try_reserve_exact(want).is_err() || chunks.try_reserve(1).is_err() {
            stopped = "an allocation was refused";
            break;
        }
        // First touch, a step at a time so the deadline is seen.
        let mut done = 0;
        while done < want {
            let to = (done + STEP).min(want);
            pages += touch(&mut chunk.spare_capacity_mut()[done..to], 0xA5);
            done = to;
            if Instant::now() >= until && done < want {
                held += done;
                chunks.push((chunk, done));
                break 'grow;
            }
        }
        held += want;
        chunks.push((chunk, want));
        if held >= cap {
            stopped = "the cap was reached";
        }
    }
    // Keep touching what it holds until the end.
    let mut round = 0u8;
    'hold: while Instant::now() < until && held > 0 {
        round = round.wrapping_add(1);
        for (chunk, size) in chunks.iter_mut() {
            for step in chunk.spare_capacity_mut()[..*size].chunks_mut(STEP) {
                pages += touch(step, round);
                if Instant::now() >= until {
                    break 'hold;
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let logs = vec![format!(
        "held {} MiB of a {max_mib} MiB cap; growth stopped because {stopped}",
        held as u64 / MIB
    )];
    drop(chunks);
    Outcome::rate(
        pages.max(1),
        pages.max(1) as f64 * PAGE as f64 / 1e6,
        elapsed,
        "MB/s",
        logs,
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;
    use std::time::Duration;

    #[test]
    fn grows_to_its_cap_then_keeps_touching() {
        let started = Instant::now();
        let d = Duration::from_millis(300);
        let o = run(80, started + d);
        check(&o, d, started);
        assert_eq!(o.unit, "MB/s");
        assert!(o.logs[0].contains("held 80 MiB"), "{:?}", o.logs);
        // More pages touched than it holds: it went on touching after growing.
        assert!(o.iterations > 80 * 256, "{o:?}");
    }

    #[test]
    fn a_short_duration_stops_the_growth() {
        let started = Instant::now();
        let d = Duration::from_millis(1);
        let o = run(1 << 20, started + d);
        check(&o, d, started);
        assert!(o.logs[0].contains("duration ended"), "{:?}", o.logs);
    }

    #[test]
    fn the_default_cap_is_below_available_memory() {
        let cap = default_max_mib().unwrap();
        assert!(cap >= 1);
    }
}
