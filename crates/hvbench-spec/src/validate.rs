//! Experiment text -> [`Plan`], collecting every problem with its place in the text.

use crate::diag::{closest, Sink, Span};
use crate::tree::Node;
use crate::tree::{self, Entry, Kind, Table};
use crate::{
    distinct_labels, json_text, Accel, DiskCache, Driver, GuestSpec, IsolationSpec, Placement,
    Plan, PlatformSpec, QemuSpec, SpecError, StressorSpec, WorkloadSpec, XenGuestType, XenSpec,
    GUEST_BASE_MIB,
};
use hvbench_proto::catalog::{self, StressorDef, WorkloadDef};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

const ROOT_KEYS: &[&str] = &[
    "name",
    "repetitions",
    "warmup",
    "samples",
    "min_window_ms",
    "seed",
    "min_repetitions",
    "target_ci_pct",
    "guest",
    "platform",
    "workload",
    "isolation",
];
const GUEST_KEYS: &[&str] = &["vcpus", "memory_mib", "kernel", "timeout_s"];
const PLATFORM_KEYS: &[&str] = &["name", "driver"];
/// Keys every VM platform takes, whatever its driver.
const VM_KEYS: &[&str] = &["lab", "cpus"];
const QEMU_KEYS: &[&str] = &["accel", "machine", "cpu", "disk_cache"];
const XEN_KEYS: &[&str] = &["type", "weight", "cap"];
const DRIVERS: &[&str] = &["host", "qemu", "xen"];
/// Drivers that are planned but not built yet.
const FUTURE_DRIVERS: &[&str] = &["libvirt", "ssh"];
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

/// An integer setting: its range and what to say when a value is below or above it.
struct IntRule {
    key: &'static str,
    min: i64,
    max: i64,
    default: i64,
    low: &'static str,
    high: &'static str,
}

const REPETITIONS: IntRule = IntRule {
    key: "repetitions",
    min: 1,
    max: 10_000,
    default: 5,
    low: "run at least one round",
    high: "at most 10000 rounds; 5 to 30 is typical",
};
const WARMUP: IntRule = IntRule {
    key: "warmup",
    min: 0,
    max: 100,
    default: 1,
    low: "`warmup = 0` runs no warm-up window",
    high: "at most 100 warm-up windows; one or two are usually enough",
};
const SAMPLES: IntRule = IntRule {
    key: "samples",
    min: 1,
    max: 1000,
    default: 1,
    low: "measure at least one window per workload per round",
    high: "at most 1000 measured windows per round; add rounds (`repetitions`) instead",
};
const MIN_WINDOW_MS: IntRule = IntRule {
    key: "min_window_ms",
    min: 1,
    max: 60_000,
    default: 200,
    low: "a window lasts at least 1 ms; 100 to 1000 ms is typical",
    high: "at most 60000 ms (one minute) per window",
};
const SEED: IntRule = IntRule {
    key: "seed",
    min: 0,
    max: i64::MAX,
    default: 0,
    low: "a seed is a non-negative integer",
    high: "a seed is a non-negative integer",
};
const MIN_REPETITIONS: IntRule = IntRule {
    key: "min_repetitions",
    min: 2,
    max: 10_000,
    default: 3,
    low: "an interval needs at least two rounds",
    high: "at most 10000 rounds",
};
const VCPUS: IntRule = IntRule {
    key: "vcpus",
    min: 1,
    max: 64,
    default: 1,
    low: "give the guest at least one vCPU",
    high: "a guest has at most 64 vCPUs",
};
const MEMORY_MIB: IntRule = IntRule {
    key: "memory_mib",
    min: 64,
    max: 1_048_576,
    default: 512,
    low: "a guest needs at least 64 MiB to boot; the default is 512",
    high: "a guest has at most 1048576 MiB (1 TiB)",
};
const TIMEOUT_S: IntRule = IntRule {
    key: "timeout_s",
    min: 1,
    max: 86_400,
    default: 600,
    low: "allow at least one second per guest boot; the default is 600",
    high: "at most 86400 s (one day) per guest boot",
};
const AGGRESSORS: IntRule = IntRule {
    key: "aggressors",
    min: 1,
    max: 8,
    default: 1,
    low: "at least one aggressor runs beside the victim (the baseline cell `<name>/none` runs \
          none by itself)",
    high: "at most 8 aggressors per scenario",
};
const AGGRESSOR_WEIGHT: IntRule = IntRule {
    key: "aggressor_weight",
    min: 1,
    max: 10_000,
    default: 100,
    low: "a CPU weight is from 1 to 10000 as cgroup cpu.weight (its default 100 maps to Xen's \
          256); leave it out for the platform's default",
    high: "a CPU weight is from 1 to 10000 as cgroup cpu.weight (its default 100 maps to Xen's \
           256); leave it out for the platform's default",
};
const AGGRESSOR_CAP_PCT: IntRule = IntRule {
    key: "aggressor_cap_pct",
    min: 1,
    max: 6400,
    default: 100,
    low: "a cap is in % of one CPU, at least 1; leave `aggressor_cap_pct` out for no cap",
    high: "a cap is in % of one CPU, at most 6400 (64 CPUs); leave it out for no cap",
};
const SETTLE_MS: IntRule = IntRule {
    key: "settle_ms",
    min: 0,
    max: 600_000,
    default: 2000,
    low: "`settle_ms = 0` starts the victim as soon as every aggressor reported",
    high: "at most 600000 ms (ten minutes) of settling; the default is 2000",
};

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

