//! Reading the [`AgentPlan`] and refusing the ones this agent cannot honour.

use hvbench_proto::{AgentPlan, PLAN_VERSION};
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Where the guest image puts the plan.
pub const GUEST_PLAN_PATH: &str = "/hvbench/plan.json";

/// Why a plan cannot be run.
#[derive(Debug)]
pub enum PlanError {
    Read { path: PathBuf, source: io::Error },
    Malformed(serde_json::Error),
    UnsupportedVersion(u64),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Read { path, source } => {
                write!(f, "cannot read plan {}: {source}", path.display())
            }
            PlanError::Malformed(e) => write!(f, "malformed plan: {e}"),
            PlanError::UnsupportedVersion(v) => write!(
                f,
                "plan version {v} is not supported; this agent ({}) speaks plan version {PLAN_VERSION} \
                 (rebuild the guest image with the same hvbench as the host)",
                crate::AGENT_VERSION
            ),
        }
    }
}

impl std::error::Error for PlanError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PlanError::Read { source, .. } => Some(source),
            PlanError::Malformed(e) => Some(e),
            PlanError::UnsupportedVersion(_) => None,
        }
    }
}

/// Parse a plan. The version is checked before the rest, so that a plan from a newer hvbench
/// is refused for its version rather than for a field this agent has never heard of.
pub fn parse_plan(text: &str) -> Result<AgentPlan, PlanError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(PlanError::Malformed)?;
    if let Some(v) = value.get("version").and_then(serde_json::Value::as_u64) {
        if v != u64::from(PLAN_VERSION) {
            return Err(PlanError::UnsupportedVersion(v));
        }
    }
    serde_json::from_value(value).map_err(PlanError::Malformed)
}

/// Read and parse a plan file; `-` reads standard input.
pub fn read_plan(path: &Path) -> Result<AgentPlan, PlanError> {
    let read_error = |source| PlanError::Read {
        path: path.to_path_buf(),
        source,
    };
    let text = if path == Path::new("-") {
        let mut s = String::new();
        io::stdin().read_to_string(&mut s).map_err(read_error)?;
        s
    } else {
        std::fs::read_to_string(path).map_err(read_error)?
    };
    parse_plan(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_current_version() {
        let plan = parse_plan(
            r#"{"version":1,"warmup":1,"samples":2,"min_window_ms":20,
                "workloads":[{"name":"syscall"}]}"#,
        )
        .unwrap();
        assert_eq!(plan.workloads[0].name, "syscall");
        assert!(plan.workloads[0].params.is_empty());
    }

    #[test]
    fn newer_version_is_refused_for_its_version_not_its_fields() {
        let e = parse_plan(r#"{"version":2,"something_new":true}"#).unwrap_err();
        assert!(matches!(e, PlanError::UnsupportedVersion(2)), "{e}");
        assert!(e.to_string().contains("plan version 2"));
    }

    #[test]
    fn malformed_plans_are_refused() {
        for text in [
            "",
            "not json",
            "[]",
            r#"{"version":1}"#,
            r#"{"version":1,"warmup":0,"samples":1,"min_window_ms":1,"workloads":[],"x":0}"#,
        ] {
            assert!(
                matches!(parse_plan(text), Err(PlanError::Malformed(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn missing_file_names_the_path() {
        let e = read_plan(Path::new("/nonexistent/hvbench/plan.json")).unwrap_err();
        assert!(
            e.to_string().contains("/nonexistent/hvbench/plan.json"),
            "{e}"
        );
    }
}
