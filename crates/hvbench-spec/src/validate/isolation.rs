//! `[[isolation]]` scenarios: the victim, the stressors and their parameters, placements,
//! the scenario's platforms and aggressor settings, and the checks across scenarios.

use super::platform::{platform_name_char, GuestSeen, PlatformSeen};
use super::rules::{AGGRESSORS, AGGRESSOR_CAP_PCT, AGGRESSOR_WEIGHT, SETTLE_MS};
use super::workload::{with_ids, WorkloadSeen};
use super::{did_you_mean, got, one_of, sanitize, Validator};
use crate::diag::Span;
use crate::tree::{Entry, Kind, Node, Table};
use crate::{IsolationSpec, Placement, PlatformSpec, StressorSpec};
use hvbench_proto::catalog::{self, StressorDef};
use std::collections::{BTreeMap, HashMap};

const ISOLATION_KEYS: &[&str] = &[
    "name",
    "victim",
    "stressors",
    "aggressors",
    "placements",
    "aggressor_weight",
    "aggressor_cap_pct",
    "settle_ms",
    "platforms",
];

/// An `[[isolation]]` table as far as it could be read; a `None` field had an error.
pub(super) struct IsolationSeen {
    name: Option<(String, Span)>,
    /// The outer `None`: `victim` is missing or not a list; an inner `None`: a bad entry.
    victim: Option<Vec<Option<WorkloadSeen>>>,
    stressors: Option<Vec<StressorSpec>>,
    aggressors: Option<u32>,
    placements: Option<Vec<Placement>>,
    aggressor_weight: Option<Option<u32>>,
    aggressor_cap_pct: Option<Option<u32>>,
    settle_ms: Option<u64>,
    /// Indices into the experiment's platforms, in experiment order.
    platforms: Option<Vec<usize>>,
}

impl IsolationSeen {
    pub(super) fn into_spec(self, platforms: &[PlatformSpec]) -> Option<IsolationSpec> {
        let victim = self.victim?.into_iter().collect::<Option<Vec<_>>>()?;
        Some(IsolationSpec {
            name: self.name?.0,
            victim: with_ids(victim),
            stressors: self.stressors?,
            aggressors: self.aggressors?,
            placements: self.placements?,
            aggressor_weight: self.aggressor_weight?,
            aggressor_cap_pct: self.aggressor_cap_pct?,
            settle_ms: self.settle_ms?,
            platforms: self
                .platforms?
                .into_iter()
                .map(|i| platforms.get(i).map(|p| p.name.clone()))
                .collect::<Option<Vec<_>>>()?,
        })
    }
}

fn stressor_kinds() -> Vec<&'static str> {
    catalog::STRESSORS.iter().map(|s| s.kind).collect()
}

