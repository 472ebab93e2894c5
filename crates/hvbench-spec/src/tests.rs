use super::*;
use serde_json::json;

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

#[test]
fn valid_file_round_trip() {
    let plan = parse("valid.toml", VALID).unwrap();
    assert_eq!(plan.name, "round-trip");
    assert_eq!(
        (
            plan.repetitions,
            plan.warmup,
            plan.samples,
            plan.min_window_ms
        ),
        (7, 2, 3, 150)
    );
    assert_eq!(plan.seed, Some(42));
    assert_eq!(
        plan.guest,
        GuestSpec {
            vcpus: 2,
            memory_mib: 1024,
            kernel: Some(PathBuf::from("/boot/vmlinuz")),
            timeout_s: 120,
        }
    );
    assert_eq!(
        plan.platforms,
        vec![
            PlatformSpec {
                name: "host".into(),
                driver: Driver::Host,
                lab: false,
            },
            PlatformSpec {
                name: "kvm".into(),
                driver: Driver::Qemu(QemuSpec {
                    accel: Accel::Kvm,
                    machine: "pc".into(),
                    cpu: Some("EPYC,+svm".into()),
                    disk_cache: DiskCache::None,
                    cpus: None,
                }),
                lab: false,
            },
            PlatformSpec {
                name: "tcg".into(),
                driver: Driver::Qemu(QemuSpec {
                    accel: Accel::Tcg,
                    machine: "q35".into(),
                    cpu: None,
                    disk_cache: DiskCache::None,
                    cpus: None,
                }),
                lab: false,
            },
        ]
    );
    let ids: Vec<&str> = plan.workloads.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "cpu-int",
            "mem-bandwidth[kernel=copy]",
            "mem-bandwidth[kernel=triad]"
        ]
    );
    assert_eq!(
        serde_json::to_value(&plan.workloads[0].params).unwrap(),
        json!({"threads": 1})
    );
    assert_eq!(
        serde_json::to_value(&plan.workloads[1].params).unwrap(),
        json!({"kernel": "copy", "size_mib": 64})
    );
    assert_eq!(plan.source, VALID);
    assert_eq!(plan.guest_boots(), 14);
    assert_eq!(plan.samples_per_platform(), 7 * 3 * 3);

    // JSON round trip, with the platform stored flat as in the spec file.
    let stored = serde_json::to_string(&plan).unwrap();
    let back: Plan = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, plan);
    let value = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        value["platforms"][1],
        json!({"name": "kvm", "driver": "qemu", "accel": "kvm", "machine": "pc", "cpu": "EPYC,+svm", "disk_cache": "none", "cpus": null, "lab": false})
    );
    assert_eq!(
        value["platforms"][0],
        json!({"name": "host", "driver": "host", "lab": false})
    );

    // The agent plan carries the workloads in order, with resolved parameters.
    let agent = plan.agent_plan();
    assert_eq!(agent.version, hvbench_proto::PLAN_VERSION);
    assert_eq!(
        (agent.warmup, agent.samples, agent.min_window_ms),
        (2, 3, 150)
    );
    let names: Vec<&str> = agent.workloads.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["cpu-int", "mem-bandwidth", "mem-bandwidth"]);
    assert_eq!(agent.workloads[2].params["kernel"], "triad");

    // Parsing the stored source again gives the same plan.
    assert_eq!(parse("valid.toml", &plan.source).unwrap(), plan);
}

#[test]
fn defaults_are_filled_in() {
    let text = r#"name = "d"
[[platform]]
name = "host"
driver = "host"
[[workload]]
name = "mem-bandwidth"
"#;
    let plan = parse("d.toml", text).unwrap();
    assert_eq!(
        (
            plan.repetitions,
            plan.warmup,
            plan.samples,
            plan.min_window_ms
        ),
        (5, 1, 1, 200)
    );
    assert_eq!(plan.seed, None);
    assert_eq!(plan.guest, GuestSpec::default());
    assert_eq!(plan.guest.timeout_s, 600);
    assert_eq!(plan.workloads[0].id, "mem-bandwidth");
    assert_eq!(plan.workloads[0].params["kernel"], "triad");
    // 0: sized by the agent, 4x the last-level cache it sees (STREAM's rule).
    assert_eq!(plan.workloads[0].params["size_mib"], 0);
    // A host-only experiment needs no [guest], and guest memory does not limit workloads.
    let big = text.replace(
        "name = \"mem-bandwidth\"\n",
        "name = \"mem-bandwidth\"\nsize_mib = 4096\n",
    );
    assert!(parse("d.toml", &big).is_ok());
    assert_eq!(plan.guest_boots(), 0);
}

