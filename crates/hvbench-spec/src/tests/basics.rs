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
    assert_eq!(names, hvbench_proto::catalog::workload_names());
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
        "windows per run:   15 (3 workloads x (2 warm-up + 3 measured))",
        "measured samples:  21 per workload per platform, 63 per platform, 189 in all",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}
