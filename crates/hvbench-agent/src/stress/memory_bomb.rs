//! `memory-bomb`: allocate and touch 64 MiB chunks until the cap is reached or an allocation
//! is refused, and keep touching every page of what it holds (so it stays resident and keeps
//! the victim's pages under pressure). A refused allocation is tried again at the start of
//! the next window: memory the victim frees is taken. Allocation goes through `try_reserve`,
//! so a refusal pauses the growth instead of aborting the agent. The rate is MB/s of pages
//! touched.

use super::{over, Running, Work, MIB};
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

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

/// One allocation: an empty `Vec` with `size` bytes of capacity, the first `touched` of
/// them backed by pages (touched through `spare_capacity_mut`).
struct Chunk {
    mem: Vec<u8>,
    size: usize,
    touched: usize,
}

/// What the bomb holds, kept from one window to the next.
pub struct Bomb {
    max_mib: u64,
    cap: usize,
    chunks: Vec<Chunk>,
    /// Bytes allocated and bytes touched (resident) so far.
    reserved: usize,
    held: usize,
    /// An allocation was refused in this window; the next window tries again.
    refused: bool,
    refusals: u64,
    /// Where the keep-touching pass has got to: chunk and offset.
    cursor: (usize, usize),
    round: u8,
}

impl Bomb {
    pub fn new(max_mib: u64) -> Self {
        Bomb {
            max_mib,
            cap: usize::try_from(max_mib.saturating_mul(MIB)).unwrap_or(usize::MAX),
            chunks: Vec::new(),
            reserved: 0,
            held: 0,
            refused: false,
            refusals: 0,
            cursor: (0, 0),
            round: 0,
        }
    }

    /// Whether the last chunk is still being first-touched, or there is room to allocate.
    fn growing(&self) -> bool {
        let unfinished = self.chunks.last().is_some_and(|c| c.touched < c.size);
        unfinished || (self.reserved < self.cap && !self.refused)
    }

    /// First-touch one step of the last chunk, or allocate the next one. Returns pages touched.
    fn grow_step(&mut self) -> u64 {
        if let Some(c) = self.chunks.last_mut().filter(|c| c.touched < c.size) {
            let to = (c.touched + STEP).min(c.size);
            let pages = touch(&mut c.mem.spare_capacity_mut()[c.touched..to], 0xA5);
            self.held += to - c.touched;
            c.touched = to;
            return pages;
        }
        let size = CHUNK.min(self.cap - self.reserved);
        let mut mem = Vec::new();
        if mem.try_reserve_exact(size).is_err() || self.chunks.try_reserve(1).is_err() {
            self.refused = true;
            self.refusals += 1;
            return 0;
        }
        self.reserved += size;
        self.chunks.push(Chunk {
            mem,
            size,
            touched: 0,
        });
        0
    }

    /// Touch one step of what is held, going round all of it. Returns pages touched.
    fn touch_step(&mut self) -> u64 {
        let (i, at) = self.cursor;
        let c = &mut self.chunks[i];
        let to = (at + STEP).min(c.touched);
        let pages = touch(&mut c.mem.spare_capacity_mut()[at..to], self.round);
        self.cursor = if to < c.touched {
            (i, to)
        } else if i + 1 < self.chunks.len() {
            (i + 1, 0)
        } else {
            self.round = self.round.wrapping_add(1);
            (0, 0)
        };
        pages
    }
}

impl Running for Bomb {
    fn window(&mut self, until: Instant, stop: &AtomicBool) -> Result<Work, String> {
        self.refused = false;
        let mut pages = 0u64;
        loop {
            if self.growing() {
                pages += self.grow_step();
            } else if self.held > 0 {
                pages += self.touch_step();
            } else {
                // Nothing held and nothing to be had: wait for the next window's retry.
                std::thread::sleep(Duration::from_millis(1));
            }
            if over(until, stop) {
                break;
            }
        }
        Ok(Work {
            iterations: pages,
            amount: pages as f64 * PAGE as f64 / 1e6,
        })
    }

    fn finish(self: Box<Self>) -> Vec<String> {
        let state = if self.reserved >= self.cap && !self.growing() {
            "the cap was reached".to_string()
        } else if self.refusals > 0 {
            format!(
                "allocations were refused {} times (tried again every window)",
                self.refusals
            )
        } else {
            "it was still growing when it stopped".to_string()
        };
        vec![format!(
            "held {} MiB of a {} MiB cap; {state}",
            self.held as u64 / MIB,
            self.max_mib
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::*;

    #[test]
    fn grows_to_its_cap_across_windows_then_keeps_touching() {
        let mut bomb = Bomb::new(80);
        // Windows too short to grow to the cap in one: growth goes on where it stopped.
        let mut windows = 0;
        while bomb.growing() {
            check(&mut bomb, Duration::from_millis(5));
            windows += 1;
            assert!(windows < 2000, "never reached the cap");
        }
        assert_eq!(bomb.held, 80 << 20);
        let work = check(&mut bomb, Duration::from_millis(100));
        assert_eq!(bomb.held, 80 << 20, "it keeps what it holds");
        // More pages touched than it holds: it went round more than once.
        assert!(work.iterations > 80 * 256, "{work:?}");
        let logs = Box::new(bomb).finish();
        assert!(
            logs[0].contains("held 80 MiB of a 80 MiB cap; the cap was reached"),
            "{logs:?}"
        );
    }

    #[test]
    fn a_short_window_leaves_it_growing() {
        let mut bomb = Bomb::new(1 << 20);
        let stop = AtomicBool::new(false);
        bomb.window(Instant::now(), &stop).unwrap();
        let logs = Box::new(bomb).finish();
        assert!(logs[0].contains("still growing"), "{logs:?}");
    }

    #[test]
    fn the_default_cap_is_below_available_memory() {
        let cap = default_max_mib().unwrap();
        assert!(cap >= 1);
    }
}