#[test]
fn default_plan_validates() {
    let plan = Plan::default_plan();
    assert_eq!(plan.name, "default");
    assert_eq!((plan.repetitions, plan.warmup, plan.samples), (3, 1, 1));
    assert_eq!(
        plan.platforms,
        vec![
            PlatformSpec {
                name: "host".into(),
                driver: Driver::Host,
                lab: false,
            },
            PlatformSpec {
                name: "qemu".into(),
                driver: Driver::Qemu(QemuSpec::default()),
                lab: false,
            },
        ]
    );
    let names: Vec<&str> = plan.workloads.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, hvbench_proto::catalog::workload_names());
    assert_eq!(plan.source, DEFAULT_SPEC);
    assert_eq!(parse("again", &plan.source).unwrap(), plan);
    assert_eq!(plan.guest_boots(), 3);
}

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
fn unknown_workloads_and_bad_parameters() {
    let text = r#"name = "x"

[[platform]]
name = "host"
driver = "host"

[[workload]]
name = "sycall"

[[workload]]
name = "mem-bandwidth"
kernel = "daxpy"
size_mib = 70000
size = 3

[[workload]]
name = "syscall"
threads = 4

[[workload]]
size_mib = 3
"#;
    let err = expect_errors(
        text,
        &[
            (8, 8, "\"sycall\"", "unknown workload `sycall`"),
            (
                12,
                10,
                "\"daxpy\"",
                "bad value \"daxpy\" for parameter `kernel`",
            ),
            (13, 12, "70000", "bad value 70000 for parameter `size_mib`"),
            (
                14,
                1,
                "size",
                "unknown parameter `size` for workload `mem-bandwidth`",
            ),
            (
                18,
                1,
                "threads",
                "unknown parameter `threads` for workload `syscall`",
            ),
            (20, 1, "[[workload]]", "this [[workload]] has no `name`"),
        ],
    );
    let hint = |i: usize| err.diagnostics[i].hint.clone().unwrap();
    assert!(hint(0).contains("did you mean `syscall`?"));
    assert!(hint(1).contains("\"triad\""));
    assert!(hint(2).contains("from 0 to 65536"));
    assert!(hint(3).contains("did you mean `size_mib`?"));
    assert!(hint(4).contains("takes no parameters"));
}

#[test]
fn unknown_and_unsupported_drivers() {
    let text = r#"name = "x"
[guest]

[[platform]]
name = "xen-pv"
driver = "ssh"
type = "pv"

[[platform]]
name = "vbox"
driver = "virtualbox"

[[platform]]
name = "kvm"
driver = "kvm"

[[platform]]
name = "nodriver"

[[workload]]
name = "syscall"
"#;
    let err = expect_errors(
        text,
        &[
            (6, 10, "\"ssh\"", "the `ssh` driver is not yet supported"),
            (11, 10, "\"virtualbox\"", "unknown driver `virtualbox`"),
            (15, 10, "\"kvm\"", "unknown driver `kvm`"),
            (17, 1, "[[platform]]", "this [[platform]] has no `driver`"),
        ],
    );
    assert!(err.diagnostics[1]
        .hint
        .as_deref()
        .unwrap()
        .contains("host, qemu, xen"));
    assert!(err.diagnostics[2]
        .hint
        .as_deref()
        .unwrap()
        .contains("driver = \"qemu\" and accel = \"kvm\""));
}

#[test]
fn driver_specific_keys_on_the_wrong_driver() {
    let text = r#"name = "x"
[guest]

[[platform]]
name = "host"
driver = "host"
accel = "kvm"
cpu = "max"

[[platform]]
name = "qemu"
driver = "qemu"
accel = "hvf"
machine = "q 35"
cpu = ""

[[workload]]
name = "syscall"
"#;
    let err = expect_errors(
        text,
        &[
            (
                7,
                1,
                "accel",
                "`accel` applies only to driver = \"qemu\", not \"host\"",
            ),
            (8, 1, "cpu", "`cpu` applies only to driver = \"qemu\""),
            (
                13,
                9,
                "\"hvf\"",
                "`accel` must be one of \"auto\", \"kvm\", \"tcg\", got \"hvf\"",
            ),
            (14, 11, "\"q 35\"", "`machine` must be a QEMU machine type"),
            (15, 7, "\"\"", "`cpu` must be a QEMU CPU model"),
        ],
    );
    assert_eq!(
        err.diagnostics[0].hint.as_deref(),
        Some("remove it, or set driver = \"qemu\"")
    );
}

#[test]
fn duplicate_platform_names() {
    let text = r#"name = "x"
[guest]

[[platform]]
name = "a"
driver = "host"

[[platform]]
name = "a"
driver = "qemu"

[[workload]]
name = "syscall"
"#;
    let d = expect_one(text, 9, 8, "\"a\"", "duplicate platform name `a`");
    assert!(d.hint.unwrap().contains("line 5"));
}