/// `[[isolation]]` scenarios (docs/architecture.md, "Isolation experiments").
impl Validator<'_> {
    pub(super) fn isolation(
        &mut self,
        t: &Table,
        span: &Span,
        platforms: &[PlatformSeen],
    ) -> IsolationSeen {
        self.unknown_keys(t, ISOLATION_KEYS, "[[isolation]]");
        let name = match t.get("name") {
            None => {
                self.sink.error(
                    span,
                    "this [[isolation]] has no `name`",
                    "add a unique name, e.g. name = \"noisy\" (lowercase letters, digits and `-`, \
                     up to 32 characters); the scenario's cells are named after it",
                );
                None
            }
            Some(e) => self.string(e, "noisy").and_then(|(s, span)| {
                if !s.is_empty() && s.chars().count() <= 32 && s.chars().all(platform_name_char) {
                    Some((s.to_string(), span.clone()))
                } else {
                    self.sink.error(
                        span,
                        format!(
                            "a scenario `name` must be 1 to 32 lowercase letters, digits or `-`, \
                             got {s:?}"
                        ),
                        format!(
                            "it names the scenario's cells (`<name>/none`, \
                             `<name>/<stressor>/<placement>`); try name = \"{}\"",
                            sanitize(s, platform_name_char, true, 32)
                        ),
                    );
                    None
                }
            }),
        };
        let which = match &name {
            Some((n, _)) => format!("[[isolation]] `{n}`"),
            None => "this [[isolation]]".to_string(),
        };
        let victim = match t.get("victim") {
            None => {
                self.sink.error(
                    span,
                    format!("{which} has no `victim`"),
                    "add victim = [\"cpu-int\"]: the workloads measured alone and beside the \
                     aggressors",
                );
                None
            }
            Some(e) => self.victim(e),
        };
        let stressors = match t.get("stressors") {
            None => {
                self.sink.error(
                    span,
                    format!("{which} has no `stressors`"),
                    format!(
                        "add stressors = [\"cpu\"], one or more of: {}",
                        one_of(&stressor_kinds())
                    ),
                );
                None
            }
            Some(e) => self.stressors(e),
        };
        let aggressors = self.checked_int(t, &AGGRESSORS).map(|n| n as u32);
        let aggressor_weight = match t.get(AGGRESSOR_WEIGHT.key) {
            None => Some(None),
            Some(_) => self
                .checked_int(t, &AGGRESSOR_WEIGHT)
                .map(|n| Some(n as u32)),
        };
        let aggressor_cap_pct = match t.get(AGGRESSOR_CAP_PCT.key) {
            None => Some(None),
            Some(_) => self
                .checked_int(t, &AGGRESSOR_CAP_PCT)
                .map(|n| Some(n as u32)),
        };
        let settle_ms = self.checked_int(t, &SETTLE_MS).map(|n| n as u64);
        let placements = match t.get("placements") {
            None => Some(Placement::ALL.to_vec()),
            Some(e) => self.placements(e),
        };
        let platforms = match t.get("platforms") {
            None => Some((0..platforms.len()).collect()),
            Some(e) => self.scenario_platforms(e, platforms),
        };
        IsolationSeen {
            name,
            victim,
            stressors,
            aggressors,
            placements,
            aggressor_weight,
            aggressor_cap_pct,
            settle_ms,
            platforms,
        }
    }

    /// `victim = ["cpu-int", { name = "mem-bandwidth", kernel = "triad" }]`: each entry a
    /// workload, checked exactly as a [[workload]] is.
    fn victim(&mut self, e: &Entry) -> Option<Vec<Option<WorkloadSeen>>> {
        let items = self.array(
            e,
            "[\"cpu-int\"]",
            "list at least one workload to measure, e.g. victim = [\"cpu-int\"]",
        )?;
        let mut out = Vec::new();
        for item in items {
            let seen = match &item.kind {
                Kind::Str(name) => self.resolve_workload(name, &item.span, &[]),
                Kind::Table(t) => self.workload(t, &item.span, "victim table"),
                other => {
                    self.sink.error(
                        &item.span,
                        format!(
                            "each entry of `victim` must be a workload name or a table, got {}",
                            got(other)
                        ),
                        "e.g. victim = [\"cpu-int\", { name = \"mem-bandwidth\", kernel = \"triad\" }]",
                    );
                    None
                }
            };
            out.push(seen);
        }
        Some(out)
    }

    /// `stressors = ["cpu", { kind = "disk", size_mib = 64 }, { kind = "stress-ng", stressor =
    /// "matrix" }]`: catalog kinds, each with its parameters; the same kind with the same
    /// parameters only once.
    fn stressors(&mut self, e: &Entry) -> Option<Vec<StressorSpec>> {
        let items = self.array(
            e,
            "[\"cpu\", { kind = \"disk\", size_mib = 64 }]",
            &format!(
                "list at least one stressor, one or more of: {}",
                one_of(&stressor_kinds())
            ),
        )?;
        let mut out: Vec<(StressorSpec, &Span)> = Vec::new();
        let mut ok = true;
        for item in items {
            let Some((spec, span)) = self.stressor(item) else {
                ok = false;
                continue;
            };
            if let Some((_, before)) = out.iter().find(|(s, _)| *s == spec) {
                let line = self.sink.line_of(before);
                self.sink.error(
                    span,
                    format!(
                        "stressor `{}` is listed twice with the same parameters",
                        spec.kind
                    ),
                    format!(
                        "the same stressor is at line {line}; remove one, or give them different \
                         parameters"
                    ),
                );
                ok = false;
            }
            out.push((spec, span));
        }
        ok.then(|| out.into_iter().map(|(s, _)| s).collect())
    }

    /// One stressor and the span of its kind.
    fn stressor<'t>(&mut self, item: &'t Node) -> Option<(StressorSpec, &'t Span)> {
        let kinds = stressor_kinds();
        let (kind, kind_span, entries): (&str, &Span, &[Entry]) = match &item.kind {
            Kind::Str(k) => (k, &item.span, &[]),
            Kind::Table(t) => {
                let Some(e) = t.get("kind") else {
                    self.sink.error(
                        &item.span,
                        "this stressor table has no `kind`",
                        format!("add kind = \"...\", one of: {}", one_of(&kinds)),
                    );
                    return None;
                };
                let (k, span) = self.string(e, "disk")?;
                (k, span, &t.entries)
            }
            other => {
                self.sink.error(
                    &item.span,
                    format!(
                        "each entry of `stressors` must be a stressor kind or a table, got {}",
                        got(other)
                    ),
                    "e.g. stressors = [\"cpu\", { kind = \"disk\", size_mib = 64 }]",
                );
                return None;
            }
        };
        let Some(def) = catalog::stressor(kind) else {
            self.sink.error(
                kind_span,
                format!("unknown stressor `{kind}`"),
                format!(
                    "{}expected one of: {}",
                    did_you_mean(kind, &kinds),
                    one_of(&kinds)
                ),
            );
            return None;
        };
        let spec = self.stressor_params(def, entries)?;
        Some((spec, kind_span))
    }

    /// A stressor's parameters (every entry but `kind`): each integer in the catalog's range,
    /// each name one of the catalog's (`StressorDef::choices`, their defaults filled in).
    /// A stressor parameter's value of the wrong kind or out of range, with `hint`.
    fn bad_stressor_value(
        &mut self,
        e: &Entry,
        key: &str,
        value: &Kind,
        def: &StressorDef,
        hint: String,
    ) {
        self.sink.error(
            &e.value.span,
            format!(
                "bad value {} for parameter `{key}` of stressor `{}`",
                value.describe(),
                def.kind
            ),
            hint,
        );
    }

    fn stressor_params(&mut self, def: &StressorDef, entries: &[Entry]) -> Option<StressorSpec> {
        let names = def.param_names();
        let mut ok = true;
        let mut params = BTreeMap::new();
        for e in entries.iter().filter(|e| e.key != "kind") {
            if let Some(&(key, choices, _)) = def.choices.iter().find(|c| c.0 == e.key) {
                match &e.value.kind {
                    Kind::Str(s) if choices.contains(&s.as_str()) => {
                        params.insert(key.to_string(), serde_json::Value::from(s.as_str()));
                    }
                    other => {
                        let guess = match other {
                            Kind::Str(s) => did_you_mean(s, choices),
                            _ => String::new(),
                        };
                        let hint = format!(
                            "{guess}`{key}` must be one of: {} (a string)",
                            one_of(choices)
                        );
                        self.bad_stressor_value(e, key, other, def, hint);
                        ok = false;
                    }
                }
                continue;
            }
            let Some(&(key, min, max)) = def.params.iter().find(|p| p.0 == e.key) else {
                let hint = if names.is_empty() {
                    format!(
                        "stressor `{}` takes no parameters; remove this key",
                        def.kind
                    )
                } else {
                    format!(
                        "{}stressor `{}` takes: {}",
                        did_you_mean(&e.key, &names),
                        def.kind,
                        one_of(&names)
                    )
                };
                self.sink.error(
                    &e.key_span,
                    format!("unknown parameter `{}` for stressor `{}`", e.key, def.kind),
                    hint,
                );
                ok = false;
                continue;
            };
            match &e.value.kind {
                Kind::Int(n) if u64::try_from(*n).is_ok_and(|n| (min..=max).contains(&n)) => {
                    params.insert(key.to_string(), serde_json::Value::from(*n as u64));
                }
                other => {
                    let hint = match other {
                        Kind::Str(s) if s.trim().parse::<u64>().is_ok() => {
                            format!("remove the quotes: {key} = {}", s.trim())
                        }
                        _ => format!("`{key}` must be an integer from {min} to {max}"),
                    };
                    self.bad_stressor_value(e, key, other, def, hint);
                    ok = false;
                }
            }
        }
        // A name parameter always says which: `"stress-ng"` and `{ kind = "stress-ng",
        // stressor = "cpu" }` are the same stressor, in plans and in cell labels.
        for &(key, _, default) in def.choices {
            params
                .entry(key.to_string())
                .or_insert_with(|| serde_json::Value::from(default));
        }
        ok.then(|| StressorSpec {
            kind: def.kind.to_string(),
            params,
        })
    }

    /// `placements = ["shared", "pinned-apart"]`: no duplicates.
    fn placements(&mut self, e: &Entry) -> Option<Vec<Placement>> {
        let names: Vec<&str> = Placement::ALL.iter().map(|p| p.as_str()).collect();
        let items = self.strings(
            e,
            "[\"shared\", \"pinned-apart\"]",
            "list at least one placement, or leave `placements` out for both: \"shared\" and \
             \"pinned-apart\"",
        )?;
        let mut out = Vec::new();
        let mut ok = true;
        for (s, span) in items {
            match Placement::from_name(s) {
                None => {
                    self.sink.error(
                        span,
                        format!("unknown placement `{s}`"),
                        format!(
                            "{}a placement is \"shared\" (the victim and the aggressors on the \
                             same CPUs) or \"pinned-apart\" (on different CPUs; needs at least 2)",
                            did_you_mean(s, &names)
                        ),
                    );
                    ok = false;
                }
                Some(p) if out.contains(&p) => {
                    self.sink.error(
                        span,
                        format!("placement `{s}` is listed twice"),
                        "remove one: each placement gives one cell per stressor",
                    );
                    ok = false;
                }
                Some(p) => out.push(p),
            }
        }
        ok.then_some(out)
    }

    /// `platforms = ["host", "kvm"]`: names of the experiment's platforms, no duplicates; as
    /// indices in experiment order.
    fn scenario_platforms(&mut self, e: &Entry, platforms: &[PlatformSeen]) -> Option<Vec<usize>> {
        let items = self.strings(
            e,
            "[\"host\", \"kvm\"]",
            "name at least one [[platform]], or leave `platforms` out to run the scenario on \
             every platform",
        )?;
        let known: Vec<&str> = platforms
            .iter()
            .filter_map(|p| p.name.as_ref().map(|(n, _)| n.as_str()))
            .collect();
        let mut out = Vec::new();
        let mut ok = true;
        for (name, span) in items {
            let at = platforms
                .iter()
                .position(|p| p.name.as_ref().is_some_and(|(n, _)| n == name));
            match at {
                None => {
                    let hint = if known.is_empty() {
                        "name a [[platform]] of the experiment".to_string()
                    } else {
                        format!(
                            "{}the experiment's platforms are: {}",
                            did_you_mean(name, &known),
                            one_of(&known)
                        )
                    };
                    self.sink
                        .error(span, format!("unknown platform `{name}`"), hint);
                    ok = false;
                }
                Some(i) if out.contains(&i) => {
                    self.sink.error(
                        span,
                        format!("platform `{name}` is listed twice"),
                        "remove one: the scenario visits each of its platforms once per round",
                    );
                    ok = false;
                }
                Some(i) => out.push(i),
            }
        }
        out.sort_unstable();
        ok.then_some(out)
    }

    /// Across scenarios: unique names; within each, the victim's workloads as for the battery
    /// (guest memory where the scenario runs in a guest, no duplicates).
    pub(super) fn check_isolation(
        &mut self,
        scenarios: &[IsolationSeen],
        platforms: &[PlatformSeen],
        guest: &GuestSeen,
    ) {
        let mut first: HashMap<&str, &Span> = HashMap::new();
        for s in scenarios {
            if let Some((name, span)) = &s.name {
                if let Some(before) = first.get(name.as_str()) {
                    let line = self.sink.line_of(before);
                    self.sink.error(
                        span,
                        format!("duplicate scenario name `{name}`"),
                        format!(
                            "`{name}` is already the name of the [[isolation]] at line {line}; \
                             give each scenario a unique name (it names the scenario's cells)"
                        ),
                    );
                } else {
                    first.insert(name, span);
                }
            }
            let Some(victim) = &s.victim else {
                continue;
            };
            let valid: Vec<&WorkloadSeen> = victim.iter().flatten().collect();
            // Where the platform list itself is wrong, its errors are enough.
            let in_guest = s.platforms.as_ref().is_some_and(|ix| {
                ix.iter()
                    .any(|&i| platforms.get(i).is_some_and(|p| p.vm_driver.is_some()))
            });
            if in_guest {
                self.check_memory(&valid, guest);
            }
            self.check_duplicate_workloads(&valid);
        }
    }
}
