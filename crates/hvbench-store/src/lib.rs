//! hvbench's store: one SQLite file holding runs, the platforms of each run with their facts,
//! every trial (one agent run of one platform in one round), and every raw sample.
//!
//! Samples are committed one by one as they arrive (WAL mode), so a crash loses at most the
//! sample in flight. Analyses read raw samples back; nothing here stores only summaries.
//! This file holds the error, the row types and opening the store; its writes are in
//! `record`, its reads in `query`.

mod query;
mod record;
mod schema;
mod time;

use rusqlite::Connection;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

pub use time::{format_utc, now_ms};

/// How the reason of a trial set aside for a lab fault begins (docs/architecture.md, "The
/// lab"): the runner writes it, the report counts lab faults by it.
pub const LAB_FAULT: &str = "lab fault, run again: ";

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
    pub(crate) fn parse(s: &str) -> RunStatus {
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

/// The counters of one measured window as they arrive (a `Counters` frame).
#[derive(Debug, Clone, PartialEq)]
pub struct NewCounters<'a> {
    pub workload: &'a str,
    pub metric: &'a str,
    pub index: u32,
    pub source: &'a str,
    pub span_ns: u64,
    pub values: &'a std::collections::BTreeMap<String, f64>,
}

/// One stored counter of one window, with where it came from. The window's sample is the one
/// with the same platform, guest, scenario, round, workload, metric and index.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CounterRow {
    pub platform: String,
    pub guest: String,
    pub scenario: String,
    pub round: u32,
    pub workload: String,
    pub metric: String,
    pub index: u32,
    pub source: String,
    pub key: String,
    pub value: f64,
    pub span_ns: u64,
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

/// One boot of a dual-boot host (`[[host.boot]]`): the boot found when the campaign started, or
/// one hvbench rebooted the host into. Stored in `boots`, in the order they happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BootRow {
    /// The `[[host]]`'s name.
    pub host: String,
    /// The boot entry wanted (`[[host.boot]] name`).
    pub entry: String,
    /// When the boot was verified (or found wrong), ms since the Unix epoch.
    pub at_ms: i64,
    /// Whether hvbench rebooted the host for this boot; false for the boot found at the start
    /// (or found already in the entry wanted), which is not counted as a reboot.
    pub reboot: bool,
    /// From issuing the reboot until SSH answered and the boot was verified; 0 without a
    /// reboot.
    pub seconds: f64,
    /// The kernel's boot id (/proc/sys/kernel/random/boot_id): a new one proves a reboot.
    pub boot_id: String,
    /// The kernel release that came up.
    pub kernel: String,
    /// The hypervisor observed: "xen dom0", "kvm", "none".
    pub hypervisor: String,
    /// Whether it was the boot wanted; a wrong one is refused, and nothing runs on it.
    pub ok: bool,
    /// Why it was refused, or a note ("found at the start").
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

/// One run of a general benchmark's tool, as [`Store::tool_outputs`] lists them.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutputRow {
    pub platform: String,
    pub round: u32,
    /// The trial's guest: its role (`victim`, `aggressor1`, ... in an isolation cell).
    pub guest: String,
    pub trial: TrialId,
    pub workload: String,
    /// Which run: `setup`, a window index, `3 reverse`, `4 (counted)`.
    pub window: String,
    pub output: String,
}

pub struct Store {
    /// One connection, locked for each operation: the store is shared by the threads that run
    /// several machines' trials at once (SQLite serialises the writes anyway).
    conn: std::sync::Mutex<Connection>,
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
        Ok(Store {
            conn: std::sync::Mutex::new(conn),
        })
    }

    /// The connection, for one operation. A thread that panicked while holding it left no
    /// half-done Rust state behind (SQLite's own state is transactional), so a poisoned lock
    /// is taken over.
    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests;