#[test]
fn vm_platform_needs_a_guest_table() {
    let text = r#"name = "x"

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "qemu"
driver = "qemu"

[[workload]]
name = "syscall"
"#;
    let d = expect_one(
        text,
        9,
        10,
        "\"qemu\"",
        "platform `qemu` boots a guest, but the experiment has no [guest] table",
    );
    assert!(d
        .hint
        .unwrap()
        .contains("an empty [guest] takes the defaults"));
    // An empty [guest] is enough.
    let with_guest = text.replace("name = \"x\"\n", "name = \"x\"\n[guest]\n");
    assert!(parse("t.toml", &with_guest).is_ok());
}

#[test]
fn workload_memory_must_fit_the_guest() {
    let text = r#"name = "x"
[guest]
memory_mib = 256

[[platform]]
name = "qemu"
driver = "qemu"

[[workload]]
name = "mem-bandwidth"
size_mib = 64

[[workload]]
name = "mem-bandwidth"
kernel = "copy"
"#;
    let err = expect_errors(
        text,
        &[
            (11, 12, "64", "needs 192 MiB of guest memory plus 128 MiB"),
            (
                14,
                8,
                "\"mem-bandwidth\"",
                "more than the guest's memory_mib = 256",
            ),
        ],
    );
    assert_eq!(
        err.diagnostics[0].hint.as_deref(),
        Some("raise [guest] memory_mib to at least 320, or lower `size_mib`")
    );
    // Exactly enough is fine: 3 x 42 + 128 = 254 <= 256.
    let fits = text
        .replace("size_mib = 64", "size_mib = 42")
        .replace("kernel = \"copy\"", "kernel = \"copy\"\nsize_mib = 42");
    assert!(
        parse("t.toml", &fits).is_ok(),
        "{:?}",
        parse("t.toml", &fits)
    );
    // The memory check is skipped when memory_mib itself is wrong (one error, not two).
    let bad_memory = text.replace("memory_mib = 256", "memory_mib = 0");
    assert_eq!(parse("t.toml", &bad_memory).unwrap_err().len(), 1);
}

#[test]
fn identical_workloads_are_rejected_and_ids_are_unique() {
    let text = r#"name = "x"
[[platform]]
name = "host"
driver = "host"
[[workload]]
name = "syscall"
[[workload]]
name = "syscall"
"#;
    let d = expect_one(
        text,
        8,
        8,
        "\"syscall\"",
        "listed twice with the same parameters",
    );
    assert!(d.hint.unwrap().contains("line 6"));

    // Parameters written differently but resolving the same are duplicates too.
    let same = r#"name = "x"
[[platform]]
name = "host"
driver = "host"
[[workload]]
name = "mem-bandwidth"
[[workload]]
name = "mem-bandwidth"
kernel = "triad"
size_mib = 0
"#;
    expect_one(same, 8, 8, "\"mem-bandwidth\"", "listed twice");

    let three = r#"name = "x"
[[platform]]
name = "host"
driver = "host"
[[workload]]
name = "mem-bandwidth"
kernel = "copy"
[[workload]]
name = "syscall"
[[workload]]
name = "mem-bandwidth"
kernel = "copy"
size_mib = 32
[[workload]]
name = "mem-bandwidth"
kernel = "triad"
"#;
    let plan = parse("t.toml", three).unwrap();
    let ids: Vec<&str> = plan.workloads.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "mem-bandwidth[kernel=copy,size_mib=0]",
            "syscall",
            "mem-bandwidth[kernel=copy,size_mib=32]",
            "mem-bandwidth[kernel=triad,size_mib=0]",
        ]
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
fn workload_kernel_is_a_parameter_and_guest_kernel_a_path() {
    let text = r#"name = "k"
[guest]
kernel = "triad"
[[platform]]
name = "qemu"
driver = "qemu"
[[workload]]
name = "mem-bandwidth"
kernel = "copy"
"#;
    let plan = parse("k.toml", text).unwrap();
    assert_eq!(plan.guest.kernel, Some(PathBuf::from("triad")));
    assert_eq!(plan.workloads[0].params["kernel"], "copy");
}

