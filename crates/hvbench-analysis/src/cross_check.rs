//! Cross-checks: hvbench's own workloads against the field's tools that measure the same
//! quantity (docs/architecture.md, "Analysis and report"). Where a plan holds both sides of a
//! pair in [`CROSS_CHECKS`], each platform that measured both gets their medians and the ratio
//! hvbench / tool with a bootstrap interval, the tool's figure first converted into hvbench's
//! unit. A ratio that stays put from platform to platform says the two agree on how the
//! platforms rank; one that moves on one platform says that platform treats the two
//! differently, and the reader knows which figure to question there.
//!
//! [`CROSS_CHECKS`] is the one table of pairs: which workload and metric on each side, the
//! parameter values under which the two measure the same thing, and the unit conversion.

use crate::bootstrap::{ratio_of_medians, summarize, BootstrapConfig, Ratio, Summary};
use serde::Serialize;
use std::collections::BTreeMap;

/// A parameter value one side of a pair needs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Condition {
    pub param: &'static str,
    /// The values that satisfy it, lower case, as the stored plan writes them (a string as is,
    /// a number or a boolean in JSON); the first is the one shown.
    pub accepted: &'static [&'static str],
    /// Whether a plan that stored no value for the parameter satisfies it: true when the
    /// workload's default is accepted (a plan resolves every parameter, so a missing one comes
    /// from a version of the catalog without it, which ran the default).
    pub if_absent: bool,
}

impl Condition {
    /// Whether `params` (the workload's resolved parameters, as text) satisfy it; values are
    /// compared trimmed and in lower case.
    pub fn holds(&self, params: &BTreeMap<String, String>) -> bool {
        match params.get(self.param) {
            None => self.if_absent,
            Some(v) => {
                let v = v.trim().to_ascii_lowercase();
                self.accepted.contains(&v.as_str())
            }
        }
    }

    /// `param = value`, the first accepted value.
    pub fn describe(&self) -> String {
        format!(
            "{} = {}",
            self.param,
            self.accepted.first().copied().unwrap_or("?")
        )
    }
}

/// One side of a pair: a catalog workload, the metric compared, the unit that metric is
/// stored in, and the parameter values it must have run with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Side {
    pub workload: &'static str,
    pub metric: &'static str,
    pub unit: &'static str,
    pub conditions: &'static [Condition],
}

impl Side {
    /// Whether a workload of the plan is this side: its catalog name, every condition met.
    pub fn matches(&self, w: &PlannedWorkload) -> bool {
        w.name == self.workload && self.conditions.iter().all(|c| c.holds(w.params))
    }

