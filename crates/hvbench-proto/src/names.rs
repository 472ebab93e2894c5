//! Names that cross crates: the store's `scenario` and `guest` columns, and the instance names
//! of an isolation cell's `Instance` frames. They are built and parsed here only, so the spec
//! that makes a cell name, the runner and lab that stamp instances, and the analysis that takes
//! both apart cannot drift (docs/architecture.md, "Names").

use serde::{Deserialize, Serialize};
use std::fmt;

/// The battery's scenario in the store: the ordinary platform comparison.
pub const BATTERY_SCENARIO: &str = "baseline";

/// The stressor part of an isolation scenario's baseline cell: `<scenario>/none`.
pub const NO_STRESS: &str = "none";

/// Where the aggressors run relative to the victim: the placement part of a stress cell's name
/// (`<scenario>/<stressor>/<placement>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// Victim and aggressors on the same host CPUs: they compete for them.
    Shared,
    /// The victim on its own CPUs, the aggressors on the others.
    PinnedApart,
}

impl Placement {
    pub const ALL: [Placement; 2] = [Placement::Shared, Placement::PinnedApart];

    pub const fn as_str(self) -> &'static str {
        match self {
            Placement::Shared => "shared",
            Placement::PinnedApart => "pinned-apart",
        }
    }

    pub fn from_name(name: &str) -> Option<Placement> {
        Placement::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pseudo-workload of a workload failure that no workload owns: what the console said
/// (an untrusted frame, a frame for an unknown instance, a guest lost mid-trial).
pub const CONSOLE_WORKLOAD: &str = "(console)";

/// Who ran the agent in a trial: the store's `guest` column, and the instance name in an
/// isolation cell's `Instance` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// A battery trial whose agent ran as a plain process on the machine: `host`.
    HostProcess,
    /// A battery trial whose agent ran in the platform's guest: `guest0`.
    Guest,
    /// An isolation cell's measured instance: `victim`.
    Victim,
    /// An isolation cell's aggressor, 1-based: `aggressor1`, `aggressor2`, ...
    Aggressor(u32),
}

impl Role {
    const HOST_PROCESS: &'static str = "host";
    const GUEST: &'static str = "guest0";
    const VICTIM: &'static str = "victim";
    const AGGRESSOR: &'static str = "aggressor";

    /// The role a stored `guest` or an instance name stands for; `None` for any other text.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            Self::HOST_PROCESS => Some(Role::HostProcess),
            Self::GUEST => Some(Role::Guest),
            Self::VICTIM => Some(Role::Victim),
            _ => {
                let n = name.strip_prefix(Self::AGGRESSOR)?;
                // Digits only, no sign or leading zero, so that every aggressor has one name.
                let canonical =
                    !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0');
                canonical
                    .then(|| n.parse().ok())
                    .flatten()
                    .map(Role::Aggressor)
            }
        }
    }

    /// Whether `name` is an aggressor's instance name.
    pub fn is_aggressor_name(name: &str) -> bool {
        matches!(Role::parse(name), Some(Role::Aggressor(_)))
    }

    /// Whether `name` is the victim's instance name.
    pub fn is_victim_name(name: &str) -> bool {
        name == Self::VICTIM
    }

    /// The name as stored and sent.
    pub fn name(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::HostProcess => f.write_str(Self::HOST_PROCESS),
            Role::Guest => f.write_str(Self::GUEST),
            Role::Victim => f.write_str(Self::VICTIM),
            Role::Aggressor(i) => write!(f, "{}{i}", Self::AGGRESSOR),
        }
    }
}

/// The victim's instance name, for comparisons with stored text.
pub const VICTIM: &str = Role::VICTIM;

/// An isolation cell's scenario name, taken apart: `<scenario>/none` (the victim alone) or
/// `<scenario>/<stressor label>/<placement>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellName<'a> {
    /// The isolation scenario: `[a-z0-9-]+`.
    pub scenario: &'a str,
    /// None for the no-stress baseline.
    pub stress: Option<Stress<'a>>,
}

