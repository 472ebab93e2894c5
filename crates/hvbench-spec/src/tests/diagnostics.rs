//! How problems are reported: the display format, unknown keys, wrong types and shapes,
//! out-of-range numbers, bad names, several errors at once, TOML syntax errors and positions,
//! and the stop-early settings.

use super::*;

#[test]
fn display_format() {
    let text = "name = \"x\"\n[[platform]]\nname = \"q\"\ndriver = \"qemu\"\n[[workload]]\nname = \"syscall\"\n[guest]\nvcpus = 0\n";
    let err = parse("examples/bad.toml", text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "examples/bad.toml:8:9: error: `vcpus` must be from 1 to 64, got 0\n  hint: give the guest at least one vCPU"
    );
    // Every diagnostic is printed, one after the other, in file order.
    let err = parse("examples/bad.toml", "[guest]\nvcpus = 0\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "examples/bad.toml:1:1: error: the experiment has no `name`\n  hint: add `name = \"my-experiment\"` at the top of the file (letters, digits, `.`, `_`, `-`; up to 64 characters)\n\
             examples/bad.toml:1:1: error: no platforms: the experiment lists no [[platform]]\n  hint: add a [[platform]] table with name and driver, e.g. name = \"host\" and driver = \"host\"\n\
             examples/bad.toml:1:1: error: no workloads: the experiment lists no [[workload]]\n  hint: add a [[workload]] table, e.g. name = \"syscall\" (an [[isolation]] scenario also counts); the workloads are: {}\n\
             examples/bad.toml:2:9: error: `vcpus` must be from 1 to 64, got 0\n  hint: give the guest at least one vCPU",
            hvbench_proto::catalog::workload_names().join(", ")
        )
    );
}

#[test]
fn unknown_keys() {
    let text = r#"name = "x"
repetition = 3
isolations = []

[guest]
cpus = 2

[[platform]]
name = "host"
driver = "host"
colour = "red"

[[workload]]
name = "syscall"
"#;
    let err = expect_errors(
        text,
        &[
            (2, 1, "repetition", "unknown key `repetition`"),
            (3, 1, "isolations", "unknown key `isolations`"),
            (6, 1, "cpus", "unknown key `cpus` in [guest]"),
            (11, 1, "colour", "unknown key `colour`"),
        ],
    );
    let hints: Vec<&str> = err
        .diagnostics
        .iter()
        .map(|d| d.hint.as_deref().unwrap())
        .collect();
    assert!(hints[0].contains("did you mean `repetitions`?"));
    assert!(hints[1].contains("as a [[isolation]] table"));
    assert!(hints[2].contains("did you mean `vcpus`?"));
    assert!(hints[3].contains("name, driver"));
}

#[test]
fn wrong_types() {
    let text = r#"name = 5
repetitions = "3"
warmup = 1.5
seed = true

[guest]
memory_mib = [512]
kernel = 7

[[platform]]
name = "host"
driver = "host"

[[workload]]
name = "syscall"
"#;
    let err = expect_errors(
        text,
        &[
            (1, 8, "5", "`name` must be a string, got an integer 5"),
            (
                2,
                15,
                "\"3\"",
                "`repetitions` must be an integer, got a string \"3\"",
            ),
            (3, 10, "1.5", "`warmup` must be an integer, got a float 1.5"),
            (
                4,
                8,
                "true",
                "`seed` must be an integer, got a boolean true",
            ),
            (
                7,
                14,
                "[512]",
                "`memory_mib` must be an integer, got an array",
            ),
            (8, 10, "7", "`kernel` must be a string"),
        ],
    );
    assert_eq!(
        err.diagnostics[1].hint.as_deref(),
        Some("remove the quotes: repetitions = 3")
    );
}

#[test]
fn tables_of_the_wrong_shape() {
    let text = r#"name = "x"
guest = 3
workload = "syscall"

[platform]
name = "host"
"#;
    expect_errors(
        text,
        &[
            (2, 9, "3", "`guest` must be a table, got an integer 3"),
            (
                3,
                12,
                "\"syscall\"",
                "`workload` must be an array of tables, got a string",
            ),
            (
                5,
                1,
                "[platform]",
                "`platform` must be an array of tables, got a table",
            ),
        ],
    );
}

