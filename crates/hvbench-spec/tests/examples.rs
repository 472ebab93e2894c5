//! Every experiment file under `examples/` must stay valid.

use std::path::Path;

#[test]
fn every_example_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/ exists") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let plan = hvbench_spec::load(&path).unwrap_or_else(|e| panic!("{e}"));
        // Stored as JSON with a run, and read back.
        let json = serde_json::to_string(&plan).unwrap();
        assert_eq!(
            serde_json::from_str::<hvbench_spec::Plan>(&json).unwrap(),
            plan
        );
        assert!(!plan.render().is_empty());
        seen += 1;
    }
    assert!(seen >= 1, "no example in {}", dir.display());
}

#[test]
fn quick_example_is_what_it_says() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quick.toml");
    let plan = hvbench_spec::load(&path).unwrap();
    assert_eq!(plan.name, "quick");
    assert_eq!((plan.repetitions, plan.warmup, plan.samples), (4, 1, 2));
    assert_eq!(
        (
            plan.guest.vcpus,
            plan.guest.memory_mib,
            plan.guest.timeout_s
        ),
        (1, 512, 600)
    );
    let platforms: Vec<(&str, &str)> = plan
        .platforms
        .iter()
        .map(|p| (p.name.as_str(), p.driver.as_str()))
        .collect();
    assert_eq!(platforms, [("host", "host"), ("qemu", "qemu")]);
    match &plan.platforms[1].driver {
        hvbench_spec::Driver::Qemu(q) => assert_eq!(q.accel, hvbench_spec::Accel::Auto),
        other => panic!("{other:?}"),
    }
    let ids: Vec<&str> = plan.workloads.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(ids, ["cpu-int", "syscall", "mem-bandwidth"]);
    assert_eq!(plan.workloads[2].params["size_mib"], 32);
}
