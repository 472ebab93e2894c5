//! `hvbench plan SPEC`: the expanded plan in words.

use crate::{json_text, Driver, IsolationSpec, Plan, WorkloadSpec, GUEST_BASE_MIB};
use hvbench_proto::Device;
use std::fmt::Write;

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// `k=v k=v` of a workload's or stressor's parameters.
fn params_text<V>(
    params: &std::collections::BTreeMap<String, V>,
    text: impl Fn(&V) -> String,
) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn needs_disk(w: &WorkloadSpec) -> bool {
    w.def().is_some_and(|d| d.devices().contains(&Device::Disk))
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
    write_header(o, p)?;
    write_platforms(o, p)?;
    write_lab_mix(o, p)?;
    write_guest(o, p)?;
    write_workloads(o, p)?;
    for scenario in &p.isolation {
        write_scenario(o, p, scenario)?;
    }
    write_totals(o, p)
}

/// The experiment's name, its rounds and windows, and whether evidence is counted.
fn write_header(o: &mut String, p: &Plan) -> std::fmt::Result {
    let warmup = u64::from(p.warmup);
    let samples = u64::from(p.samples);

    writeln!(o, "experiment `{}`", p.name)?;
    writeln!(
        o,
        "  rounds:  {} (each visits every platform once, in a fresh random order{}; {})",
        p.repetitions,
        if p.hosts.iter().any(|h| !h.boots.is_empty()) {
            ", grouped by boot on a dual-boot host, the boots in ABBA order"
        } else {
            ""
        },
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

    writeln!(
        o,
        "  evidence: {}",
        if p.evidence {
            "on (VM exits, hypervisor events, host-side CPU time and steal time in one counted window per workload after the measured ones; evidence = false turns it off)"
        } else {
            "off (evidence = false; by default VM exits and hypervisor events are counted beside the samples)"
        }
    )?;

    Ok(())
}

/// The hosts, if any, then each platform with what it runs and where.
fn write_platforms(o: &mut String, p: &Plan) -> std::fmt::Result {
    if !p.hosts.is_empty() {
        write_hosts(o, p)?;
    }

    writeln!(o)?;
    if p.hosts.is_empty() {
        writeln!(o, "platforms ({}):", p.platforms.len())?;
    } else {
        writeln!(o, "platforms ({}), and where each runs:", p.platforms.len())?;
    }
    let width = p.platforms.iter().map(|x| x.name.len()).max().unwrap_or(0);
    // With hosts, a column says where each platform runs.
    let where_width = p
        .platforms
        .iter()
        .map(|x| where_runs(x).len())
        .max()
        .unwrap_or(0);
    let has_disk_workload = p.workloads.iter().any(needs_disk)
        || p.isolation.iter().any(|s| {
            s.victim.iter().any(needs_disk)
                || s.stressors.iter().any(|x| {
                    hvbench_proto::catalog::stressor_devices(&x.kind).contains(&Device::Disk)
                })
        });
    for x in &p.platforms {
        let what = describe_driver(x, has_disk_workload);
        let lab = if x.lab {
            " [in the emulated lab host]"
        } else {
            ""
        };
        if p.hosts.is_empty() {
            writeln!(o, "  {:width$}  {what}{lab}", x.name)?;
        } else {
            let on = where_runs(x);
            writeln!(o, "  {:width$}  on {on:where_width$}  {what}{lab}", x.name)?;
        }
    }

    Ok(())
}

/// What a platform runs: the baseline process, or the hypervisor and its settings.
fn describe_driver(x: &crate::PlatformSpec, has_disk_workload: bool) -> String {
    match &x.driver {
        Driver::Host => match &x.host {
            None => "the agent as a plain process on this machine (baseline)".to_string(),
            Some(h) => format!("the agent as a plain process on {h} (its baseline)"),
        },
        Driver::Qemu(q) => format!(
            "qemu, accel {}{}, machine {}, cpu {}{}{}",
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
            },
            if q.net == crate::NetMode::Auto {
                String::new()
            } else {
                format!(", net {}", q.net)
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
            if let Some(m) = xen.tsc_mode {
                s.push_str(&format!(", tsc_mode {m}"));
            }
            s
        }
        Driver::Libvirt(l) => {
            let mut s = format!("libvirt ({}), {}", l.uri(), l.hypervisor);
            match l.hypervisor {
                crate::LibvirtHypervisor::Kvm => {
                    s.push_str(&format!(", accel {}", l.accel));
                    s.push_str(&format!(
                        ", cpu {}",
                        l.cpu
                            .as_deref()
                            .unwrap_or("libvirt's default (no <cpu> element)")
                    ));
                }
                crate::LibvirtHypervisor::Xen => {
                    s.push_str(&format!(", type {}", l.xen_type().as_str()))
                }
            }
            if let Some(c) = &l.cpus {
                s.push_str(&format!(", vCPUs pinned to {c}"));
            }
            s
        }
    }
}

/// The guest of every VM platform, when there is one.
fn write_guest(o: &mut String, p: &Plan) -> std::fmt::Result {
    let n_vms = p.vm_platforms().count() as u64;
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

    Ok(())
}

/// The battery's workloads, in the order every agent run measures them.
fn write_workloads(o: &mut String, p: &Plan) -> std::fmt::Result {
    let n_vms = p.vm_platforms().count() as u64;
    writeln!(o)?;
    if p.workloads.is_empty() {
        writeln!(
            o,
            "workloads: none (no battery trials; only the isolation scenarios run)"
        )?;
    } else {
        writeln!(
            o,
            "workloads ({}, in this order in every agent run):",
            p.workloads.len()
        )?;
    }
    let width = p.workloads.iter().map(|w| w.id.len()).max().unwrap_or(0);
    for w in &p.workloads {
        let def = w.def();
        let (unit, better) = def.map_or(("?", "?"), |d| (d.unit, d.better.as_str()));
        write!(o, "  {:width$}  {unit}, {better} is better", w.id)?;
        if !w.params.is_empty() {
            write!(o, "; {}", params_text(&w.params, json_text))?;
        }
        let need = w.memory_need_mib();
        if n_vms > 0 && need > 0 {
            write!(o, "; needs {need} MiB of guest memory")?;
        }
        writeln!(o)?;
    }

    Ok(())
}

/// The totals: agent runs, guest boots, windows, samples and the time it takes at least.
fn write_totals(o: &mut String, p: &Plan) -> std::fmt::Result {
    let reps = u64::from(p.repetitions);
    let n_platforms = p.platforms.len() as u64;
    let n_vms = p.vm_platforms().count() as u64;
    let n_workloads = p.workloads.len() as u64;
    let warmup = u64::from(p.warmup);
    let samples = u64::from(p.samples);

    // Saturating: a deserialized plan need not respect the spec's limits.
    // With evidence, one counted window per metric after the measured ones.
    let counted = if p.evidence && n_workloads > 0 {
        p.battery_metrics()
    } else {
        0
    };
    let windows_per_run = n_workloads
        .saturating_mul(warmup + samples)
        .saturating_add(counted);
    let runs = if n_workloads == 0 {
        0
    } else {
        reps.saturating_mul(n_platforms)
    };
    let battery_boots = if n_workloads == 0 {
        0
    } else {
        reps.saturating_mul(n_vms)
    };
    let per_platform = p.samples_per_platform();
    // Each workload's windows at their own length (a general benchmark's is its tool's
    // `time_s`), the counted ones at the plan's.
    let run_ms = p
        .workloads
        .iter()
        .map(|w| {
            let window = w.def().map_or(p.min_window_ms, |d| {
                d.resolve(&w.params)
                    .map_or(p.min_window_ms, |r| d.window_ms(&r, p.min_window_ms))
            });
            (warmup + samples).saturating_mul(window)
        })
        .fold(counted.saturating_mul(p.min_window_ms), u64::saturating_add);
    let mut measuring_ms = runs.saturating_mul(run_ms);
    writeln!(o)?;
    writeln!(o, "totals:")?;
    if n_workloads > 0 {
        writeln!(
            o,
            "  agent runs:        {} ({} x {})",
            runs,
            plural(reps, "round", "rounds"),
            plural(n_platforms, "platform", "platforms")
        )?;
    }
    if !p.isolation.is_empty() {
        measuring_ms = measuring_ms.saturating_add(write_isolation_runs(o, p)?);
    }
    let boots = p.guest_boots();
    if p.isolation.is_empty() {
        writeln!(
            o,
            "  guest boots:       {} ({} x {})",
            boots,
            plural(reps, "round", "rounds"),
            plural(n_vms, "VM platform", "VM platforms")
        )?;
    } else {
        writeln!(
            o,
            "  guest boots:       {} ({} for the battery, {} for the isolation cells)",
            boots,
            battery_boots,
            boots.saturating_sub(battery_boots)
        )?;
    }
    if n_workloads > 0 {
        writeln!(
            o,
            "  windows per run:   {} ({} x ({} warm-up + {} measured){})",
            windows_per_run,
            plural(n_workloads, "workload", "workloads"),
            warmup,
            samples,
            if counted > 0 {
                format!(" + {counted} counted for evidence")
            } else {
                String::new()
            }
        )?;
        writeln!(
            o,
            "  measured samples:  {} per workload per platform, {} per platform, {} in all",
            reps.saturating_mul(samples),
            per_platform,
            per_platform.saturating_mul(n_platforms)
        )?;
    }
    for s in &p.isolation {
        let n = s.samples_per_platform(p);
        writeln!(
            o,
            "  victim samples:    {} per victim workload per cell per platform, {} per platform \
             for `{}`",
            reps.saturating_mul(samples),
            n,
            s.name
        )?;
    }
    writeln!(
        o,
        "  measuring time:    at least {} (windows{} only; boots and calibration come on top)",
        duration(measuring_ms),
        if p.isolation.is_empty() {
            ""
        } else {
            " and settling"
        }
    )?;
    if n_vms > 0 {
        write_guest_totals(o, p, boots)?;
    }
    Ok(())
}

/// The isolation scenarios' victim and aggressor runs; returns their measuring and settling
/// time in ms.
fn write_isolation_runs(o: &mut String, p: &Plan) -> Result<u64, std::fmt::Error> {
    let reps = u64::from(p.repetitions);
    let warmup = u64::from(p.warmup);
    let samples = u64::from(p.samples);
    let mut measuring_ms = 0u64;
    let (mut victims, mut aggressors) = (0u64, 0u64);
    for s in &p.isolation {
        let cells = s.cells().len() as u64;
        let visits = reps.saturating_mul(s.platforms_of(p).count() as u64);
        let victim_runs = visits.saturating_mul(cells);
        let stress_cells = visits.saturating_mul(cells.saturating_sub(1));
        victims = victims.saturating_add(victim_runs);
        aggressors =
            aggressors.saturating_add(stress_cells.saturating_mul(u64::from(s.aggressors)));
        let victim_windows =
            (s.victim.len() as u64).saturating_mul(warmup + samples + u64::from(p.evidence));
        measuring_ms = measuring_ms
            .saturating_add(
                victim_runs
                    .saturating_mul(victim_windows)
                    .saturating_mul(p.min_window_ms),
            )
            .saturating_add(stress_cells.saturating_mul(s.settle_ms));
    }
    writeln!(
        o,
        "  isolation runs:    {} victim + {} aggressor agent runs (rounds x cells x platforms)",
        victims, aggressors
    )?;
    Ok(measuring_ms)
}

/// The guests' memory and the time limit of all their boots.
fn write_guest_totals(o: &mut String, p: &Plan, boots: u64) -> std::fmt::Result {
    let in_guest = |s: &&IsolationSpec| s.platforms_of(p).any(|x| x.is_vm());
    let need = p
        .workloads
        .iter()
        .chain(p.isolation.iter().filter(in_guest).flat_map(|s| &s.victim))
        .map(|w| w.memory_need_mib())
        .max()
        .unwrap_or(0);
    writeln!(
        o,
        "  guest memory:      {} MiB needed by the largest workload + {GUEST_BASE_MIB} MiB \
         for the kernel, of {} MiB",
        need, p.guest.memory_mib
    )?;
    // A scratch disk as large as the largest region a disk workload (fio, oltp included) uses.
    let scratch = p
        .workloads
        .iter()
        .filter(|w| needs_disk(w))
        .filter_map(|w| w.params.get("size_mib").and_then(serde_json::Value::as_u64))
        .max();
    if let Some(mib) = scratch {
        writeln!(
            o,
            "  scratch disk:      {mib} MiB, made for each guest trial"
        )?;
    }
    let tools = p.tools();
    if !tools.is_empty() {
        writeln!(
            o,
            "  tools tree:        {} from Debian 12's packages, unpacked into the cache on first \
             use (never installed); guests get it as a read-only disk beside the scratch disk, \
             the host runs it chrooted",
            tools.join(", ")
        )?;
    }
    writeln!(
        o,
        "  guest time limit:  {} in all, if every boot ran to its timeout",
        duration(boots.saturating_mul(p.guest.timeout_s).saturating_mul(1000))
    )?;
    Ok(())
}

/// Whether a platform's timings are emulated: it runs in the lab (`lab = true`, or on the
/// emulated dual-boot lab machine, a `[[host]]` with `lab = true`).
fn emulated(p: &Plan, x: &crate::PlatformSpec) -> bool {
    x.lab || p.host_of(x).is_some_and(|h| h.lab)
}

/// A warning when one comparison mixes lab platforms (emulated timings) with real ones: guests
/// on this machine or on a `[[host]]`, or a `[[host]]`'s baseline. The host baseline on this
/// machine against lab guests is the usual default comparison: a note, not a warning.
fn write_lab_mix(o: &mut String, p: &Plan) -> std::fmt::Result {
    let names = |f: &dyn Fn(&&crate::PlatformSpec) -> bool| -> Vec<&str> {
        p.platforms
            .iter()
            .filter(f)
            .map(|x| x.name.as_str())
            .collect()
    };
    let lab = names(&|x| emulated(p, x));
    let real = names(&|x| !emulated(p, x) && (x.is_vm() || x.host.is_some()));
    // Lab platforms compared with a baseline on real hardware, and those baselines.
    let (mut on_real, mut real_bases): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    for x in p.platforms.iter().filter(|x| emulated(p, x)) {
        if let Some(b) = p.baseline_of(x).filter(|b| !emulated(p, b)) {
            on_real.push(&x.name);
            if !real_bases.contains(&b.name.as_str()) {
                real_bases.push(&b.name);
            }
        }
    }
    let mixed = !lab.is_empty() && !real.is_empty();
    if mixed || !on_real.is_empty() {
        writeln!(o)?;
    }
    if mixed {
        writeln!(
            o,
            "warning: this experiment mixes real platforms ({}) with lab platforms ({}): lab \
             timings are emulated (a Xen or KVM host nested under QEMU's TCG), so figures of the \
             one kind are not comparable with the other's; compare real platforms with real ones \
             and lab platforms with lab ones (e.g. in two experiments)",
            real.join(", "),
            lab.join(", ")
        )?;
    }
    if !on_real.is_empty() {
        writeln!(
            o,
            "note: the lab platforms ({}) are compared with the host baseline ({}), which runs \
             on real hardware: their ratios measure emulation as well as the hypervisor (the \
             report says lab figures are emulated)",
            on_real.join(", "),
            real_bases.join(", ")
        )?;
    }
    Ok(())
}

/// Where a platform runs: its host (booted into its boot entry), or this machine.
fn where_runs(x: &crate::PlatformSpec) -> String {
    match (&x.host, &x.boot) {
        (Some(h), Some(b)) => format!("{h}, boot {b}"),
        (Some(h), None) => h.clone(),
        (None, _) => "this machine".to_string(),
    }
}

/// The `[[host]]`s: how each is reached, its cache, and the platforms that run there.
fn write_hosts(o: &mut String, p: &Plan) -> std::fmt::Result {
    writeln!(o)?;
    writeln!(o, "hosts ({}, reached over SSH):", p.hosts.len())?;
    let width = p.hosts.iter().map(|h| h.name.len()).max().unwrap_or(0);
    for h in &p.hosts {
        let mut line = if h.lab {
            "the emulated dual-boot lab machine (hvbench boots it and fills in ssh)".to_string()
        } else {
            format!("ssh {}", h.ssh)
        };
        if h.ssh.user.is_none() {
            line.push_str(" (user and options from ~/.ssh/config)");
        }
        if let Some(k) = &h.identity_file {
            line.push_str(&format!(", key {}", k.display()));
        }
        if let Some(k) = &h.known_hosts {
            line.push_str(&format!(", known hosts {}", k.display()));
        }
        match &h.cache_dir {
            Some(c) => line.push_str(&format!(", cache {c}")),
            None if h.lab => {}
            None => line.push_str(&format!(", cache {} (default)", crate::DEFAULT_CACHE_DIR)),
        }
        let here: Vec<&str> = p
            .platforms
            .iter()
            .filter(|x| x.host.as_deref() == Some(h.name.as_str()))
            .map(|x| x.name.as_str())
            .collect();
        if here.is_empty() {
            line.push_str("; no platform runs here");
        } else {
            line.push_str(&format!("; runs {}", here.join(", ")));
        }
        writeln!(o, "  {:width$}  {line}", h.name)?;
        if h.is_dual_boot() {
            writeln!(
                o,
                "  {:width$}  rebooted between {} boot entries, alternating their order each \
                 round:",
                "",
                h.boots.len()
            )?;
            let bw = h.boots.iter().map(|b| b.name.len()).max().unwrap_or(0);
            for b in &h.boots {
                writeln!(
                    o,
                    "  {:width$}    boot {:bw$}  {}, select `{}`, reboot `{}`, SSH within {} s",
                    "", b.name, b.hypervisor, b.select, b.reboot, b.timeout_s
                )?;
            }
        }
    }
    Ok(())
}

/// One isolation scenario: where it runs, its victim, stressors and cells.
fn write_scenario(o: &mut String, p: &Plan, s: &IsolationSpec) -> std::fmt::Result {
    let platforms: Vec<&str> = s.platforms_of(p).map(|x| x.name.as_str()).collect();
    let cells = s.cells();
    writeln!(o)?;
    writeln!(
        o,
        "isolation scenario `{}` on {}:",
        s.name,
        if platforms.is_empty() {
            "no platform".to_string()
        } else {
            platforms.join(", ")
        }
    )?;
    let victim: Vec<String> = s
        .victim
        .iter()
        .map(|w| {
            if w.params.is_empty() {
                w.id.clone()
            } else {
                format!("{} ({})", w.id, params_text(&w.params, json_text))
            }
        })
        .collect();
    writeln!(o, "  victim:      {}", victim.join("; "))?;
    let stressors: Vec<String> = s
        .stressors
        .iter()
        .zip(s.stressor_labels())
        .map(|(x, label)| {
            if x.params.is_empty() || label != x.kind {
                label
            } else {
                format!("{label} ({})", params_text(&x.params, json_text))
            }
        })
        .collect();
    writeln!(o, "  stressors:   {}", stressors.join("; "))?;
    let placements: Vec<&str> = s.placements.iter().map(|x| x.as_str()).collect();
    writeln!(o, "  placements:  {}", placements.join(", "))?;
    let mut knobs = plural(u64::from(s.aggressors), "aggressor", "aggressors");
    knobs.push_str(" per stress cell");
    if let Some(w) = s.aggressor_weight {
        knobs.push_str(&format!(", CPU weight {w}"));
    }
    if let Some(c) = s.aggressor_cap_pct {
        knobs.push_str(&format!(", capped at {c}% of one CPU"));
    }
    writeln!(
        o,
        "  aggressors:  {knobs}; the victim starts {} after every aggressor reported",
        duration(s.settle_ms)
    )?;
    writeln!(
        o,
        "  cells per round: {} on each platform (1 baseline + {} x {}):",
        cells.len(),
        plural(s.stressors.len() as u64, "stressor", "stressors"),
        plural(s.placements.len() as u64, "placement", "placements")
    )?;
    let width = cells.iter().map(|c| c.scenario.len()).max().unwrap_or(0);
    for c in &cells {
        let what = match (&c.stressor, c.placement) {
            (Some(x), Some(placement)) => format!(
                "beside {}, {}",
                plural(
                    u64::from(s.aggressors),
                    &format!("{} aggressor", x.kind),
                    &format!("{} aggressors", x.kind)
                ),
                match placement {
                    crate::Placement::Shared => "on the same CPUs",
                    crate::Placement::PinnedApart => "on CPUs apart (needs at least 2)",
                }
            ),
            _ => "the victim alone (baseline)".to_string(),
        };
        writeln!(o, "    {:width$}  {what}", c.scenario)?;
    }
    Ok(())
}
