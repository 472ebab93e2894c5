//! `page-fault`: the cost of a first-touch (minor, anonymous) page fault — the kernel's
//! allocate-zero-map path, which under a hypervisor also pays for the guest page-table update
//! (EPT/NPT violation on first use, or a PV page-table hypercall).
//!
//! Mappings of `size_mib` are made with transparent huge pages refused, so each base page
//! faults on its own; one byte is written per page; the mapping is unmapped. The unmap and the
//! mmap are part of each page's cost, amortised over the pages of a mapping; with the default
//! 16 MiB (4096 pages) they are a small share.

use super::mmap::{page_size, Mapping};
use super::Workload;
use std::time::Duration;

#[derive(Debug)]
pub struct PageFault {
    /// Pages per mapping.
    pages: u64,
    page: usize,
}

impl PageFault {
    pub fn new(size_mib: u64) -> Result<Self, String> {
        let page = page_size();
        let pages = size_mib
            .checked_mul(1 << 20)
            .map(|b| b / page as u64)
            .filter(|&p| p > 0 && usize::try_from(p).is_ok())
            .ok_or_else(|| format!("size_mib = {size_mib} is not a usable size"))?;
        Ok(Self { pages, page })
    }
}

impl Workload for PageFault {
    /// `iterations` first-touch faults, in mappings of at most `pages` pages.
    fn run(&mut self, iterations: u64) {
        let mut left = iterations;
        while left > 0 {
            let n = left.min(self.pages);
            let len = n as usize * self.page;
            let mut m = Mapping::anonymous(len)
                .unwrap_or_else(|e| panic!("mmap of {len} bytes failed: {e}"));
            m.no_huge_pages();
            m.touch_pages(self.page);
            drop(m);
            left -= n;
        }
    }

    /// ns per page fault.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        elapsed.as_nanos() as f64 / iterations as f64
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        vec![("page-fault.pages_per_mapping", self.pages.to_string())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_counted_in_pages() {
        let mut w = PageFault::new(1).unwrap();
        assert_eq!(w.pages, (1 << 20) / page_size() as u64);
        // More faults than one mapping holds, and a partial mapping at the end.
        w.run(w.pages * 2 + 3);
        assert_eq!(w.value(1000, Duration::from_micros(100)), 100.0);
        assert!(PageFault::new(0).is_err());
    }

    /// Each touched page of a fresh mapping is one minor fault (the kernel's count says so).
    #[test]
    fn one_fault_per_page() {
        let minflt = || {
            // SAFETY: rusage is plain data; getrusage fills the struct we own.
            let mut u: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: as above; RUSAGE_THREAD counts this test's thread alone.
            unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) };
            u.ru_minflt as u64
        };
        let mut w = PageFault::new(1).unwrap();
        w.run(1); // warm the allocator's own pages
        let before = minflt();
        w.run(w.pages);
        let faults = minflt() - before;
        assert!(
            faults >= w.pages && faults <= w.pages + 16,
            "{faults} faults for {} pages",
            w.pages
        );
    }
}
