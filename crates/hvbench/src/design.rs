//! `hvbench plan`'s last section: can the plan conclude at all? From its sample sizes (rounds x
//! measured windows per platform and metric; warm-up windows do not count) and its number of
//! comparisons (the platforms compared with a baseline x the battery's metrics), the smallest p
//! the Mann-Whitney test can give and the smallest Holm can leave of it
//! (`hvbench_analysis::attainable`; docs/architecture.md, "Analysis and report"). Here, not in
//! hvbench-spec's rendering, because hvbench-spec does not depend on hvbench-analysis.

use hvbench_analysis::{attainable, smallest_to_conclude, TestMethod, VerdictConfig};
use hvbench_spec::Plan;
use std::fmt::Write;

/// The most `samples` and `repetitions` an experiment file may ask for.
const MAX_SAMPLES: usize = hvbench_spec::MAX_SAMPLES as usize;
const MAX_REPETITIONS: usize = hvbench_spec::MAX_REPETITIONS as usize;

/// A p-value in 3 significant digits, small ones in scientific notation.
fn p_text(p: f64) -> String {
    if p == 0.0 {
        "0".to_string()
    } else if p < 1e-3 {
        format!("{p:.2e}")
    } else {
        let digits = (2 - p.log10().floor() as i32).max(0) as usize;
        format!("{p:.digits$}")
    }
}

/// The section, starting with a blank line; empty when the battery compares nothing.
pub(crate) fn text(plan: &Plan) -> String {
    let mut o = String::new();
    // Writing to a String cannot fail.
    let _ = write(&mut o, plan);
    o
}

