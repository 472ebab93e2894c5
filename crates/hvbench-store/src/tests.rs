//! Unit tests of the store: a run round-trips, samples survive a crash, an empty or too-new
//! database says so.

use super::*;

fn sample(index: u32, value: f64) -> NewSample<'static> {
    NewSample {
        workload: "syscall",
        metric: "latency",
        unit: "ns",
        better: "lower",
        warmup: index == 0,
        index,
        value,
        iterations: 10,
        elapsed_ns: 1000,
        at_ms: None,
    }
}

#[test]
fn a_run_round_trips() {
    let s = Store::open_in_memory().unwrap();
    let run = s
        .create_run("quick", "0.1.0", "name = \"quick\"", "{}")
        .unwrap();
    let host = s.platform(run, "host", "host").unwrap();
    assert_eq!(
        s.platform(run, "host", "host").unwrap(),
        host,
        "platform() is idempotent"
    );
    s.set_facts(host, [("kernel.release", "6.1"), ("accel", "none")])
        .unwrap();
    s.set_facts(host, [("accel", "tcg")]).unwrap();
    let t = s.start_trial(host, 0, "host", "baseline").unwrap();
    s.insert_sample(t, &sample(0, 100.0)).unwrap();
    s.insert_sample(t, &sample(1, 101.5)).unwrap();
    s.insert_sample(t, &sample(1, 999.0)).unwrap(); // replay: ignored
    s.record_workload_failure(t, "cpu-int", "boom").unwrap();
    s.finish_trial(t, None).unwrap();
    let t2 = s.start_trial(host, 1, "host", "baseline").unwrap();
    s.finish_trial(t2, Some("timed out after 5 s")).unwrap();
    s.finish_run(run, RunStatus::Complete).unwrap();

    let r = s.resolve_run(None).unwrap();
    assert_eq!(
        (r.id, r.status, r.name.as_str()),
        (run, RunStatus::Complete, "quick")
    );
    assert_eq!(s.resolve_run(Some("quick")).unwrap().id, run);
    assert_eq!(s.resolve_run(Some(&run.to_string())).unwrap().id, run);
    assert!(matches!(
        s.resolve_run(Some("nope")),
        Err(StoreError::NoSuchRun(_))
    ));

    let p = s.platforms(run).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].facts["accel"], "tcg");
    assert_eq!(p[0].facts["kernel.release"], "6.1");

    let samples = s.samples(run).unwrap();
    assert_eq!(samples.len(), 2);
    assert!(samples[0].warmup && !samples[1].warmup);
    assert_eq!(samples[1].value, 101.5);

    let f = s.failures(run).unwrap();
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].workload.as_deref(), Some("cpu-int"));
    assert_eq!(f[1].reason, "timed out after 5 s");
    let trials = s.trials(run).unwrap();
    assert_eq!(
        trials.iter().map(|t| t.status.as_str()).collect::<Vec<_>>(),
        ["ok", "failed"]
    );
}

/// A tool's raw output is kept per run of the tool, in arrival order, with its trial's
/// platform, round and guest, and only for its own run.
#[test]
fn tool_outputs_are_kept_with_their_trial() {
    let s = Store::open_in_memory().unwrap();
    let other = s.create_run("other", "0", "", "{}").unwrap();
    let p0 = s.platform(other, "host", "host").unwrap();
    let t0 = s.start_trial(p0, 0, "host", "baseline").unwrap();
    s.insert_tool_output(t0, "fio", "0", "not this run")
        .unwrap();

    let run = s.create_run("r", "0", "", "{}").unwrap();
    let kvm = s.platform(run, "kvm", "qemu").unwrap();
    let t = s.start_trial(kvm, 2, "guest", "baseline").unwrap();
    let fio = "`fio --output-format=json` exit Some(0)\n--- stdout\n{\n  \"jobs\": []\n}\n";
    s.insert_tool_output(t, "fio", "setup", "fill").unwrap();
    s.insert_tool_output(t, "fio", "0", fio).unwrap();
    s.insert_tool_output(t, "iperf3", "0 reverse", "x").unwrap();
    let rows = s.tool_outputs(run).unwrap();
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|o| (o.workload.as_str(), o.window.as_str(), o.output.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("fio", "setup", "fill"),
            ("fio", "0", fio),
            ("iperf3", "0 reverse", "x")
        ]
    );
    assert!(rows
        .iter()
        .all(|o| o.platform == "kvm" && o.round == 2 && o.guest == "guest" && o.trial == t));
}

#[test]
fn empty_store_says_so() {
    let s = Store::open_in_memory().unwrap();
    assert!(matches!(s.resolve_run(None), Err(StoreError::Empty)));
}

