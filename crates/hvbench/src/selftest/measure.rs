//! Running both sides of a row on this host: hvbench's embedded agent fed a plan on stdin, and
//! the reference tools as subprocesses; plus what the runs need from the host (programs on
//! PATH, the last-level cache size) and the median that reduces the samples.

use super::rows::Row;
use anyhow::{bail, Context, Result};
use hvbench_proto::{Decoder, Event, Message, PLAN_VERSION};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What one row measured over the rounds.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub(super) hvbench: Vec<f64>,
    pub(super) reference: Vec<f64>,
    /// Why the row has no figures, when it has none.
    pub(super) skipped: Option<String>,
}

/// hvbench's figure for one round: one agent run of the row's workloads (1 warm-up and 3
/// measured windows each), each workload's median, combined.
pub(super) fn measure_hvbench(agent: &Path, row: &Row, window_ms: u64) -> Result<f64> {
    let workloads: Vec<Value> = row
        .hvbench
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let mut w = w.clone();
            w["id"] = json!(format!("w{i}"));
            w
        })
        .collect();
    let plan = json!({
        "version": PLAN_VERSION,
        "warmup": 1,
        "samples": 3,
        "min_window_ms": window_ms,
        "workloads": workloads,
    });
    let mut child = Command::new(agent)
        .args(["--plan", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start the agent {}", agent.display()))?;
    child
        .stdin
        .take()
        .context("agent stdin")?
        .write_all(plan.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "the agent failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut decoder = Decoder::new();
    let mut events = decoder.push(&out.stdout);
    events.extend(decoder.finish());
    let mut per_workload: Vec<Vec<f64>> = vec![Vec::new(); workloads.len()];
    for event in events {
        match event {
            Event::Frame(Message::Sample {
                workload,
                warmup: false,
                value,
                ..
            }) => {
                let i: usize = workload
                    .strip_prefix('w')
                    .and_then(|n| n.parse().ok())
                    .context("a sample for a workload not asked for")?;
                per_workload[i].push(value);
            }
            Event::Frame(Message::Failed { workload, reason }) => {
                bail!("hvbench's {workload} failed: {reason}")
            }
            _ => {}
        }
    }
    let medians: Vec<f64> = per_workload
        .iter_mut()
        .map(|v| median(v))
        .collect::<Option<_>>()
        .context("the agent sent no samples")?;
    (row.combine_hvbench)(&medians).context("hvbench's figures do not combine")
}

/// The reference figure for one round: every tool command of the row, outputs parsed.
pub(super) fn measure_reference(row: &Row) -> Result<f64> {
    let mut outputs = Vec::new();
    for tool in &row.tools {
        let out = Command::new(tool.program)
            .args(&tool.args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run `{}`", tool.command_line()))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            bail!(
                "`{}` failed ({}): {}",
                tool.command_line(),
                out.status,
                last_lines(&text, 3)
            );
        }
        outputs.push(text);
    }
    (row.parse_reference)(&outputs).with_context(|| {
        format!(
            "cannot read a figure from `{}`: {}",
            row.reference_line(),
            last_lines(outputs.last().map_or("", String::as_str), 3)
        )
    })
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

pub(super) fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// A program on PATH.
pub(super) fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// The highest-level data or unified cache of `cpu`, from sysfs (as stress-ng and the agent
/// read it).
pub(super) fn last_level_cache_bytes(sys: &Path, cpu: usize) -> Option<u64> {
    let dir = sys.join(format!("devices/system/cpu/cpu{cpu}/cache"));
    let mut best: Option<(u32, u64)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let read = |f: &str| std::fs::read_to_string(entry.path().join(f)).ok();
        if read("type").is_some_and(|t| t.trim() == "Instruction") {
            continue;
        }
        let level = read("level").and_then(|l| l.trim().parse::<u32>().ok());
        let size = read("size").and_then(|s| {
            let s = s.trim();
            let (n, scale) = match s.strip_suffix('K') {
                Some(n) => (n, 1024),
                None => match s.strip_suffix('M') {
                    Some(n) => (n, 1 << 20),
                    None => (s, 1),
                },
            };
            n.parse::<u64>().ok().map(|n| n * scale)
        });
        if let (Some(level), Some(size)) = (level, size) {
            if best.is_none_or(|(l, _)| level > l) {
                best = Some((level, size));
            }
        }
    }
    best.map(|(_, size)| size)
}
