//! `mmap`: the life of a small anonymous mapping — mmap(2), one write per page, munmap(2) — the
//! cost a memory allocator's large allocations pay, and one that grows with every page-table
//! update a hypervisor must see or shadow.

use super::Workload;
use std::hint::black_box;
use std::io;
use std::ptr::NonNull;
use std::time::Duration;

/// The size of a base page.
pub fn page_size() -> usize {
    // SAFETY: sysconf only reads its integer argument.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// A private anonymous mapping, unmapped when dropped.
#[derive(Debug)]
pub struct Mapping {
    addr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// Map `len` bytes (> 0) of zeroed, private, anonymous memory. Nothing is touched yet.
    pub fn anonymous(len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh private anonymous mapping at an address the kernel picks; no existing
        // memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let addr = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave 0"))?;
        Ok(Mapping { addr, len })
    }

    /// Ask for base pages only, so that every page's first touch is a fault of its own. Where
    /// the kernel has no transparent huge pages it refuses, and base pages are what it gives.
    pub fn no_huge_pages(&self) {
        // SAFETY: advice on our own mapping, exactly its range; it changes no contents.
        unsafe { libc::madvise(self.addr.as_ptr().cast(), self.len, libc::MADV_NOHUGEPAGE) };
    }

    /// Write one byte in each `page`-sized page: the first write to a page faults it in.
    pub fn touch_pages(&mut self, page: usize) {
        let mut offset = 0;
        while offset < self.len {
            // SAFETY: offset < len, inside our read-write mapping; a volatile write so that the
            // store (and the fault it causes) happens.
            unsafe { self.addr.as_ptr().add(offset).write_volatile(1) };
            offset += page;
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours, exactly this range, and nothing refers to it any more.
        unsafe { libc::munmap(self.addr.as_ptr().cast(), self.len) };
    }
}

/// One round: map `pages` pages, touch each, unmap.
#[derive(Debug)]
pub struct Mmap {
    pages: usize,
    page: usize,
}

impl Mmap {
    pub fn new(pages: u64) -> Result<Self, String> {
        let pages = usize::try_from(pages)
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("pages = {pages} is not a usable count"))?;
        Ok(Self {
            pages,
            page: page_size(),
        })
    }
}

impl Workload for Mmap {
    fn run(&mut self, iterations: u64) {
        for _ in 0..iterations {
            let mut m = Mapping::anonymous(self.pages * self.page)
                .unwrap_or_else(|e| panic!("mmap of {} pages failed: {e}", self.pages));
            m.touch_pages(self.page);
            black_box(&m);
        }
    }

    /// ns per round (map, touch every page, unmap).
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        elapsed.as_nanos() as f64 / iterations as f64
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        vec![("mmap.page_bytes", self.page.to_string())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_is_zeroed_writable_and_unmapped() {
        let page = page_size();
        let mut m = Mapping::anonymous(3 * page).unwrap();
        m.no_huge_pages();
        m.touch_pages(page);
        // SAFETY: inside the mapping, which the test still owns.
        let (first, between) = unsafe { (*m.addr.as_ptr(), *m.addr.as_ptr().add(1)) };
        assert_eq!((first, between), (1, 0));
        drop(m);
        Mmap::new(4).unwrap().run(10);
        assert!(Mmap::new(0).is_err());
    }

    #[test]
    fn value_is_nanoseconds_per_round() {
        assert_eq!(
            Mmap::new(1).unwrap().value(100, Duration::from_micros(50)),
            500.0
        );
    }
}
