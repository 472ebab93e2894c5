//! `cpu`: spin a dependent integer chain (xorshift steps), one operation per step.

use super::{over, Running, Work};
use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Steps between two looks at the clock (well under a millisecond).
const CHUNK: u64 = 1 << 16;

/// The chain's state, carried from one window to the next.
pub struct Cpu {
    x: u64,
}

impl Cpu {
    pub fn new() -> Self {
        Cpu {
            x: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl Running for Cpu {
    fn window(&mut self, until: Instant, stop: &AtomicBool) -> Result<Work, String> {
        let mut x = black_box(self.x);
        let mut ops = 0u64;
        loop {
            for _ in 0..CHUNK {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
            }
            x = black_box(x);
            ops += CHUNK;
            if over(until, stop) {
                break;
            }
        }
        self.x = x;
        Ok(Work {
            iterations: ops,
            amount: ops as f64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;
    use std::time::Duration;

    #[test]
    fn spins_for_its_window() {
        let mut cpu = Cpu::new();
        let d = Duration::from_millis(100);
        check(&mut cpu, d);
        check(&mut cpu, d);
    }
}
