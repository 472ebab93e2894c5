//! The timed I/O of a disk workload: where each block goes (sequential walk or uniform random
//! draw), the reads and writes themselves, and the value of a window in the catalog's unit.

use super::{Disk, DiskOp, SEQ_BLOCK};
use crate::workloads::Workload;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::Duration;

impl Disk {
    /// The next offset: sequential ops and fsync walk the region and wrap; random ops draw a
    /// block uniformly (xorshift64*, Vigna 2016; the modulo bias is below 2^-40 here).
    pub(super) fn offset(&mut self) -> u64 {
        let block = self.op.block() as u64;
        match self.op {
            DiskOp::RandRead | DiskOp::RandWrite => {
                self.rng ^= self.rng >> 12;
                self.rng ^= self.rng << 25;
                self.rng ^= self.rng >> 27;
                let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
                (r % (self.region_bytes / block)) * block
            }
            _ => {
                if self.next_offset + block > self.region_bytes {
                    self.next_offset = 0;
                }
                let at = self.next_offset;
                self.next_offset += block;
                at
            }
        }
    }

    fn iterate(&mut self, iterations: u64) -> io::Result<()> {
        for _ in 0..iterations {
            let at = self.offset();
            if self.op.writes() {
                // A different block each time, so no layer can skip a write as unchanged.
                self.buf.as_mut_slice()[..8].copy_from_slice(&at.to_le_bytes());
                self.file.write_all_at(self.buf.as_slice(), at)?;
                if self.op == DiskOp::Fsync {
                    self.file.sync_all()?;
                }
            } else {
                self.file.read_exact_at(self.buf.as_mut_slice(), at)?;
            }
        }
        if matches!(self.op, DiskOp::SeqWrite | DiskOp::RandWrite) {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

impl Workload for Disk {
    fn run(&mut self, iterations: u64) {
        if let Err(e) = self.iterate(iterations) {
            panic!("disk I/O failed: {e}");
        }
    }

    /// MB/s for the sequential ops, IOPS for the random ones, µs per write+fsync.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        let ns = elapsed.as_nanos() as f64;
        match self.op {
            DiskOp::SeqRead | DiskOp::SeqWrite => {
                // bytes per ns = GB/s; x 1e3 = MB/s.
                iterations as f64 * SEQ_BLOCK as f64 / ns * 1e3
            }
            DiskOp::RandRead | DiskOp::RandWrite => iterations as f64 / ns * 1e9,
            DiskOp::Fsync => ns / 1e3 / iterations as f64,
        }
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        self.facts.clone()
    }
}