    /// The conditions in words (`mode = direct, ...`); empty when there are none.
    pub fn describe_conditions(&self) -> String {
        self.conditions
            .iter()
            .map(Condition::describe)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// An hvbench workload and a tool that measure the same quantity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CrossPair {
    /// What both measure, in words.
    pub quantity: &'static str,
    /// What the figure is called in a sentence: "IOPS", "throughput", "bandwidth".
    pub measure: &'static str,
    /// hvbench's own workload.
    pub ours: Side,
    /// The tool's workload.
    pub tool: Side,
    /// The tool's value times this is in `ours.unit`.
    pub tool_factor: f64,
    /// The conversion in words, as the report states it.
    pub conversion: &'static str,
    /// What else a reader should know before trusting the ratio.
    pub note: Option<&'static str>,
}

/// `fio`'s parameters under which it measures what `disk-rand-read` measures: random 4 KiB
/// reads, one at a time, with O_DIRECT. (`bs` as fio reads it: `4k` is 4096 bytes.)
const FIO_RANDREAD_4K_QD1_DIRECT: &[Condition] = &[
    Condition {
        param: "rw",
        accepted: &["randread"],
        if_absent: true,
    },
    Condition {
        param: "bs",
        accepted: &["4k", "4ki", "4kib", "4096"],
        if_absent: true,
    },
    Condition {
        param: "iodepth",
        accepted: &["1"],
        if_absent: true,
    },
    Condition {
        param: "direct",
        accepted: &["true", "1"],
        if_absent: true,
    },
];

/// Every pair the report cross-checks.
pub const CROSS_CHECKS: &[CrossPair] = &[
    CrossPair {
        quantity: "random 4 KiB reads, one at a time, past the page cache (O_DIRECT)",
        measure: "IOPS",
        ours: Side {
            workload: "disk-rand-read",
            metric: "iops",
            unit: "IOPS",
            // Buffered reads may come from the page cache: not what fio's direct=true reads.
            conditions: &[Condition {
                param: "mode",
                accepted: &["direct"],
                if_absent: true,
            }],
        },
        tool: Side {
            workload: "fio",
            metric: "iops",
            unit: "IOPS",
            conditions: FIO_RANDREAD_4K_QD1_DIRECT,
        },
        tool_factor: 1.0,
        conversion: "none: both count I/O operations per second",
        note: None,
    },
    CrossPair {
        quantity: "TCP bulk throughput from the agent (in a guest, the guest) to the peer",
        measure: "throughput",
        ours: Side {
            workload: "net-bulk",
            metric: "throughput",
            unit: "Mbit/s",
            conditions: &[Condition {
                param: "direction",
                accepted: &["send"],
                if_absent: true,
            }],
        },
        tool: Side {
            workload: "iperf3",
            metric: "throughput",
            unit: "Gbit/s",
            conditions: &[],
        },
        tool_factor: 1000.0,
        conversion: "iperf3's Gbit/s x 1000 = Mbit/s (decimal prefixes on both sides, as \
                     network rates are counted: 1 Gbit = 10^9 bits)",
        note: None,
    },
    CrossPair {
        quantity: "memory bandwidth of one thread",
        measure: "bandwidth",
        ours: Side {
            workload: "mem-bandwidth",
            metric: "bandwidth",
            unit: "MB/s",
            conditions: &[],
        },
        tool: Side {
            workload: "sysbench-memory",
            metric: "transfer",
            unit: "MiB/s",
            // mem-bandwidth runs its kernel on one thread.
            conditions: &[Condition {
                param: "threads",
                accepted: &["1"],
                if_absent: true,
            }],
        },
        tool_factor: 1.048_576,
        conversion: "sysbench's MiB/s x 1.048576 = MB/s (1 MiB = 2^20 bytes; mem-bandwidth's MB \
                     is 10^6 bytes, as STREAM counts)",
        note: Some(
            "mem-bandwidth sweeps arrays of at least four times the last-level cache (STREAM's \
             rule) and counts the bytes its kernel reads and writes; sysbench memory sweeps one \
             block of block_size_kib over and over, which stays in the caches unless it is \
             larger than them. A ratio far below 1 then says the two measured different levels \
             of the memory hierarchy, not that one of them is wrong.",
        ),
    },
];

/// A workload of the plan as the cross-check sees it.
#[derive(Debug, Clone, Copy)]
pub struct PlannedWorkload<'a> {
    /// What its samples are stored as: its id, or its name when it has none
    /// (`hvbench_proto::WorkloadRequest::label`).
    pub label: &'a str,
    /// Its catalog name.
    pub name: &'a str,
    /// Its resolved parameters as text (strings as they are, numbers and booleans as JSON
    /// writes them).
    pub params: &'a BTreeMap<String, String>,
}

/// One platform's measured values (warm-ups excluded) of one workload and metric.
#[derive(Debug, Clone, Copy)]
pub struct CrossSeries<'a> {
    pub platform: &'a str,
    /// The workload's label.
    pub workload: &'a str,
    pub metric: &'a str,
    pub unit: &'a str,
    pub values: &'a [f64],
}

/// One pair found in a plan: an hvbench workload and a tool workload that satisfy a
/// [`CrossPair`], and each platform's figures.
#[derive(Debug, Clone, Serialize)]
pub struct CrossCheck {
    /// The pair of [`CROSS_CHECKS`] this is.
    pub pair: &'static CrossPair,
    /// The hvbench workload's label.
    pub workload: String,
    /// The tool workload's label.
    pub tool_workload: String,
    /// Why no figures could be compared although both ran: a side stored its metric in
    /// another unit than the table's, so the conversion does not apply.
    pub problem: Option<String>,
    /// The platforms that measured both sides, in platform order.
    pub platforms: Vec<CrossPlatform>,
    /// The platforms that measured one side only, in platform order.
    pub one_sided: Vec<String>,
}