#[test]
fn samples_survive_reopen_without_finish() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    {
        let s = Store::open(&path).unwrap();
        let run = s.create_run("r", "0", "", "{}").unwrap();
        let p = s.platform(run, "qemu", "qemu").unwrap();
        let t = s.start_trial(p, 0, "guest0", "baseline").unwrap();
        s.insert_sample(t, &sample(1, 5.0)).unwrap();
        // dropped without finishing: as if hvbench had been killed
    }
    let s = Store::open(&path).unwrap();
    let r = s.resolve_run(None).unwrap();
    assert_eq!(r.status, RunStatus::Running);
    assert_eq!(s.samples(r.id).unwrap().len(), 1);
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    Store::open(&path).unwrap();
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 999)
        .unwrap();
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::TooNew { found: 999, .. })
    ));
}

#[test]
fn counters_round_trip_keyed_as_their_window() {
    let s = Store::open_in_memory().unwrap();
    let run = s.create_run("ev", "0", "", "{}").unwrap();
    let kvm = s.platform(run, "kvm", "qemu").unwrap();
    let t = s.start_trial(kvm, 0, "guest0", "baseline").unwrap();
    let mut values = std::collections::BTreeMap::new();
    values.insert("exits".to_string(), 1200.0);
    values.insert("io_exits".to_string(), 30.0);
    values.insert("nan".to_string(), f64::NAN);
    let c = NewCounters {
        workload: "syscall",
        metric: "latency",
        index: 1,
        source: "kvm.stats",
        span_ns: 250_000_000,
        values: &values,
    };
    s.insert_counters(t, &c).unwrap();
    let mut replay = values.clone();
    replay.insert("exits".to_string(), 9.0);
    s.insert_counters(
        t,
        &NewCounters {
            values: &replay,
            ..c
        },
    )
    .unwrap(); // replay: ignored
    let rows = s.counters(run).unwrap();
    assert_eq!(
        rows.len(),
        2,
        "the non-finite value is not stored: {rows:?}"
    );
    let exits = rows.iter().find(|r| r.key == "exits").unwrap();
    assert_eq!(
        (
            exits.platform.as_str(),
            exits.guest.as_str(),
            exits.round,
            exits.index
        ),
        ("kvm", "guest0", 0, 1)
    );
    assert_eq!((exits.value, exits.span_ns), (1200.0, 250_000_000));
    assert_eq!(exits.source, "kvm.stats");
}

fn boot(entry: &str, reboot: bool, seconds: f64, ok: bool, detail: &str) -> BootRow {
    BootRow {
        host: "dual".into(),
        entry: entry.into(),
        at_ms: 1_700_000_000_000 + (seconds * 1000.0) as i64,
        reboot,
        seconds,
        boot_id: format!("{entry}-0123456789abcdef"),
        kernel: "6.1.0-18-amd64".into(),
        hypervisor: if entry == "xen" { "xen dom0" } else { "kvm" }.into(),
        ok,
        detail: detail.into(),
    }
}

#[test]
fn boots_round_trip_in_order_per_run() {
    let s = Store::open_in_memory().unwrap();
    let run = s.create_run("dual", "0", "", "{}").unwrap();
    let other = s.create_run("other", "0", "", "{}").unwrap();
    let rows = vec![
        boot("kvm", false, 0.0, true, "found at the start"),
        boot("xen", true, 71.5, true, ""),
        boot("kvm", true, 64.25, false, "came up as xen dom0, not kvm"),
    ];
    for r in &rows {
        s.record_boot(run, r).unwrap();
    }
    s.record_boot(other, &boot("xen", true, 80.0, true, ""))
        .unwrap();
    assert_eq!(s.boots(run).unwrap(), rows);
    assert_eq!(s.boots(other).unwrap().len(), 1);
    let empty = s.create_run("none", "0", "", "{}").unwrap();
    assert_eq!(s.boots(empty).unwrap(), []);
}

#[test]
fn a_version_4_database_is_migrated_and_keeps_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    // A database as hvbench left it before boots were stored: the first four migrations.
    {
        let mut conn = Connection::open(&path).unwrap();
        for (i, sql) in schema::MIGRATIONS.iter().take(4).enumerate() {
            let tx = conn.transaction().unwrap();
            tx.execute_batch(sql).unwrap();
            tx.pragma_update(None, "user_version", i as i64 + 1)
                .unwrap();
            tx.commit().unwrap();
        }
        conn.execute(
            "INSERT INTO runs(name, started_ms, status, hvbench_version, spec, plan_json) \
             VALUES ('old', 1, 'complete', '0.1.0', '', '{}')",
            [],
        )
        .unwrap();
        let found: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'boots'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 0);
    }
    let s = Store::open(&path).unwrap();
    let old = s.resolve_run(Some("old")).unwrap();
    assert_eq!(old.status, RunStatus::Complete);
    assert_eq!(s.boots(old.id).unwrap(), []);
    s.record_boot(old.id, &boot("xen", true, 70.0, true, ""))
        .unwrap();
    assert_eq!(s.boots(old.id).unwrap().len(), 1);
    // And the tools' raw output, added after boots (migration 6).
    assert_eq!(s.tool_outputs(old.id).unwrap(), []);
    drop(s);
    let version: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::MIGRATIONS.len() as i64);
    assert_eq!(version, 6);
}
