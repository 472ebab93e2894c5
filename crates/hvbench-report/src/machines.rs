//! The machines of a run, side by side: per machine the facts that decide how fast anything runs
//! there (CPU, memory, kernel, ...), and which of them differ between the machines. A ratio is a
//! platform against its own machine's baseline, so it travels across machines; but when the
//! machines differ, the ratios still come from different hardware, and the report says so.
//!
//! Each fact comes from the machine's host platform (the agent's view of the bare machine), else
//! from the executor's `check` on that machine (`remote.*`, docs/architecture.md "Machines over
//! SSH"), else from any platform of that machine (a guest's view, marked as such).

use crate::document::{one_line, Align, Block, Table};
use crate::model::{Machine, Model};
use serde::Serialize;
use std::collections::BTreeMap;

/// How a fact reads and compares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    /// KiB, shown in GiB; two values within [`MEMORY_TOLERANCE`] are the same.
    Kib,
    /// On or off.
    Switch,
}

/// Memory totals differ a little between identical machines (what firmware and the kernel
/// reserve): within 2 % they are the same.
const MEMORY_TOLERANCE: f64 = 0.02;

/// One fact compared across machines.
struct FactDef {
    /// Its key in the summary JSON.
    key: &'static str,
    label: &'static str,
    /// Shown even when no machine knows it; the others only when some machine does.
    always: bool,
    /// A property of the hardware (else of the software set up on it).
    hardware: bool,
    /// The agent's keys on the machine's host platform.
    host: &'static [&'static str],
    /// The executor check's keys.
    remote: &'static [&'static str],
    /// Keys on any platform of the machine.
    any: &'static [&'static str],
    kind: Kind,
}

const FACTS: &[FactDef] = &[
    FactDef {
        key: "cpu_model",
        label: "CPU model",
        always: true,
        hardware: true,
        host: &["cpu.model"],
        remote: &["remote.cpu.model"],
        any: &["cpu.model"],
        kind: Kind::Text,
    },
    FactDef {
        key: "cpus",
        label: "CPUs",
        always: true,
        hardware: true,
        host: &["cpu.count"],
        remote: &["remote.cpus"],
        any: &["xen.nr_cpus", "cpu.count"],
        kind: Kind::Text,
    },
    FactDef {
        key: "smt",
        label: "SMT",
        always: false,
        hardware: true,
        host: &["cpu.smt", "smt.active"],
        remote: &["remote.cpu.smt", "remote.smt", "remote.smt.active"],
        any: &["cpu.smt", "smt.active"],
        kind: Kind::Switch,
    },
    FactDef {
        key: "memory",
        label: "memory",
        always: true,
        hardware: true,
        host: &["mem.total_kib"],
        remote: &["remote.mem.total_kib"],
        any: &["mem.total_kib"],
        kind: Kind::Kib,
    },
    FactDef {
        key: "kernel",
        label: "kernel",
        always: true,
        hardware: false,
        host: &["kernel.release"],
        remote: &["remote.kernel.release"],
        any: &["kernel.release"],
        kind: Kind::Text,
    },
    FactDef {
        key: "microcode",
        label: "microcode",
        always: false,
        hardware: true,
        host: &["cpu.microcode"],
        remote: &["remote.cpu.microcode", "remote.microcode"],
        any: &["cpu.microcode"],
        kind: Kind::Text,
    },
    FactDef {
        key: "cpu_governor",
        label: "CPU governor",
        always: false,
        hardware: false,
        host: &["cpu.governor"],
        remote: &["remote.cpu.governor"],
        any: &["cpu.governor"],
        kind: Kind::Text,
    },
];

/// The driver names of the platforms that show a machine's hypervisor (as stored; see
/// `hvbench_spec::Driver::as_str`).
const XEN_DRIVER: &str = "xen";
const QEMU_DRIVER: &str = "qemu";

/// The key and label of the hypervisor row. It is what the run compares, so machines differing
/// in it is never a difference to warn about.
const HYPERVISOR: (&str, &str) = ("hypervisor", "hypervisor");

/// Where a machine's fact came from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// The agent on the machine's host platform.
    Host(&'a str),
    /// The executor's check on the machine.
    Check,
    /// Another platform of the machine (a guest's view, unless it is a host platform).
    Platform(&'a str),
    /// What the machine's platforms show (for the hypervisor).
    Derived,
}

impl Source<'_> {
    fn describe(&self) -> String {
        match self {
            Source::Host(p) => format!("host platform {p}"),
            Source::Check => "executor check".to_string(),
            Source::Platform(p) => format!("platform {p}"),
            Source::Derived => "the executor check and the platforms that ran".to_string(),
        }
    }
}