/// The stressor and placement of a stress cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stress<'a> {
    /// The stressor's label: its kind, possibly with a parameter suffix: `cpu`,
    /// `disk[size_mib=64]` (labels are made by `hvbench_spec::IsolationSpec::stressor_labels`).
    pub stressor: &'a str,
    /// A [`Placement`]'s name: `shared` or `pinned-apart`.
    pub placement: &'a str,
}

impl<'a> CellName<'a> {
    /// The baseline cell of `scenario`.
    pub fn alone(scenario: &'a str) -> Self {
        CellName {
            scenario,
            stress: None,
        }
    }

    /// The cell of `scenario` with `stressor` placed as `placement`.
    pub fn stressed(scenario: &'a str, stressor: &'a str, placement: &'a str) -> Self {
        CellName {
            scenario,
            stress: Some(Stress {
                stressor,
                placement,
            }),
        }
    }

    /// `<iso>/none` or `<iso>/<stressor>/<placement>`; `None` for anything else (a battery
    /// scenario included).
    pub fn parse(name: &'a str) -> Option<Self> {
        let (iso, rest) = name.split_once('/')?;
        if iso.is_empty() {
            return None;
        }
        if rest == NO_STRESS {
            return Some(CellName::alone(iso));
        }
        // The label may hold '/'-free brackets only; the placement is the last part.
        let (stressor, placement) = rest.rsplit_once('/')?;
        (!stressor.is_empty() && !placement.is_empty())
            .then(|| CellName::stressed(iso, stressor, placement))
    }
}

impl fmt::Display for CellName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.stress {
            None => write!(f, "{}/{NO_STRESS}", self.scenario),
            Some(s) => write!(f, "{}/{}/{}", self.scenario, s.stressor, s.placement),
        }
    }
}

/// Whether a stored scenario is an isolation cell rather than a battery scenario.
pub fn is_isolation_scenario(scenario: &str) -> bool {
    CellName::parse(scenario).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_refuse_lookalikes() {
        for r in [
            Role::HostProcess,
            Role::Guest,
            Role::Victim,
            Role::Aggressor(1),
            Role::Aggressor(12),
        ] {
            assert_eq!(Role::parse(&r.name()), Some(r), "{r}");
        }
        assert_eq!(Role::Aggressor(3).name(), "aggressor3");
        assert_eq!(Role::HostProcess.name(), "host");
        assert_eq!(Role::Guest.name(), "guest0");
        for bad in [
            "aggressor",
            "aggressor0",
            "aggressor01",
            "aggressor-1",
            "aggressor1x",
            "Victim",
            "",
        ] {
            assert_eq!(Role::parse(bad), None, "{bad}");
        }
        assert!(Role::is_aggressor_name("aggressor2") && !Role::is_aggressor_name(VICTIM));
        assert!(Role::is_victim_name(VICTIM) && !Role::is_victim_name("aggressor1"));
    }

    #[test]
    fn cell_names_round_trip() {
        for name in [
            "noisy/none",
            "noisy/cpu/shared",
            "noisy/disk[size_mib=64]/pinned-apart",
            "noisy/disk[size_mib=default]/shared",
        ] {
            let cell = CellName::parse(name).unwrap();
            assert_eq!(cell.to_string(), name);
        }
        let c = CellName::parse("a/mem-bandwidth[kernel=copy,size_mib=8]/shared").unwrap();
        assert_eq!(c.scenario, "a");
        assert_eq!(
            c.stress,
            Some(Stress {
                stressor: "mem-bandwidth[kernel=copy,size_mib=8]",
                placement: "shared"
            })
        );
        for bad in [
            BATTERY_SCENARIO,
            "/none",
            "a/",
            "a/cpu/",
            "a//shared",
            "a/cpu",
        ] {
            assert_eq!(CellName::parse(bad), None, "{bad}");
        }
        assert!(!is_isolation_scenario(BATTERY_SCENARIO));
        assert!(is_isolation_scenario("a/none"));
    }
}
