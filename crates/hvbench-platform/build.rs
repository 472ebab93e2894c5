//! Builds hvbench-agent as a fully static binary and hands its path to the crate, which embeds
//! it: the one `hvbench` binary then carries the agent that goes into every guest initramfs and
//! runs as a plain process on the host (how: `static_bin.rs`).

#[path = "static_bin.rs"]
mod static_bin;

fn main() {
    static_bin::build(
        "hvbench-agent",
        &["crates/hvbench-agent", "crates/hvbench-proto"],
        "HVBENCH_AGENT_BUILD_TARGET",
        "HVBENCH_AGENT_BIN",
    );
}
