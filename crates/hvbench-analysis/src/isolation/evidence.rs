//! Evidence that the aggressors were really running while the victim was measured: their
//! throughput over the victim's windows, and how many victim windows lie within the span in
//! which every aggressor of the cell was reporting.

use super::cells::is_aggressor;
use super::matrix::CellRows;
use super::{AggressorThroughput, IsolationSample, Overlap};
use crate::descriptive::median;

fn aggressor_samples<'c, 'a>(
    cell: &'c CellRows<'_, 'a>,
) -> impl Iterator<Item = &'c IsolationSample<'a>> {
    cell.samples
        .iter()
        .copied()
        .filter(|s| !s.warmup && is_aggressor(s.guest))
}

pub(super) fn aggressor_throughput(
    cell: &CellRows,
    victim: &[(u32, Option<(f64, f64)>)],
) -> Option<AggressorThroughput> {
    let overlapping: Vec<&IsolationSample> = aggressor_samples(cell)
        .filter(|a| {
            let Some((a0, a1)) = a.window_ms() else {
                return false;
            };
            victim
                .iter()
                .any(|&(round, w)| round == a.round && w.is_some_and(|(v0, v1)| a0 < v1 && v0 < a1))
        })
        .collect();
    let values: Vec<f64> = overlapping.iter().map(|s| s.value).collect();
    Some(AggressorThroughput {
        median: median(&values)?,
        unit: overlapping.first()?.unit.to_string(),
        n: values.len(),
    })
}

/// Per round, the span during which every aggressor was reporting: from the latest of their
/// first window starts to the earliest of their last window ends. `None` when an aggressor of
/// that round (by trial or by sample) reported no timed window, or when no aggressor ran.
fn all_reporting_span_ms(cell: &CellRows, round: u32) -> Option<(f64, f64)> {
    let mut guests: Vec<&str> = cell
        .trials
        .iter()
        .filter(|t| t.round == round && is_aggressor(t.guest))
        .map(|t| t.guest)
        .collect();
    let samples: Vec<&IsolationSample> = aggressor_samples(cell)
        .filter(|s| s.round == round)
        .collect();
    for s in &samples {
        if !guests.contains(&s.guest) {
            guests.push(s.guest);
        }
    }
    if guests.is_empty() {
        return None;
    }
    let mut span = (f64::NEG_INFINITY, f64::INFINITY);
    for g in guests {
        let windows = samples
            .iter()
            .filter(|s| s.guest == g)
            .filter_map(|s| s.window_ms());
        let (first, last) = windows.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (s, e)| {
            (a.min(s), b.max(e))
        });
        if first > last {
            return None;
        }
        span = (span.0.max(first), span.1.min(last));
    }
    (span.0 <= span.1).then_some(span)
}

pub(super) fn overlap(cell: &CellRows, victim: &[(u32, Option<(f64, f64)>)]) -> Overlap {
    let mut spans: Vec<(u32, Option<(f64, f64)>)> = Vec::new();
    let mut covered = 0;
    for &(round, window) in victim {
        let span = match spans.iter().find(|(r, _)| *r == round) {
            Some((_, s)) => *s,
            None => {
                let s = all_reporting_span_ms(cell, round);
                spans.push((round, s));
                s
            }
        };
        if let (Some((v0, v1)), Some((s0, s1))) = (window, span) {
            if s0 <= v0 && v1 <= s1 {
                covered += 1;
            }
        }
    }
    Overlap {
        covered,
        total: victim.len(),
    }
}
