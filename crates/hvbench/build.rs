//! Builds hvbench-executor as a fully static binary and hands its path to the crate, which
//! embeds it (`src/executor.rs`): `hvbench` ships it to every machine it reaches over SSH, which
//! then needs no Rust, no matching libc and nothing installed to run a job.
//!
//! As for the agent (hvbench-platform's build script), the executor is built by a nested cargo
//! with its own target directory, because `-C target-feature=+crt-static` must apply to it alone
//! (with it, proc-macro crates cannot be built) and only with an explicit `--target`.

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
    // The executor and everything it embeds or links from this workspace.
    for dir in [
        "crates/hvbench-executor",
        "crates/hvbench-platform",
        "crates/hvbench-spec",
        "crates/hvbench-proto",
        "crates/hvbench-agent",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=HVBENCH_EXECUTOR_BUILD_TARGET");
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    // Remote hosts are x86_64 (they run x86_64 guests); built for x86_64 Linux whatever the
    // controller's build targets.
    let target = env::var("HVBENCH_EXECUTOR_BUILD_TARGET")
        .unwrap_or_else(|_| "x86_64-unknown-linux-gnu".into());
    let target_dir = out.join("executor-target");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&workspace)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "hvbench-executor",
            "--target",
            &target,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's flags and wrappers (clippy, coverage) are not the executor's.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .status()
        .expect("run cargo to build hvbench-executor");
    assert!(
        status.success(),
        "building the static hvbench-executor failed (see the errors above)"
    );
    let bin = target_dir
        .join(&target)
        .join("release")
        .join("hvbench-executor");
    println!("cargo:rustc-env=HVBENCH_EXECUTOR_BIN={}", bin.display());
}
