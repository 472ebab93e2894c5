//! The static hvbench-agent, embedded in this crate at build time (see build.rs).

use crate::guest::cache::{sha256_hex, write_atomic, Cache};
use crate::{PlatformError, Result};
use std::path::PathBuf;

/// The agent's bytes: a static x86_64 Linux executable.
pub static AGENT: &[u8] = include_bytes!(env!("HVBENCH_AGENT_BIN"));

/// The agent binary to use: `$HVBENCH_AGENT` if set (a developer's own build), else the
/// embedded one, written once into the cache under its content hash.
pub fn agent_path(cache: &Cache) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("HVBENCH_AGENT") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            return Err(PlatformError::unavailable(
                format!("HVBENCH_AGENT={} is not a file", p.display()),
                "unset HVBENCH_AGENT to use the agent built into hvbench",
            ));
        }
        return Ok(p);
    }
    let dir = cache
        .dir("agent")
        .map_err(PlatformError::io("cannot create the agent cache directory"))?;
    let path = dir.join(format!("hvbench-agent-{}", &sha256_hex(AGENT)[..16]));
    if !path.exists() {
        write_atomic(&path, AGENT, 0o755).map_err(PlatformError::io(format!(
            "cannot write {}",
            path.display()
        )))?;
    }
    Ok(path)
}

/// The agent's bytes as used: `$HVBENCH_AGENT`'s file if set, else the embedded binary.
pub fn agent_bytes() -> Result<Vec<u8>> {
    match std::env::var_os("HVBENCH_AGENT") {
        Some(p) => std::fs::read(&p).map_err(PlatformError::io(format!(
            "cannot read HVBENCH_AGENT={}",
            PathBuf::from(p).display()
        ))),
        None => Ok(AGENT.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(b: &[u8], at: usize) -> usize {
        u16::from_le_bytes([b[at], b[at + 1]]) as usize
    }

    #[test]
    fn embedded_agent_is_a_static_elf() {
        assert_eq!(&AGENT[..4], b"\x7fELF");
        assert_eq!(AGENT[4], 2, "ELF64");
        // A static executable has no PT_INTERP (3) program header (ELF-64 Object File Format,
        // sections "ELF header" and "Program header table").
        let phoff = u64::from_le_bytes(AGENT[0x20..0x28].try_into().unwrap()) as usize;
        let (phentsize, phnum) = (u16_at(AGENT, 0x36), u16_at(AGENT, 0x38));
        let has_interp = (0..phnum).any(|i| {
            let at = phoff + i * phentsize;
            u32::from_le_bytes(AGENT[at..at + 4].try_into().unwrap()) == 3
        });
        assert!(
            !has_interp,
            "the agent must be linked statically (it runs as /init with no libc)"
        );
    }
}
