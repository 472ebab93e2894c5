//! The memory rule: a mem-latency curve that diverges from the host's beyond the TLB's reach
//! (no huge pages, nested or shadow paging), with the parsing of its `latency@SIZE` metrics.

use super::{anomaly, tcg_cause};
use crate::anomaly::facts::{cause, get, is_hardware_virtualized, selected};
use crate::anomaly::paging::{elsewhere, paging, Paging};
use crate::anomaly::{times, Anomaly, Context, PlatformFacts, Versus};
use hvbench_proto::facts as key;

/// The working set of a mem-latency metric: `latency@64KiB` -> 65536. Units B, K/KB/KiB,
/// M/MB/MiB, G/GB/GiB (all powers of 1024); None without an `@SIZE` suffix.
pub fn working_set_bytes(metric: &str) -> Option<u64> {
    let (_, size) = metric.rsplit_once('@')?;
    let size = size.trim();
    let split = size
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(size.len());
    let n: u64 = size[..split].parse().ok()?;
    let shift = match size[split..].to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

fn size_text(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

fn median_of(mut v: Vec<f64>) -> Option<f64> {
    crate::descriptive::median_in_place(&mut v)
}

pub(super) fn tlb_nested_paging(ctx: &Context, out: &mut Vec<Anomaly>) {
    let reach = ctx.cfg.tlb_reach_bytes;
    for g in ctx.guests() {
        let curve: Vec<(u64, Versus)> = ctx
            .series_of(g.name)
            .filter(|s| s.workload == "mem-latency")
            .filter_map(|s| Some((working_set_bytes(s.metric)?, ctx.versus(s)?)))
            .collect();
        let Some(within) = median_of(
            curve
                .iter()
                .filter(|(b, _)| *b <= reach)
                .map(|(_, v)| v.times_worse)
                .collect(),
        ) else {
            continue;
        };
        let Some((size, worst)) = curve
            .iter()
            .filter(|(b, _)| *b > reach)
            .max_by(|a, b| a.1.ci.lo.total_cmp(&b.1.ci.lo))
        else {
            continue;
        };
        if worst.ci.lo <= (1.0 + ctx.cfg.tlb_divergence) * within {
            continue;
        }
        let mut a = anomaly(
            3,
            g,
            &[worst],
            format!(
                "memory latency is {} the host's for working sets within the TLB's reach (<= {}) but {} (CI {}-{}) at {}",
                times(within),
                size_text(reach),
                times(worst.times_worse),
                times(worst.ci.lo),
                times(worst.ci.hi),
                size_text(*size)
            ),
        );
        let thp_off = |p: &PlatformFacts| {
            get(p, key::THP_ENABLED).is_some_and(|v| matches!(selected(v), "never" | "madvise"))
        };
        if thp_off(g) {
            a.causes.push(cause(
                "transparent huge pages are not used in the guest: the pointer chase runs on 4 KiB pages, so beyond \
                 the TLB's reach every miss walks the guest's page tables, and under nested paging the host's for \
                 each level (up to 24 memory accesses instead of 4)",
                g,
                &[key::THP_ENABLED],
            ));
        }
        // The baseline's THP setting backs the guest's memory only where the guest runs on the
        // baseline's machine.
        if let Some(h) = ctx.baseline().filter(|h| elsewhere(g, h).is_none()) {
            if thp_off(h) && !key::is_tcg(g.facts) {
                a.causes.push(cause(
                    "transparent huge pages are not used on the host: the guest's memory is backed by 4 KiB host \
                     pages, which lengthens the second-level (EPT/NPT) walk of every TLB miss",
                    h,
                    &[key::THP_ENABLED],
                ));
            }
        }
        if is_hardware_virtualized(g) {
            let support = paging(ctx, g);
            if let (Some(what), Paging::Shadow { on, key: k }) =
                (support.shadow_text(g.name), &support)
            {
                a.causes.push(cause(
                    format!(
                        "{what}: shadow page tables make TLB misses and page-table updates costly"
                    ),
                    on,
                    &[k],
                ));
            }
            a.next.extend(support.next_step(g));
        }
        a.causes.extend(tcg_cause(
            g,
            "every guest memory access goes through QEMU's software TLB (softmmu), whose misses are far dearer \
             than a hardware TLB's",
        ));
        out.push(a);
    }
}