struct Value<'a> {
    /// As shown.
    text: String,
    /// As read (KiB for memory).
    raw: String,
    kind: Kind,
    source: Source<'a>,
}

impl Value<'_> {
    /// The cell: the value, and where it came from when that was not the machine itself.
    fn cell(&self) -> String {
        match self.source {
            Source::Platform(p) => format!("{} (from platform {p})", self.text),
            _ => self.text.clone(),
        }
    }

    fn same_as(&self, other: &Value) -> bool {
        match self.kind {
            Kind::Kib => match (self.raw.parse::<f64>(), other.raw.parse::<f64>()) {
                (Ok(a), Ok(b)) => (a - b).abs() <= MEMORY_TOLERANCE * a.abs().max(b.abs()),
                _ => self.raw == other.raw,
            },
            Kind::Text | Kind::Switch => self.text == other.text,
        }
    }
}

fn shown(raw: &str, kind: Kind) -> String {
    match kind {
        Kind::Text => one_line(raw),
        Kind::Kib => match raw.trim().parse::<f64>() {
            Ok(kib) => format!("{:.1} GiB", kib / (1024.0 * 1024.0)),
            Err(_) => one_line(raw),
        },
        Kind::Switch => match raw.trim().to_ascii_lowercase().as_str() {
            "1" | "on" | "true" | "yes" | "active" => "on".to_string(),
            "0" | "off" | "false" | "no" | "inactive" => "off".to_string(),
            other => one_line(other),
        },
    }
}

/// One fact of one machine: from its host platform, else its executor check, else any of its
/// platforms.
fn machine_fact<'a>(model: &'a Model, m: &Machine<'a>, def: &FactDef) -> Option<Value<'a>> {
    let fact = |i: usize, keys: &[&str]| -> Option<&'a str> {
        let p = &model.platforms[i];
        keys.iter()
            .find_map(|k| p.fact(k))
            .filter(|v| !v.trim().is_empty())
    };
    let from_host = m
        .host
        .and_then(|h| Some((fact(h, def.host)?, Source::Host(model.platforms[h].name))));
    let from_check = || {
        m.platforms
            .iter()
            .find_map(|&i| Some((fact(i, def.remote)?, Source::Check)))
    };
    let from_any = || {
        m.platforms
            .iter()
            .filter(|&&i| Some(i) != m.host)
            .find_map(|&i| Some((fact(i, def.any)?, Source::Platform(model.platforms[i].name))))
    };
    let (raw, source) = from_host.or_else(from_check).or_else(from_any)?;
    Some(Value {
        text: shown(raw, def.kind),
        raw: raw.trim().to_string(),
        kind: def.kind,
        source,
    })
}

/// What hypervisor the machine offers: "xen dom0" and/or "kvm usable", from its executor check
/// and from the platforms that ran there; "none" when the check found neither; None when nothing
/// says.
fn hypervisor(model: &Model, m: &Machine) -> Option<String> {
    let platforms = || m.platforms.iter().map(|&i| &model.platforms[i]);
    let check = |key: &str| platforms().find_map(|p| p.fact(key)).map(str::trim);
    let checked = check("remote.xen.control_d").is_some() || check("remote.kvm.rw").is_some();
    let real = || platforms().filter(|p| !p.is_lab() && !p.is_tcg());
    let xen =
        check("remote.xen.control_d") == Some("true") || real().any(|p| p.driver == XEN_DRIVER);
    let kvm = check("remote.kvm.rw") == Some("true")
        || real().any(|p| {
            p.driver == QEMU_DRIVER
                && p.fact(hvbench_proto::facts::ACCEL)
                    .is_some_and(|a| a.trim().eq_ignore_ascii_case("kvm"))
        });
    let mut parts = Vec::new();
    if xen {
        parts.push("xen dom0");
    }
    if kvm {
        parts.push("kvm usable");
    }
    if parts.is_empty() {
        checked.then(|| "none".to_string())
    } else {
        Some(parts.join(", "))
    }
}

/// Every machine's value of one fact, in machine order.
struct FactRow<'a> {
    key: &'static str,
    label: &'static str,
    hardware: bool,
    /// Compared for the warning (not the hypervisor).
    compared: bool,
    values: Vec<Option<Value<'a>>>,
}

