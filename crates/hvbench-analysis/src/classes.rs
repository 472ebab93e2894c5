//! Workloads grouped by what they reveal (docs/architecture.md, "Analysis and report"), and each platform's standing
//! per group against the baseline.

use crate::verdict::Verdict;
pub use hvbench_proto::catalog::WorkloadClass;
use serde::Serialize;

/// The class of a workload: the catalog's [`hvbench_proto::WorkloadDef::class`] for a workload it
/// knows. A name outside the catalog (a store written by another version) is placed by its name
/// as before the catalog had classes: `cpu-*` CPU; `mem-*` and `page-fault` memory; `syscall`,
/// `clock-gettime`, `pipe-switch`, `fork-*`, `mmap`, `futex-wake`, `timer-overshoot` kernel
/// paths; `cpuid`, `port-io`, `vmexit` exits; `disk-*` disk; `net-*` network; `sysbench-*`,
/// `stress-ng` general benchmarks; anything else other.
pub fn classify(workload: &str) -> WorkloadClass {
    match hvbench_proto::catalog::workload(workload) {
        Some(def) => def.class,
        None => by_name(workload),
    }
}

/// The class of a workload outside the catalog, by its name.
fn by_name(workload: &str) -> WorkloadClass {
    let w = workload.to_ascii_lowercase();
    let starts = |p: &str| w == p || w.starts_with(&format!("{p}-"));
    if starts("cpuid") || starts("port-io") || starts("vmexit") {
        WorkloadClass::Exits
    } else if starts("cpu") {
        WorkloadClass::Cpu
    } else if starts("mem") || starts("page-fault") {
        WorkloadClass::Memory
    } else if [
        "syscall",
        "clock-gettime",
        "pipe-switch",
        "fork",
        "mmap",
        "futex-wake",
        "timer-overshoot",
    ]
    .iter()
    .any(|p| starts(p))
    {
        WorkloadClass::KernelPaths
    } else if starts("disk") {
        WorkloadClass::Disk
    } else if starts("net") {
        WorkloadClass::Network
    } else if [
        "sysbench",
        "stress-ng",
        "fio",
        "iperf3",
        "redis",
        "oltp",
        "compile",
    ]
    .iter()
    .any(|p| starts(p))
    {
        WorkloadClass::General
    } else {
        WorkloadClass::Other
    }
}

/// One (metric, platform) comparison of a class, as input to [`class_standings`].
#[derive(Debug, Clone, Copy)]
pub struct ClassEntry<'a> {
    pub class: WorkloadClass,
    pub platform: &'a str,
    /// How many times worse than the baseline (> 1 worse); None when there is no ratio.
    pub times_worse: Option<f64>,
    pub verdict: Verdict,
}

