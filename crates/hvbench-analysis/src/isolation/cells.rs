//! Isolation cell names and instance roles, as the analysis reads them. Their spelling is
//! defined once, in [`hvbench_proto::names`], where the spec and runner that write them find it
//! too; this file only adapts it to the analysis's functions.

use hvbench_proto::names::Role;
pub use hvbench_proto::names::{is_isolation_scenario, CellName, Stress};

/// `<iso>/none` or `<iso>/<stressor>/<placement>`; `None` for anything else.
pub fn parse_cell(scenario: &str) -> Option<CellName<'_>> {
    CellName::parse(scenario)
}

/// Whether a stored trial's guest is one of a cell's aggressors.
pub(super) fn is_aggressor(guest: &str) -> bool {
    Role::is_aggressor_name(guest)
}
