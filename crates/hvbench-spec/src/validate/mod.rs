//! Experiment text -> [`Plan`], collecting every problem with its place in the text.
//!
//! This file owns the entry point, the `Validator` core and the top level of the file (root
//! keys, `name`, the round settings), plus the readers and hint helpers every table shares.

mod boot;
mod host;
mod isolation;
mod platform;
mod rules;
pub use rules::{MAX_REPETITIONS, MAX_SAMPLES};
mod workload;

use self::host::HostSeen;
use self::isolation::IsolationSeen;
use self::platform::PlatformSeen;
use self::rules::{MIN_REPETITIONS, MIN_WINDOW_MS, REPETITIONS, SAMPLES, SEED, WARMUP};
use self::workload::{with_ids, WorkloadSeen};
use crate::diag::{closest, Sink, Span};
use crate::tree::Node;
use crate::tree::{self, Entry, Kind, Table};
use crate::{Plan, SpecError};
use hvbench_proto::catalog;
use std::path::Path;

const ROOT_KEYS: &[&str] = &[
    "name",
    "repetitions",
    "warmup",
    "samples",
    "min_window_ms",
    "seed",
    "min_repetitions",
    "target_ci_pct",
    "evidence",
    "guest",
    "host",
    "platform",
    "workload",
    "isolation",
];

/// Validate `text`. With `base` (the spec file's directory), a relative guest kernel path is
/// made relative to it and the kernel must exist; without, the path is left as written.
pub(crate) fn parse(origin: &str, text: &str, base: Option<&Path>) -> Result<Plan, SpecError> {
    let doc = toml_edit::ImDocument::parse(text).map_err(|e| syntax_error(origin, text, &e))?;
    let root = tree::from_root(doc.as_table());
    let mut v = Validator {
        sink: Sink::new(origin, text),
        base,
    };
    let plan = v.plan(&root, text);
    match plan {
        Some(plan) if v.sink.is_empty() => Ok(plan),
        _ => Err(v.sink.into_error()),
    }
}

fn syntax_error(origin: &str, text: &str, e: &toml_edit::TomlError) -> SpecError {
    let span = e.span().unwrap_or(0..0);
    let mut lines = e.message().trim().lines().map(str::trim);
    let first = lines.next().unwrap_or("invalid TOML");
    let rest: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    let mut sink = Sink::new(origin, text);
    let message = format!("TOML syntax: {first}");
    if rest.is_empty() {
        sink.error_no_hint(&span, message);
    } else {
        sink.error(&span, message, rest.join("; "));
    }
    sink.into_error()
}

struct Validator<'a> {
    sink: Sink<'a>,
    base: Option<&'a Path>,
}

fn got(kind: &Kind) -> String {
    match kind {
        Kind::Array(_) | Kind::Table(_) => kind.type_name().to_string(),
        _ => format!("{} {}", kind.type_name(), kind.describe()),
    }
}

fn one_of(words: &[&str]) -> String {
    words.join(", ")
}

/// "did you mean `x`? " or "".
fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    match closest(word, candidates) {
        Some(c) => format!("did you mean `{c}`? "),
        None => String::new(),
    }
}

/// A name made of the allowed characters, to suggest in a hint.
fn sanitize(name: &str, allowed: impl Fn(char) -> bool, lowercase: bool, max: usize) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = if lowercase { c.to_ascii_lowercase() } else { c };
        if allowed(c) {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.trim_matches('-').chars().take(max).collect();
    let out = out.trim_matches('-');
    if out.is_empty() {
        "my-name".to_string()
    } else {
        out.to_string()
    }
}