#[test]
fn out_of_range_numbers() {
    let text = r#"name = "x"
repetitions = 0
warmup = 101
samples = 1001
min_window_ms = 0
seed = -1

[guest]
vcpus = 0
memory_mib = 0
timeout_s = 86401

[[platform]]
name = "host"
driver = "host"

[[workload]]
name = "syscall"
"#;
    let err = expect_errors(
        text,
        &[
            (2, 15, "0", "`repetitions` must be from 1 to 10000, got 0"),
            (3, 10, "101", "`warmup` must be from 0 to 100, got 101"),
            (4, 11, "1001", "`samples` must be from 1 to 1000, got 1001"),
            (5, 17, "0", "`min_window_ms` must be from 1 to 60000, got 0"),
            (6, 8, "-1", "`seed` must be at least 0, got -1"),
            (9, 9, "0", "`vcpus` must be from 1 to 64, got 0"),
            (
                10,
                14,
                "0",
                "`memory_mib` must be from 64 to 1048576, got 0",
            ),
            (
                11,
                13,
                "86401",
                "`timeout_s` must be from 1 to 86400, got 86401",
            ),
        ],
    );
    assert_eq!(
        err.diagnostics[5].hint.as_deref(),
        Some("give the guest at least one vCPU")
    );
    let big = r#"name = "x"
[guest]
vcpus = 65
memory_mib = 2000000
[[platform]]
name = "q"
driver = "qemu"
[[workload]]
name = "syscall"
"#;
    let err = expect_errors(
        big,
        &[
            (3, 9, "65", "`vcpus` must be from 1 to 64, got 65"),
            (4, 14, "2000000", "`memory_mib` must be from 64 to 1048576"),
        ],
    );
    assert_eq!(
        err.diagnostics[0].hint.as_deref(),
        Some("a guest has at most 64 vCPUs")
    );
}

