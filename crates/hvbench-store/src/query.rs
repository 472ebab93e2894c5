//! The store's reads: runs (by id, by name, the latest), their platforms with facts, trials,
//! events, samples, failures, boots and tools' raw output, as the resume logic and the analyses want them back.

use crate::{
    BootRow, CounterRow, FailureRow, FinishedTrial, PlatformRow, Result, RunEvent, RunId, RunRow,
    RunStatus, SampleRow, Store, StoreError, ToolOutputRow, TrialRow,
};
use rusqlite::OptionalExtension;
use std::collections::BTreeMap;

/// The trials `t` (of platforms `p`) of run `?1` whose rows count: all but an interrupted trial
/// that a later trial of the same round, role and scenario replaced (a resume ran it again).
const KEPT_TRIALS_OF_RUN: &str = "WHERE p.run_id = ?1
               AND NOT (t.interrupted = 1 AND EXISTS (SELECT 1 FROM trials r WHERE r.platform_id = t.platform_id
                        AND r.round = t.round AND r.guest = t.guest AND r.scenario = t.scenario AND r.id > t.id))";

impl Store {
    /// The trials of `run` that ended and stay ended: completed or failed, not interrupted.
    pub fn finished_trials(&self, run: RunId) -> Result<Vec<FinishedTrial>> {
        let conn = self.lock();
        let mut st = conn.prepare(
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

    /// The boots of a run's dual-boot hosts, in the order they were recorded (empty for runs
    /// without, and for runs stored before boots were).
    pub fn boots(&self, run: RunId) -> Result<Vec<BootRow>> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT host, entry, at_ms, reboot, seconds, boot_id, kernel, hypervisor, ok, detail \
             FROM boots WHERE run_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([run], |r| {
            Ok(BootRow {
                host: r.get(0)?,
                entry: r.get(1)?,
                at_ms: r.get(2)?,
                reboot: r.get(3)?,
                seconds: r.get(4)?,
                boot_id: r.get(5)?,
                kernel: r.get(6)?,
                hypervisor: r.get(7)?,
                ok: r.get(8)?,
                detail: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The interruptions and resumes of a run, oldest first.
    pub fn events(&self, run: RunId) -> Result<Vec<RunEvent>> {
        let conn = self.lock();
        let mut st = conn
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

    pub fn runs(&self) -> Result<Vec<RunRow>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!("{RUN_SELECT} ORDER BY id"))?;
        let rows = st.query_map([], run_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn run(&self, id: RunId) -> Result<RunRow> {
        let conn = self.lock();
        conn.query_row(&format!("{RUN_SELECT} WHERE id = ?1"), [id], run_from_row)
            .optional()?
            .ok_or_else(|| StoreError::NoSuchRun(id.to_string()))
    }

    /// A run named by id or by name (the latest run of that name); `None` means the latest run.
    pub fn resolve_run(&self, which: Option<&str>) -> Result<RunRow> {
        let conn = self.lock();
        let found = match which {
            None => conn
                .query_row(
                    &format!("{RUN_SELECT} ORDER BY id DESC LIMIT 1"),
                    [],
                    run_from_row,
                )
                .optional()?
                .ok_or(StoreError::Empty)?,
            Some(w) => {
                let by_id = match w.parse::<i64>() {
                    Ok(id) => conn
                        .query_row(&format!("{RUN_SELECT} WHERE id = ?1"), [id], run_from_row)
                        .optional()?,
                    Err(_) => None,
                };
                match by_id {
                    Some(r) => r,
                    None => conn
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
        let conn = self.lock();
        let mut st =
            conn.prepare("SELECT id, name, driver FROM platforms WHERE run_id = ?1 ORDER BY id")?;
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
        let mut facts = conn.prepare("SELECT key, value FROM facts WHERE platform_id = ?1")?;
        for p in &mut out {
            p.facts = facts
                .query_map([p.id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
        }
        Ok(out)
    }

    pub fn trials(&self, run: RunId) -> Result<Vec<TrialRow>> {
        let conn = self.lock();
        let mut st = conn.prepare(
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
        let conn = self.lock();
        let mut st = conn.prepare(&format!(
            "SELECT p.name, t.guest, t.scenario, t.round, s.workload, s.metric, s.unit, s.better, s.warmup, s.idx,
                    s.value, s.iterations, s.elapsed_ns, s.at_ms
             FROM samples s JOIN trials t ON t.id = s.trial_id JOIN platforms p ON p.id = t.platform_id
             {KEPT_TRIALS_OF_RUN}
             ORDER BY s.id",
        ))?;
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

    /// Every counter of a run's windows, with where it came from; counters of an interrupted
    /// trial that a later trial replaced are left out, as its samples are.
    pub fn counters(&self, run: RunId) -> Result<Vec<CounterRow>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!(
            "SELECT p.name, t.guest, t.scenario, t.round, c.workload, c.metric, c.idx, c.source, c.key,
                    c.value, c.span_ns
             FROM counters c JOIN trials t ON t.id = c.trial_id JOIN platforms p ON p.id = t.platform_id
             {KEPT_TRIALS_OF_RUN}
             ORDER BY c.id",
        ))?;
        let rows = st.query_map([run], |r| {
            Ok(CounterRow {
                platform: r.get(0)?,
                guest: r.get(1)?,
                scenario: r.get(2)?,
                round: r.get(3)?,
                workload: r.get(4)?,
                metric: r.get(5)?,
                index: r.get(6)?,
                source: r.get(7)?,
                key: r.get(8)?,
                value: r.get(9)?,
                span_ns: r.get::<_, i64>(10)?.max(0) as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Failed trials and failed workloads of a run.
    pub fn failures(&self, run: RunId) -> Result<Vec<FailureRow>> {
        let conn = self.lock();
        let mut st = conn.prepare(
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

    /// The raw tool output of every trial of `run`, trial by trial in arrival order.
    pub fn tool_outputs(&self, run: RunId) -> Result<Vec<ToolOutputRow>> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT p.name, t.round, t.guest, t.id, o.workload, o.window, o.output FROM tool_outputs o
               JOIN trials t ON t.id = o.trial_id JOIN platforms p ON p.id = t.platform_id
               WHERE p.run_id = ?1 ORDER BY t.id, o.id",
        )?;
        let rows = st.query_map([run], |r| {
            Ok(ToolOutputRow {
                platform: r.get(0)?,
                round: r.get(1)?,
                guest: r.get(2)?,
                trial: r.get(3)?,
                workload: r.get(4)?,
                window: r.get(5)?,
                output: r.get(6)?,
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
