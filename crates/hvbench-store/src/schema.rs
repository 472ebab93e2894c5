//! Schema and migrations. `PRAGMA user_version` holds the number of migrations applied;
//! each migration runs once, in order, inside a transaction.

use crate::{Result, StoreError};
use rusqlite::Connection;

pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: runs, platforms and their facts, trials (one agent run each), samples, workload failures.
    "CREATE TABLE runs(
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        finished_ms INTEGER,
        status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed', 'interrupted')),
        hvbench_version TEXT NOT NULL,
        spec TEXT NOT NULL,
        plan_json TEXT NOT NULL
     );
     CREATE TABLE platforms(
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        name TEXT NOT NULL,
        driver TEXT NOT NULL,
        UNIQUE (run_id, name)
     );
     CREATE TABLE facts(
        platform_id INTEGER NOT NULL REFERENCES platforms(id),
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (platform_id, key)
     );
     CREATE TABLE trials(
        id INTEGER PRIMARY KEY,
        platform_id INTEGER NOT NULL REFERENCES platforms(id),
        round INTEGER NOT NULL,
        guest TEXT NOT NULL,
        scenario TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed')),
        reason TEXT,
        started_ms INTEGER NOT NULL,
        finished_ms INTEGER
     );
     CREATE TABLE samples(
        id INTEGER PRIMARY KEY,
        trial_id INTEGER NOT NULL REFERENCES trials(id),
        workload TEXT NOT NULL,
        metric TEXT NOT NULL,
        unit TEXT NOT NULL,
        better TEXT NOT NULL CHECK (better IN ('higher', 'lower')),
        warmup INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        value REAL NOT NULL,
        iterations INTEGER NOT NULL,
        elapsed_ns INTEGER NOT NULL,
        UNIQUE (trial_id, workload, metric, idx)
     );
     CREATE TABLE workload_failures(
        id INTEGER PRIMARY KEY,
        trial_id INTEGER NOT NULL REFERENCES trials(id),
        workload TEXT NOT NULL,
        reason TEXT NOT NULL
     );
     CREATE INDEX samples_by_trial ON samples(trial_id);
     CREATE INDEX trials_by_platform ON trials(platform_id);",
    // 2: resumable campaigns. A trial cut short by Ctrl-C, SIGTERM or a crash is marked
    // `interrupted` (status 'failed'): it is run again on resume, and its partial samples are
    // kept but left out of the results once a later trial of the same round replaces it.
    // `run_events` records what happened to a run beside its trials: interruptions, resumes.
    "ALTER TABLE trials ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE run_events(
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        at_ms INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('interrupted', 'resumed')),
        detail TEXT NOT NULL
     );
     CREATE INDEX run_events_by_run ON run_events(run_id);",
    // 3: isolation experiments. `at_ms`: when a sample arrived, in milliseconds since its
    // isolation cell started, on the clock the cell's instances share (NULL outside isolation
    // cells); with `elapsed_ns` it places the sample's window, so the report can show that
    // victim and aggressor windows overlapped.
    "ALTER TABLE samples ADD COLUMN at_ms INTEGER;",
    // 4: evidence (docs/architecture.md, "Evidence"): counters over one measured window of a
    // trial, keyed as that window's sample is (workload, metric, idx), one row per counter.
    // `source` says who counted (`guest`, `kvm.stats`, `kvm.exits`, `xen.trace`, `host.threads`,
    // `uncounted`); `span_ns` how long it counted, on its own clock.
    "CREATE TABLE counters(
        id INTEGER PRIMARY KEY,
        trial_id INTEGER NOT NULL REFERENCES trials(id),
        workload TEXT NOT NULL,
        metric TEXT NOT NULL,
        idx INTEGER NOT NULL,
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        value REAL NOT NULL,
        span_ns INTEGER NOT NULL,
        UNIQUE (trial_id, workload, metric, idx, source, key)
     );
     CREATE INDEX counters_by_trial ON counters(trial_id);",
    // 5: dual-boot hosts (docs/architecture.md, "Dual-boot hosts"): every boot of a host that
    // hvbench reboots between its boot entries, in order, the boot found at the start included
    // (`reboot` 0, `seconds` 0). `entry`: the boot entry wanted; `seconds`: from issuing the
    // reboot until SSH answered and the boot was verified; `boot_id`: the kernel's
    // /proc/sys/kernel/random/boot_id; `kernel`: its release; `hypervisor`: what was observed
    // ("xen dom0", "kvm", "none"); `ok`: it was the boot wanted; `detail`: why not, or a note.
    "CREATE TABLE boots(
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        host TEXT NOT NULL,
        entry TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        reboot INTEGER NOT NULL,
        seconds REAL NOT NULL,
        boot_id TEXT NOT NULL,
        kernel TEXT NOT NULL,
        hypervisor TEXT NOT NULL,
        ok INTEGER NOT NULL,
        detail TEXT NOT NULL
     );
     CREATE INDEX boots_by_run ON boots(run_id);",
    // 6: general benchmarks' raw output (docs/architecture.md, "The tools tree"): one row per
    // run of a tool, in arrival order. `window`: which run, as the agent names it (`setup`,
    // `3`, `3 reverse`, `4 (counted)`); `output`: the command, exit status, time, standard
    // output and error (each clipped to its last 64 KiB by the agent).
    "CREATE TABLE tool_outputs(
        id INTEGER PRIMARY KEY,
        trial_id INTEGER NOT NULL REFERENCES trials(id),
        workload TEXT NOT NULL,
        window TEXT NOT NULL,
        output TEXT NOT NULL
     );
     CREATE INDEX tool_outputs_by_trial ON tool_outputs(trial_id);",
];

pub fn migrate(conn: &mut Connection) -> Result<()> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