fn write(o: &mut String, plan: &Plan) -> std::fmt::Result {
    let alpha = VerdictConfig::default().alpha;
    let platforms = plan.compared_platforms().len();
    let metrics = plan.battery_metrics();
    let m = usize::try_from(plan.battery_comparisons()).unwrap_or(usize::MAX);
    if m == 0 {
        return Ok(());
    }
    let rounds = plan.repetitions as usize;
    let samples = plan.samples as usize;
    let n = rounds.saturating_mul(samples);
    let a = attainable(n, n, m, alpha);
    writeln!(o)?;
    writeln!(
        o,
        "comparisons (each platform against its baseline, Holm-corrected over the battery at \
         alpha {alpha}):"
    )?;
    writeln!(
        o,
        "  tests:             {m} ({platforms} platform{} x {metrics} metric{})",
        if platforms == 1 { "" } else { "s" },
        if metrics == 1 { "" } else { "s" },
    )?;
    writeln!(
        o,
        "  values per test:   {n} against {n} ({rounds} round{} x {samples} measured; warm-up \
         windows do not count)",
        if rounds == 1 { "" } else { "s" },
    )?;
    let how = match a.method {
        TestMethod::Exact => format!("exact: 2 / C({}, {n})", 2 * n),
        TestMethod::Normal => "normal approximation".to_string(),
    };
    writeln!(
        o,
        "  smallest p:        {} (two-sided Mann-Whitney, samples that do not overlap, {how})",
        p_text(a.min_p)
    )?;
    writeln!(
        o,
        "  smallest adjusted: {} (Holm over {m} tests: {m} x {})",
        p_text(a.min_adjusted_p),
        p_text(a.min_p)
    )?;
    if !a.can_conclude() {
        let mut ways = Vec::new();
        if let Some(k) = smallest_to_conclude(rounds, m, alpha, MAX_SAMPLES) {
            ways.push(format!("samples = {k}"));
        }
        if let Some(k) = smallest_to_conclude(samples, m, alpha, MAX_REPETITIONS) {
            ways.push(format!("repetitions = {k}"));
        }
        let least = if ways.is_empty() {
            String::new()
        } else {
            format!(" ({} is the least that can)", ways.join(", or "))
        };
        writeln!(
            o,
            "warning: this design can never conclude: even samples that do not overlap give a \
             Holm-adjusted p of {} over {m} tests, above alpha {alpha}, so every verdict would \
             be \"too few samples\"; raise samples or repetitions{least}, or compare fewer \
             workloads or platforms",
            p_text(a.min_adjusted_p)
        )?;
    } else if let Some(stop) = plan.stop_early {
        let early = (stop.min_repetitions as usize).saturating_mul(samples);
        let e = attainable(early, early, m, alpha);
        if !e.can_conclude() {
            writeln!(
                o,
                "warning: stopping early after {} rounds leaves {early} values per platform, \
                 whose smallest adjusted p is {}, above alpha {alpha}: raise min_repetitions \
                 or samples",
                stop.min_repetitions,
                p_text(e.min_adjusted_p)
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Host and three guests over nine workloads: 27 comparisons.
    fn spec(rounds: u32, samples: u32) -> Plan {
        let mut text = format!(
            "name = \"d\"\nrepetitions = {rounds}\nwarmup = 1\nsamples = {samples}\n[guest]\n\
             [[platform]]\nname = \"host\"\ndriver = \"host\"\n\
             [[platform]]\nname = \"kvm\"\ndriver = \"qemu\"\n\
             [[platform]]\nname = \"xen-pv\"\ndriver = \"xen\"\ntype = \"pv\"\n\
             [[platform]]\nname = \"xen-pvh\"\ndriver = \"xen\"\n"
        );
        for w in [
            "cpu-int",
            "syscall",
            "mem-bandwidth",
            "clock-gettime",
            "fork-exit",
            "cpuid",
            "disk-rand-read",
            "net-bulk",
            "net-rr",
        ] {
            text.push_str(&format!("[[workload]]\nname = \"{w}\"\n"));
        }
        hvbench_spec::parse("d.toml", &text).unwrap()
    }

    #[test]
    fn six_values_over_27_comparisons_can_never_conclude() {
        let out = text(&spec(3, 2));
        for line in [
            "  tests:             27 (3 platforms x 9 metrics)",
            "  values per test:   6 against 6 (3 rounds x 2 measured; warm-up windows do not count)",
            "  smallest p:        0.00216 (two-sided Mann-Whitney, samples that do not overlap, exact: 2 / C(12, 6))",
            "  smallest adjusted: 0.0584 (Holm over 27 tests: 27 x 0.00216)",
        ] {
            assert!(out.contains(line), "missing {line:?} in:\n{out}");
        }
        assert!(
            out.contains(
                "warning: this design can never conclude: even samples that do not overlap give \
                 a Holm-adjusted p of 0.0584 over 27 tests, above alpha 0.05"
            ),
            "{out}"
        );
        assert!(
            out.contains("raise samples or repetitions (samples = 3, or repetitions = 4 is the least that can)"),
            "{out}"
        );
    }

    #[test]
    fn fifteen_values_conclude() {
        let out = text(&spec(3, 5));
        assert!(out.contains("values per test:   15 against 15"), "{out}");
        assert!(out.contains("smallest p:        1.29e-8"), "{out}");
        assert!(out.contains("smallest adjusted: 3.48e-7"), "{out}");
        assert!(!out.contains("warning"), "{out}");
    }

    #[test]
    fn stopping_early_too_soon_is_a_warning() {
        let mut plan = spec(10, 1);
        assert!(!text(&plan).contains("warning"));
        plan.stop_early = Some(hvbench_spec::StopEarly {
            min_repetitions: 3,
            target_ci_pct: 5.0,
        });
        let out = text(&plan);
        assert!(
            out.contains("warning: stopping early after 3 rounds leaves 3 values per platform"),
            "{out}"
        );
    }

    #[test]
    fn nothing_compared_says_nothing() {
        let plan = hvbench_spec::parse(
            "h.toml",
            "name = \"h\"\n[[platform]]\nname = \"host\"\ndriver = \"host\"\n\
             [[workload]]\nname = \"syscall\"\n",
        )
        .unwrap();
        assert_eq!(text(&plan), "");
    }

    #[test]
    fn p_values_in_three_digits() {
        assert_eq!(p_text(0.058_441_558), "0.0584");
        assert_eq!(p_text(0.1), "0.100");
        assert_eq!(p_text(1.0), "1.00");
        assert_eq!(p_text(1.289e-8), "1.29e-8");
        assert_eq!(p_text(0.0), "0");
    }
}
