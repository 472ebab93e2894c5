//! Builds hvbench-executor as a fully static binary and hands its path to the crate, which
//! embeds it (`src/executor.rs`): `hvbench` ships it to every machine it reaches over SSH, which
//! then needs no Rust, no matching libc and nothing installed to run a job. How it is built is
//! shared with the agent's build (`crates/hvbench-platform/static_bin.rs`).

#[path = "../hvbench-platform/static_bin.rs"]
mod static_bin;

fn main() {
    // The executor and everything it embeds or links from this workspace.
    static_bin::build(
        "hvbench-executor",
        &[
            "crates/hvbench-executor",
            "crates/hvbench-platform",
            "crates/hvbench-spec",
            "crates/hvbench-proto",
            "crates/hvbench-agent",
        ],
        "HVBENCH_EXECUTOR_BUILD_TARGET",
        "HVBENCH_EXECUTOR_BIN",
    );
}