fn rows<'a>(model: &'a Model) -> Vec<FactRow<'a>> {
    let mut out: Vec<FactRow> = FACTS
        .iter()
        .filter_map(|def| {
            let values: Vec<Option<Value>> = model
                .machines
                .iter()
                .map(|m| machine_fact(model, m, def))
                .collect();
            (def.always || values.iter().any(Option::is_some)).then_some(FactRow {
                key: def.key,
                label: def.label,
                hardware: def.hardware,
                compared: true,
                values,
            })
        })
        .collect();
    out.push(FactRow {
        key: HYPERVISOR.0,
        label: HYPERVISOR.1,
        hardware: false,
        compared: false,
        values: model
            .machines
            .iter()
            .map(|m| {
                hypervisor(model, m).map(|text| Value {
                    raw: text.clone(),
                    text,
                    kind: Kind::Text,
                    source: Source::Derived,
                })
            })
            .collect(),
    });
    out
}

/// A fact whose known values differ between machines.
#[derive(Serialize)]
pub(crate) struct Difference<'a> {
    pub fact: &'static str,
    pub label: &'static str,
    /// A property of the hardware (CPU, memory, ...), else of the software on it.
    pub hardware: bool,
    /// The machines that know it, in machine order.
    pub values: Vec<MachineValue<'a>>,
}

#[derive(Serialize)]
pub(crate) struct MachineValue<'a> {
    pub machine: &'a str,
    pub value: String,
}

/// The compared facts whose known values are not all the same (nothing with one machine).
pub(crate) fn differences<'a>(model: &'a Model) -> Vec<Difference<'a>> {
    if !model.several_machines() {
        return Vec::new();
    }
    rows(model)
        .into_iter()
        .filter(|r| r.compared)
        .filter_map(|r| {
            let known: Vec<(&Machine, &Value)> = model
                .machines
                .iter()
                .zip(&r.values)
                .filter_map(|(m, v)| Some((m, v.as_ref()?)))
                .collect();
            let first = known.first()?.1;
            if known.iter().all(|(_, v)| v.same_as(first)) {
                return None;
            }
            Some(Difference {
                fact: r.key,
                label: r.label,
                hardware: r.hardware,
                values: known
                    .iter()
                    .map(|(m, v)| MachineValue {
                        machine: m.name,
                        value: v.cell(),
                    })
                    .collect(),
            })
        })
        .collect()
}

/// hvbench's own overhead on a machine: the wall time its trials took over the time the agents
/// spent in measurement windows (warm-ups and aggressors' heartbeats left out). 1.0 would be a
/// campaign that did nothing but measure; the rest is booting guests, shipping, waiting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Overhead {
    /// From the first trial's start to the last trial's end on the machine.
    pub wall_s: f64,
    /// The measured windows' total length.
    pub measured_s: f64,
    /// `wall_s / measured_s`.
    pub factor: f64,
}

/// [`Overhead`] of machine `mi`; None without finished trials or measured windows.
pub(crate) fn overhead(model: &Model, mi: usize) -> Option<Overhead> {
    let names: Vec<&str> = model.machines[mi]
        .platforms
        .iter()
        .map(|&i| model.platforms[i].name)
        .collect();
    let trials = model
        .input
        .trials
        .iter()
        .filter(|t| names.contains(&t.platform.as_str()));
    let mut span: Option<(i64, i64)> = None;
    for t in trials {
        let end = t.finished_ms.unwrap_or(t.started_ms);
        span = Some(span.map_or((t.started_ms, end), |(a, b)| {
            (a.min(t.started_ms), b.max(end))
        }));
    }
    let (first, last) = span?;
    let measured_s: f64 = model
        .input
        .samples
        .iter()
        .filter(|s| !s.warmup && names.contains(&s.platform.as_str()))
        .filter(|s| !hvbench_proto::names::Role::is_aggressor_name(&s.guest))
        .map(|s| s.elapsed_ns as f64 / 1e9)
        .sum();
    let wall_s = last.saturating_sub(first) as f64 / 1e3;
    (last > first && measured_s > 0.0).then(|| Overhead {
        wall_s,
        measured_s,
        factor: wall_s / measured_s,
    })
}

/// "hvbench's own overhead: 2.1x on this machine (42.0 s of trials for 20.0 s of measurement
/// windows), ..." — None when nothing was measured.
pub(crate) fn overhead_sentence(model: &Model) -> Option<String> {
    let parts: Vec<String> = (0..model.machines.len())
        .filter_map(|mi| {
            let o = overhead(model, mi)?;
            Some(format!(
                "{:.1}x on {} ({:.1} s of trials for {:.1} s of measurement windows)",
                o.factor,
                model.machines[mi].described(),
                o.wall_s,
                o.measured_s
            ))
        })
        .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "hvbench's own overhead (wall time of the trials over the time spent measuring): {}.",
            parts.join("; ")
        )
    })
}

