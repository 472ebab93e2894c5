//! The run's cross-checks (docs/architecture.md, "Analysis and report"): the battery's groups
//! and the stored plan's workloads handed to [`hvbench_analysis::cross_checks`], which pairs
//! hvbench's workloads with the tools that measure the same quantity.

use super::plan::workload_params;
use super::{Group, Platform, BASELINE_SCENARIO};
use hvbench_analysis::{cross_checks, BootstrapConfig, CrossCheck, CrossSeries, PlannedWorkload};
use hvbench_spec::Plan;

/// Every pair the plan holds, with each platform's figures from the battery scenario. None
/// without a stored plan: the pairs depend on the workloads' parameters, which only the plan
/// records.
pub(super) fn checks(
    plan: Option<&Plan>,
    platforms: &[Platform],
    groups: &[Group],
    cfg: &BootstrapConfig,
) -> Vec<CrossCheck> {
    let Some(plan) = plan else {
        return Vec::new();
    };
    let planned = workload_params(plan);
    let workloads: Vec<PlannedWorkload> = planned
        .iter()
        .map(|(label, name, params)| PlannedWorkload {
            label,
            name,
            params,
        })
        .collect();
    let series: Vec<CrossSeries> = groups
        .iter()
        .filter(|g| g.scenario == BASELINE_SCENARIO)
        .flat_map(|g| {
            platforms
                .iter()
                .zip(&g.values)
                .map(|(p, values)| CrossSeries {
                    platform: p.name,
                    workload: &g.workload,
                    metric: &g.metric,
                    unit: &g.unit,
                    values,
                })
        })
        .collect();
    let names: Vec<&str> = platforms.iter().map(|p| p.name).collect();
    cross_checks(&names, &workloads, &series, cfg)
}
