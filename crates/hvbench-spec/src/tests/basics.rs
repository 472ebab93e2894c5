//! A valid experiment end to end: the round trip to a [`Plan`], defaults, the default spec,
//! loading from a file (kernel paths) and rendering.

use super::*;
use serde_json::json;

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
                host: None,
                boot: None,
            },
            PlatformSpec {
                name: "kvm".into(),
                driver: Driver::Qemu(QemuSpec {
                    accel: Accel::Kvm,
                    machine: "pc".into(),
                    cpu: Some("EPYC,+svm".into()),
                    disk_cache: DiskCache::None,
                    net: NetMode::Auto,
                    cpus: None,
                }),
                lab: false,
                host: None,
                boot: None,
            },
            PlatformSpec {
                name: "tcg".into(),
                driver: Driver::Qemu(QemuSpec {
                    accel: Accel::Tcg,
                    machine: "q35".into(),
                    cpu: None,
                    disk_cache: DiskCache::None,
                    net: NetMode::Auto,
                    cpus: None,
                }),
                lab: false,
                host: None,
                boot: None,
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
        json!({"name": "kvm", "driver": "qemu", "accel": "kvm", "machine": "pc", "cpu": "EPYC,+svm", "disk_cache": "none", "net": "auto", "cpus": null, "lab": false})
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
                host: None,
                boot: None,
            },
            PlatformSpec {
                name: "qemu".into(),
                driver: Driver::Qemu(QemuSpec::default()),
                lab: false,
                host: None,
                boot: None,
            },
        ]
    );
    let names: Vec<&str> = plan.workloads.iter().map(|w| w.name.as_str()).collect();
    // Every workload of the catalog but the general benchmarks, which need the tools tree
    // (Debian's packages, fetched once): an experiment asks for them by name.
    let battery: Vec<&str> = hvbench_proto::catalog::WORKLOADS
        .iter()
        .filter(|w| w.class != hvbench_proto::WorkloadClass::General)
        .map(|w| w.name)
        .collect();
    assert_eq!(names, battery);
    assert_eq!(plan.source, DEFAULT_SPEC);
    assert_eq!(parse("again", &plan.source).unwrap(), plan);
    assert_eq!(plan.guest_boots(), 3);
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
        "windows per run:   18 (3 workloads x (2 warm-up + 3 measured) + 3 counted for evidence)",
        "measured samples:  21 per workload per platform, 63 per platform, 189 in all",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn evidence_is_on_unless_turned_off() {
    let text = "name = \"e\"\n[[platform]]\nname = \"host\"\ndriver = \"host\"\n\
                [[workload]]\nname = \"syscall\"\n";
    let plan = parse("e.toml", text).unwrap();
    assert!(plan.evidence && plan.agent_plan().evidence);
    assert!(
        plan.render().contains("  evidence: on ("),
        "{}",
        plan.render()
    );
    assert!(Plan::default_plan().evidence);
    let off = parse(
        "e.toml",
        &text.replace("name = \"e\"\n", "name = \"e\"\nevidence = false\n"),
    )
    .unwrap();
    assert!(!off.evidence && !off.agent_plan().evidence);
    assert!(
        off.render().contains("  evidence: off ("),
        "{}",
        off.render()
    );
    // The counted windows count in the totals, one per metric and run.
    assert!(plan.render().contains(
        "windows per run:   3 (1 workload x (1 warm-up + 1 measured) + 1 counted for evidence)"
    ));
    assert!(off
        .render()
        .contains("windows per run:   2 (1 workload x (1 warm-up + 1 measured))\n"));
    // A plan stored before evidence existed collected none.
    let mut value = serde_json::to_value(&plan).unwrap();
    value.as_object_mut().unwrap().remove("evidence");
    assert!(!serde_json::from_value::<Plan>(value).unwrap().evidence);
    // A wrong type is reported with a hint that says what the default is.
    let bad = text.replace("name = \"e\"\n", "name = \"e\"\nevidence = \"yes\"\n");
    let d = expect_one(&bad, 2, 12, "\"yes\"", "`evidence` must be true or false");
    assert!(d.hint.unwrap().contains("evidence = false turns it off"));
}

#[test]
fn the_battery_counts_its_comparisons() {
    // VALID: host, kvm, tcg; 3 workloads: two compared platforms x 3 metrics.
    let plan = parse("valid.toml", VALID).unwrap();
    assert_eq!(plan.baseline().map(|p| p.name.as_str()), Some("host"));
    let compared: Vec<&str> = plan
        .compared_platforms()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(compared, ["kvm", "tcg"]);
    assert_eq!((plan.battery_metrics(), plan.battery_comparisons()), (3, 6));
    // mem-latency reports one metric per size: 16 KiB doubling up to max_size_mib.
    let text = VALID.replace(
        "[[workload]]\nname = \"cpu-int\"\n",
        "[[workload]]\nname = \"mem-latency\"\nmax_size_mib = 1\n",
    );
    let plan = parse("valid.toml", &text).unwrap();
    // 16, 32, 64, 128, 256, 512 KiB and 1 MiB, then the two mem-bandwidth entries.
    assert_eq!(plan.battery_metrics(), 9);
    let default_latency = VALID.replace(
        "[[workload]]\nname = \"cpu-int\"\n",
        "[[workload]]\nname = \"mem-latency\"\n",
    );
    // 16 KiB .. 256 MiB: 15 sizes.
    assert_eq!(
        parse("v.toml", &default_latency).unwrap().battery_metrics(),
        17
    );
    // Each machine's own host platform is its baseline and is not compared.
    let text = "name = \"h\"\n[guest]\n[[host]]\nname = \"box\"\nssh = \"root@192.0.2.1\"\n\
                [[platform]]\nname = \"kvm\"\ndriver = \"qemu\"\n\
                [[platform]]\nname = \"host\"\ndriver = \"host\"\n\
                [[platform]]\nname = \"box-bare\"\ndriver = \"host\"\nhost = \"box\"\n\
                [[platform]]\nname = \"box-xen\"\ndriver = \"xen\"\nhost = \"box\"\n\
                [[workload]]\nname = \"syscall\"\n";
    let plan = parse("h.toml", text).unwrap();
    let bases: Vec<Option<&str>> = plan
        .platforms
        .iter()
        .map(|p| plan.baseline_of(p).map(|b| b.name.as_str()))
        .collect();
    assert_eq!(bases, [Some("host"), None, None, Some("box-bare")]);
    assert_eq!(plan.battery_comparisons(), 2);
    // Without a host platform the first platform is the baseline.
    let text = "name = \"q\"\n[guest]\n[[platform]]\nname = \"a\"\ndriver = \"qemu\"\n\
                [[platform]]\nname = \"b\"\ndriver = \"qemu\"\n[[workload]]\nname = \"syscall\"\n";
    let plan = parse("q.toml", text).unwrap();
    assert_eq!(plan.baseline().map(|p| p.name.as_str()), Some("a"));
    assert_eq!(plan.battery_comparisons(), 1);
}