#[test]
fn bad_names() {
    let text = r#"name = "my experiment"

[[platform]]
name = "Host_1"
driver = "host"

[[workload]]
name = "syscall"
"#;
    let err = expect_errors(
        text,
        &[
            (1, 8, "\"my experiment\"", "`name` must be 1 to 64 letters"),
            (
                4,
                8,
                "\"Host_1\"",
                "a platform `name` must be 1 to 64 lowercase",
            ),
        ],
    );
    assert!(err.diagnostics[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("\"my-experiment\""));
    assert!(err.diagnostics[1]
        .hint
        .as_deref()
        .unwrap()
        .contains("\"host-1\""));
    let long = format!("name = \"{}\"\n", "a".repeat(65));
    expect_errors(
        &long,
        &[
            (1, 1, "name", "no platforms"),
            (1, 1, "name", "no workloads"),
            (1, 8, "\"aaa", "`name` must be 1 to 64"),
        ],
    );
}

#[test]
fn missing_name_platforms_and_workloads() {
    expect_errors(
        "repetitions = 3\n",
        &[
            (1, 1, "repetitions", "the experiment has no `name`"),
            (1, 1, "repetitions", "no platforms"),
            (1, 1, "repetitions", "no workloads"),
        ],
    );
    let text = "name = \"x\"\nplatform = []\nworkload = []\n";
    expect_errors(
        text,
        &[
            (2, 12, "[]", "no platforms: `platform` is empty"),
            (3, 12, "[]", "no workloads: `workload` is empty"),
        ],
    );
}

#[test]
fn many_errors_are_reported_together_in_file_order() {
    let text = r#"name = "x"
samples = 0

[guest]
vcpus = 0

[[platform]]
name = "host"
driver = "host"
accel = "kvm"

[[platform]]
name = "host"
driver = "qemu"

[[workload]]
name = "nope"
"#;
    let err = expect_errors(
        text,
        &[
            (2, 11, "0", "`samples`"),
            (5, 9, "0", "`vcpus`"),
            (10, 1, "accel", "`accel` applies only"),
            (13, 8, "\"host\"", "duplicate platform name"),
            (17, 8, "\"nope\"", "unknown workload"),
        ],
    );
    let shown = err.to_string();
    assert_eq!(shown.lines().count(), 10, "{shown}");
    assert!(
        shown.starts_with("t.toml:2:11: error: `samples` must be from 1 to 1000, got 0\n  hint: ")
    );
}

#[test]
fn toml_syntax_errors_have_positions() {
    let d = {
        let err = parse("s.toml", "name = \"x\"\n[guest\nvcpus = 1\n").unwrap_err();
        assert_eq!(err.len(), 1);
        err.diagnostics[0].clone()
    };
    assert_eq!((d.line, d.column), (Some(2), Some(7)));
    assert!(d.message.starts_with("TOML syntax: "), "{d}");
    assert!(d
        .to_string()
        .starts_with("s.toml:2:7: error: TOML syntax: "));

    let err = parse("s.toml", "name = \"x\"\nname = \"y\"\n").unwrap_err();
    let d = &err.diagnostics[0];
    assert_eq!((d.line, d.column), (Some(2), Some(1)), "{d}");
    assert!(d.message.contains("duplicate key"), "{d}");

    // Columns count characters, not bytes.
    let err = parse("s.toml", "# ééé\nname = \"é\" x\n").unwrap_err();
    let d = &err.diagnostics[0];
    assert_eq!((d.line, d.column), (Some(2), Some(12)), "{d}");

    let err = parse("s.toml", "name = \"unterminated\n").unwrap_err();
    assert_eq!(err.diagnostics[0].line, Some(1));
}

#[test]
fn inline_tables_and_dotted_keys_have_positions_too() {
    let text = r#"name = "x"
guest.vcpus = 0
platform = [{ name = "host", driver = "host", accel = "kvm" }]
workload = [{ name = "mem-bandwidth", size_mib = -1 }]
"#;
    expect_errors(
        text,
        &[
            (2, 15, "0", "`vcpus` must be from 1 to 64"),
            (3, 47, "accel", "`accel` applies only"),
            (4, 50, "-1", "bad value -1 for parameter `size_mib`"),
        ],
    );
}

#[test]
fn stop_early_keys() {
    let base = "name = \"x\"\nrepetitions = 20\n[[platform]]\nname = \"host\"\ndriver = \"host\"\n[[workload]]\nname = \"syscall\"\n";
    let plan = parse(
        "x.toml",
        &base.replace(
            "repetitions = 20\n",
            "repetitions = 20\ntarget_ci_pct = 2.5\nmin_repetitions = 4\n",
        ),
    )
    .unwrap();
    assert_eq!(
        plan.stop_early,
        Some(StopEarly {
            min_repetitions: 4,
            target_ci_pct: 2.5
        })
    );
    let plan = parse(
        "x.toml",
        &base.replace(
            "repetitions = 20\n",
            "repetitions = 20\ntarget_ci_pct = 5\n",
        ),
    )
    .unwrap();
    assert_eq!(
        plan.stop_early,
        Some(StopEarly {
            min_repetitions: 3,
            target_ci_pct: 5.0
        })
    );
    assert_eq!(parse("x.toml", base).unwrap().stop_early, None);
    expect_errors(
        &base.replace(
            "repetitions = 20\n",
            "repetitions = 20\ntarget_ci_pct = 0\n",
        ),
        &[(3, 17, "0", "`target_ci_pct` must be from 0.1 to 100")],
    );
    expect_errors(
        &base.replace(
            "repetitions = 20\n",
            "repetitions = 2\ntarget_ci_pct = 5\nmin_repetitions = 3\n",
        ),
        &[(4, 19, "3", "is more than `repetitions` (2)")],
    );
    expect_errors(
        &base.replace(
            "repetitions = 20\n",
            "repetitions = 20\nmin_repetitions = 3\n",
        ),
        &[(
            3,
            1,
            "min_repetitions",
            "`min_repetitions` needs `target_ci_pct`",
        )],
    );
}
