//! The I/O rules: a guest faster than its host on disk (a cache in between), and small-request
//! latency far worse than bulk transfers (an emulated device, no vhost, no iothread). Both read
//! the guest's device and cache facts.

use super::{anomaly, better_text, costs_more, tcg_cause};
use crate::anomaly::facts::{cause, fact, get, is_off, number};
use crate::anomaly::{geomean, times, Anomaly, Context, Versus};
use crate::classes::WorkloadClass;
use hvbench_proto::facts as key;

pub(super) fn guest_faster_io(ctx: &Context, out: &mut Vec<Anomaly>) {
    for g in ctx.guests() {
        let faster: Vec<Versus> = ctx
            .versus_class(g.name, WorkloadClass::Disk)
            .into_iter()
            .filter(|v| v.ci.hi < 1.0)
            .collect();
        if faster.is_empty() {
            continue;
        }
        let list: Vec<String> = faster.iter().map(better_text).collect();
        let mut a = anomaly(
            0,
            g,
            &faster.iter().collect::<Vec<_>>(),
            format!(
                "{} beats the bare host it runs on: {} better than {}",
                g.name,
                list.join(", "),
                ctx.ev.baseline
            ),
        );
        if let Some(mode) = get(g, "qemu.disk_cache") {
            let m = mode.to_ascii_lowercase();
            let text = match m.as_str() {
                "writeback" => Some("QEMU opens the disk image with cache=writeback: the guest's reads and writes are \
                                     served by the host's page cache, so the guest measures the host's memory, not the disk"),
                "unsafe" => Some("QEMU opens the disk image with cache=unsafe: the host's page cache serves the guest's I/O \
                                  and even its flushes are ignored"),
                "writethrough" => Some("QEMU opens the disk image with cache=writethrough: the guest's reads are served by \
                                        the host's page cache"),
                _ => None,
            };
            if let Some(t) = text {
                a.causes.push(cause(t, g, &["qemu.disk_cache"]));
            }
        }
        // The workload's own parameters reach the rules as facts `plan.WORKLOAD.PARAM`.
        let plan_key = |v: &Versus, param: &str| format!("plan.{}.{param}", v.series.workload);
        let buffered = faster
            .iter()
            .map(|v| plan_key(v, "mode"))
            .find(|k| get(g, k).is_some_and(|m| m.eq_ignore_ascii_case("buffered")));
        if let Some(key) = buffered {
            a.causes.push(cause(
                "the disk workload ran buffered (mode=buffered, no O_DIRECT): the guest's own page cache answers \
                 repeated reads",
                g,
                &[key.as_str()],
            ));
        } else if get(g, "disk.o_direct").is_some_and(is_off) {
            a.causes.push(cause(
                "the guest's disk test ran without O_DIRECT: the guest's own page cache answers repeated reads",
                g,
                &["disk.o_direct"],
            ));
        }
        let size_key = faster
            .iter()
            .map(|v| plan_key(v, "size_mib"))
            .chain(["disk.file_mib".to_string()])
            .find(|k| get(g, k).is_some());
        let file_mib = size_key.as_deref().and_then(|k| get(g, k)).and_then(number);
        let host = ctx.baseline();
        let host_mib = host
            .and_then(|h| get(h, "mem.total_kib"))
            .and_then(number)
            .map(|kib| kib / 1024.0);
        if let (Some(file), Some(mem), Some(h), Some(key)) = (file_mib, host_mib, host, &size_key) {
            if file < mem {
                let mut c = cause(
                    format!(
                        "the test region ({file:.0} MiB) fits in the host's memory ({mem:.0} MiB), so a host-side cache \
                         can hold all of it"
                    ),
                    g,
                    &[key.as_str()],
                );
                c.facts.extend(fact(h, "mem.total_kib"));
                a.causes.push(c);
            }
        }
        out.push(a);
    }
}

/// Which series are small requests and which bulk transfers, per kind of device.
struct IoKind {
    name: &'static str,
    small: fn(&str) -> bool,
    bulk: fn(&str) -> bool,
    model_keys: &'static [&'static str],
}

const IO_KINDS: &[IoKind] = &[
    IoKind {
        name: "network",
        small: |w| w == "net-rr",
        bulk: |w| w == "net-bulk",
        model_keys: &["qemu.nic", "qemu.net_model", key::NET_MODEL],
    },
    IoKind {
        name: "disk",
        small: |w| w.starts_with("disk-") && (w.contains("rand") || w.contains("4k")),
        bulk: |w| w.starts_with("disk-") && w.contains("seq") && !w.contains("4k"),
        model_keys: &["qemu.disk_if", "qemu.disk_model", "disk.model"],
    },
];

pub(super) fn io_latency_vs_bulk(ctx: &Context, out: &mut Vec<Anomaly>) {
    for g in ctx.guests() {
        for kind in IO_KINDS {
            let versus = |pick: fn(&str) -> bool| -> Vec<Versus> {
                ctx.series_of(g.name)
                    .filter(|s| pick(s.workload))
                    .filter_map(|s| ctx.versus(s))
                    .collect()
            };
            let Some(bulk) = geomean(&versus(kind.bulk)) else {
                continue;
            };
            let bar = ctx.cfg.latency_vs_bulk_factor * bulk.max(1.0);
            let hits: Vec<Versus> = versus(kind.small)
                .into_iter()
                .filter(|v| v.ci.lo > bar)
                .collect();
            let Some(mut a) = costs_more(6, g, &hits, |list| {
                format!(
                    "{} small requests: {list} of the host's cost, against {} on bulk transfers",
                    kind.name,
                    times(bulk)
                )
            }) else {
                continue;
            };
            if let Some(key) = kind
                .model_keys
                .iter()
                .find(|k| get(g, k).is_some_and(|m| !m.to_ascii_lowercase().contains("virtio")))
            {
                a.causes.push(cause(
                    format!(
                        "an emulated {} device rather than virtio: every request traps into the device model",
                        kind.name
                    ),
                    g,
                    &[key],
                ));
            }
            // net.vhost is "on" or "off: why" (docs/architecture.md, "Guests' networks").
            if kind.name == "network"
                && get(g, key::NET_VHOST).is_some_and(|v| is_off(v) || v.starts_with("off:"))
            {
                a.causes.push(cause(
                    "virtio-net without vhost: every packet makes a trip through QEMU's main loop",
                    g,
                    &[key::NET_VHOST],
                ));
            }
            if kind.name == "network" && get(g, key::NET_BACKEND).is_some_and(|b| b == "slirp") {
                a.causes.push(cause(
                    "QEMU's user network (slirp): every packet goes through a TCP/IP stack in QEMU's \
                     user space, which no cloud runs",
                    g,
                    &[key::NET_BACKEND],
                ));
            }
            if kind.name == "disk"
                && get(g, "qemu.iothreads").is_some_and(|v| v == "0" || is_off(v))
            {
                a.causes.push(cause(
                    "no iothread: disk requests are served by QEMU's main loop, one at a time with everything else",
                    g,
                    &["qemu.iothreads"],
                ));
            }
            a.causes.extend(tcg_cause(
                g,
                "each device access is an emulated exit into QEMU, which per-request latency pays and bulk \
                 transfers amortize",
            ));
            out.push(a);
        }
    }
}