/// One platform's figures of a [`CrossCheck`].
#[derive(Debug, Clone, Serialize)]
pub struct CrossPlatform {
    pub platform: String,
    /// hvbench's workload, in its unit.
    pub ours: Summary,
    /// The tool, in its own unit.
    pub tool: Summary,
    /// The tool's median in hvbench's unit (times [`CrossPair::tool_factor`]).
    pub tool_median_converted: f64,
    /// median(ours) / median(tool, converted), with a bootstrap interval; None when the tool's
    /// median is 0.
    pub ratio: Option<Ratio>,
}

/// Every cross-check a plan holds, in the order of [`CROSS_CHECKS`] and then of the plan's
/// workloads; `platforms` in the order the report lists them. A plan that holds no pair gives
/// none.
pub fn cross_checks(
    platforms: &[&str],
    workloads: &[PlannedWorkload],
    series: &[CrossSeries],
    cfg: &BootstrapConfig,
) -> Vec<CrossCheck> {
    let mut out = Vec::new();
    for pair in CROSS_CHECKS {
        for ours in workloads.iter().filter(|w| pair.ours.matches(w)) {
            for tool in workloads.iter().filter(|w| pair.tool.matches(w)) {
                out.push(check(pair, ours.label, tool.label, platforms, series, cfg));
            }
        }
    }
    out
}

fn check(
    pair: &'static CrossPair,
    ours: &str,
    tool: &str,
    platforms: &[&str],
    series: &[CrossSeries],
    cfg: &BootstrapConfig,
) -> CrossCheck {
    let of = |side: &Side, label: &str| -> Vec<&CrossSeries> {
        series
            .iter()
            .filter(|s| s.workload == label && s.metric == side.metric)
            .collect()
    };
    let (our_series, tool_series) = (of(&pair.ours, ours), of(&pair.tool, tool));
    let mut result = CrossCheck {
        pair,
        workload: ours.to_string(),
        tool_workload: tool.to_string(),
        problem: None,
        platforms: Vec::new(),
        one_sided: Vec::new(),
    };
    let wrong_unit = |side: &Side, label: &str, found: &[&CrossSeries]| {
        found
            .iter()
            .find(|s| s.unit.trim() != side.unit && !s.values.is_empty())
            .map(|s| {
                format!(
                    "{label} stored {} in {}, not {}, so the conversion does not apply",
                    side.metric, s.unit, side.unit
                )
            })
    };
    result.problem = wrong_unit(&pair.ours, ours, &our_series)
        .or_else(|| wrong_unit(&pair.tool, tool, &tool_series));
    if result.problem.is_some() {
        return result;
    }
    let values = |found: &[&CrossSeries], platform: &str| -> Vec<f64> {
        found
            .iter()
            .filter(|s| s.platform == platform)
            .flat_map(|s| s.values.iter().copied())
            .collect()
    };
    for &platform in platforms {
        let mine = values(&our_series, platform);
        let theirs = values(&tool_series, platform);
        let (Some(our_summary), Some(tool_summary)) =
            (summarize(&mine, cfg), summarize(&theirs, cfg))
        else {
            if !mine.is_empty() || !theirs.is_empty() {
                result.one_sided.push(platform.to_string());
            }
            continue;
        };
        let converted: Vec<f64> = theirs.iter().map(|v| v * pair.tool_factor).collect();
        result.platforms.push(CrossPlatform {
            platform: platform.to_string(),
            ours: our_summary,
            tool: tool_summary,
            tool_median_converted: tool_summary.median * pair.tool_factor,
            ratio: ratio_of_medians(&converted, &mine, cfg),
        });
    }
    result
}

#[cfg(test)]
mod tests;
