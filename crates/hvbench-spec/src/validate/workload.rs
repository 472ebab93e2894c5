//! Workloads against the catalog: a `[[workload]]` table or a victim entry resolved to its
//! definition and parameters, the checks on a list of them (guest memory, duplicates), and
//! their ids.

use super::platform::{GuestSeen, PlatformSeen};
use super::{did_you_mean, one_of, Validator};
use crate::diag::Span;
use crate::tree::{Entry, Table};
use crate::{distinct_labels, json_text, WorkloadSpec, GUEST_BASE_MIB};
use hvbench_proto::catalog::{self, WorkloadDef};
use serde_json::Value;
use std::collections::BTreeMap;

/// A valid workload and the places of its name and parameters.
pub(super) struct WorkloadSeen {
    def: &'static WorkloadDef,
    params: BTreeMap<String, Value>,
    name_span: Span,
    param_spans: BTreeMap<String, Span>,
}

impl Validator<'_> {
    /// A workload written as a table (`what`: a `[[workload]]`, or a victim's inline table):
    /// its `name` and, as every other key, its parameters.
    pub(super) fn workload(&mut self, t: &Table, span: &Span, what: &str) -> Option<WorkloadSeen> {
        let Some(e) = t.get("name") else {
            self.sink.error(
                span,
                format!("this {what} has no `name`"),
                format!(
                    "add name = \"...\", one of: {}",
                    one_of(&catalog::workload_names())
                ),
            );
            return None;
        };
        let (name, name_span) = self.string(e, "syscall")?;
        self.resolve_workload(name, name_span, &t.entries)
    }

    /// A workload by its catalog name, with the parameters that `entries` give (a `name` entry
    /// among them is skipped): checked one at a time, then together, defaults filled in.
    pub(super) fn resolve_workload(
        &mut self,
        name: &str,
        name_span: &Span,
        entries: &[Entry],
    ) -> Option<WorkloadSeen> {
        let names = catalog::workload_names();
        let Some(def) = catalog::workload(name) else {
            self.sink.error(
                name_span,
                format!("unknown workload `{name}`"),
                format!(
                    "{}expected one of: {}",
                    did_you_mean(name, &names),
                    one_of(&names)
                ),
            );
            return None;
        };
        let param_names: Vec<&str> = def.params.iter().map(|p| p.name).collect();
        let mut ok = true;
        let mut given = BTreeMap::new();
        let mut param_spans = BTreeMap::new();
        for e in entries.iter().filter(|e| e.key != "name") {
            let value = e.value.kind.to_json();
            if !param_names.contains(&e.key.as_str()) {
                let hint = if param_names.is_empty() {
                    format!("workload `{name}` takes no parameters; remove this key")
                } else {
                    format!(
                        "{}workload `{name}` takes: {}",
                        did_you_mean(&e.key, &param_names),
                        one_of(&param_names)
                    )
                };
                self.sink.error(
                    &e.key_span,
                    format!("unknown parameter `{}` for workload `{name}`", e.key),
                    hint,
                );
                ok = false;
                continue;
            }
            // One parameter at a time, so that every bad parameter is reported.
            let single = BTreeMap::from([(e.key.clone(), value.clone())]);
            if let Err(pe) = def.resolve(&single) {
                self.sink.error(
                    &e.value.span,
                    format!(
                        "bad value {} for parameter `{}` of workload `{name}`",
                        e.value.kind.describe(),
                        e.key
                    ),
                    format!("`{}` {}", e.key, pe.message),
                );
                ok = false;
                continue;
            }
            given.insert(e.key.clone(), value);
            param_spans.insert(e.key.clone(), e.value.span.clone());
        }
        if !ok {
            return None;
        }
        match def.resolve(&given) {
            Ok(params) => Some(WorkloadSeen {
                def,
                params,
                name_span: name_span.clone(),
                param_spans,
            }),
            Err(pe) => {
                // Each parameter was fine alone; report a combination the catalog rejects.
                let at = param_spans.get(&pe.param).unwrap_or(name_span).clone();
                self.sink.error(
                    &at,
                    format!("bad parameter `{}` for workload `{name}`", pe.param),
                    pe.message,
                );
                None
            }
        }
    }

    pub(super) fn check_workloads(
        &mut self,
        workloads: &[Option<WorkloadSeen>],
        platforms: &[PlatformSeen],
        guest: &GuestSeen,
        windows: u64,
    ) {
        let has_vm = platforms.iter().any(|p| p.vm_driver.is_some());
        let valid: Vec<&WorkloadSeen> = workloads.iter().flatten().collect();
        if has_vm {
            self.check_memory(&valid, guest);
        }
        self.check_tool_time(&valid, guest, windows);
        self.check_duplicate_workloads(&valid);
    }

    /// The general benchmarks' runs (`time_s` each, `windows` per workload) must fit in one
    /// trial's time limit, `[guest] timeout_s`, or every trial would be killed before its end.
    pub(super) fn check_tool_time(
        &mut self,
        workloads: &[&WorkloadSeen],
        guest: &GuestSeen,
        windows: u64,
    ) {
        let limit_s = guest.spec.timeout_s;
        let tools: Vec<(&WorkloadSeen, u64)> = workloads
            .iter()
            .filter(|w| w.def.class == catalog::WorkloadClass::General)
            .map(|w| (*w, w.def.window_ms(&w.params, 0) / 1000))
            .collect();
        let total_s: u64 = tools
            .iter()
            .map(|(_, s)| s.saturating_mul(windows))
            .fold(0, u64::saturating_add);
        if limit_s == 0 || total_s <= limit_s {
            return;
        }
        let Some((longest, _)) = tools.iter().max_by_key(|(_, s)| *s) else {
            return;
        };
        let at = longest
            .param_spans
            .get("time_s")
            .unwrap_or(&longest.name_span);
        self.sink.error(
            at,
            format!(
                "the general benchmarks run for {total_s} s per trial (time_s x (warmup + \
                 samples) = {windows} windows each), more than [guest] timeout_s = {limit_s}: \
                 every trial would be killed before its end"
            ),
            format!(
                "raise [guest] timeout_s above {}, or lower time_s, warmup or samples",
                total_s + total_s / 2 + 60
            ),
        );
    }

    /// Each workload, run in a guest, must fit the guest's memory with the kernel's share.
    pub(super) fn check_memory(&mut self, workloads: &[&WorkloadSeen], guest: &GuestSeen) {
        if guest.memory_ok {
            let memory = guest.spec.memory_mib;
            for w in workloads {
                let need = w.def.memory_need_mib(&w.params);
                if need + GUEST_BASE_MIB > memory {
                    let (at, smaller) = match w.param_spans.get("size_mib") {
                        Some(span) => (span, "lower `size_mib`"),
                        None => (&w.name_span, "give the workload a smaller size"),
                    };
                    self.sink.error(
                        at,
                        format!(
                            "workload `{}` needs {need} MiB of guest memory plus {GUEST_BASE_MIB} \
                             MiB for the guest kernel, more than the guest's memory_mib = {memory}",
                            w.def.name
                        ),
                        format!(
                            "raise [guest] memory_mib to at least {}, or {smaller}",
                            need + GUEST_BASE_MIB
                        ),
                    );
                }
            }
        }
    }

    /// The same workload listed twice with the same resolved parameters (in one list: the
    /// battery, or one victim).
    pub(super) fn check_duplicate_workloads(&mut self, valid: &[&WorkloadSeen]) {
        for (i, w) in valid.iter().enumerate() {
            if let Some(before) = valid[..i]
                .iter()
                .find(|b| b.def.name == w.def.name && b.params == w.params)
            {
                let line = self.sink.line_of(&before.name_span);
                self.sink.error(
                    &w.name_span,
                    format!(
                        "workload `{}` is listed twice with the same parameters",
                        w.def.name
                    ),
                    format!(
                        "the same workload is at line {line}; remove one (raise `samples` for more \
                         measurements) or give them different parameters"
                    ),
                );
            }
        }
    }
}

/// Give every workload its id (see the crate documentation, "Workload ids").
pub(super) fn with_ids(seen: Vec<WorkloadSeen>) -> Vec<WorkloadSpec> {
    let keyed: Vec<(&str, BTreeMap<String, String>)> = seen
        .iter()
        .map(|w| {
            let params = w
                .params
                .iter()
                .map(|(k, v)| (k.clone(), json_text(v)))
                .collect();
            (w.def.name, params)
        })
        .collect();
    let ids = distinct_labels(&keyed);
    seen.into_iter()
        .zip(ids)
        .map(|(w, id)| WorkloadSpec {
            id,
            name: w.def.name.to_string(),
            params: w.params,
        })
        .collect()
}
