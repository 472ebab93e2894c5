//! The store's writes: runs, platforms and their facts, trials and how they end, run events,
//! samples, counters, workload failures and the boots of dual-boot hosts, each committed as it
//! happens so that a crash loses at most the row in flight.

use crate::{
    now_ms, BootRow, NewCounters, NewSample, PlatformId, Result, RunEventKind, RunId, RunStatus,
    Store, TrialId,
};
use rusqlite::params;

impl Store {
    pub fn create_run(
        &self,
        name: &str,
        hvbench_version: &str,
        spec: &str,
        plan_json: &str,
    ) -> Result<RunId> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO runs(name, started_ms, status, hvbench_version, spec, plan_json) VALUES (?1, ?2, 'running', ?3, ?4, ?5)",
            params![name, now_ms(), hvbench_version, spec, plan_json],
        )?;
        Ok(conn.last_insert_rowid())
    }

    pub fn finish_run(&self, run: RunId, status: RunStatus) -> Result<()> {
        let conn = self.lock();
        conn.execute(
            "UPDATE runs SET status = ?2, finished_ms = ?3 WHERE id = ?1",
            params![run, status.as_str(), now_ms()],
        )?;
        Ok(())
    }

    /// A resumed run is running again.
    pub fn reopen_run(&self, run: RunId) -> Result<()> {
        let conn = self.lock();
        conn.execute(
            "UPDATE runs SET status = 'running', finished_ms = NULL WHERE id = ?1",
            params![run],
        )?;
        Ok(())
    }

    /// The platform of a run by name, created on first use.
    pub fn platform(&self, run: RunId, name: &str, driver: &str) -> Result<PlatformId> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO platforms(run_id, name, driver) VALUES (?1, ?2, ?3) ON CONFLICT(run_id, name) DO NOTHING",
            params![run, name, driver],
        )?;
        Ok(conn.query_row(
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
        let conn = self.lock();
        let tx = conn.unchecked_transaction()?;
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
        let conn = self.lock();
        conn.execute(
            "INSERT INTO trials(platform_id, round, guest, scenario, status, started_ms) VALUES (?1, ?2, ?3, ?4, 'running', ?5)",
            params![platform, round, guest, scenario, now_ms()],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Close a trial: `reason` None means it completed, Some means it failed and why.
    pub fn finish_trial(&self, trial: TrialId, reason: Option<&str>) -> Result<()> {
        let conn = self.lock();
        let status = if reason.is_some() { "failed" } else { "ok" };
        conn.execute(
            "UPDATE trials SET status = ?2, reason = ?3, finished_ms = ?4 WHERE id = ?1",
            params![trial, status, reason, now_ms()],
        )?;
        Ok(())
    }

    /// Close a trial that a signal or a crash cut short: it failed, and `hvbench run --resume`
    /// runs its (round, platform) again.
    pub fn interrupt_trial(&self, trial: TrialId, reason: &str) -> Result<()> {
        let conn = self.lock();
        conn.execute(
            "UPDATE trials SET status = 'failed', interrupted = 1, reason = ?2, finished_ms = ?3 WHERE id = ?1",
            params![trial, reason, now_ms()],
        )?;
        Ok(())
    }

    /// Mark every trial of `run` still 'running' (its hvbench was killed) as interrupted;
    /// returns how many there were.
    pub fn interrupt_stale_trials(&self, run: RunId, reason: &str) -> Result<usize> {
        let conn = self.lock();
        Ok(conn.execute(
            "UPDATE trials SET status = 'failed', interrupted = 1, reason = ?2, finished_ms = ?3
             WHERE status = 'running' AND platform_id IN (SELECT id FROM platforms WHERE run_id = ?1)",
            params![run, reason, now_ms()],
        )?)
    }

    /// Record that a run was interrupted or resumed.
    pub fn record_event(&self, run: RunId, kind: RunEventKind, detail: &str) -> Result<()> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO run_events(run_id, at_ms, kind, detail) VALUES (?1, ?2, ?3, ?4)",
            params![run, now_ms(), kind.as_str(), detail],
        )?;
        Ok(())
    }

    /// Record one boot of a dual-boot host, in the order they happen.
    pub fn record_boot(&self, run: RunId, row: &BootRow) -> Result<()> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO boots(run_id, host, entry, at_ms, reboot, seconds, boot_id, kernel, \
             hypervisor, ok, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                run,
                row.host,
                row.entry,
                row.at_ms,
                row.reboot,
                row.seconds,
                row.boot_id,
                row.kernel,
                row.hypervisor,
                row.ok,
                row.detail
            ],
        )?;
        Ok(())
    }

    /// Commit one sample. A repeated (trial, workload, index) is ignored, so a replayed
    /// stream cannot duplicate samples.
    pub fn insert_sample(&self, trial: TrialId, s: &NewSample<'_>) -> Result<()> {
        let conn = self.lock();
        let mut st = conn.prepare_cached(
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

    /// Record the counters of one measured window of `trial` (a `Counters` frame), in one
    /// transaction. A window counted twice by the same source keeps its first values.
    pub fn insert_counters(&self, trial: TrialId, c: &NewCounters<'_>) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO counters(trial_id, workload, metric, idx, source, key, value, span_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
            )?;
            for (key, value) in c.values {
                if !value.is_finite() {
                    continue;
                }
                st.execute(params![
                    trial,
                    c.workload,
                    c.metric,
                    c.index,
                    c.source,
                    key,
                    value,
                    i64::try_from(c.span_ns).unwrap_or(i64::MAX)
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Record that one workload of a trial failed (the trial itself may go on).
    pub fn record_workload_failure(
        &self,
        trial: TrialId,
        workload: &str,
        reason: &str,
    ) -> Result<()> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO workload_failures(trial_id, workload, reason) VALUES (?1, ?2, ?3)",
            params![trial, workload, reason],
        )?;
        Ok(())
    }

    /// A general benchmark's raw output from one run of its tool (`window`: which run).
    pub fn insert_tool_output(
        &self,
        trial: TrialId,
        workload: &str,
        window: &str,
        output: &str,
    ) -> Result<()> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO tool_outputs(trial_id, workload, window, output) VALUES (?1, ?2, ?3, ?4)",
            params![trial, workload, window, output],
        )?;
        Ok(())
    }
}
