//! When to stop adding rounds: a minimum, a maximum, and in between stop as soon as every
//! median's confidence interval is narrower than a target (bounded and predictable, unlike a
//! run-until-significant rule, which inflates false positives).

use crate::bootstrap::{summarize, BootstrapConfig};
use serde::Serialize;

/// The stop-early rule of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StopRule {
    /// Never stop before this many rounds.
    pub min_rounds: u32,
    /// Always stop after this many.
    pub max_rounds: u32,
    /// Target full width of each median's interval relative to the median, as a fraction:
    /// 0.05 stops once every `(hi - lo) / |median|` is at most 5 %.
    pub target_relative_width: f64,
}

/// What [`stop_decision`] says after a round.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum StopDecision {
    /// Fewer rounds than the minimum.
    BelowMinimum,
    /// Some interval is still too wide (the widest is given; infinite when a series has no
    /// value or a zero median).
    TooWide { widest: f64 },
    /// Every interval is narrow enough.
    Narrow { widest: f64 },
    /// The maximum is reached.
    MaxReached,
}

impl StopDecision {
    pub fn need_more_rounds(self) -> bool {
        matches!(
            self,
            StopDecision::BelowMinimum | StopDecision::TooWide { .. }
        )
    }
}

/// `(hi - lo) / |median|` of the median's bootstrap interval; `None` without a finite value,
/// infinite when the median is 0 and the interval is not a point.
pub fn relative_ci_width(values: &[f64], cfg: &BootstrapConfig) -> Option<f64> {
    let s = summarize(values, cfg)?;
    let width = s.ci.width();
    Some(if width == 0.0 {
        0.0
    } else {
        width / s.median.abs()
    })
}

/// Whether another round is needed, given each series' measured values so far (one slice per
/// (platform, workload, metric)) after `rounds_done` rounds. The maximum wins over the minimum
/// when they conflict; no series at all means nothing to wait for.
pub fn stop_decision(
    series: &[&[f64]],
    rounds_done: u32,
    rule: &StopRule,
    cfg: &BootstrapConfig,
) -> StopDecision {
    if rounds_done >= rule.max_rounds {
        return StopDecision::MaxReached;
    }
    if rounds_done < rule.min_rounds {
        return StopDecision::BelowMinimum;
    }
    let widest = series
        .iter()
        .map(|v| relative_ci_width(v, cfg).unwrap_or(f64::INFINITY))
        .fold(0.0_f64, f64::max);
    if widest <= rule.target_relative_width {
        StopDecision::Narrow { widest }
    } else {
        StopDecision::TooWide { widest }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: StopRule = StopRule {
        min_rounds: 3,
        max_rounds: 10,
        target_relative_width: 0.05,
    };

    fn cfg() -> BootstrapConfig {
        BootstrapConfig {
            resamples: 2_000,
            ..BootstrapConfig::default()
        }
    }

    #[test]
    fn bounds_come_first() {
        let tight = [100.0, 100.1, 100.2];
        assert_eq!(
            stop_decision(&[&tight], 2, &RULE, &cfg()),
            StopDecision::BelowMinimum
        );
        let wild = [1.0, 100.0, 1000.0];
        assert_eq!(
            stop_decision(&[&wild], 10, &RULE, &cfg()),
            StopDecision::MaxReached
        );
        assert!(!StopDecision::MaxReached.need_more_rounds());
    }

    #[test]
    fn stops_when_every_interval_is_narrow() {
        // [1, 2, 3] -> the bootstrap interval of the median is [1, 3] (see bootstrap.rs), a
        // relative width of 2 / 2 = 100 %; 99..101 by 1 gives [99, 101]: 2 / 100 = 2 %.
        assert_eq!(relative_ci_width(&[1.0, 2.0, 3.0], &cfg()), Some(1.0));
        let narrow = [99.0, 100.0, 101.0];
        assert_eq!(relative_ci_width(&narrow, &cfg()), Some(0.02));
        let d = stop_decision(&[&narrow, &[50.0, 50.0, 50.0]], 3, &RULE, &cfg());
        assert_eq!(d, StopDecision::Narrow { widest: 0.02 });
        assert!(!d.need_more_rounds());
        let d = stop_decision(&[&narrow, &[1.0, 2.0, 3.0]], 3, &RULE, &cfg());
        assert_eq!(d, StopDecision::TooWide { widest: 1.0 });
        assert!(d.need_more_rounds());
        // A series with no value yet keeps the campaign going.
        let d = stop_decision(&[&narrow, &[]], 4, &RULE, &cfg());
        assert!(matches!(d, StopDecision::TooWide { widest } if widest.is_infinite()));
        assert_eq!(
            stop_decision(&[], 3, &RULE, &cfg()),
            StopDecision::Narrow { widest: 0.0 }
        );
    }
}