#[test]
fn load_resolves_the_guest_kernel_relative_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("boot")).unwrap();
    std::fs::write(dir.path().join("boot/vmlinuz"), b"not really a kernel").unwrap();
    let spec = dir.path().join("exp.toml");
    let text = "name = \"k\"\n[guest]\nkernel = \"boot/vmlinuz\"\n[[platform]]\nname = \"q\"\ndriver = \"qemu\"\n[[workload]]\nname = \"syscall\"\n";
    std::fs::write(&spec, text).unwrap();
    let plan = load(&spec).unwrap();
    assert_eq!(plan.guest.kernel, Some(dir.path().join("boot/vmlinuz")));
    assert_eq!(plan.source, text);
    // `parse` leaves the path alone and reads nothing.
    assert_eq!(
        parse("exp.toml", text).unwrap().guest.kernel,
        Some(PathBuf::from("boot/vmlinuz"))
    );

    // A kernel that is not there is an error at its value, found with the other errors.
    std::fs::write(
        &spec,
        text.replace("boot/vmlinuz", "boot/missing")
            .replace("\"syscall\"", "\"sys\""),
    )
    .unwrap();
    let err = load(&spec).unwrap_err();
    assert_eq!(err.len(), 2);
    let d = &err.diagnostics[0];
    assert_eq!((d.line, d.column), (Some(3), Some(10)));
    assert!(d.message.contains("is not a file"), "{d}");
    assert_eq!(d.origin, spec.display().to_string());

    // I/O errors are SpecErrors without a position.
    let err = load(&dir.path().join("nope.toml")).unwrap_err();
    assert_eq!(err.len(), 1);
    assert_eq!(err.diagnostics[0].line, None);
    assert!(err
        .to_string()
        .contains("nope.toml: error: cannot read the experiment file"));
}

#[test]
fn render_shows_platforms_workloads_and_totals() {
    let plan = parse("valid.toml", VALID).unwrap();
    let text = plan.render();
    for expected in [
        "experiment `round-trip`",
        "rounds:  7",
        "seed 42",
        "2 warm-up (discarded) + 3 measured per workload per round, each at least 150 ms",
        "host  the agent as a plain process",
        "kvm   qemu, accel kvm, machine pc, cpu EPYC,+svm",
        "tcg   qemu, accel tcg, machine q35, cpu max",
        "guest (every VM platform): 2 vCPUs, 1024 MiB, kernel /boot/vmlinuz, timeout 120 s",
        "mem-bandwidth[kernel=copy]   MB/s, higher is better; kernel=copy size_mib=64",
        "agent runs:        21 (7 rounds x 3 platforms)",
        "guest boots:       14 (7 rounds x 2 VM platforms)",
        "windows per run:   15 (3 workloads x (2 warm-up + 3 measured))",
        "measured samples:  21 per workload per platform, 63 per platform, 189 in all",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn xen_platforms_and_the_lab() {
    let text = r#"name = "x"
[guest]

[[platform]]
name = "xen-pv"
driver = "xen"
type = "pv"
lab = true
cpus = "1"
weight = 512
cap = 50

[[platform]]
name = "kvm"
driver = "qemu"
accel = "kvm"
lab = true
cpus = "0,2-3"

[[workload]]
name = "syscall"
"#;
    let plan = parse("x.toml", text).unwrap();
    match &plan.platforms[1].driver {
        Driver::Qemu(q) => assert_eq!(q.cpus.as_deref(), Some("0,2-3")),
        d => panic!("{d:?}"),
    }
    assert_eq!(crate::parse_cpu_list("0,2-3"), Some(vec![0, 2, 3]));
    assert_eq!(crate::parse_cpu_list("3-1"), None);
    assert_eq!(crate::parse_cpu_list(""), None);
    assert_eq!(crate::parse_cpu_list("a"), None);
    assert_eq!(
        plan.platforms[0],
        PlatformSpec {
            name: "xen-pv".into(),
            driver: Driver::Xen(XenSpec {
                kind: XenGuestType::Pv,
                cpus: Some("1".into()),
                weight: Some(512),
                cap: Some(50),
            }),
            lab: true,
        }
    );
    assert!(plan.platforms[1].lab);
    let json = serde_json::to_string(&plan).unwrap();
    assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), plan);
    assert!(plan.render().contains("xen, type pv, vCPUs pinned to 1"));
}

#[test]
fn xen_key_errors() {
    let text = r#"name = "x"
[guest]

[[platform]]
name = "xen-pv"
driver = "xen"
type = "kvm"
accel = "tcg"
lab = "yes"

[[platform]]
name = "host"
driver = "host"
lab = true

[[platform]]
name = "q"
driver = "qemu"
weight = 3

[[workload]]
name = "syscall"
"#;
    expect_errors(
        text,
        &[
            (7, 8, "\"kvm\"", "`type` must be one of"),
            (
                8,
                1,
                "accel",
                "`accel` applies only to driver = \"qemu\", not \"xen\"",
            ),
            (9, 7, "\"yes\"", "`lab` must be true or false"),
            (14, 1, "lab", "applies only to guests"),
            (
                19,
                1,
                "weight",
                "`weight` applies only to driver = \"xen\", not \"qemu\"",
            ),
        ],
    );
}

