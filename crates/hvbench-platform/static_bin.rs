//! Shared by two build scripts (hvbench-platform's for the agent, hvbench's for the executor):
//! build one workspace binary fully static with a nested cargo and hand its path to the crate
//! that embeds it.
//!
//! The nested cargo has its own target directory, because `-C target-feature=+crt-static` must
//! apply to that binary alone (with it, proc-macro crates cannot be built) and only with an
//! explicit `--target`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// Build `package` (whose sources, and those it depends on in the workspace, are `watch`)
/// static for x86_64 Linux (or `$<target_env>`), and set `$<bin_env>` to the binary's path.
pub fn build(package: &str, watch: &[&str], target_env: &str, bin_env: &str) {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir
        .parent()
        .and_then(|p| p.parent())
        .unwrap()
        .to_path_buf();
    for dir in watch.iter().chain(&["Cargo.lock"]) {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed={target_env}");
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    // Guests and remote machines are x86_64: built for x86_64 Linux whatever this build targets.
    let target = env::var(target_env).unwrap_or_else(|_| "x86_64-unknown-linux-gnu".into());
    let target_dir = out.join(format!("{package}-target"));
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&workspace)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            package,
            "--target",
            &target,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's flags and wrappers (clippy, coverage) are not this binary's.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .status()
        .unwrap_or_else(|e| panic!("run cargo to build {package}: {e}"));
    assert!(
        status.success(),
        "building the static {package} failed (see the errors above)"
    );
    let bin = target_dir.join(&target).join("release").join(package);
    println!("cargo:rustc-env={bin_env}={}", bin.display());
}
