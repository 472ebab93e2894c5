//! `hvbench plan SPEC`: the expanded plan in words.

use crate::{Driver, Plan, GUEST_BASE_MIB};
use std::fmt::Write;

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Seconds, in a short human form.
fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 120_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 7_200_000 {
        format!("{:.1} min", ms as f64 / 60_000.0)
    } else {
        format!("{:.1} h", ms as f64 / 3_600_000.0)
    }
}

pub(crate) fn render(plan: &Plan) -> String {
    // Writing to a String cannot fail.
    let mut out = String::new();
    let _ = write_plan(&mut out, plan);
    out
}

fn write_plan(o: &mut String, p: &Plan) -> std::fmt::Result {
    let reps = u64::from(p.repetitions);
    let n_platforms = p.platforms.len() as u64;
    let n_vms = p.vm_platforms().count() as u64;
    let n_workloads = p.workloads.len() as u64;
    let warmup = u64::from(p.warmup);
    let samples = u64::from(p.samples);

    writeln!(o, "experiment `{}`", p.name)?;
    writeln!(
        o,
        "  rounds:  {} (each visits every platform once, in a fresh random order; {})",
        p.repetitions,
        match p.seed {
            Some(seed) => format!("seed {seed}"),
            None => "no seed: the order differs from run to run".to_string(),
        }
    )?;
    if let Some(stop) = p.stop_early {
        writeln!(
            o,
            "  stop early: after {} rounds or more, once every median's 95% interval is within {}% of it ({} rounds at most)",
            stop.min_repetitions, stop.target_ci_pct, p.repetitions
        )?;
    }
    writeln!(
        o,
        "  windows: {} + {} per workload per round, each at least {} ms",
        plural(warmup, "warm-up (discarded)", "warm-up (discarded)"),
        plural(samples, "measured", "measured"),
        p.min_window_ms
    )?;

    writeln!(o)?;
    writeln!(o, "platforms ({}):", p.platforms.len())?;
    let width = p.platforms.iter().map(|x| x.name.len()).max().unwrap_or(0);
    let has_disk_workload = p.workloads.iter().any(|w| {
        w.def()
            .is_some_and(|d| d.devices().contains(&hvbench_proto::Device::Disk))
    });
    for x in &p.platforms {
        let what = match &x.driver {
            Driver::Host => "the agent as a plain process on this machine (baseline)".to_string(),
            Driver::Qemu(q) => format!(
                "qemu, accel {}{}, machine {}, cpu {}{}",
                q.accel,
                if q.accel == crate::Accel::Auto {
                    " (kvm where usable, else tcg)"
                } else {
                    ""
                },
                q.machine,
                match (&q.cpu, q.accel) {
                    (Some(cpu), _) => cpu.clone(),
                    (None, crate::Accel::Kvm) => "host".to_string(),
                    (None, crate::Accel::Tcg) => "max".to_string(),
                    (None, crate::Accel::Auto) => "host with kvm, max with tcg".to_string(),
                },
                if has_disk_workload {
                    format!(", disk cache {}", q.disk_cache)
                } else {
                    String::new()
                }
            ),
            Driver::Xen(xen) => {
                let mut s = format!("xen, type {}", xen.kind.as_str());
                if let Some(c) = &xen.cpus {
                    s.push_str(&format!(", vCPUs pinned to {c}"));
                }
                if let Some(w) = xen.weight {
                    s.push_str(&format!(", credit2 weight {w}"));
                }
                if let Some(c) = xen.cap {
                    s.push_str(&format!(", cap {c}%"));
                }
                s
            }
        };
        let lab = if x.lab {
            " [in the emulated lab host]"
        } else {
            ""
        };
        writeln!(o, "  {:width$}  {what}{lab}", x.name)?;
    }

    if n_vms > 0 {
        let g = &p.guest;
        writeln!(o)?;
        writeln!(
            o,
            "guest (every VM platform): {}, {} MiB, kernel {}, timeout {} s per boot",
            plural(u64::from(g.vcpus), "vCPU", "vCPUs"),
            g.memory_mib,
            match &g.kernel {
                Some(k) => k.display().to_string(),
                None => "Debian's cloud kernel (fetched into the cache)".to_string(),
            },
            g.timeout_s
        )?;
    }

    writeln!(o)?;
    writeln!(
        o,
        "workloads ({}, in this order in every agent run):",
        p.workloads.len()
    )?;
    let width = p.workloads.iter().map(|w| w.id.len()).max().unwrap_or(0);
    for w in &p.workloads {
        let def = w.def();
        let (unit, better) = def.map_or(("?", "?"), |d| (d.unit, d.better.as_str()));
        write!(o, "  {:width$}  {unit}, {better} is better", w.id)?;
        if !w.params.is_empty() {
            let params: Vec<String> = w
                .params
                .iter()
                .map(|(k, v)| format!("{k}={}", json_text(v)))
                .collect();
            write!(o, "; {}", params.join(" "))?;
        }
        let need = w.memory_need_mib();
        if n_vms > 0 && need > 0 {
            write!(o, "; needs {need} MiB of guest memory")?;
        }
        writeln!(o)?;
    }

    // Saturating: a deserialized plan need not respect the spec's limits.
    let windows_per_run = n_workloads.saturating_mul(warmup + samples);
    let runs = reps.saturating_mul(n_platforms);
    let per_platform = reps.saturating_mul(n_workloads).saturating_mul(samples);
    writeln!(o)?;
    writeln!(o, "totals:")?;
    writeln!(
        o,
        "  agent runs:        {} ({} x {})",
        runs,
        plural(reps, "round", "rounds"),
        plural(n_platforms, "platform", "platforms")
    )?;
    writeln!(
        o,
        "  guest boots:       {} ({} x {})",
        reps.saturating_mul(n_vms),
        plural(reps, "round", "rounds"),
        plural(n_vms, "VM platform", "VM platforms")
    )?;
    writeln!(
        o,
        "  windows per run:   {} ({} x ({} warm-up + {} measured))",
        windows_per_run,
        plural(n_workloads, "workload", "workloads"),
        warmup,
        samples
    )?;
    writeln!(
        o,
        "  measured samples:  {} per workload per platform, {} per platform, {} in all",
        reps.saturating_mul(samples),
        per_platform,
        per_platform.saturating_mul(n_platforms)
    )?;
    writeln!(
        o,
        "  measuring time:    at least {} (windows only; boots and calibration come on top)",
        duration(
            runs.saturating_mul(windows_per_run)
                .saturating_mul(p.min_window_ms)
        )
    )?;
    if n_vms > 0 {
        let need = p
            .workloads
            .iter()
            .map(|w| w.memory_need_mib())
            .max()
            .unwrap_or(0);
        writeln!(
            o,
            "  guest memory:      {} MiB needed by the largest workload + {GUEST_BASE_MIB} MiB \
             for the kernel, of {} MiB",
            need, p.guest.memory_mib
        )?;
        writeln!(
            o,
            "  guest time limit:  {} in all, if every boot ran to its timeout",
            duration(
                reps.saturating_mul(n_vms)
                    .saturating_mul(p.guest.timeout_s)
                    .saturating_mul(1000)
            )
        )?;
    }
    Ok(())
}