#[test]
fn disk_cache_is_a_qemu_key() {
    let text = r#"name = "io"
[guest]

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "wb"
driver = "qemu"
disk_cache = "writeback"

[[platform]]
name = "default"
driver = "qemu"

[[workload]]
name = "disk-seq-read"
mode = "buffered"
size_mib = 32
"#;
    let plan = parse("io.toml", text).unwrap();
    let caches: Vec<Option<DiskCache>> = plan
        .platforms
        .iter()
        .map(|p| match &p.driver {
            Driver::Qemu(q) => Some(q.disk_cache),
            _ => None,
        })
        .collect();
    assert_eq!(
        caches,
        [None, Some(DiskCache::Writeback), Some(DiskCache::None)]
    );
    let value = serde_json::to_value(&plan).unwrap();
    assert_eq!(value["platforms"][1]["disk_cache"], "writeback");
    // A plan stored before the key existed still reads, with the default.
    let mut old = value.clone();
    old["platforms"][2]
        .as_object_mut()
        .unwrap()
        .remove("disk_cache");
    let back: Plan = serde_json::from_value(old).unwrap();
    assert_eq!(back, plan);
    // The plan shows the mode where a disk workload makes it matter.
    let rendered = plan.render();
    assert!(rendered.contains("disk cache writeback"), "{rendered}");
    assert!(rendered.contains("disk cache none"), "{rendered}");
    let without_disk = parse("valid.toml", VALID).unwrap().render();
    assert!(!without_disk.contains("disk cache"), "{without_disk}");
    for mode in ["none", "writeback", "writethrough", "directsync", "unsafe"] {
        assert_eq!(DiskCache::from_name(mode).unwrap().as_str(), mode);
    }
    assert!(DiskCache::None.uses_o_direct() && !DiskCache::Unsafe.uses_o_direct());
}

