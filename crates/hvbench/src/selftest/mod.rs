//! `hvbench selftest fidelity`: does each workload measure what the established tool measures?
//!
//! On this host, each workload runs side by side with the tool that measures the same quantity
//! (`perf bench`, `sysbench`, `stress-ng`, `cyclictest`), interleaved: several rounds, and in
//! each round both run back to back, the order alternating from round to round so that a drift
//! of the machine does not favour either side. The table gives both medians in hvbench's unit,
//! their ratio, and the spread of the per-round ratios. Where the tool's figure is defined
//! differently but convertibly (perf's memcpy GiB/s against STREAM's read+write MB/s) it is
//! converted, and the conversion is printed; where no tool measures the same quantity the row
//! says so instead of comparing unlike figures.
//!
//! hvbench's side is the embedded agent in host mode, exactly as `hvbench run` starts it.
//!
//! This file holds the command and the round loop; `rows` the catalogue of comparisons, `parse`
//! the readers of the tools' outputs, `measure` the runs of both sides, `render` the table.

mod measure;
mod parse;
mod render;
mod rows;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use hvbench_platform::guest::cache::Cache;
use measure::{find_program, last_level_cache_bytes, measure_hvbench, measure_reference, Outcome};
use render::render;
use rows::{rows, Effort, Row};
use std::path::Path;
use std::process::ExitCode;

/// The Debian packages that provide the reference tools, in the order rows use them.
pub const PACKAGES: &str = "linux-perf sysbench stress-ng rt-tests";

#[derive(Subcommand)]
pub enum Selftest {
    /// Run each workload beside the established tool that measures the same quantity on this
    /// host (perf bench, sysbench, stress-ng, cyclictest), interleaved, and print how far apart
    /// they are.
    Fidelity(FidelityArgs),
}

#[derive(Args)]
pub struct FidelityArgs {
    /// Rounds; in each, hvbench and the tool run back to back, the order alternating.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// A smoke run: one round, short windows and loops, and the stress-ng STREAM row (which
    /// needs 5 s) left out. Checks that everything runs; the numbers mean little.
    #[arg(long)]
    quick: bool,
    /// Only the rows whose workload column contains this text (repeatable).
    #[arg(long, value_name = "TEXT")]
    only: Vec<String>,
    /// A comparable pair is "ok" when the ratio of medians is within this many percent of 1.
    #[arg(long, default_value_t = 5.0)]
    tolerance_pct: f64,
}

pub fn run(cmd: Selftest) -> Result<ExitCode> {
    match cmd {
        Selftest::Fidelity(args) => fidelity(&args),
    }
}

fn fidelity(args: &FidelityArgs) -> Result<ExitCode> {
    let effort = if args.quick {
        Effort::Quick
    } else {
        Effort::Full
    };
    let rounds = if args.quick { 1 } else { args.rounds.max(1) };
    let agent = hvbench_platform::guest::agent::agent_path(&Cache::from_env())?;
    let llc = last_level_cache_bytes(Path::new("/sys"), 0).unwrap_or(16 << 20);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rows: Vec<Row> = rows(effort, llc, cpus)
        .into_iter()
        .filter(|r| args.only.is_empty() || args.only.iter().any(|o| r.name.contains(o)))
        .collect();
    if rows.is_empty() {
        bail!("no row matches --only {:?}", args.only);
    }
    let mut outcomes: Vec<Outcome> = rows.iter().map(|_| Outcome::default()).collect();
    for (row, outcome) in rows.iter().zip(outcomes.iter_mut()) {
        if let Some(missing) = row.tools.iter().find(|t| find_program(t.program).is_none()) {
            outcome.skipped = Some(format!(
                "`{}` not found: apt-get install {}",
                missing.program, missing.package
            ));
        }
    }
    let window_ms = match effort {
        Effort::Full => 300,
        Effort::Quick => 20,
    };
    for round in 0..rounds {
        for (i, (row, outcome)) in rows.iter().zip(outcomes.iter_mut()).enumerate() {
            if outcome.skipped.is_some() {
                continue;
            }
            eprintln!("round {}/{rounds}: {}", round + 1, row.name);
            // Alternate which side goes first, by round (and by row, so that neighbours differ).
            let hvbench_first = (round as usize + i).is_multiple_of(2);
            let result = if hvbench_first {
                measure_hvbench(&agent, row, window_ms)
                    .and_then(|h| measure_reference(row).map(|r| (h, r)))
            } else {
                measure_reference(row)
                    .and_then(|r| measure_hvbench(&agent, row, window_ms).map(|h| (h, r)))
            };
            match result {
                Ok((h, r)) => {
                    outcome.hvbench.push(h);
                    outcome.reference.push(r);
                }
                Err(e) => outcome.skipped = Some(format!("{e:#}")),
            }
        }
    }
    print!(
        "{}",
        render(&rows, &outcomes, args.tolerance_pct, rounds, llc)
    );
    let missing: Vec<&str> = outcomes
        .iter()
        .filter_map(|o| o.skipped.as_deref())
        .filter(|s| s.contains("not found"))
        .collect();
    if !missing.is_empty() {
        println!("\nSome tools are missing: apt-get install {PACKAGES}");
    }
    Ok(ExitCode::SUCCESS)
}
