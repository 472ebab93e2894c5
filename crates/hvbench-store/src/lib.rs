//! hvbench's store: one SQLite file holding runs, the platforms of each run with their facts,
//! every trial (one agent run of one platform in one round), and every raw sample.
//!
//! Samples are committed one by one as they arrive (WAL mode), so a crash loses at most the
//! sample in flight. Analyses read raw samples back; nothing here stores only summaries.

mod schema;
mod time;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

pub use time::{format_utc, now_ms};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the database has schema version {found}, newer than this hvbench knows ({known}); use a newer hvbench or another --db"
    )]
    TooNew { found: i64, known: i64 },
    #[error("no run `{0}` in the database (see `hvbench report --list`)")]
    NoSuchRun(String),
    #[error("the database holds no runs yet; start one with `hvbench run`")]
    Empty,
    #[error("database error")]
    Sql(#[from] rusqlite::Error),
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub type RunId = i64;
pub type PlatformId = i64;
pub type TrialId = i64;

/// How a run ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Complete,
    Failed,
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Complete => "complete",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
    fn parse(s: &str) -> RunStatus {
        match s {
            "complete" => RunStatus::Complete,
            "failed" => RunStatus::Failed,
            "interrupted" => RunStatus::Interrupted,
            _ => RunStatus::Running,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub id: RunId,
    pub name: String,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub status: RunStatus,
    pub hvbench_version: String,
    /// The experiment file, verbatim.
    pub spec: String,
    /// The validated plan as JSON.
    pub plan_json: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlatformRow {
    pub id: PlatformId,
    pub name: String,
    pub driver: String,
    pub facts: BTreeMap<String, String>,
}

/// One agent run: one platform, one round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialRow {
    pub id: TrialId,
    pub platform: String,
    pub round: u32,
    pub guest: String,
    pub scenario: String,
    pub status: String,
    pub reason: Option<String>,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
}

/// A sample as it arrives from an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSample<'a> {
    pub workload: &'a str,
    pub metric: &'a str,
    pub unit: &'a str,
    /// "higher" or "lower".
    pub better: &'a str,
    pub warmup: bool,
    pub index: u32,
    pub value: f64,
    pub iterations: u64,
    pub elapsed_ns: u64,
    /// Isolation cells: when it arrived, ms since the cell started (see the schema).
    pub at_ms: Option<u64>,
}

/// A stored sample with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleRow {
    pub platform: String,
    pub guest: String,
    pub scenario: String,
    pub round: u32,
    pub workload: String,
    pub metric: String,
    pub unit: String,
    pub better: String,
    pub warmup: bool,
    pub index: u32,
    pub value: f64,
    pub iterations: u64,
    pub elapsed_ns: u64,
    /// Isolation cells: when the sample arrived, ms since the cell started; its window is
    /// `[at_ms - elapsed_ns / 1e6, at_ms]`. None outside isolation cells.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
}

/// Something that happened to a run beside its trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunEventKind {
    /// Stopped by a signal (or found stopped by a crash) before its last trial.
    Interrupted,
    /// Continued by `hvbench run --resume`.
    Resumed,
}

impl RunEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunEventKind::Interrupted => "interrupted",
            RunEventKind::Resumed => "resumed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunEvent {
    pub at_ms: i64,
    /// "interrupted" or "resumed".
    pub kind: String,
    pub detail: String,
}

/// A trial that ended (completed or failed) and is not to be run again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FinishedTrial {
    pub platform: String,
    pub round: u32,
    pub guest: String,
    pub scenario: String,
    pub ok: bool,
}

/// A failure of a trial or of one workload within it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureRow {
    pub platform: String,
    pub round: u32,
    pub workload: Option<String>,
    pub reason: String,
}

pub struct Store {
    conn: Connection,
}