#[test]
fn disk_cache_errors() {
    let text = r#"name = "x"
[guest]

[[platform]]
name = "host"
driver = "host"
disk_cache = "none"

[[platform]]
name = "a"
driver = "qemu"
disk_cache = "writebak"

[[platform]]
name = "b"
driver = "qemu"
disk_cache = 1

[[workload]]
name = "syscall"
"#;
    let err = expect_errors(
        text,
        &[
            (
                7,
                1,
                "disk_cache",
                "`disk_cache` applies only to driver = \"qemu\"",
            ),
            (
                12,
                14,
                "\"writebak\"",
                "`disk_cache` must be one of \"none\", \"writeback\", \"writethrough\", \"directsync\", \"unsafe\"",
            ),
            (17, 14, "1", "`disk_cache`"),
        ],
    );
    assert!(err.diagnostics[1]
        .hint
        .as_deref()
        .unwrap()
        .contains("did you mean `writeback`?"));
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

const ISOLATION: &str = r#"name = "iso"
repetitions = 4
warmup = 1
samples = 2

[guest]
memory_mib = 1024

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "kvm"
driver = "qemu"
accel = "kvm"

[[workload]]
name = "syscall"

[[isolation]]
name = "noisy"
victim = ["cpu-int", { name = "mem-bandwidth", kernel = "triad" }]
stressors = ["cpu", "mem-bandwidth", { kind = "disk", size_mib = 64 }, "fork-bomb"]
aggressors = 2
placements = ["pinned-apart", "shared"]
aggressor_weight = 100
aggressor_cap_pct = 50
settle_ms = 500
platforms = ["kvm", "host"]

[[isolation]]
name = "disks"
victim = ["syscall"]
stressors = ["disk", { kind = "disk", size_mib = 64 }]
"#;

fn workload(id: &str, name: &str, params: serde_json::Value) -> WorkloadSpec {
    WorkloadSpec {
        id: id.into(),
        name: name.into(),
        params: serde_json::from_value(params).unwrap(),
    }
}

fn stressor(kind: &str, params: &[(&str, u64)]) -> StressorSpec {
    StressorSpec {
        kind: kind.into(),
        params: params.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

#[test]
fn isolation_round_trip() {
    let plan = parse("iso.toml", ISOLATION).unwrap();
    assert_eq!(plan.workloads.len(), 1);
    assert_eq!(
        plan.isolation,
        vec![
            IsolationSpec {
                name: "noisy".into(),
                victim: vec![
                    workload("cpu-int", "cpu-int", json!({ "threads": 1 })),
                    workload(
                        "mem-bandwidth",
                        "mem-bandwidth",
                        json!({ "kernel": "triad", "size_mib": 0 })
                    ),
                ],
                stressors: vec![
                    stressor("cpu", &[]),
                    stressor("mem-bandwidth", &[]),
                    stressor("disk", &[("size_mib", 64)]),
                    stressor("fork-bomb", &[]),
                ],
                aggressors: 2,
                placements: vec![Placement::PinnedApart, Placement::Shared],
                aggressor_weight: Some(100),
                aggressor_cap_pct: Some(50),
                settle_ms: 500,
                // In experiment order, whatever the order written.
                platforms: vec!["host".into(), "kvm".into()],
            },
            IsolationSpec {
                name: "disks".into(),
                victim: vec![workload("syscall", "syscall", json!({}))],
                stressors: vec![stressor("disk", &[]), stressor("disk", &[("size_mib", 64)])],
                aggressors: 1,
                placements: vec![Placement::Shared, Placement::PinnedApart],
                aggressor_weight: None,
                aggressor_cap_pct: None,
                settle_ms: 2000,
                platforms: vec!["host".into(), "kvm".into()],
            },
        ]
    );
    // Stored as JSON with the run, and read back.
    let json = serde_json::to_string(&plan).unwrap();
    assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), plan);

    // Battery: 4 rounds x 1 VM platform. noisy on kvm: 9 cells + 2 aggressors x 8 stress
    // cells = 25 a round; disks on kvm: 5 cells + 1 x 4 = 9 a round.
    assert_eq!(plan.isolation[0].guest_boots(&plan), 100);
    assert_eq!(plan.isolation[1].guest_boots(&plan), 36);
    assert_eq!(plan.guest_boots(), 4 + 100 + 36);
    assert_eq!(plan.samples_per_platform(), 4 * 2);
    // 4 rounds x 9 cells x 2 victim workloads x 2 samples.
    assert_eq!(plan.isolation[0].samples_per_platform(&plan), 144);

    let victim = plan.isolation[0].victim_plan(&plan);
    assert_eq!(
        (
            victim.version,
            victim.warmup,
            victim.samples,
            victim.min_window_ms
        ),
        (hvbench_proto::PLAN_VERSION, 1, 2, 200)
    );
    let ids: Vec<&str> = victim.workloads.iter().map(|w| w.label()).collect();
    assert_eq!(ids, ["cpu-int", "mem-bandwidth"]);
    assert_eq!(victim.workloads[1].params["kernel"], "triad");
    assert_eq!((victim.peer, victim.stress), (None, None));

    let stress = plan.isolation[0].stressors[2].stress_plan(30_000, 250);
    assert_eq!(
        stress,
        hvbench_proto::StressPlan {
            kind: "disk".into(),
            params: BTreeMap::from([("size_mib".to_string(), "64".to_string())]),
            duration_ms: 30_000,
            report_ms: 250,
        }
    );
}

#[test]
fn isolation_cells_are_named_after_scenario_stressor_and_placement() {
    let plan = parse("iso.toml", ISOLATION).unwrap();
    let names =
        |s: &IsolationSpec| -> Vec<String> { s.cells().into_iter().map(|c| c.scenario).collect() };
    assert_eq!(
        names(&plan.isolation[0]),
        [
            "noisy/none",
            "noisy/cpu/pinned-apart",
            "noisy/cpu/shared",
            "noisy/mem-bandwidth/pinned-apart",
            "noisy/mem-bandwidth/shared",
            "noisy/disk/pinned-apart",
            "noisy/disk/shared",
            "noisy/fork-bomb/pinned-apart",
            "noisy/fork-bomb/shared",
        ]
    );
    // The same kind twice: labelled by the parameters that differ.
    assert_eq!(
        names(&plan.isolation[1]),
        [
            "disks/none",
            "disks/disk[size_mib=default]/shared",
            "disks/disk[size_mib=default]/pinned-apart",
            "disks/disk[size_mib=64]/shared",
            "disks/disk[size_mib=64]/pinned-apart",
        ]
    );
    let cells = plan.isolation[1].cells();
    assert_eq!((&cells[0].stressor, cells[0].placement), (&None, None));
    assert_eq!(
        (&cells[4].stressor, cells[4].placement),
        (
            &Some(stressor("disk", &[("size_mib", 64)])),
            Some(Placement::PinnedApart)
        )
    );

    // Only the differing parameters name a cell; none differing (a hand-made spec): `#n`.
    let mut s = plan.isolation[1].clone();
    s.stressors = vec![
        stressor("mem-bandwidth", &[("size_mib", 8)]),
        stressor("cache", &[("size_mib", 8)]),
        stressor("mem-bandwidth", &[("size_mib", 16)]),
    ];
    s.placements = vec![Placement::Shared];
    assert_eq!(
        names(&s),
        [
            "disks/none",
            "disks/mem-bandwidth[size_mib=8]/shared",
            "disks/cache/shared",
            "disks/mem-bandwidth[size_mib=16]/shared",
        ]
    );
    s.stressors = vec![stressor("cpu", &[]), stressor("cpu", &[])];
    assert_eq!(
        names(&s),
        ["disks/none", "disks/cpu#1/shared", "disks/cpu#2/shared"]
    );
}

#[test]
fn isolation_alone_makes_an_experiment() {
    let text = r#"name = "iso-only"
[[platform]]
name = "host"
driver = "host"
[[isolation]]
name = "cpu"
victim = ["cpu-int"]
stressors = ["cpu"]
"#;
    let plan = parse("t.toml", text).unwrap();
    assert!(plan.workloads.is_empty());
    assert_eq!(plan.isolation[0].platforms, ["host"]);
    assert_eq!(plan.isolation[0].aggressors, 1);
    assert_eq!(plan.guest_boots(), 0);
    assert_eq!(plan.samples_per_platform(), 0);
    assert!(plan.agent_plan().workloads.is_empty());
    let shown = plan.render();
    assert!(shown.contains("workloads: none"), "{shown}");
    assert!(!shown.contains("agent runs:"), "{shown}");

    // An empty `isolation` does not count; the hint names both.
    let none = "name = \"x\"\nisolation = []\n[[platform]]\nname = \"host\"\ndriver = \"host\"\n";
    let d = expect_one(none, 1, 1, "name", "no workloads");
    assert!(d
        .hint
        .unwrap()
        .contains("an [[isolation]] scenario also counts"));
    // Nor does an empty [[workload]] list need one when a scenario is there.
    let empty_battery = text.replace("name = \"iso-only\"", "name = \"iso-only\"\nworkload = []");
    assert!(parse("t.toml", &empty_battery)
        .unwrap()
        .workloads
        .is_empty());
}

#[test]
fn isolation_errors_have_positions() {
    let text = r#"name = "x"
[[platform]]
name = "host"
driver = "host"

[[isolation]]
name = "noisy"
victim = ["cpu-int", "sycall"]
stressors = ["cpu", "dsk", { kind = "disk", size = 3 }, { kind = "cache", size_mib = 0 }]
aggressors = 9
aggressor_weight = 0
aggressor_cap_pct = 6401
settle_ms = 600001
placements = ["shared", "shared", "apart"]
platforms = ["host", "kvm"]
colour = "red"

[[isolation]]
name = "noisy"
victim = []
stressors = ["cpu", "cpu"]
"#;
    let err = expect_errors(
        text,
        &[
            (8, 22, "\"sycall\"", "unknown workload `sycall`"),
            (9, 21, "\"dsk\"", "unknown stressor `dsk`"),
            (
                9,
                45,
                "size",
                "unknown parameter `size` for stressor `disk`",
            ),
            (
                9,
                86,
                "0",
                "bad value 0 for parameter `size_mib` of stressor `cache`",
            ),
            (10, 14, "9", "`aggressors` must be from 1 to 8, got 9"),
            (
                11,
                20,
                "0",
                "`aggressor_weight` must be from 1 to 10000, got 0",
            ),
            (
                12,
                21,
                "6401",
                "`aggressor_cap_pct` must be from 1 to 6400, got 6401",
            ),
            (13, 13, "600001", "`settle_ms` must be from 0 to 600000"),
            (14, 25, "\"shared\"", "placement `shared` is listed twice"),
            (14, 35, "\"apart\"", "unknown placement `apart`"),
            (15, 22, "\"kvm\"", "unknown platform `kvm`"),
            (16, 1, "colour", "unknown key `colour` in [[isolation]]"),
            (19, 8, "\"noisy\"", "duplicate scenario name `noisy`"),
            (20, 10, "[]", "`victim` is empty"),
            (21, 21, "\"cpu\"", "stressor `cpu` is listed twice"),
        ],
    );
    let hint = |i: usize| err.diagnostics[i].hint.clone().unwrap();
    assert!(hint(0).contains("did you mean `syscall`?"), "{}", hint(0));
    let kinds: Vec<&str> = hvbench_proto::catalog::STRESSORS
        .iter()
        .map(|s| s.kind)
        .collect();
    assert!(hint(1).contains("did you mean `disk`?"), "{}", hint(1));
    assert!(hint(1).contains(&kinds.join(", ")), "{}", hint(1));
    assert!(hint(2).contains("did you mean `size_mib`?"), "{}", hint(2));
    assert!(hint(3).contains("from 1 to 1048576"), "{}", hint(3));
    assert!(hint(4).contains("at most 8"), "{}", hint(4));
    assert!(hint(10).contains("platforms are: host"), "{}", hint(10));
    assert!(
        hint(11).contains("[[isolation]] takes: name, victim"),
        "{}",
        hint(11)
    );
    assert!(hint(12).contains("line 7"), "{}", hint(12));
    assert!(hint(14).contains("line 21"), "{}", hint(14));
}

#[test]
fn isolation_shape_errors() {
    let text = r#"name = "x"
[[platform]]
name = "host"
driver = "host"

[[isolation]]
aggressors = "2"

[[isolation]]
name = "Noisy Neighbour"
victim = "cpu-int"
stressors = [{ size_mib = 3 }, 7, { kind = "cpu", streams = 2 }, { kind = "net", streams = "4" }]
placements = []
platforms = ["host", "host"]

[[isolation]]
name = "v"
victim = [{ name = "mem-bandwidth", kernel = "daxpy" }, { kernel = "copy" }, 3]
stressors = ["cpu"]
"#;
    let err = expect_errors(
        text,
        &[
            (6, 1, "[[isolation]]", "this [[isolation]] has no `name`"),
            (6, 1, "[[isolation]]", "this [[isolation]] has no `victim`"),
            (
                6,
                1,
                "[[isolation]]",
                "this [[isolation]] has no `stressors`",
            ),
            (7, 14, "\"2\"", "`aggressors` must be an integer"),
            (10, 8, "\"Noisy", "a scenario `name` must be 1 to 32"),
            (11, 10, "\"cpu-int\"", "`victim` must be an array"),
            (12, 14, "{", "this stressor table has no `kind`"),
            (
                12,
                32,
                "7",
                "each entry of `stressors` must be a stressor kind",
            ),
            (
                12,
                51,
                "streams",
                "unknown parameter `streams` for stressor `cpu`",
            ),
            (
                12,
                92,
                "\"4\"",
                "bad value \"4\" for parameter `streams` of stressor `net`",
            ),
            (13, 14, "[]", "`placements` is empty"),
            (14, 22, "\"host\"", "platform `host` is listed twice"),
            (
                18,
                46,
                "\"daxpy\"",
                "bad value \"daxpy\" for parameter `kernel` of workload `mem-bandwidth`",
            ),
            (18, 57, "{", "this victim table has no `name`"),
            (
                18,
                78,
                "3",
                "each entry of `victim` must be a workload name",
            ),
        ],
    );
    let hint = |i: usize| err.diagnostics[i].hint.clone().unwrap();
    assert!(hint(3).contains("remove the quotes: aggressors = 2"));
    assert!(
        hint(4).contains("try name = \"noisy-neighbour\""),
        "{}",
        hint(4)
    );
    assert!(hint(5).contains("victim = [\"cpu-int\"]"), "{}", hint(5));
    assert!(hint(8).contains("takes no parameters"), "{}", hint(8));
    assert!(
        hint(9).contains("remove the quotes: streams = 4"),
        "{}",
        hint(9)
    );
}

#[test]
fn victim_memory_must_fit_the_guest_where_the_scenario_runs_in_one() {
    let text = r#"name = "x"
[guest]
memory_mib = 256

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "qemu"
driver = "qemu"

[[isolation]]
name = "mem"
victim = ["syscall", { name = "mem-bandwidth", size_mib = 64 }]
stressors = [{ kind = "memory-bomb", max_mib = 100000 }]
"#;
    let d = expect_one(
        text,
        15,
        59,
        "64",
        "workload `mem-bandwidth` needs 192 MiB of guest memory plus 128 MiB",
    );
    assert!(d.hint.unwrap().contains("at least 320"));
    // On the host alone there is no guest to fit in; a memory bomb never needs a check.
    let host_only = text.replace("stressors =", "platforms = [\"host\"]\nstressors =");
    assert!(parse("t.toml", &host_only).is_ok());
    // A victim listing the same workload twice is rejected as the battery is.
    let twice = text.replace(
        "victim = [\"syscall\",",
        "victim = [\"syscall\", \"syscall\",",
    );
    expect_errors(
        &twice,
        &[
            (
                15,
                22,
                "\"syscall\"",
                "listed twice with the same parameters",
            ),
            (15, 70, "64", "needs 192 MiB"),
        ],
    );
}

#[test]
fn render_shows_isolation_scenarios() {
    let plan = parse("iso.toml", ISOLATION).unwrap();
    let text = plan.render();
    for expected in [
        "isolation scenario `noisy` on host, kvm:",
        "victim:      cpu-int (threads=1); mem-bandwidth (kernel=triad size_mib=0)",
        "stressors:   cpu; mem-bandwidth; disk (size_mib=64); fork-bomb",
        "placements:  pinned-apart, shared",
        "aggressors:  2 aggressors per stress cell, CPU weight 100, capped at 50% of one CPU; the victim starts 500 ms after every aggressor reported",
        "cells per round: 9 on each platform (1 baseline + 4 stressors x 2 placements):",
        "noisy/none ",
        "noisy/fork-bomb/shared            beside 2 fork-bomb aggressors, on the same CPUs",
        "stressors:   disk[size_mib=default]; disk[size_mib=64]",
        "disks/disk[size_mib=64]/pinned-apart       beside 1 disk aggressor, on CPUs apart",
        "agent runs:        8 (4 rounds x 2 platforms)",
        "isolation runs:    112 victim + 160 aggressor agent runs",
        "guest boots:       140 (4 for the battery, 136 for the isolation cells)",
        "victim samples:    8 per victim workload per cell per platform, 144 per platform for `noisy`",
        "disk cache none",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}
