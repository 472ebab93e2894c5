//! Builds hvbench-agent as a fully static binary and hands its path to the crate, which embeds
//! it: the one `hvbench` binary then carries the agent that goes into every guest initramfs
//! and runs as a plain process on the host.
//!
//! The agent is built by a nested cargo with its own target directory, because
//! `-C target-feature=+crt-static` must apply to the agent alone (with it, proc-macro crates
//! cannot be built) and only with an explicit `--target`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir
        .parent()
        .and_then(|p| p.parent())
        .unwrap()
        .to_path_buf();
    for dir in ["crates/hvbench-agent", "crates/hvbench-proto", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=HVBENCH_AGENT_BUILD_TARGET");
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    // Guests are x86_64; the agent is built for x86_64 Linux whatever the host build targets.
    let target = env::var("HVBENCH_AGENT_BUILD_TARGET")
        .unwrap_or_else(|_| "x86_64-unknown-linux-gnu".into());
    let target_dir = out.join("agent-target");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&workspace)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "hvbench-agent",
            "--target",
            &target,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's flags and wrappers (clippy, coverage) are not the agent's.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .status()
        .expect("run cargo to build hvbench-agent");
    assert!(
        status.success(),
        "building the static hvbench-agent failed (see the errors above)"
    );
    let bin = target_dir
        .join(&target)
        .join("release")
        .join("hvbench-agent");
    println!("cargo:rustc-env=HVBENCH_AGENT_BIN={}", bin.display());
}
