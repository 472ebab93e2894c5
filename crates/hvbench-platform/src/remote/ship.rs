//! What a remote machine needs, shipped into a content-addressed cache there: the static
//! executor, the agent, the guest kernel with its modules and the guests' initramfs images.
//! Each file is an object named by its SHA-256 (`<cache>/objects/<hash>`); the machine is asked
//! first which objects it lacks and only those are sent, each checked against its hash on
//! arrival. The cache tree the executor reads (`<cache>/store/...`) is made of hard links to the
//! objects. Directories are private (0700).

use super::ssh::{quote, Ssh, SshError};
use crate::guest::cache::sha256_hex;
use std::collections::BTreeSet;
use std::time::Duration;

/// How long one shipping step may take (a few tens of MiB over a slow link).
const STEP_TIMEOUT: Duration = Duration::from_secs(600);

/// One file for the remote cache.
#[derive(Debug, Clone)]
pub struct Shipment {
    /// Where it goes below `<cache>/store`, `/`-separated; empty for an object only (the
    /// executor and the agent are run from `objects/`).
    pub rel: String,
    pub data: Vec<u8>,
    pub executable: bool,
}

impl Shipment {
    pub fn hash(&self) -> String {
        sha256_hex(&self.data)
    }
}

/// The remote cache, once shipped: its absolute path on the machine and what was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipped {
    pub root: String,
    /// Bytes sent this time (0 when everything was there).
    pub sent_bytes: u64,
    pub sent_files: usize,
    pub present_files: usize,
}

/// The shell expression for the cache directory: the [[host]]'s `cache_dir` (validated: an
/// absolute path or `~/...`), else the remote user's `~/.cache/hvbench`.
pub fn cache_expr(cache_dir: Option<&str>) -> String {
    match cache_dir {
        None => "\"$HOME\"/.cache/hvbench".to_string(),
        Some(d) => match d.strip_prefix("~/") {
            Some(rest) => format!("\"$HOME\"/{}", quote(rest)),
            None => quote(d),
        },
    }
}

/// A path below the store, checked: relative, `/`-separated, no `..`, no odd characters.
pub(crate) fn safe_rel(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.starts_with('/')
        && rel.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._+-=~".contains(&b))
        })
}

/// Put `files` into the machine's cache, sending only what it lacks.
pub fn ship(
    ssh: &Ssh,
    cache_dir: Option<&str>,
    files: &[Shipment],
    say: &mut dyn FnMut(&str),
) -> Result<Shipped, String> {
    for f in files {
        if !f.rel.is_empty() && !safe_rel(&f.rel) {
            return Err(format!("refusing to ship to the odd path `{}`", f.rel));
        }
    }
    // Each file hashed once: the tools image alone is hundreds of MiB.
    let file_hashes: Vec<String> = files.iter().map(Shipment::hash).collect();
    let hashes: BTreeSet<String> = file_hashes.iter().cloned().collect();
    let list = hashes.iter().cloned().collect::<Vec<_>>().join(" ");
    let inventory = format!(
        "set -e; umask 077; C={c}; mkdir -p \"$C/objects\" \"$C/store\" \"$C/work\"; \
         chmod 700 \"$C\" \"$C/objects\" \"$C/store\" \"$C/work\"; printf 'root=%s\\n' \"$C\"; \
         cd \"$C/objects\"; for h in {list}; do [ -f \"$h\" ] || echo \"missing=$h\"; done",
        c = cache_expr(cache_dir)
    );
    let out = run_ok(ssh, &inventory, b"")?;
    let mut root = None;
    let mut missing = BTreeSet::new();
    for line in out.lines() {
        if let Some(r) = line.strip_prefix("root=") {
            root = Some(r.to_string());
        } else if let Some(h) = line.strip_prefix("missing=") {
            missing.insert(h.to_string());
        }
    }
    let root =
        root.ok_or_else(|| format!("host `{}` did not say where its cache is", ssh.host()))?;
    if !root.starts_with('/') || root.contains('\n') {
        return Err(format!(
            "host `{}` has its cache at `{root}`, not an absolute path",
            ssh.host()
        ));
    }
    let mut sent_bytes = 0u64;
    let mut sent_files = 0usize;
    let mut done: BTreeSet<String> = BTreeSet::new();
    for (f, h) in files.iter().zip(&file_hashes) {
        if !missing.contains(h) || !done.insert(h.clone()) {
            continue;
        }
        say(&format!(
            "{}: sending {} ({:.1} MiB)",
            ssh.host(),
            if f.rel.is_empty() { &h[..12] } else { &f.rel },
            f.data.len() as f64 / (1024.0 * 1024.0)
        ));
        let mode = if f.executable { "700" } else { "600" };
        let script = format!(
            "set -e; umask 077; C={root}; t=\"$C/objects/.in-{h}-$$\"; cat > \"$t\"; \
             s=$(sha256sum \"$t\"); s=${{s%% *}}; if [ \"$s\" != {h} ]; then rm -f \"$t\"; \
             echo \"arrived with hash $s\" >&2; exit 3; fi; chmod {mode} \"$t\"; \
             mv -f \"$t\" \"$C/objects/{h}\"",
            root = quote(&root)
        );
        run_ok(ssh, &script, &f.data)?;
        sent_bytes += f.data.len() as u64;
        sent_files += 1;
    }
    // The store tree: hard links to the objects, replaced when a name now means other bytes.
    let mut links = String::new();
    for (f, h) in files.iter().zip(&file_hashes) {
        if f.rel.is_empty() {
            continue;
        }
        let rel = quote(&f.rel);
        links.push_str(&format!(
            "mkdir -p \"$(dirname {rel})\"; ln -f \"$C/objects/{h}\" {rel}; "
        ));
    }
    if !links.is_empty() {
        let script = format!(
            "set -e; umask 077; C={root}; cd \"$C/store\"; {links}",
            root = quote(&root)
        );
        run_ok(ssh, &script, b"")?;
    }
    Ok(Shipped {
        root,
        sent_bytes,
        sent_files,
        present_files: hashes.len() - sent_files,
    })
}

/// Run `script`; its stdout, or what went wrong (ssh's failure, or the script's stderr).
pub(crate) fn run_ok(ssh: &Ssh, script: &str, input: &[u8]) -> Result<String, String> {
    let out = ssh
        .run(script, input, STEP_TIMEOUT)
        .map_err(|e: SshError| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "host `{}`: a remote command failed ({}): {}",
            ssh.host(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn cache_expressions_expand_only_home() {
        let sh = |expr: String| {
            let out = Command::new("sh")
                .env("HOME", "/home/u")
                .args(["-c", &format!("C={expr}; printf %s \"$C\"")])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert_eq!(sh(cache_expr(None)), "/home/u/.cache/hvbench");
        assert_eq!(sh(cache_expr(Some("~/hv cache"))), "/home/u/hv cache");
        assert_eq!(sh(cache_expr(Some("/var/$x"))), "/var/$x");
    }

    #[test]
    fn store_paths_are_checked() {
        for ok in [
            "kernels/linux_6.1.m1/vmlinuz",
            "initramfs/abc.cpio.gz",
            "a/b-c+d=e~f",
        ] {
            assert!(safe_rel(ok), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "a//b",
            "a/./b",
            "a b",
            "a/$(x)",
            "a;b",
        ] {
            assert!(!safe_rel(bad), "{bad}");
        }
    }
}
