//! The integer settings: each one's range, default and the hints for values out of range,
//! and the readers that check a table's value against its rule. A room of its own because the
//! rules are data, shared by the top level, `[guest]` and `[[isolation]]`.

use super::{got, Validator};
use crate::tree::{Kind, Table};

/// An integer setting: its range and what to say when a value is below or above it.
pub(super) struct IntRule {
    pub(super) key: &'static str,
    min: i64,
    max: i64,
    default: i64,
    low: &'static str,
    high: &'static str,
}

/// The most rounds an experiment may ask for.
pub const MAX_REPETITIONS: i64 = 10_000;
/// The most measured windows per workload per round an experiment may ask for.
pub const MAX_SAMPLES: i64 = 1000;

pub(super) const REPETITIONS: IntRule = IntRule {
    key: "repetitions",
    min: 1,
    max: MAX_REPETITIONS,
    default: 5,
    low: "run at least one round",
    high: "at most 10000 rounds; 5 to 30 is typical",
};
pub(super) const WARMUP: IntRule = IntRule {
    key: "warmup",
    min: 0,
    max: 100,
    default: 1,
    low: "`warmup = 0` runs no warm-up window",
    high: "at most 100 warm-up windows; one or two are usually enough",
};
pub(super) const SAMPLES: IntRule = IntRule {
    key: "samples",
    min: 1,
    max: MAX_SAMPLES,
    default: 1,
    low: "measure at least one window per workload per round",
    high: "at most 1000 measured windows per round; add rounds (`repetitions`) instead",
};
pub(super) const MIN_WINDOW_MS: IntRule = IntRule {
    key: "min_window_ms",
    min: 1,
    max: 60_000,
    default: 200,
    low: "a window lasts at least 1 ms; 100 to 1000 ms is typical",
    high: "at most 60000 ms (one minute) per window",
};
pub(super) const SEED: IntRule = IntRule {
    key: "seed",
    min: 0,
    max: i64::MAX,
    default: 0,
    low: "a seed is a non-negative integer",
    high: "a seed is a non-negative integer",
};
pub(super) const MIN_REPETITIONS: IntRule = IntRule {
    key: "min_repetitions",
    min: 2,
    max: 10_000,
    default: 3,
    low: "an interval needs at least two rounds",
    high: "at most 10000 rounds",
};
pub(super) const VCPUS: IntRule = IntRule {
    key: "vcpus",
    min: 1,
    max: 64,
    default: 1,
    low: "give the guest at least one vCPU",
    high: "a guest has at most 64 vCPUs",
};
pub(super) const MEMORY_MIB: IntRule = IntRule {
    key: "memory_mib",
    min: 64,
    max: 1_048_576,
    default: 512,
    low: "a guest needs at least 64 MiB to boot; the default is 512",
    high: "a guest has at most 1048576 MiB (1 TiB)",
};
pub(super) const TIMEOUT_S: IntRule = IntRule {
    key: "timeout_s",
    min: 1,
    max: 86_400,
    default: 600,
    low: "allow at least one second per guest boot; the default is 600",
    high: "at most 86400 s (one day) per guest boot",
};
pub(super) const BOOT_TIMEOUT_S: IntRule = IntRule {
    key: "timeout_s",
    min: 30,
    max: 3600,
    default: 600,
    low: "how long to wait for SSH after rebooting into this entry: at least 30 s; the \
          default is 600",
    high: "at most 3600 s (one hour) of waiting for SSH after a reboot; the default is 600",
};
pub(super) const AGGRESSORS: IntRule = IntRule {
    key: "aggressors",
    min: 1,
    max: 8,
    default: 1,
    low: "at least one aggressor runs beside the victim (the baseline cell `<name>/none` runs \
          none by itself)",
    high: "at most 8 aggressors per scenario",
};
pub(super) const AGGRESSOR_WEIGHT: IntRule = IntRule {
    key: "aggressor_weight",
    min: 1,
    max: 10_000,
    default: 100,
    low: "a CPU weight is from 1 to 10000 as cgroup cpu.weight (its default 100 maps to Xen's \
          256); leave it out for the platform's default",
    high: "a CPU weight is from 1 to 10000 as cgroup cpu.weight (its default 100 maps to Xen's \
           256); leave it out for the platform's default",
};
pub(super) const AGGRESSOR_CAP_PCT: IntRule = IntRule {
    key: "aggressor_cap_pct",
    min: 1,
    max: 6400,
    default: 100,
    low: "a cap is in % of one CPU, at least 1; leave `aggressor_cap_pct` out for no cap",
    high: "a cap is in % of one CPU, at most 6400 (64 CPUs); leave it out for no cap",
};
pub(super) const SETTLE_MS: IntRule = IntRule {
    key: "settle_ms",
    min: 0,
    max: 600_000,
    default: 2000,
    low: "`settle_ms = 0` starts the victim as soon as every aggressor reported",
    high: "at most 600000 ms (ten minutes) of settling; the default is 2000",
};

impl Validator<'_> {
    /// An integer setting: its value, its default when absent, or its default (after reporting
    /// the problem) when invalid.
    pub(super) fn int(&mut self, table: &Table, rule: &IntRule) -> i64 {
        let Some(e) = table.get(rule.key) else {
            return rule.default;
        };
        match &e.value.kind {
            Kind::Int(n) if (rule.min..=rule.max).contains(n) => *n,
            Kind::Int(n) => {
                let message = if rule.max == i64::MAX {
                    format!("`{}` must be at least {}, got {n}", rule.key, rule.min)
                } else {
                    format!(
                        "`{}` must be from {} to {}, got {n}",
                        rule.key, rule.min, rule.max
                    )
                };
                let hint = if *n < rule.min { rule.low } else { rule.high };
                self.sink.error(&e.value.span, message, hint);
                rule.default
            }
            other => {
                let hint = match other {
                    Kind::Str(s) if s.trim().parse::<i64>().is_ok() => {
                        format!("remove the quotes: {} = {}", rule.key, s.trim())
                    }
                    _ => format!(
                        "write a whole number without quotes, e.g. {} = {}",
                        rule.key, rule.default
                    ),
                };
                self.sink.error(
                    &e.value.span,
                    format!("`{}` must be an integer, got {}", rule.key, got(other)),
                    hint,
                );
                rule.default
            }
        }
    }

    /// An integer setting; `None` after reporting a problem with it.
    pub(super) fn checked_int(&mut self, t: &Table, rule: &IntRule) -> Option<i64> {
        let before = self.sink_len();
        let n = self.int(t, rule);
        (self.sink_len() == before).then_some(n)
    }
}