/// One machine in the summary JSON.
#[derive(Serialize)]
pub(crate) struct MachineSummary<'a> {
    pub name: &'a str,
    /// hvbench's own overhead there; null when nothing was measured.
    pub overhead: Option<Overhead>,
    /// Its platforms, in platform order.
    pub platforms: Vec<&'a str>,
    /// Its own baseline (its first platform with driver "host"); null when it has none.
    pub baseline: Option<&'a str>,
    /// The platform its other platforms are compared with: its baseline, or the run's when it
    /// has none; null when the run has no baseline.
    pub compared_with: Option<&'a str>,
    /// What is known of it (`cpu_model`, `cpus`, `smt`, `memory`, `kernel`, `microcode`,
    /// `cpu_governor`, `hypervisor`), as the report shows it.
    pub facts: BTreeMap<&'static str, String>,
    /// Where each fact came from.
    pub fact_sources: BTreeMap<&'static str, String>,
    /// The facts as the report's text shows them: marked "(from platform NAME)" when only a
    /// platform's view of the machine said.
    #[serde(skip)]
    pub shown: BTreeMap<&'static str, String>,
}

pub(crate) fn summaries<'a>(model: &'a Model) -> Vec<MachineSummary<'a>> {
    let rows = rows(model);
    model
        .machines
        .iter()
        .enumerate()
        .map(|(mi, m)| {
            let mut facts = BTreeMap::new();
            let mut fact_sources = BTreeMap::new();
            let mut shown = BTreeMap::new();
            for r in &rows {
                if let Some(v) = &r.values[mi] {
                    facts.insert(r.key, v.text.clone());
                    fact_sources.insert(r.key, v.source.describe());
                    shown.insert(r.key, v.cell());
                }
            }
            MachineSummary {
                name: m.name,
                overhead: overhead(model, mi),
                platforms: m
                    .platforms
                    .iter()
                    .map(|&i| model.platforms[i].name)
                    .collect(),
                baseline: m.host.map(|h| model.platforms[h].name),
                compared_with: m
                    .host
                    .or(model.baseline.as_ref().map(|b| b.index))
                    .map(|b| model.platforms[b].name),
                facts,
                fact_sources,
                shown,
            }
        })
        .collect()
}

/// The side-by-side table (one column per machine, one row per fact) and the warning naming the
/// facts that differ; nothing with one machine.
pub(crate) fn side_by_side(model: &Model) -> Vec<Block> {
    if !model.several_machines() {
        return Vec::new();
    }
    let mut columns = vec![("fact".to_string(), Align::Left)];
    columns.extend(
        model
            .machines
            .iter()
            .map(|m| (one_line(m.name), Align::Left)),
    );
    let columns: Vec<(&str, Align)> = columns.iter().map(|(h, a)| (h.as_str(), *a)).collect();
    let mut table = Table::new(&columns);
    for r in rows(model) {
        let mut cells = vec![r.label.to_string()];
        cells.extend(
            r.values
                .iter()
                .map(|v| v.as_ref().map_or_else(|| "-".to_string(), Value::cell)),
        );
        table.push(cells);
    }
    let mut blocks = vec![
        Block::Subsection("Machines side by side".into()),
        Block::Table(table),
    ];
    if let Some(w) = warning(&differences(model)) {
        blocks.push(Block::Warning(w));
    }
    blocks
}

/// "The machines differ in: CPU model (A on x vs B on y), ...: ratios across machines compare
/// different hardware."
pub(crate) fn warning(differences: &[Difference]) -> Option<String> {
    if differences.is_empty() {
        return None;
    }
    let items: Vec<String> = differences
        .iter()
        .map(|d| {
            let values: Vec<String> = d
                .values
                .iter()
                .map(|v| format!("{} on {}", v.value, one_line(v.machine)))
                .collect();
            format!("{} ({})", d.label, values.join(" vs "))
        })
        .collect();
    let what = if differences.iter().any(|d| d.hardware) {
        "different hardware"
    } else {
        "machines set up differently"
    };
    Some(format!(
        "The machines differ in: {}: ratios across machines compare {what}.",
        items.join(", ")
    ))
}
