//! `[[workload]]` tables: unknown workloads and parameters, guest memory, duplicates and
//! ids, and `kernel` as a workload parameter.

use super::*;

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
fn general_benchmarks_are_checked_like_any_workload_and_must_fit_the_trial_time() {
    let text = r#"name = "x"
samples = 10
warmup = 2

[guest]
timeout_s = 60

[[platform]]
name = "host"
driver = "host"

[[workload]]
name = "sysbench-cpu"
time_s = 6

[[workload]]
name = "stress-ng"
stressor = "nope"
"#;
    let err = expect_errors(
        text,
        &[
            (14, 10, "6", "the general benchmarks run for 72 s per trial"),
            (
                18,
                12,
                "\"nope\"",
                "bad value \"nope\" for parameter `stressor`",
            ),
        ],
    );
    assert!(err.diagnostics[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("timeout_s above 168"));
    // Within the limit (12 windows of 5 s and 12 of stress-ng's default 2 s: 84 s), a plan.
    let ok = text
        .replace("timeout_s = 60", "timeout_s = 84")
        .replace("time_s = 6", "time_s = 5")
        .replace("stressor = \"nope\"", "stressor = \"cpu\"");
    let plan = parse("ok", &ok).unwrap();
    assert_eq!(plan.workloads[0].params["time_s"], 5);
}
