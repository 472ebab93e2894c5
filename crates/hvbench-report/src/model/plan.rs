//! The run's stored plan, read back as [`hvbench_spec::Plan`] (never as untyped JSON, so the
//! report and the spec cannot drift): the workloads' parameters as facts for the anomaly rules
//! and as the cross-checks read them, and the isolation scenarios the plan declared, with the
//! spec's own stressor labels.

use hvbench_analysis::DeclaredIsolation;
use hvbench_spec::Plan;
use std::collections::{BTreeMap, BTreeSet};

/// The plan a run stored, as the plan type; None when it does not parse.
pub(crate) fn stored_plan(plan_json: &str) -> Option<Plan> {
    serde_json::from_str(plan_json).ok()
}

/// `plan.WORKLOAD.PARAM = value` for every workload parameter of a stored plan (by the
/// workload's id, and by its name when they differ).
pub(super) fn plan_params(plan: &Plan) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for w in &plan.workloads {
        let names: BTreeSet<&str> = [w.id.as_str(), w.name.as_str()].into_iter().collect();
        for (k, v) in &w.params {
            let value = param_text(v);
            for name in &names {
                out.insert(format!("plan.{name}.{k}"), value.clone());
            }
        }
    }
    out
}

/// A parameter's value as text: a string as it is, anything else as JSON writes it.
fn param_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Each battery workload of a stored plan: the label its samples carry
/// (`hvbench_proto::WorkloadRequest::label`: its id, else its name), its catalog name and its
/// resolved parameters as text.
pub(super) fn workload_params(plan: &Plan) -> Vec<(String, String, BTreeMap<String, String>)> {
    plan.workloads
        .iter()
        .map(|w| {
            let label = if w.id.is_empty() { &w.name } else { &w.id };
            let params = w
                .params
                .iter()
                .map(|(k, v)| (k.clone(), param_text(v)))
                .collect();
            (label.clone(), w.name.clone(), params)
        })
        .collect()
}

/// The plan's `isolation` scenarios: names, stressor labels (as the spec makes them for the
/// cells' names: [`hvbench_spec::IsolationSpec::stressor_labels`]), placements and platforms.
pub(crate) fn declared_isolation(plan: &Plan) -> Vec<DeclaredIsolation> {
    plan.isolation
        .iter()
        .map(|iso| DeclaredIsolation {
            name: iso.name.clone(),
            stressors: iso.stressor_labels(),
            placements: iso.placements.iter().map(|p| p.to_string()).collect(),
            platforms: iso.platforms.clone(),
        })
        .collect()
}