impl Store {
    /// Open (creating if needed) the database at `path`, in WAL mode, migrated to the current schema.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        Self::setup(conn)
    }

    /// A private in-memory store, for tests.
    pub fn open_in_memory() -> Result<Store> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Store> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL in WAL mode: a committed sample survives a crash of hvbench; only a power loss
        // can take the last transactions, never corrupt the file.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut conn)?;
        Ok(Store { conn })
    }

    pub fn create_run(
        &self,
        name: &str,
        hvbench_version: &str,
        spec: &str,
        plan_json: &str,
    ) -> Result<RunId> {
        self.conn.execute(
            "INSERT INTO runs(name, started_ms, status, hvbench_version, spec, plan_json) VALUES (?1, ?2, 'running', ?3, ?4, ?5)",
            params![name, now_ms(), hvbench_version, spec, plan_json],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn finish_run(&self, run: RunId, status: RunStatus) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET status = ?2, finished_ms = ?3 WHERE id = ?1",
            params![run, status.as_str(), now_ms()],
        )?;
        Ok(())
    }

    /// A resumed run is running again.
    pub fn reopen_run(&self, run: RunId) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET status = 'running', finished_ms = NULL WHERE id = ?1",
            params![run],
        )?;
        Ok(())
    }

    /// The platform of a run by name, created on first use.
    pub fn platform(&self, run: RunId, name: &str, driver: &str) -> Result<PlatformId> {
        self.conn.execute(
            "INSERT INTO platforms(run_id, name, driver) VALUES (?1, ?2, ?3) ON CONFLICT(run_id, name) DO NOTHING",
            params![run, name, driver],
        )?;
        Ok(self.conn.query_row(
            "SELECT id FROM platforms WHERE run_id = ?1 AND name = ?2",
            params![run, name],
            |r| r.get(0),
        )?)
    }

    /// Record facts about a platform; a later value for the same key replaces the earlier one.
    pub fn set_facts<'a>(
        &self,
        platform: PlatformId,
        facts: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO facts(platform_id, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT(platform_id, key) DO UPDATE SET value = excluded.value",
            )?;
            for (k, v) in facts {
                st.execute(params![platform, k, v])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn start_trial(
        &self,
        platform: PlatformId,
        round: u32,
        guest: &str,
        scenario: &str,
    ) -> Result<TrialId> {
        self.conn.execute(
            "INSERT INTO trials(platform_id, round, guest, scenario, status, started_ms) VALUES (?1, ?2, ?3, ?4, 'running', ?5)",
            params![platform, round, guest, scenario, now_ms()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Close a trial: `reason` None means it completed, Some means it failed and why.
    pub fn finish_trial(&self, trial: TrialId, reason: Option<&str>) -> Result<()> {
        let status = if reason.is_some() { "failed" } else { "ok" };
        self.conn.execute(
            "UPDATE trials SET status = ?2, reason = ?3, finished_ms = ?4 WHERE id = ?1",
            params![trial, status, reason, now_ms()],
        )?;
        Ok(())
    }

    /// Close a trial that a signal or a crash cut short: it failed, and `hvbench run --resume`
    /// runs its (round, platform) again.
    pub fn interrupt_trial(&self, trial: TrialId, reason: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE trials SET status = 'failed', interrupted = 1, reason = ?2, finished_ms = ?3 WHERE id = ?1",
            params![trial, reason, now_ms()],
        )?;
        Ok(())
    }

    /// Mark every trial of `run` still 'running' (its hvbench was killed) as interrupted;
    /// returns how many there were.
    pub fn interrupt_stale_trials(&self, run: RunId, reason: &str) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE trials SET status = 'failed', interrupted = 1, reason = ?2, finished_ms = ?3
             WHERE status = 'running' AND platform_id IN (SELECT id FROM platforms WHERE run_id = ?1)",
            params![run, reason, now_ms()],
        )?)
    }

    /// The trials of `run` that ended and stay ended: completed or failed, not interrupted.
    pub fn finished_trials(&self, run: RunId) -> Result<Vec<FinishedTrial>> {
        let mut st = self.conn.prepare(
            "SELECT p.name, t.round, t.status, t.guest, t.scenario FROM trials t JOIN platforms p ON p.id = t.platform_id
             WHERE p.run_id = ?1 AND t.status IN ('ok', 'failed') AND t.interrupted = 0 ORDER BY t.id",
        )?;
        let rows = st.query_map([run], |r| {
            Ok(FinishedTrial {
                platform: r.get(0)?,
                round: r.get(1)?,
                guest: r.get(3)?,
                scenario: r.get(4)?,
                ok: r.get::<_, String>(2)? == "ok",
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Record that a run was interrupted or resumed.
    pub fn record_event(&self, run: RunId, kind: RunEventKind, detail: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO run_events(run_id, at_ms, kind, detail) VALUES (?1, ?2, ?3, ?4)",
            params![run, now_ms(), kind.as_str(), detail],
        )?;
        Ok(())
    }

    /// The interruptions and resumes of a run, oldest first.
    pub fn events(&self, run: RunId) -> Result<Vec<RunEvent>> {
        let mut st = self
            .conn
            .prepare("SELECT at_ms, kind, detail FROM run_events WHERE run_id = ?1 ORDER BY id")?;
        let rows = st.query_map([run], |r| {
            Ok(RunEvent {
                at_ms: r.get(0)?,
                kind: r.get(1)?,
                detail: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Commit one sample. A repeated (trial, workload, index) is ignored, so a replayed
    /// stream cannot duplicate samples.
    pub fn insert_sample(&self, trial: TrialId, s: &NewSample<'_>) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO samples(trial_id, workload, metric, unit, better, warmup, idx, value, iterations, elapsed_ns, at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING",
        )?;
        st.execute(params![
            trial,
            s.workload,
            s.metric,
            s.unit,
            s.better,
            s.warmup,
            s.index,
            s.value,
            s.iterations as i64,
            s.elapsed_ns as i64,
            s.at_ms.map(|t| t as i64)
        ])?;
        Ok(())
    }

    /// Record that one workload of a trial failed (the trial itself may go on).
    pub fn record_workload_failure(
        &self,
        trial: TrialId,
        workload: &str,
        reason: &str,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO workload_failures(trial_id, workload, reason) VALUES (?1, ?2, ?3)",
            params![trial, workload, reason],
        )?;
        Ok(())
    }

    pub fn runs(&self) -> Result<Vec<RunRow>> {
        let mut st = self.conn.prepare(&format!("{RUN_SELECT} ORDER BY id"))?;
        let rows = st.query_map([], run_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn run(&self, id: RunId) -> Result<RunRow> {
        self.conn
            .query_row(&format!("{RUN_SELECT} WHERE id = ?1"), [id], run_from_row)
            .optional()?
            .ok_or_else(|| StoreError::NoSuchRun(id.to_string()))
    }

    /// A run named by id or by name (the latest run of that name); `None` means the latest run.
    pub fn resolve_run(&self, which: Option<&str>) -> Result<RunRow> {
        let found = match which {
            None => self
                .conn
                .query_row(
                    &format!("{RUN_SELECT} ORDER BY id DESC LIMIT 1"),
                    [],
                    run_from_row,
                )
                .optional()?
                .ok_or(StoreError::Empty)?,
            Some(w) => {
                let by_id = match w.parse::<i64>() {
                    Ok(id) => self
                        .conn
                        .query_row(&format!("{RUN_SELECT} WHERE id = ?1"), [id], run_from_row)
                        .optional()?,
                    Err(_) => None,
                };
                match by_id {
                    Some(r) => r,
                    None => self
                        .conn
                        .query_row(
                            &format!("{RUN_SELECT} WHERE name = ?1 ORDER BY id DESC LIMIT 1"),
                            [w],
                            run_from_row,
                        )
                        .optional()?
                        .ok_or_else(|| StoreError::NoSuchRun(w.to_string()))?,
                }
            }
        };
        Ok(found)
    }

    pub fn platforms(&self, run: RunId) -> Result<Vec<PlatformRow>> {
        let mut st = self
            .conn
            .prepare("SELECT id, name, driver FROM platforms WHERE run_id = ?1 ORDER BY id")?;
        let mut out: Vec<PlatformRow> = st
            .query_map([run], |r| {
                Ok(PlatformRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    driver: r.get(2)?,
                    facts: BTreeMap::new(),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut facts = self
            .conn
            .prepare("SELECT key, value FROM facts WHERE platform_id = ?1")?;
        for p in &mut out {
            p.facts = facts
                .query_map([p.id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
        }
        Ok(out)
    }

    pub fn trials(&self, run: RunId) -> Result<Vec<TrialRow>> {
        let mut st = self.conn.prepare(
            "SELECT t.id, p.name, t.round, t.guest, t.scenario, t.status, t.reason, t.started_ms, t.finished_ms
             FROM trials t JOIN platforms p ON p.id = t.platform_id WHERE p.run_id = ?1 ORDER BY t.id",
        )?;
        let rows = st.query_map([run], |r| {
            Ok(TrialRow {
                id: r.get(0)?,
                platform: r.get(1)?,
                round: r.get(2)?,
                guest: r.get(3)?,
                scenario: r.get(4)?,
                status: r.get(5)?,
                reason: r.get(6)?,
                started_ms: r.get(7)?,
                finished_ms: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every sample of a run, warm-ups included (they are marked), in arrival order. The partial
    /// samples of an interrupted trial that a resume ran again are left out: each (round,
    /// platform) counts once.
    pub fn samples(&self, run: RunId) -> Result<Vec<SampleRow>> {
        let mut st = self.conn.prepare(
            "SELECT p.name, t.guest, t.scenario, t.round, s.workload, s.metric, s.unit, s.better, s.warmup, s.idx,
                    s.value, s.iterations, s.elapsed_ns, s.at_ms
             FROM samples s JOIN trials t ON t.id = s.trial_id JOIN platforms p ON p.id = t.platform_id
             WHERE p.run_id = ?1
               AND NOT (t.interrupted = 1 AND EXISTS (SELECT 1 FROM trials r WHERE r.platform_id = t.platform_id
                        AND r.round = t.round AND r.guest = t.guest AND r.scenario = t.scenario AND r.id > t.id))
             ORDER BY s.id",
        )?;
        let rows = st.query_map([run], |r| {
            Ok(SampleRow {
                platform: r.get(0)?,
                guest: r.get(1)?,
                scenario: r.get(2)?,
                round: r.get(3)?,
                workload: r.get(4)?,
                metric: r.get(5)?,
                unit: r.get(6)?,
                better: r.get(7)?,
                warmup: r.get(8)?,
                index: r.get(9)?,
                value: r.get(10)?,
                iterations: r.get::<_, i64>(11)? as u64,
                elapsed_ns: r.get::<_, i64>(12)? as u64,
                at_ms: r.get::<_, Option<i64>>(13)?.map(|t| t as u64),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Failed trials and failed workloads of a run.
    pub fn failures(&self, run: RunId) -> Result<Vec<FailureRow>> {
        let mut st = self.conn.prepare(
            "SELECT p.name, t.round, NULL, t.reason, t.id, 0 FROM trials t JOIN platforms p ON p.id = t.platform_id
               WHERE p.run_id = ?1 AND t.status = 'failed'
             UNION ALL
             SELECT p.name, t.round, f.workload, f.reason, t.id, f.id FROM workload_failures f
               JOIN trials t ON t.id = f.trial_id JOIN platforms p ON p.id = t.platform_id WHERE p.run_id = ?1
             ORDER BY 5, 6",
        )?;
        let rows = st.query_map([run], |r| {
            Ok(FailureRow {
                platform: r.get(0)?,
                round: r.get(1)?,
                workload: r.get(2)?,
                reason: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

const RUN_SELECT: &str =
    "SELECT id, name, started_ms, finished_ms, status, hvbench_version, spec, plan_json FROM runs";

fn run_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        name: r.get(1)?,
        started_ms: r.get(2)?,
        finished_ms: r.get(3)?,
        status: RunStatus::parse(&r.get::<_, String>(4)?),
        hvbench_version: r.get(5)?,
        spec: r.get(6)?,
        plan_json: r.get(7)?,
    })
}

#[cfg(test)]
mod tests {
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
}