fn plan_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl Validator<'_> {
    fn plan(&mut self, root: &Table, text: &str) -> Option<Plan> {
        self.root_keys(root);
        let name = self.plan_name(root);

        let repetitions = self.int(root, &REPETITIONS);
        let warmup = self.int(root, &WARMUP);
        let samples = self.int(root, &SAMPLES);
        let min_window_ms = self.int(root, &MIN_WINDOW_MS);
        let seed = root.get("seed").map(|_| self.int(root, &SEED));
        let stop_early = self.stop_early(root, repetitions);
        let evidence = self.evidence(root);

        let guest = self.guest(root);

        let hosts: Vec<HostSeen> = self
            .tables(root, "host", "xenbox", false)
            .into_iter()
            .map(|(t, span)| self.host_table(t, span))
            .collect();
        let mut platforms: Vec<PlatformSeen> = self
            .tables(root, "platform", "host", true)
            .into_iter()
            .map(|(t, span)| self.platform(t, span))
            .collect();
        // Without battery workloads, isolation scenarios alone make an experiment.
        let isolation_given = root
            .get("isolation")
            .is_some_and(|e| !matches!(&e.value.kind, Kind::Array(a) if a.is_empty()));
        let workloads: Vec<Option<WorkloadSeen>> = self
            .tables(root, "workload", "syscall", !isolation_given)
            .into_iter()
            .map(|(t, span)| self.workload(t, span, "[[workload]]"))
            .collect();
        let isolation: Vec<IsolationSeen> = self
            .tables(root, "isolation", "noisy", false)
            .into_iter()
            .map(|(t, span)| self.isolation(t, span, &platforms))
            .collect();

        self.check_hosts(&hosts);
        self.check_platforms(&platforms, &guest);
        self.check_platform_hosts(&platforms, &hosts);
        self.check_platform_boots(&mut platforms, &hosts);
        let windows = u64::try_from(warmup.max(0).saturating_add(samples.max(0))).unwrap_or(0);
        self.check_workloads(&workloads, &platforms, &guest, windows);
        self.check_isolation(&isolation, &platforms, &guest);

        let name = name?;
        let hosts = hosts
            .into_iter()
            .map(|h| h.spec)
            .collect::<Option<Vec<_>>>()?;
        let platforms = platforms
            .into_iter()
            .map(|p| p.spec)
            .collect::<Option<Vec<_>>>()?;
        let workloads = workloads.into_iter().collect::<Option<Vec<_>>>()?;
        let workloads = with_ids(workloads);
        let isolation = isolation
            .into_iter()
            .map(|s| s.into_spec(&platforms))
            .collect::<Option<Vec<_>>>()?;
        let plan = Plan {
            name,
            repetitions: u32::try_from(repetitions).ok()?,
            warmup: u32::try_from(warmup).ok()?,
            samples: u32::try_from(samples).ok()?,
            min_window_ms: u64::try_from(min_window_ms).ok()?,
            seed: match seed {
                Some(s) => Some(u64::try_from(s).ok()?),
                None => None,
            },
            stop_early: stop_early?,
            evidence: evidence?,
            guest: guest.spec,
            hosts,
            platforms,
            workloads,
            isolation,
            source: text.to_string(),
        };
        Some(plan)
    }

    /// Unknown top-level keys, with a hint for the plural of a table.
    fn root_keys(&mut self, root: &Table) {
        for e in &root.entries {
            if !ROOT_KEYS.contains(&e.key.as_str()) {
                let hint = match e.key.as_str() {
                    "platforms" | "workloads" | "isolations" | "hosts" => format!(
                        "write each {} as a [[{}]] table (singular, double brackets)",
                        e.key.trim_end_matches('s'),
                        e.key.trim_end_matches('s')
                    ),
                    key => format!(
                        "{}the top level takes: {}",
                        did_you_mean(key, ROOT_KEYS),
                        one_of(ROOT_KEYS)
                    ),
                };
                self.sink
                    .error(&e.key_span, format!("unknown key `{}`", e.key), hint);
            }
        }
    }

    /// The experiment's `name`; `None` (reported) when it is missing or not a valid name.
    fn plan_name(&mut self, root: &Table) -> Option<String> {
        let top = 0..0;
        match root.get("name") {
            None => {
                self.sink.error(
                    &top,
                    "the experiment has no `name`",
                    "add `name = \"my-experiment\"` at the top of the file (letters, digits, \
                     `.`, `_`, `-`; up to 64 characters)",
                );
                None
            }
            Some(e) => self.string(e, "my-experiment").and_then(|(s, span)| {
                if !s.is_empty() && s.chars().count() <= 64 && s.chars().all(plan_name_char) {
                    Some(s.to_string())
                } else {
                    self.sink.error(
                        span,
                        format!(
                            "`name` must be 1 to 64 letters, digits, `.`, `_` or `-`, got {:?}",
                            s
                        ),
                        format!(
                            "the name labels the run in the database and in file names; try \
                             name = \"{}\"",
                            sanitize(s, plan_name_char, false, 64)
                        ),
                    );
                    None
                }
            }),
        }
    }

    /// A string value naming one of `names` (returned as its index), or an error that lists
    /// them; its hint is `hint(value, did_you_mean)`. The first name is the example.
    fn choice(
        &mut self,
        e: &Entry,
        names: &[&str],
        hint: impl FnOnce(&str, String) -> String,
    ) -> Option<usize> {
        let (v, span) = self.string(e, names.first().copied().unwrap_or(""))?;
        if let Some(i) = names.iter().position(|n| *n == v) {
            return Some(i);
        }
        let list: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        self.sink.error(
            span,
            format!("`{}` must be one of {}, got {v:?}", e.key, list.join(", ")),
            hint(v, did_you_mean(v, names)),
        );
        None
    }

    /// A string value, or an error saying it must be one.
    fn string<'t>(&mut self, e: &'t Entry, example: &str) -> Option<(&'t str, &'t Span)> {
        match &e.value.kind {
            Kind::Str(s) => Some((s.as_str(), &e.value.span)),
            other => {
                self.sink.error(
                    &e.value.span,
                    format!("`{}` must be a string, got {}", e.key, got(other)),
                    format!("write it in quotes, e.g. {} = \"{example}\"", e.key),
                );
                None
            }
        }
    }

    /// Report keys of `table` that are not in `known`.
    fn unknown_keys(&mut self, table: &Table, known: &[&str], what: &str) {
        for e in &table.entries {
            if !known.contains(&e.key.as_str()) {
                self.unknown_key(e, known, what);
            }
        }
    }

    fn unknown_key(&mut self, e: &Entry, known: &[&str], what: &str) {
        self.sink.error(
            &e.key_span,
            format!("unknown key `{}` in {what}", e.key),
            format!(
                "{}{what} takes: {}",
                did_you_mean(&e.key, known),
                one_of(known)
            ),
        );
    }

    /// The tables of an array of tables (`[[platform]]`), reporting every shape problem. An
    /// absent or empty array is an error only when it is `required`.
    fn tables<'t>(
        &mut self,
        root: &'t Table,
        key: &str,
        example: &str,
        required: bool,
    ) -> Vec<(&'t Table, &'t Span)> {
        let (what, add) = match key {
            "platform" => (
                "platforms",
                format!("add a [[platform]] table with name and driver, e.g. name = \"{example}\" and driver = \"{example}\""),
            ),
            "host" => (
                "hosts",
                format!(
                    "add a [[host]] table, e.g. name = \"{example}\" and ssh = \"root@192.0.2.10\""
                ),
            ),
            "workload" => (
                "workloads",
                format!(
                    "add a [[workload]] table, e.g. name = \"{example}\" (an [[isolation]] \
                     scenario also counts); the workloads are: {}",
                    one_of(&catalog::workload_names())
                ),
            ),
            _ => (
                "isolation scenarios",
                format!(
                    "add an [[{key}]] table, e.g. name = \"{example}\", victim = [\"cpu-int\"] \
                     and stressors = [\"cpu\"]"
                ),
            ),
        };
        let Some(e) = root.get(key) else {
            if required {
                self.sink.error(
                    &(0..0),
                    format!("no {what}: the experiment lists no [[{key}]]"),
                    add,
                );
            }
            return Vec::new();
        };
        let Kind::Array(items) = &e.value.kind else {
            let hint = if matches!(e.value.kind, Kind::Table(_)) {
                format!("write [[{key}]] with double brackets: an experiment has a list of {what}")
            } else {
                format!("write each of the {what} as a [[{key}]] table")
            };
            self.sink.error(
                &e.value.span,
                format!(
                    "`{key}` must be an array of tables, got {}",
                    got(&e.value.kind)
                ),
                hint,
            );
            return Vec::new();
        };
        if items.is_empty() && required {
            self.sink
                .error(&e.value.span, format!("no {what}: `{key}` is empty"), add);
        }
        let mut out = Vec::new();
        for item in items {
            match &item.kind {
                Kind::Table(t) => out.push((t, &item.span)),
                other => self.sink.error(
                    &item.span,
                    format!("each entry of `{key}` must be a table, got {}", got(other)),
                    format!("write each of the {what} as a [[{key}]] table"),
                ),
            }
        }
        out
    }

    /// `target_ci_pct` (and optionally `min_repetitions`): stop adding rounds once every
    /// median's interval is this narrow. `Some(None)` when absent, `None` after an error.
    /// `evidence = true | false` (default true: docs/architecture.md, "Evidence"; false saves
    /// the one counted window per workload); `None` after reporting a wrong type.
    fn evidence(&mut self, root: &Table) -> Option<bool> {
        self.flag_or(
            root,
            "evidence",
            true,
            "evidence (on by default) counts what the hypervisor did (VM exits by reason, \
             hypervisor traces, steal time) in one extra window per workload after the samples; \
             evidence = false turns it off",
        )
    }

    /// A `key = true | false` of `t`, false when absent; `None` after reporting a wrong type,
    /// with `hint` saying what the key does.
    fn flag(&mut self, t: &Table, key: &str, hint: &str) -> Option<bool> {
        self.flag_or(t, key, false, hint)
    }

    /// A `key = true | false` of `t`, `default` when absent; `None` after reporting a wrong
    /// type, with `hint` saying what the key does.
    fn flag_or(&mut self, t: &Table, key: &str, default: bool, hint: &str) -> Option<bool> {
        let Some(e) = t.get(key) else {
            return Some(default);
        };
        match &e.value.kind {
            Kind::Bool(b) => Some(*b),
            other => {
                self.sink.error(
                    &e.value.span,
                    format!("`{key}` must be true or false, got {}", got(other)),
                    hint,
                );
                None
            }
        }
    }

    fn stop_early(&mut self, root: &Table, repetitions: i64) -> Option<Option<crate::StopEarly>> {
        let min = self.int(root, &MIN_REPETITIONS);
        let Some(e) = root.get("target_ci_pct") else {
            if let Some(m) = root.get("min_repetitions") {
                self.sink.error(
                    &m.key_span,
                    "`min_repetitions` needs `target_ci_pct`",
                    "add target_ci_pct = 5 (stop once every interval is within 5% of its median), or remove min_repetitions",
                );
                return None;
            }
            return Some(None);
        };
        let pct = match &e.value.kind {
            Kind::Int(n) => *n as f64,
            Kind::Float(f) => *f,
            other => {
                self.sink.error(
                    &e.value.span,
                    format!("`target_ci_pct` must be a number, got {}", got(other)),
                    "e.g. target_ci_pct = 5",
                );
                return None;
            }
        };
        if !(0.1..=100.0).contains(&pct) {
            self.sink.error(
                &e.value.span,
                format!("`target_ci_pct` must be from 0.1 to 100, got {pct}"),
                "the width of each median's 95% interval, in % of the median, at which rounds stop",
            );
            return None;
        }
        if min > repetitions {
            let span = root
                .get("min_repetitions")
                .map_or(&e.key_span, |m| &m.value.span);
            self.sink.error(
                span,
                format!("`min_repetitions` ({min}) is more than `repetitions` ({repetitions}), the maximum"),
                "with target_ci_pct, repetitions is the most rounds that run; raise it or lower min_repetitions",
            );
            return None;
        }
        Some(Some(crate::StopEarly {
            min_repetitions: min as u32,
            target_ci_pct: pct,
        }))
    }

    /// The items of a non-empty array; `None` after reporting that it is not one, or empty.
    fn array<'t>(&mut self, e: &'t Entry, example: &str, empty_hint: &str) -> Option<&'t [Node]> {
        match &e.value.kind {
            Kind::Array(items) if items.is_empty() => {
                self.sink
                    .error(&e.value.span, format!("`{}` is empty", e.key), empty_hint);
                None
            }
            Kind::Array(items) => Some(items),
            other => {
                let hint = match other {
                    Kind::Str(s) => format!("write a list in brackets: {} = [{s:?}]", e.key),
                    _ => format!("write a list in brackets, e.g. {} = {example}", e.key),
                };
                self.sink.error(
                    &e.value.span,
                    format!("`{}` must be an array, got {}", e.key, got(other)),
                    hint,
                );
                None
            }
        }
    }

    /// A non-empty array of strings, each with its span; `None` after reporting a problem.
    fn strings<'t>(
        &mut self,
        e: &'t Entry,
        example: &str,
        empty_hint: &str,
    ) -> Option<Vec<(&'t str, &'t Span)>> {
        let items = self.array(e, example, empty_hint)?;
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match &item.kind {
                Kind::Str(s) => out.push((s.as_str(), &item.span)),
                other => {
                    self.sink.error(
                        &item.span,
                        format!(
                            "each entry of `{}` must be a string, got {}",
                            e.key,
                            got(other)
                        ),
                        format!("e.g. {} = {example}", e.key),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn sink_len(&self) -> usize {
        self.sink.count()
    }
}
