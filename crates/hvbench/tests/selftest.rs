//! `hvbench selftest fidelity` is a measurement, not a test; these only check that the command
//! is there and that its quick mode produces the table (whether or not the reference tools are
//! installed: a missing tool is a row that says which package to install).

use std::process::Command;

fn hvbench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .args(args)
        .output()
        .expect("run hvbench")
}

#[test]
fn fidelity_help_names_the_tools() {
    let out = hvbench(&["selftest", "fidelity", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["perf bench", "sysbench", "stress-ng", "--quick", "--rounds"] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}

#[test]
fn quick_fidelity_prints_the_table() {
    let out = hvbench(&["selftest", "fidelity", "--quick", "--only", "syscall"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("| workload"), "{stdout}");
    assert!(stdout.contains("| syscall [1]"), "{stdout}");
    assert!(stdout.contains("perf bench syscall basic"), "{stdout}");
    // Either it measured both sides, or it says what to install.
    assert!(
        stdout.contains(" ns ") || stdout.contains("apt-get install linux-perf"),
        "{stdout}"
    );
    let out = hvbench(&["selftest", "fidelity", "--quick", "--only", "no-such-row"]);
    assert_eq!(out.status.code(), Some(1));
}