/// Where a platform stands in a class, from its verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Standing {
    /// Significantly worse on most conclusive metrics.
    Behind,
    /// Significantly better on most conclusive metrics.
    Ahead,
    /// No significant or only negligible differences.
    Level,
    /// Better on some metrics, worse on others.
    Mixed,
    /// Every verdict inconclusive (invalid data, too few samples, high variance).
    Inconclusive,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlatformStanding {
    pub platform: String,
    pub metrics: usize,
    /// Geometric mean of times-worse over the metrics that have a ratio; None if none has.
    pub times_worse: Option<f64>,
    pub worse: usize,
    pub better: usize,
    pub level: usize,
    pub inconclusive: usize,
    pub standing: Standing,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassStanding {
    pub class: WorkloadClass,
    /// Best (lowest times-worse) first; platforms with no ratio last.
    pub platforms: Vec<PlatformStanding>,
}

/// Per class (in [`WorkloadClass::ALL`] order) and platform (in order of first appearance,
/// then sorted best first): the geometric mean of times-worse and the verdicts' tally. The
/// geometric mean is the right average of ratios (Fleming & Wallace, "How not to lie with
/// statistics: the correct way to summarize benchmark results", CACM 29(3), 1986).
pub fn class_standings(entries: &[ClassEntry]) -> Vec<ClassStanding> {
    let mut out = Vec::new();
    for class in WorkloadClass::ALL {
        let mut names: Vec<&str> = Vec::new();
        for e in entries.iter().filter(|e| e.class == class) {
            if !names.contains(&e.platform) {
                names.push(e.platform);
            }
        }
        if names.is_empty() {
            continue;
        }
        let mut platforms: Vec<PlatformStanding> = names
            .iter()
            .map(|&p| {
                standing(
                    p,
                    entries
                        .iter()
                        .filter(|e| e.class == class && e.platform == p),
                )
            })
            .collect();
        platforms.sort_by(|a, b| {
            let key = |s: &PlatformStanding| s.times_worse.unwrap_or(f64::INFINITY);
            key(a).total_cmp(&key(b))
        });
        out.push(ClassStanding { class, platforms });
    }
    out
}

fn standing<'a>(
    platform: &str,
    entries: impl Iterator<Item = &'a ClassEntry<'a>>,
) -> PlatformStanding {
    let mut s = PlatformStanding {
        platform: platform.to_string(),
        metrics: 0,
        times_worse: None,
        worse: 0,
        better: 0,
        level: 0,
        inconclusive: 0,
        standing: Standing::Inconclusive,
    };
    let (mut log_sum, mut logs) = (0.0, 0usize);
    for e in entries {
        s.metrics += 1;
        if let Some(t) = e.times_worse.filter(|t| t.is_finite() && *t > 0.0) {
            log_sum += t.ln();
            logs += 1;
        }
        match e.verdict {
            Verdict::Worse | Verdict::DramaticallyWorse => s.worse += 1,
            Verdict::Better | Verdict::DramaticallyBetter => s.better += 1,
            Verdict::Negligible | Verdict::NoSignificantDifference => s.level += 1,
            Verdict::InvalidData | Verdict::TooFewSamples | Verdict::HighVariance => {
                s.inconclusive += 1
            }
        }
    }
    s.times_worse = (logs > 0).then(|| (log_sum / logs as f64).exp());
    s.standing = if s.worse + s.better + s.level == 0 {
        Standing::Inconclusive
    } else if s.worse > 0 && s.better > 0 {
        Standing::Mixed
    } else if s.worse > 0 && s.worse >= s.level {
        Standing::Behind
    } else if s.better > 0 && s.better >= s.level {
        Standing::Ahead
    } else {
        Standing::Level
    };
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_classes() {
        use WorkloadClass::*;
        for (w, c) in [
            ("cpu-int", Cpu),
            ("cpu-float", Cpu),
            ("cpuid", Exits),
            ("port-io", Exits),
            ("mem-bandwidth", Memory),
            ("mem-latency", Memory),
            ("page-fault", Memory),
            ("syscall", KernelPaths),
            ("clock-gettime", KernelPaths),
            ("fork-exit", KernelPaths),
            ("fork-exec", KernelPaths),
            ("timer-overshoot", KernelPaths),
            ("disk-randread", Disk),
            ("net-rr", Network),
            ("net-bulk", Network),
            ("whatever", Other),
            ("cpuidle", Other),
        ] {
            assert_eq!(classify(w), c, "{w}");
        }
    }

    #[test]
    fn the_catalog_classes_agree_with_the_names() {
        for w in hvbench_proto::catalog::WORKLOADS {
            assert_ne!(w.class, WorkloadClass::Other, "{}", w.name);
            assert_eq!(classify(w.name), by_name(w.name), "{}", w.name);
        }
    }

    #[test]
    fn standings_average_geometrically_and_sort_best_first() {
        let e = |class, platform, t, verdict| ClassEntry {
            class,
            platform,
            times_worse: Some(t),
            verdict,
        };
        let entries = [
            e(
                WorkloadClass::KernelPaths,
                "qemu",
                2.0,
                Verdict::DramaticallyWorse,
            ),
            e(
                WorkloadClass::KernelPaths,
                "qemu",
                8.0,
                Verdict::DramaticallyWorse,
            ),
            e(WorkloadClass::KernelPaths, "kvm", 1.02, Verdict::Negligible),
            e(
                WorkloadClass::KernelPaths,
                "kvm",
                1.0,
                Verdict::NoSignificantDifference,
            ),
            e(WorkloadClass::Cpu, "qemu", 1.0, Verdict::TooFewSamples),
            e(WorkloadClass::Cpu, "kvm", 0.5, Verdict::DramaticallyBetter),
            e(WorkloadClass::Cpu, "kvm", 1.5, Verdict::DramaticallyWorse),
        ];
        let s = class_standings(&entries);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].class, WorkloadClass::Cpu);
        let cpu = &s[0].platforms;
        assert_eq!(cpu[0].platform, "kvm");
        assert_eq!(cpu[0].standing, Standing::Mixed);
        assert!((cpu[0].times_worse.unwrap() - 0.75_f64.sqrt()).abs() < 1e-12);
        assert_eq!(cpu[1].standing, Standing::Inconclusive);
        let kernel = &s[1].platforms;
        assert_eq!(
            (kernel[0].platform.as_str(), kernel[0].standing),
            ("kvm", Standing::Level)
        );
        // sqrt(2 * 8) = 4.
        assert!((kernel[1].times_worse.unwrap() - 4.0).abs() < 1e-12);
        assert_eq!(kernel[1].standing, Standing::Behind);
    }
}