/// A platform as far as it could be read, for the checks across platforms.
struct PlatformSeen {
    name: Option<(String, Span)>,
    /// The `driver` value's span, when the driver boots a guest.
    vm_driver: Option<Span>,
    spec: Option<PlatformSpec>,
}

/// A valid workload and the places of its name and parameters.
struct WorkloadSeen {
    def: &'static WorkloadDef,
    params: BTreeMap<String, Value>,
    name_span: Span,
    param_spans: BTreeMap<String, Span>,
}

/// The guest as far as it could be read.
struct GuestSeen {
    spec: GuestSpec,
    present: bool,
    /// `memory_mib` is valid (given or default) and can be compared with workload needs.
    memory_ok: bool,
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

fn platform_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

fn machine_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

fn cpu_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ',' | '+' | '=')
}

impl Validator<'_> {
    fn plan(&mut self, root: &Table, text: &str) -> Option<Plan> {
        let top = 0..0;
        for e in &root.entries {
            if !ROOT_KEYS.contains(&e.key.as_str()) {
                let hint = match e.key.as_str() {
                    "platforms" | "workloads" | "isolations" => format!(
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

        let name = match root.get("name") {
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
        };

        let repetitions = self.int(root, &REPETITIONS);
        let warmup = self.int(root, &WARMUP);
        let samples = self.int(root, &SAMPLES);
        let min_window_ms = self.int(root, &MIN_WINDOW_MS);
        let seed = root.get("seed").map(|_| self.int(root, &SEED));
        let stop_early = self.stop_early(root, repetitions);

        let guest = self.guest(root);

        let platforms: Vec<PlatformSeen> = self
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

        self.check_platforms(&platforms, &guest);
        self.check_workloads(&workloads, &platforms, &guest);
        self.check_isolation(&isolation, &platforms, &guest);

        let name = name?;
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
            guest: guest.spec,
            platforms,
            workloads,
            isolation,
            source: text.to_string(),
        };
        Some(plan)
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

    /// An integer setting: its value, its default when absent, or its default (after reporting
    /// the problem) when invalid.
    fn int(&mut self, table: &Table, rule: &IntRule) -> i64 {
        let Some(e) = table.get(rule.key) else {
            return rule.default;
        };
        match &e.value.kind {
            Kind::Int(n) if (rule.min..=rule.max).contains(n) => *n,
            Kind::Int(n) => {
                let message = if rule.max == i64::MAX {
                    format!("`{}` must be at least {}, got {n}", rule.key, rule.min)
                } else {
                    format!(
                        "`{}` must be from {} to {}, got {n}",
                        rule.key, rule.min, rule.max
                    )
                };
                let hint = if *n < rule.min { rule.low } else { rule.high };
                self.sink.error(&e.value.span, message, hint);
                rule.default
            }
            other => {
                let hint = match other {
                    Kind::Str(s) if s.trim().parse::<i64>().is_ok() => {
                        format!("remove the quotes: {} = {}", rule.key, s.trim())
                    }
                    _ => format!(
                        "write a whole number without quotes, e.g. {} = {}",
                        rule.key, rule.default
                    ),
                };
                self.sink.error(
                    &e.value.span,
                    format!("`{}` must be an integer, got {}", rule.key, got(other)),
                    hint,
                );
                rule.default
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

    fn guest(&mut self, root: &Table) -> GuestSeen {
        let mut seen = GuestSeen {
            spec: GuestSpec::default(),
            present: false,
            memory_ok: true,
        };
        let Some(e) = root.get("guest") else {
            return seen;
        };
        seen.present = true;
        let Kind::Table(t) = &e.value.kind else {
            self.sink.error(
                &e.value.span,
                format!("`guest` must be a table, got {}", got(&e.value.kind)),
                "write a [guest] table with vcpus, memory_mib, kernel and timeout_s",
            );
            return seen;
        };
        self.unknown_keys(t, GUEST_KEYS, "[guest]");
        seen.spec.vcpus = self.int(t, &VCPUS) as u32;
        let before = self.sink_len();
        seen.spec.memory_mib = self.int(t, &MEMORY_MIB) as u64;
        seen.memory_ok = self.sink_len() == before;
        seen.spec.timeout_s = self.int(t, &TIMEOUT_S) as u64;
        if let Some(k) = t.get("kernel") {
            if let Some((path, span)) = self.string(k, "/boot/vmlinuz") {
                if path.trim().is_empty() {
                    self.sink.error(
                        span,
                        "`kernel` is empty",
                        "give the path of a kernel image, or remove `kernel` to use Debian's \
                         cloud kernel",
                    );
                } else {
                    let mut path = PathBuf::from(path);
                    if let Some(base) = self.base {
                        if path.is_relative() {
                            path = base.join(path);
                        }
                        if !path.is_file() {
                            self.sink.error(
                                span,
                                format!("guest kernel `{}` is not a file", path.display()),
                                "give the path of a kernel image (a relative path is relative to \
                                 the experiment file), or remove `kernel` to use Debian's cloud \
                                 kernel",
                            );
                        }
                    }
                    seen.spec.kernel = Some(path);
                }
            }
        }
        seen
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

    fn platform(&mut self, t: &Table, span: &Span) -> PlatformSeen {
        let mut seen = PlatformSeen {
            name: None,
            vm_driver: None,
            spec: None,
        };
        match t.get("name") {
            None => self.sink.error(
                span,
                "this [[platform]] has no `name`",
                "add a unique name, e.g. name = \"kvm\" (lowercase letters, digits and `-`)",
            ),
            Some(e) => {
                if let Some((s, span)) = self.string(e, "kvm") {
                    if !s.is_empty() && s.chars().count() <= 64 && s.chars().all(platform_name_char)
                    {
                        seen.name = Some((s.to_string(), span.clone()));
                    } else {
                        self.sink.error(
                            span,
                            format!(
                                "a platform `name` must be 1 to 64 lowercase letters, digits or \
                                 `-`, got {s:?}"
                            ),
                            format!(
                                "try name = \"{}\"",
                                sanitize(s, platform_name_char, true, 64)
                            ),
                        );
                    }
                }
            }
        }

        let all_keys: Vec<&str> = PLATFORM_KEYS
            .iter()
            .chain(VM_KEYS)
            .chain(QEMU_KEYS)
            .chain(XEN_KEYS)
            .copied()
            .collect();
        let driver = match t.get("driver") {
            None => {
                self.sink.error(
                    span,
                    "this [[platform]] has no `driver`",
                    format!(
                        "add driver = \"host\" or driver = \"qemu\"{}",
                        match &seen.name {
                            Some((n, _)) => format!(" to platform `{n}`"),
                            None => String::new(),
                        }
                    ),
                );
                self.unknown_keys(t, &all_keys, "[[platform]]");
                return seen;
            }
            Some(e) => match self.string(e, "qemu") {
                None => return seen,
                Some((d, dspan)) => (d, dspan),
            },
        };
        let (driver, driver_span) = driver;
        match driver {
            "host" => {
                for e in &t.entries {
                    let key = e.key.as_str();
                    if PLATFORM_KEYS.contains(&key) {
                        continue;
                    }
                    if QEMU_KEYS.contains(&key) {
                        self.sink.error(
                            &e.key_span,
                            format!("`{key}` applies only to driver = \"qemu\", not \"host\""),
                            "remove it, or set driver = \"qemu\"",
                        );
                    } else if XEN_KEYS.contains(&key) || VM_KEYS.contains(&key) {
                        self.sink.error(
                            &e.key_span,
                            format!("`{key}` applies only to guests (driver = \"qemu\" or \"xen\"), not to \"host\""),
                            "remove it: the host platform runs the agent as a plain process here",
                        );
                    } else {
                        self.unknown_key(e, PLATFORM_KEYS, "a host platform");
                    }
                }
                if let Some((name, _)) = &seen.name {
                    seen.spec = Some(PlatformSpec {
                        name: name.clone(),
                        driver: Driver::Host,
                        lab: false,
                    });
                }
            }
            "qemu" => {
                seen.vm_driver = Some(driver_span.clone());
                self.wrong_driver_keys(t, XEN_KEYS, "xen", "qemu");
                let known: Vec<&str> = PLATFORM_KEYS
                    .iter()
                    .chain(VM_KEYS)
                    .chain(QEMU_KEYS)
                    .copied()
                    .collect();
                self.unknown_keys_except(t, &known, XEN_KEYS, "a qemu platform");
                let lab = self.lab(t);
                let qemu = self.qemu(t);
                if let (Some((name, _)), Some(qemu), Some(lab)) = (&seen.name, qemu, lab) {
                    seen.spec = Some(PlatformSpec {
                        name: name.clone(),
                        driver: Driver::Qemu(qemu),
                        lab,
                    });
                }
            }
            "xen" => {
                seen.vm_driver = Some(driver_span.clone());
                self.wrong_driver_keys(t, QEMU_KEYS, "qemu", "xen");
                let known: Vec<&str> = PLATFORM_KEYS
                    .iter()
                    .chain(VM_KEYS)
                    .chain(XEN_KEYS)
                    .copied()
                    .collect();
                self.unknown_keys_except(t, &known, QEMU_KEYS, "a xen platform");
                let lab = self.lab(t);
                let xen = self.xen(t);
                if let (Some((name, _)), Some(xen), Some(lab)) = (&seen.name, xen, lab) {
                    seen.spec = Some(PlatformSpec {
                        name: name.clone(),
                        driver: Driver::Xen(xen),
                        lab,
                    });
                }
            }
            d if FUTURE_DRIVERS.contains(&d) => self.sink.error(
                driver_span,
                format!("the `{d}` driver is not yet supported"),
                format!("use driver = \"host\" or \"qemu\" for now; `{d}` comes later"),
            ),
            d @ ("kvm" | "tcg") => self.sink.error(
                driver_span,
                format!("unknown driver `{d}`"),
                format!(
                    "{d} is an accelerator of QEMU: write driver = \"qemu\" and accel = \"{d}\""
                ),
            ),
            d => self.sink.error(
                driver_span,
                format!("unknown driver `{d}`"),
                format!(
                    "{}expected one of: {}",
                    did_you_mean(d, DRIVERS),
                    one_of(DRIVERS)
                ),
            ),
        }
        seen
    }

    /// Keys that belong to another driver, named as such.
    fn wrong_driver_keys(&mut self, t: &Table, keys: &[&str], owner: &str, this: &str) {
        for e in &t.entries {
            let key = e.key.as_str();
            if keys.contains(&key) {
                self.sink.error(
                    &e.key_span,
                    format!("`{key}` applies only to driver = \"{owner}\", not \"{this}\""),
                    format!("remove it, or set driver = \"{owner}\""),
                );
            }
        }
    }

    /// Unknown keys, leaving out those already reported as another driver's.
    fn unknown_keys_except(&mut self, t: &Table, known: &[&str], reported: &[&str], what: &str) {
        for e in &t.entries {
            let key = e.key.as_str();
            if !known.contains(&key) && !reported.contains(&key) {
                self.unknown_key(e, known, what);
            }
        }
    }

    /// `lab = true | false` (default false); `None` after reporting a wrong type.
    fn lab(&mut self, t: &Table) -> Option<bool> {
        let Some(e) = t.get("lab") else {
            return Some(false);
        };
        match &e.value.kind {
            Kind::Bool(b) => Some(*b),
            other => {
                self.sink.error(
                    &e.value.span,
                    format!("`lab` must be true or false, got {}", got(other)),
                    "lab = true runs this platform inside hvbench's emulated Xen/KVM host (`hvbench lab`)",
                );
                None
            }
        }
    }

    /// `target_ci_pct` (and optionally `min_repetitions`): stop adding rounds once every
    /// median's interval is this narrow. `Some(None)` when absent, `None` after an error.
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

    /// `cpus = "0-1"`: the host CPUs a guest's vCPUs are pinned to. `Some(None)` when absent,
    /// `None` after reporting a bad value.
    fn cpus(&mut self, t: &Table) -> Option<Option<String>> {
        let Some(e) = t.get("cpus") else {
            return Some(None);
        };
        let (c, span) = self.string(e, "1")?;
        if crate::parse_cpu_list(c).is_some() {
            Some(Some(c.to_string()))
        } else {
            self.sink.error(
                span,
                format!("`cpus` must be a CPU list such as \"1\", \"0-1\" or \"0,2\", got {c:?}"),
                "the host CPUs the guest's vCPUs are pinned to (vCPU i on the i-th CPU of the list)",
            );
            None
        }
    }

    fn xen(&mut self, t: &Table) -> Option<XenSpec> {
        let mut spec = XenSpec::default();
        let mut ok = true;
        if let Some(e) = t.get("type") {
            match self.string(e, "pvh") {
                None => ok = false,
                Some((v, span)) => match XenGuestType::from_name(v) {
                    Some(k) => spec.kind = k,
                    None => {
                        self.sink.error(
                            span,
                            format!("`type` must be one of \"pv\", \"pvh\", \"hvm\", got {v:?}"),
                            "pv: paravirtualized; pvh: PV kernel in an HVM container (needs VMX/SVM); hvm: full emulation (needs qemu-system-xen in dom0)",
                        );
                        ok = false;
                    }
                },
            }
        }
        match self.cpus(t) {
            Some(c) => spec.cpus = c,
            None => ok = false,
        }
        for (key, min, max, hint) in [
            (
                "weight",
                1,
                65535,
                "credit2 weight: 1 to 65535, Xen's default is 256",
            ),
            ("cap", 0, 6400, "credit2 cap in % of one CPU (0 = no cap)"),
        ] {
            if let Some(e) = t.get(key) {
                match &e.value.kind {
                    Kind::Int(n) if (min..=max).contains(n) => {
                        let v = Some(*n as u32);
                        if key == "weight" {
                            spec.weight = v;
                        } else {
                            spec.cap = v;
                        }
                    }
                    other => {
                        self.sink.error(
                            &e.value.span,
                            format!(
                                "`{key}` must be an integer from {min} to {max}, got {}",
                                got(other)
                            ),
                            hint,
                        );
                        ok = false;
                    }
                }
            }
        }
        ok.then_some(spec)
    }

    fn qemu(&mut self, t: &Table) -> Option<QemuSpec> {
        let mut spec = QemuSpec::default();
        let mut ok = true;
        if let Some(e) = t.get("accel") {
            match self.string(e, "auto") {
                None => ok = false,
                Some((a, span)) => match Accel::from_name(a) {
                    Some(accel) => spec.accel = accel,
                    None => {
                        let names: Vec<&str> = Accel::ALL.iter().map(|a| a.as_str()).collect();
                        self.sink.error(
                            span,
                            format!("`accel` must be one of \"auto\", \"kvm\", \"tcg\", got {a:?}"),
                            format!(
                                "{}auto uses kvm where /dev/kvm is usable, else tcg (software \
                                 emulation)",
                                did_you_mean(a, &names)
                            ),
                        );
                        ok = false;
                    }
                },
            }
        }
        if let Some(e) = t.get("machine") {
            match self.string(e, "q35") {
                None => ok = false,
                Some((m, span)) => {
                    if !m.is_empty() && m.chars().all(machine_char) {
                        spec.machine = m.to_string();
                    } else {
                        self.sink.error(
                            span,
                            format!("`machine` must be a QEMU machine type such as \"q35\" or \"pc\", got {m:?}"),
                            "`qemu-system-x86_64 -machine help` lists them; the default is q35",
                        );
                        ok = false;
                    }
                }
            }
        }
        if let Some(e) = t.get("cpu") {
            match self.string(e, "max") {
                None => ok = false,
                Some((c, span)) => {
                    if !c.is_empty() && c.chars().all(cpu_char) {
                        spec.cpu = Some(c.to_string());
                    } else {
                        self.sink.error(
                            span,
                            format!("`cpu` must be a QEMU CPU model such as \"max\", \"host\" or \"EPYC,+svm\", got {c:?}"),
                            "`qemu-system-x86_64 -cpu help` lists them; leave `cpu` out for host \
                             with kvm and max with tcg",
                        );
                        ok = false;
                    }
                }
            }
        }
        if let Some(e) = t.get("disk_cache") {
            match self.string(e, "none") {
                None => ok = false,
                Some((c, span)) => match DiskCache::from_name(c) {
                    Some(cache) => spec.disk_cache = cache,
                    None => {
                        let names: Vec<&str> = DiskCache::ALL.iter().map(|c| c.as_str()).collect();
                        self.sink.error(
                            span,
                            format!(
                                "`disk_cache` must be one of {}, got {c:?}",
                                names
                                    .iter()
                                    .map(|n| format!("{n:?}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                            format!(
                                "{}the scratch disk's QEMU cache mode: none (O_DIRECT on the host, \
                                 the default) is what clouds use",
                                did_you_mean(c, &names)
                            ),
                        );
                        ok = false;
                    }
                },
            }
        }
        match self.cpus(t) {
            Some(c) => spec.cpus = c,
            None => ok = false,
        }
        ok.then_some(spec)
    }

    /// A workload written as a table (`what`: a `[[workload]]`, or a victim's inline table):
    /// its `name` and, as every other key, its parameters.
    fn workload(&mut self, t: &Table, span: &Span, what: &str) -> Option<WorkloadSeen> {
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
    fn resolve_workload(
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

    fn check_platforms(&mut self, platforms: &[PlatformSeen], guest: &GuestSeen) {
        let mut first: HashMap<&str, &Span> = HashMap::new();
        for p in platforms {
            if let Some((name, span)) = &p.name {
                if let Some(before) = first.get(name.as_str()) {
                    let line = self.sink.line_of(before);
                    self.sink.error(
                        span,
                        format!("duplicate platform name `{name}`"),
                        format!(
                            "`{name}` is already the name of the platform at line {line}; give \
                             each platform a unique name"
                        ),
                    );
                } else {
                    first.insert(name, span);
                }
            }
        }
        if !guest.present {
            if let Some(p) = platforms.iter().find(|p| p.vm_driver.is_some()) {
                let span = p.vm_driver.clone().unwrap_or_default();
                let which = match &p.name {
                    Some((n, _)) => format!("platform `{n}`"),
                    None => "this platform".to_string(),
                };
                self.sink.error(
                    &span,
                    format!("{which} boots a guest, but the experiment has no [guest] table"),
                    "add a [guest] table (vcpus, memory_mib, timeout_s); an empty [guest] takes \
                     the defaults: 1 vCPU, 512 MiB, timeout 600 s",
                );
            }
        }
    }

    fn check_workloads(
        &mut self,
        workloads: &[Option<WorkloadSeen>],
        platforms: &[PlatformSeen],
        guest: &GuestSeen,
    ) {
        let has_vm = platforms.iter().any(|p| p.vm_driver.is_some());
        let valid: Vec<&WorkloadSeen> = workloads.iter().flatten().collect();
        if has_vm {
            self.check_memory(&valid, guest);
        }
        self.check_duplicate_workloads(&valid);
    }

    /// Each workload, run in a guest, must fit the guest's memory with the kernel's share.
    fn check_memory(&mut self, workloads: &[&WorkloadSeen], guest: &GuestSeen) {
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
    fn check_duplicate_workloads(&mut self, valid: &[&WorkloadSeen]) {
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

    fn sink_len(&self) -> usize {
        self.sink.count()
    }
}

/// Give every workload its id (see the crate documentation, "Workload ids").
fn with_ids(seen: Vec<WorkloadSeen>) -> Vec<WorkloadSpec> {
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

/// An `[[isolation]]` table as far as it could be read; a `None` field had an error.
struct IsolationSeen {
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
    fn into_spec(self, platforms: &[PlatformSpec]) -> Option<IsolationSpec> {
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

/// `[[isolation]]` scenarios (DESIGN.md, "Isolation experiments").
impl Validator<'_> {
    fn isolation(&mut self, t: &Table, span: &Span, platforms: &[PlatformSeen]) -> IsolationSeen {
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

    /// An integer setting; `None` after reporting a problem with it.
    fn checked_int(&mut self, t: &Table, rule: &IntRule) -> Option<i64> {
        let before = self.sink_len();
        let n = self.int(t, rule);
        (self.sink_len() == before).then_some(n)
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

    /// `stressors = ["cpu", { kind = "disk", size_mib = 64 }]`: catalog kinds, each with its
    /// integer parameters; the same kind with the same parameters only once.
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

    /// A stressor's parameters (every entry but `kind`): each an integer in the catalog's range.
    fn stressor_params(&mut self, def: &StressorDef, entries: &[Entry]) -> Option<StressorSpec> {
        let names: Vec<&str> = def.params.iter().map(|p| p.0).collect();
        let mut ok = true;
        let mut params = BTreeMap::new();
        for e in entries.iter().filter(|e| e.key != "kind") {
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
                    params.insert(key.to_string(), *n as u64);
                }
                other => {
                    let hint = match other {
                        Kind::Str(s) if s.trim().parse::<u64>().is_ok() => {
                            format!("remove the quotes: {key} = {}", s.trim())
                        }
                        _ => format!("`{key}` must be an integer from {min} to {max}"),
                    };
                    self.sink.error(
                        &e.value.span,
                        format!(
                            "bad value {} for parameter `{key}` of stressor `{}`",
                            other.describe(),
                            def.kind
                        ),
                        hint,
                    );
                    ok = false;
                }
            }
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
    fn check_isolation(
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
