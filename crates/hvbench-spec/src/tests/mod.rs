//! Unit tests of spec parsing and validation, by topic. This file holds what the topics
//! share: the assertions on diagnostics (`expect_errors`, `expect_one`) and the valid
//! experiment `VALID`.

mod basics;
mod boots;
mod diagnostics;
mod hosts;
mod isolation;
mod libvirt;
mod platforms;
mod workloads;

use super::*;
#[allow(unused_imports)] // for the topic files, which take everything from here
use std::{collections::BTreeMap, path::PathBuf};

/// The text at a 1-based line and character column.
fn text_at(text: &str, line: usize, column: usize) -> String {
    let l = text.split('\n').nth(line - 1).unwrap_or("");
    l.chars().skip(column - 1).collect()
}

/// Parse `text`, expect it to fail with exactly these diagnostics, in this order: line, column,
/// the text found there (a prefix), and a piece of the message.
#[track_caller]
fn expect_errors(text: &str, expected: &[(usize, usize, &str, &str)]) -> SpecError {
    let err = parse("t.toml", text).expect_err("the spec should be rejected");
    let got: Vec<String> = err.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        err.diagnostics.len(),
        expected.len(),
        "diagnostics:\n{}",
        got.join("\n")
    );
    for (d, (line, column, at, message)) in err.diagnostics.iter().zip(expected) {
        assert_eq!(d.origin, "t.toml");
        assert_eq!(
            (d.line, d.column),
            (Some(*line), Some(*column)),
            "position of: {d}"
        );
        let found = text_at(text, *line, *column);
        assert!(
            found.starts_with(at),
            "{d}\npoints at {found:?}, expected {at:?}"
        );
        assert!(d.message.contains(message), "{d}\nexpected {message:?}");
        assert!(
            d.hint.as_deref().is_some_and(|h| !h.is_empty()),
            "{d} has no hint"
        );
    }
    err
}

#[track_caller]
fn expect_one(text: &str, line: usize, column: usize, at: &str, message: &str) -> Diagnostic {
    expect_errors(text, &[(line, column, at, message)])
        .diagnostics
        .remove(0)
}

const VALID: &str = r#"name = "round-trip"
repetitions = 7
warmup = 2
samples = 3
min_window_ms = 150
seed = 42

[guest]
vcpus = 2
memory_mib = 1024
kernel = "/boot/vmlinuz"
timeout_s = 120

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "kvm"
driver = "qemu"
accel = "kvm"
machine = "pc"
cpu = "EPYC,+svm"

[[platform]]
name = "tcg"
driver = "qemu"
accel = "tcg"

[[workload]]
name = "cpu-int"

[[workload]]
name = "mem-bandwidth"
kernel = "copy"
size_mib = 64

[[workload]]
name = "mem-bandwidth"
kernel = "triad"
size_mib = 64
"#;
