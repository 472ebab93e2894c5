//! The static `hvbench-executor`, built by `build.rs` and embedded here: `hvbench` copies it to
//! each machine it reaches over SSH, under a name made from its hash, and runs jobs with it
//! there (docs/architecture.md, "Machines over SSH").

/// The executor's bytes: a static x86_64 Linux ELF executable.
pub const EXECUTOR: &[u8] = include_bytes!(env!("HVBENCH_EXECUTOR_BIN"));

/// Hex SHA-256 of [`EXECUTOR`]: names the copy on a remote machine, so that a host keeps one
/// copy per hvbench build and never runs a stale one.
#[cfg(test)]
fn sha256_hex() -> String {
    hvbench_platform::guest::cache::sha256_hex(EXECUTOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The type of each program header of a 64-bit little-endian ELF file.
    fn program_headers(elf: &[u8]) -> Vec<u32> {
        let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap());
        let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap());
        assert_eq!(elf[4], 2, "ELFCLASS64");
        assert_eq!(elf[5], 1, "little-endian");
        let phoff = u64_at(0x20) as usize;
        let phentsize = u16_at(0x36) as usize;
        let phnum = u16_at(0x38) as usize;
        (0..phnum).map(|i| u32_at(phoff + i * phentsize)).collect()
    }

    #[test]
    fn the_embedded_executor_is_a_static_x86_64_executable() {
        const PT_LOAD: u32 = 1;
        const PT_INTERP: u32 = 3;
        const EM_X86_64: u16 = 62;
        assert!(EXECUTOR.starts_with(b"\x7fELF"));
        assert_eq!(
            u16::from_le_bytes([EXECUTOR[0x12], EXECUTOR[0x13]]),
            EM_X86_64
        );
        let types = program_headers(EXECUTOR);
        assert!(types.contains(&PT_LOAD), "{types:?}");
        assert!(
            !types.contains(&PT_INTERP),
            "the executor asks for a dynamic loader; it must run on any Linux: {types:?}"
        );
    }

    #[test]
    fn the_hash_names_these_bytes() {
        let h = sha256_hex();
        assert_eq!(h.len(), 64);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(h, sha256_hex());
    }
}
