//! The reproducibility manifest: what it takes to rerun the experiment and to know what ran —
//! hvbench's version, the experiment file verbatim, kernels, hypervisors, image hashes, the
//! host's CPU and governor, and every fact recorded (every knob applied).

use crate::document::{one_line, Block};
use crate::model::Model;
use serde::Serialize;
use std::collections::BTreeMap;

/// The manifest's figures, shared by the text, HTML and JSON reports.
#[derive(Serialize)]
pub(crate) struct Manifest<'a> {
    pub hvbench_version: &'a str,
    /// The campaign's seed (platform order), from the stored plan.
    pub seed: Option<u64>,
    /// The experiment file verbatim; empty for the built-in default plan.
    pub spec: &'a str,
    pub host_cpu: Option<&'a str>,
    pub host_kernel: Option<&'a str>,
    pub cpu_governor: Option<&'a str>,
    /// Per platform: (platform, value).
    pub hypervisors: Vec<(&'a str, String)>,
    pub guest_kernels: Vec<(&'a str, &'a str)>,
    pub image_hashes: Vec<(&'a str, &'a str)>,
    /// Every fact of every platform.
    pub facts: BTreeMap<&'a str, &'a BTreeMap<String, String>>,
}

pub(crate) fn build<'a>(model: &'a Model<'a>) -> Manifest<'a> {
    let run = model.input.run;
    let host = model.baseline_platform();
    let host_fact = |k: &str| host.and_then(|h| h.fact(k));
    let seed = model.plan.as_ref().and_then(|p| p.seed);
    let mut hypervisors = Vec::new();
    let mut guest_kernels = Vec::new();
    let mut image_hashes = Vec::new();
    for (i, p) in model.platforms.iter().enumerate() {
        let mut parts = Vec::new();
        if let Some(v) = p.fact("qemu.version") {
            parts.push(format!("QEMU {v}"));
        }
        if let Some(v) = p.fact("xen.version") {
            parts.push(format!("Xen {v}"));
        }
        if let Some(v) = p.fact(hvbench_proto::facts::KVM_MODULE) {
            parts.push(format!("KVM module {v}"));
        }
        if let Some(v) = p.fact(hvbench_proto::facts::XEN_GUEST_TYPE) {
            parts.push(format!("guest type {v}"));
        }
        if let Some(v) = p.fact(hvbench_proto::facts::ACCEL) {
            parts.push(format!("accel {v}"));
        }
        // A baseline (the run's, or a machine's) is the bare machine, not a hypervisor.
        if !parts.is_empty() && !model.is_baseline(i) && Some(p.name) != host.map(|h| h.name) {
            hypervisors.push((p.name, parts.join(", ")));
        }
        if let Some(k) = p.fact("guest.kernel") {
            guest_kernels.push((p.name, k));
        }
        if let Some(h) = p.fact("guest.initramfs.sha256") {
            image_hashes.push((p.name, h));
        }
    }
    Manifest {
        hvbench_version: &run.hvbench_version,
        seed,
        spec: &run.spec,
        host_cpu: host_fact("cpu.model"),
        host_kernel: host_fact("kernel.release"),
        cpu_governor: host_fact("cpu.governor"),
        hypervisors,
        guest_kernels,
        image_hashes,
        facts: model
            .platforms
            .iter()
            .filter_map(|p| Some((p.name, p.facts?)))
            .collect(),
    }
}

const NOT_RECORDED: &str = "not recorded";

fn per_platform(items: &[(&str, impl AsRef<str>)]) -> String {
    if items.is_empty() {
        return NOT_RECORDED.to_string();
    }
    items
        .iter()
        .map(|(p, v)| format!("{} on {}", one_line(v.as_ref()), one_line(p)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Per machine, its value of a machine fact (see [`crate::machines`]): "A on xenbox; B on
/// kvmbox".
fn per_machine(machines: &[crate::machines::MachineSummary], key: &str) -> String {
    let items: Vec<(&str, &str)> = machines
        .iter()
        .filter_map(|m| Some((m.name, m.shown.get(key)?.as_str())))
        .collect();
    per_platform(&items)
}

pub(crate) fn manifest(model: &Model) -> Vec<Block> {
    let m = build(model);
    let or_not = |v: Option<&str>| v.map_or_else(|| NOT_RECORDED.to_string(), one_line);
    // On several machines, each machine's own (the run's baseline is only one of them).
    let (host_cpu, host_kernel, cpu_governor) = if model.several_machines() {
        let machines = crate::machines::summaries(model);
        (
            per_machine(&machines, "cpu_model"),
            per_machine(&machines, "kernel"),
            per_machine(&machines, "cpu_governor"),
        )
    } else {
        (
            or_not(m.host_cpu),
            or_not(m.host_kernel),
            or_not(m.cpu_governor),
        )
    };
    let mut blocks = vec![
        Block::Section("Reproducibility manifest".into()),
        Block::Fields(vec![
            ("hvbench".into(), one_line(m.hvbench_version)),
            (
                "Seed".into(),
                m.seed
                    .map_or_else(|| NOT_RECORDED.to_string(), |s| s.to_string()),
            ),
            ("Host CPU".into(), host_cpu),
            ("Host kernel".into(), host_kernel),
            ("CPU governor".into(), cpu_governor),
            ("Hypervisors".into(), per_platform(&m.hypervisors)),
            ("Guest kernels".into(), per_platform(&m.guest_kernels)),
            ("Image hashes".into(), per_platform(&m.image_hashes)),
        ]),
        Block::Subsection("Experiment file (verbatim)".into()),
    ];
    if m.spec.trim().is_empty() {
        blocks.push(Block::Paragraph(
            "The built-in default experiment; its expanded plan, as stored:".into(),
        ));
        blocks.push(Block::Code {
            language: "json",
            text: model.input.run.plan_json.clone(),
        });
    } else {
        blocks.push(Block::Code {
            language: "toml",
            text: m.spec.to_string(),
        });
    }
    for p in &model.platforms {
        let Some(facts) = p.facts else {
            continue;
        };
        blocks.push(Block::Subsection(format!(
            "Facts of {} (driver {}): every knob recorded",
            one_line(p.name),
            one_line(p.driver)
        )));
        if facts.is_empty() {
            blocks.push(Block::Paragraph("No fact was recorded.".into()));
        } else {
            blocks.push(Block::Fields(
                facts
                    .iter()
                    .map(|(k, v)| (one_line(k), one_line(v)))
                    .collect(),
            ));
        }
    }
    blocks
}
