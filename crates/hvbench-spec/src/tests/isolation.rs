//! `[[isolation]]` scenarios: the round trip, cell names, scenarios without a battery,
//! errors with their positions, victim memory, and rendering.

use super::*;
use serde_json::json;

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
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), json!(*v)))
            .collect(),
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

/// `stress-ng` as a stressor: its `stressor` is a name from the stress-ng workload's list,
/// filled in when not given, and part of the cell label where it tells two apart.
#[test]
fn stress_ng_stressors_name_their_stressor() {
    let text = r#"name = "x"
[[platform]]
name = "host"
driver = "host"

[[isolation]]
name = "ibs"
victim = ["cpu-int"]
stressors = ["stress-ng", { kind = "stress-ng", stressor = "matrix", instances = 2 }]
placements = ["shared"]

[[platform]]
name = "kvm"
driver = "qemu"

[guest]
"#;
    let plan = parse("t.toml", text).unwrap();
    let s = &plan.isolation[0];
    let with = |pairs: &[(&str, serde_json::Value)]| StressorSpec {
        kind: "stress-ng".into(),
        params: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    };
    assert_eq!(
        s.stressors,
        [
            with(&[("stressor", json!("cpu"))]),
            with(&[("stressor", json!("matrix")), ("instances", json!(2))]),
        ]
    );
    let names: Vec<String> = s.cells().into_iter().map(|c| c.scenario).collect();
    assert_eq!(
        names,
        [
            "ibs/none",
            "ibs/stress-ng[instances=default,stressor=cpu]/shared",
            "ibs/stress-ng[instances=2,stressor=matrix]/shared",
        ]
    );
    assert_eq!(
        s.stressors[1].stress_plan(1000, 500).params,
        BTreeMap::from([
            ("stressor".to_string(), "matrix".to_string()),
            ("instances".to_string(), "2".to_string())
        ])
    );
    // It runs the stress-ng of the tools tree, which the plan says.
    assert_eq!(plan.tools(), ["stress-ng"]);
    let shown = plan.render();
    for expected in [
        "stressors:   stress-ng[instances=default,stressor=cpu]; stress-ng[instances=2,stressor=matrix]",
        "tools tree:        stress-ng from Debian 12's packages",
    ] {
        assert!(shown.contains(expected), "missing {expected:?} in:\n{shown}");
    }
    // Listed once, its parameters are shown beside the kind.
    let one = text.replace("[\"stress-ng\", ", "[");
    let shown = parse("t.toml", &one).unwrap().render();
    assert!(
        shown.contains("stressors:   stress-ng (instances=2 stressor=matrix)"),
        "{shown}"
    );

    // The default written out is the same stressor.
    let twice = text.replace("stressor = \"matrix\", instances = 2", "stressor = \"cpu\"");
    let d = expect_one(
        &twice,
        9,
        36,
        "\"stress-ng\"",
        "stressor `stress-ng` is listed twice",
    );
    assert!(d.hint.unwrap().contains("line 9"));
}

#[test]
fn stress_ng_stressor_errors_have_positions_and_hints() {
    let text = r#"name = "x"
[[platform]]
name = "host"
driver = "host"

[[isolation]]
name = "ibs"
victim = ["cpu-int"]
stressors = [{ kind = "stress-ng", stressor = "matrx" }, { kind = "stress-ng", stressor = 3 }, { kind = "stress-ng", stresor = "vm" }, { kind = "stress-ng", instances = 0 }, { kind = "stress-ng", stressor = "--all" }]
"#;
    let err = expect_errors(
        text,
        &[
            (
                9,
                47,
                "\"matrx\"",
                "bad value \"matrx\" for parameter `stressor` of stressor `stress-ng`",
            ),
            (
                9,
                91,
                "3",
                "bad value 3 for parameter `stressor` of stressor `stress-ng`",
            ),
            (
                9,
                118,
                "stresor",
                "unknown parameter `stresor` for stressor `stress-ng`",
            ),
            (
                9,
                170,
                "0",
                "bad value 0 for parameter `instances` of stressor `stress-ng`",
            ),
            (
                9,
                208,
                "\"--all\"",
                "bad value \"--all\" for parameter `stressor` of stressor `stress-ng`",
            ),
        ],
    );
    let hint = |i: usize| err.diagnostics[i].hint.clone().unwrap();
    let names = hvbench_proto::catalog::STRESS_NG_STRESSORS.join(", ");
    assert!(hint(0).contains("did you mean `matrix`?"), "{}", hint(0));
    assert!(hint(0).contains(&names), "{}", hint(0));
    assert!(hint(1).contains(&names), "{}", hint(1));
    assert!(hint(2).contains("did you mean `stressor`?"), "{}", hint(2));
    assert!(
        hint(2).contains("takes: instances, stressor"),
        "{}",
        hint(2)
    );
    assert!(hint(3).contains("from 1 to 4096"), "{}", hint(3));
}
