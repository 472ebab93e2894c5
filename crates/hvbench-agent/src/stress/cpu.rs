//! `cpu`: spin a dependent integer chain (xorshift steps), one operation per step.

use super::Outcome;
use std::hint::black_box;
use std::time::Instant;

/// Steps between two looks at the clock (well under a millisecond).
const CHUNK: u64 = 1 << 16;

pub fn run(until: Instant) -> Outcome {
    let start = Instant::now();
    let mut x = black_box(0x9E37_79B9_7F4A_7C15u64);
    let mut ops = 0u64;
    loop {
        for _ in 0..CHUNK {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        x = black_box(x);
        ops += CHUNK;
        if Instant::now() >= until {
            break;
        }
    }
    Outcome::rate(ops, ops as f64, start.elapsed(), "ops/s", Vec::new())
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;
    use std::time::Duration;

    #[test]
    fn spins_for_its_duration() {
        let started = Instant::now();
        let d = Duration::from_millis(150);
        let o = run(started + d);
        check(&o, d, started);
        assert!(o.elapsed >= d, "{o:?}");
        assert_eq!(o.unit, "ops/s");
    }
}
