//! stress-ng (Debian 12: 0.15.06), one stressor with `--metrics --yaml FILE`; the parser reads
//! the YAML file stress-ng writes.
//!
//! Output format: stress-ng(1), `--yaml` ("output gathered statistics to a YAML formatted file")
//! and `--metrics`; the file as 0.15.06 writes it (`fixtures/stress-ng-*.yaml`): a document from
//! `---` to `...`, a `system-info:` map, then `metrics:`, a list of maps, one per stressor, each
//! beginning `- stressor: NAME` with `bogo-ops-per-second-real-time` and
//! `bogo-ops-per-second-usr-sys-time` among plain `key: value` lines. That is all the YAML this
//! parser reads, by hand (no YAML crate in the static agent).
//!
//! Seen on the real tool: an unknown stressor (`--nosuchstressor`) makes stress-ng exit 1
//! without writing the file.

use super::{check_range, param_error, ToolError, ToolMetric};
use hvbench_proto::catalog::Better;

const TOOL: &str = "stress-ng";

/// One stressor for a fixed time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StressNgParams {
    /// The stressor's name as stress-ng spells its option (`cpu`, `vm`, `matrix`, ...).
    pub stressor: String,
    /// Instances of it. Default 1.
    pub instances: u32,
    /// `--timeout`, seconds. Default 10.
    pub timeout_s: u32,
    /// Where stress-ng writes its YAML (`--yaml`), which [`parse`] then reads.
    pub yaml_path: String,
}

impl StressNgParams {
    /// The defaults: one instance of `stressor` for 10 s, YAML to `yaml_path`.
    pub fn new(stressor: impl Into<String>, yaml_path: impl Into<String>) -> Self {
        StressNgParams {
            stressor: stressor.into(),
            instances: 1,
            timeout_s: 10,
            yaml_path: yaml_path.into(),
        }
    }

    /// The command line, `stress-ng` first.
    pub fn argv(&self) -> Result<Vec<String>, ToolError> {
        let s = &self.stressor;
        let well_formed = s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !well_formed {
            return Err(param_error(
                TOOL,
                "stressor",
                format!(
                    "`{}` is not a stressor name (lower-case letters, digits, `-`)",
                    s.escape_debug()
                ),
            ));
        }
        // stress-ng reads 0 instances as one per online CPU; hvbench asks for a number.
        check_range(TOOL, "instances", self.instances, 1, 4096)?;
        check_range(TOOL, "timeout_s", self.timeout_s, 1, 86_400)?;
        if self.yaml_path.is_empty() || self.yaml_path.starts_with('-') {
            return Err(param_error(
                TOOL,
                "yaml_path",
                "give a file path (not empty, not starting with `-`)",
            ));
        }
        Ok(vec![
            "stress-ng".to_string(),
            format!("--{s}"),
            self.instances.to_string(),
            "--timeout".to_string(),
            format!("{}s", self.timeout_s),
            "--metrics".to_string(),
            "--yaml".to_string(),
            self.yaml_path.clone(),
        ])
    }
}

/// One `- stressor:` entry of `metrics:`: its `key: value` pairs, values unquoted.
type Entry<'a> = Vec<(&'a str, &'a str)>;

fn unquote(value: &str) -> &str {
    let v = value.trim();
    for q in ['\'', '"'] {
        if let Some(inner) = v.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// The `stressor:` name of an entry.
fn named<'a>(entry: &Entry<'a>) -> Option<&'a str> {
    entry
        .iter()
        .find(|(k, _)| *k == "stressor")
        .map(|(_, v)| *v)
}

/// The entries of the top-level `metrics:` list.
fn metrics_entries(yaml: &str) -> Result<Vec<Entry<'_>>, ToolError> {
    let mut lines = yaml.lines().skip_while(|l| l.trim_end() != "metrics:");
    if lines.next().is_none() {
        return Err(ToolError::Missing {
            tool: TOOL,
            field: "`metrics:` section (was it run with --metrics?)".to_string(),
        });
    }
    let mut entries: Vec<Entry<'_>> = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        // A line at column 0 (the `...` end, another top-level key) ends the list.
        if !line.starts_with(' ') {
            break;
        }
        let trimmed = line.trim();
        let (starts_entry, pair) = match trimmed.strip_prefix("- ") {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let (key, value) = pair.split_once(':').ok_or_else(|| ToolError::Format {
            tool: TOOL,
            detail: format!(
                "`{}` in `metrics:` is not `key: value`",
                super::clip(trimmed, 80)
            ),
        })?;
        if starts_entry {
            entries.push(Vec::new());
        }
        let entry = entries.last_mut().ok_or_else(|| ToolError::Format {
            tool: TOOL,
            detail: format!(
                "`{}` before the first `- stressor:` entry",
                super::clip(trimmed, 80)
            ),
        })?;
        entry.push((key.trim(), unquote(value)));
    }
    Ok(entries)
}

/// The `metrics:` entry of `stressor` in a whole YAML report (from `---` to `...`).
fn stressor_entry<'a>(yaml: &'a str, stressor: &str) -> Result<Entry<'a>, ToolError> {
    if yaml.trim().is_empty() {
        return Err(ToolError::Empty { tool: TOOL });
    }
    let first = yaml
        .lines()
        .map(str::trim_end)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if first != "---" {
        return Err(ToolError::Format {
            tool: TOOL,
            detail: format!(
                "not a YAML document starting `---`; {}",
                super::first_line(yaml)
            ),
        });
    }
    let last = yaml
        .lines()
        .map(str::trim_end)
        .rfind(|l| !l.is_empty())
        .unwrap_or("");
    if last != "..." || !yaml.trim_end_matches([' ', '\t']).ends_with('\n') {
        return Err(ToolError::Truncated {
            tool: TOOL,
            detail: "the YAML document has no `...` end line".to_string(),
        });
    }
    let mut entries = metrics_entries(yaml)?;
    match entries.iter().position(|e| named(e) == Some(stressor)) {
        Some(i) => Ok(entries.swap_remove(i)),
        None => {
            let found: Vec<&str> = entries.iter().filter_map(named).collect();
            Err(ToolError::Missing {
                tool: TOOL,
                field: format!(
                    "metrics of stressor `{stressor}` (it has: {})",
                    if found.is_empty() {
                        "none".to_string()
                    } else {
                        found.join(", ")
                    }
                ),
            })
        }
    }
}

/// The bogo-ops `stressor` did in the run a YAML report is of (its `bogo-ops:`, every
/// instance's together), for the isolation stressor, whose windows are runs that may be too
/// short for one bogo-op of a slow stressor: zero is a count here, not an error. Missing or not
/// a whole number is.
pub fn bogo_ops(yaml: &str, stressor: &str) -> Result<u64, ToolError> {
    let entry = stressor_entry(yaml, stressor)?;
    let (_, text) = entry
        .iter()
        .find(|(k, _)| *k == "bogo-ops")
        .ok_or_else(|| ToolError::Missing {
            tool: TOOL,
            field: format!("`bogo-ops` for stressor `{stressor}`"),
        })?;
    text.parse::<u64>().map_err(|_| ToolError::BadValue {
        tool: TOOL,
        field: "bogo-ops".to_string(),
        value: text.to_string(),
        reason: "not a whole number of bogo-ops",
    })
}

/// Parse the YAML file of a run of `stressor`: `bogo-ops-per-second-real-time` (bogo-ops/s over
/// wall-clock time, always) and `bogo-ops-per-second-usr-sys-time` (over the CPU time the
/// stressor used) when stress-ng gives it and it is above zero: stress-ng writes 0 there when
/// the stressor used no measurable CPU time, a rate that does not exist, so it is left out
/// rather than sent as zero. `bogo-ops-per-second-real-time` zero, missing or not a number is
/// an error.
pub fn parse(yaml: &str, stressor: &str) -> Result<Vec<ToolMetric>, ToolError> {
    let entry = stressor_entry(yaml, stressor)?;
    let get = |key: &str| -> Result<Option<f64>, ToolError> {
        match entry.iter().find(|(k, _)| *k == key) {
            None => Ok(None),
            Some((_, v)) => {
                let value = super::number(TOOL, key, v)?;
                if !value.is_finite() || value < 0.0 {
                    return Err(ToolError::BadValue {
                        tool: TOOL,
                        field: key.to_string(),
                        value: v.to_string(),
                        reason: "not a finite rate",
                    });
                }
                Ok(Some(value))
            }
        }
    };
    let real_key = "bogo-ops-per-second-real-time";
    let real = get(real_key)?.ok_or_else(|| ToolError::Missing {
        tool: TOOL,
        field: format!("`{real_key}` for stressor `{stressor}`"),
    })?;
    let real = super::positive(TOOL, real_key, real)?;
    let mut metrics = vec![ToolMetric::new(
        "bogo-ops-per-s-real",
        "bogo-ops/s",
        Better::Higher,
        real,
    )];
    if let Some(cpu) = get("bogo-ops-per-second-usr-sys-time")? {
        if cpu > 0.0 {
            metrics.push(ToolMetric::new(
                "bogo-ops-per-s-usr-sys",
                "bogo-ops/s",
                Better::Higher,
                cpu,
            ));
        }
    }
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::{cuts, fixture};

    #[test]
    fn cpu() {
        let m = parse(&fixture("stress-ng-cpu.yaml"), "cpu").unwrap();
        assert_eq!(
            m,
            [
                ToolMetric::new(
                    "bogo-ops-per-s-real",
                    "bogo-ops/s",
                    Better::Higher,
                    1491.827858
                ),
                ToolMetric::new(
                    "bogo-ops-per-s-usr-sys",
                    "bogo-ops/s",
                    Better::Higher,
                    1740.731305
                ),
            ]
        );
    }

    #[test]
    fn two_stressors_each_by_name() {
        let text = fixture("stress-ng-vm-matrix.yaml");
        assert_eq!(parse(&text, "vm").unwrap()[0].value, 18865.498407);
        assert_eq!(parse(&text, "matrix").unwrap()[1].value, 4975.954162);
        let err = parse(&text, "cpu").unwrap_err();
        assert!(err.to_string().contains("it has: vm, matrix"), "{err}");
    }

    #[test]
    fn cut_short_garbage_and_empty_are_errors() {
        for name in ["stress-ng-cpu.yaml", "stress-ng-vm-matrix.yaml"] {
            let text = fixture(name);
            for cut in cuts(&text) {
                assert!(
                    parse(cut, "vm").is_err() && parse(cut, "cpu").is_err(),
                    "{name} at {}",
                    cut.len()
                );
            }
            // cut just before the end marker
            let at = text.rfind("...").unwrap();
            assert!(matches!(
                parse(&text[..at], "cpu"),
                Err(ToolError::Truncated { .. })
            ));
        }
        assert_eq!(
            parse("", "cpu"),
            Err(ToolError::Empty { tool: "stress-ng" })
        );
        assert_eq!(
            parse(" \n", "cpu"),
            Err(ToolError::Empty { tool: "stress-ng" })
        );
        assert!(matches!(
            parse("stress-ng: unrecognized option\n", "cpu"),
            Err(ToolError::Format { .. })
        ));
        assert!(matches!(
            parse(&fixture("sysbench-cpu.txt"), "cpu"),
            Err(ToolError::Format { .. })
        ));
        // without --metrics: no metrics section
        let text = fixture("stress-ng-cpu.yaml");
        let no_metrics = text.split("metrics:").next().unwrap().to_string() + "...\n";
        assert!(matches!(
            parse(&no_metrics, "cpu"),
            Err(ToolError::Missing { .. })
        ));
    }

    #[test]
    fn zero_or_bad_rates() {
        let text = fixture("stress-ng-cpu.yaml");
        let zero = text.replace(
            "bogo-ops-per-second-real-time: 1491.827858",
            "bogo-ops-per-second-real-time: 0.000000",
        );
        assert!(matches!(
            parse(&zero, "cpu"),
            Err(ToolError::BadValue { .. })
        ));
        let nan = text.replace("1491.827858", "nan");
        assert!(matches!(
            parse(&nan, "cpu"),
            Err(ToolError::BadValue { .. })
        ));
        let word = text.replace("1491.827858", "lots");
        assert!(matches!(
            parse(&word, "cpu"),
            Err(ToolError::BadValue { .. })
        ));
        let gone = text.replace("      bogo-ops-per-second-real-time: 1491.827858\n", "");
        assert!(matches!(
            parse(&gone, "cpu"),
            Err(ToolError::Missing { .. })
        ));
        // no CPU time: the usr+sys rate is left out, not sent as 0
        let idle = text.replace("1740.731305", "0.000000");
        assert_eq!(parse(&idle, "cpu").unwrap().len(), 1);
    }

    #[test]
    fn bogo_ops_of_a_run() {
        assert_eq!(bogo_ops(&fixture("stress-ng-cpu.yaml"), "cpu"), Ok(2986));
        let text = fixture("stress-ng-vm-matrix.yaml");
        assert!(bogo_ops(&text, "matrix").unwrap() > 0);
        assert!(matches!(
            bogo_ops(&text, "cpu"),
            Err(ToolError::Missing { .. })
        ));
        // A window too short for one bogo-op is a count of zero, not an error.
        let cpu = fixture("stress-ng-cpu.yaml");
        let zero = cpu.replace("bogo-ops: 2986", "bogo-ops: 0");
        assert_eq!(bogo_ops(&zero, "cpu"), Ok(0));
        for bad in ["bogo-ops: lots", "bogo-ops: -3", "bogo-ops: 1.5"] {
            assert!(matches!(
                bogo_ops(&cpu.replace("bogo-ops: 2986", bad), "cpu"),
                Err(ToolError::BadValue { .. })
            ));
        }
        let gone = cpu.replace("      bogo-ops: 2986\n", "");
        assert!(matches!(
            bogo_ops(&gone, "cpu"),
            Err(ToolError::Missing { .. })
        ));
        for cut in cuts(&cpu) {
            assert!(bogo_ops(cut, "cpu").is_err(), "at {}", cut.len());
        }
        assert_eq!(
            bogo_ops("", "cpu"),
            Err(ToolError::Empty { tool: "stress-ng" })
        );
    }

    #[test]
    fn argv_defaults_and_bad_values() {
        assert_eq!(
            StressNgParams::new("cpu", "/run/sng.yaml").argv().unwrap(),
            [
                "stress-ng",
                "--cpu",
                "1",
                "--timeout",
                "10s",
                "--metrics",
                "--yaml",
                "/run/sng.yaml"
            ]
        );
        let ok = StressNgParams::new("sock-many", "f.yaml");
        assert_eq!(ok.argv().unwrap()[1], "--sock-many");
        for p in [
            StressNgParams::new("", "f"),
            StressNgParams::new("Cpu", "f"),
            StressNgParams::new("-cpu", "f"),
            StressNgParams::new("cpu --all", "f"),
            StressNgParams::new("cpu", ""),
            StressNgParams::new("cpu", "--help"),
            StressNgParams {
                instances: 0,
                ..StressNgParams::new("cpu", "f")
            },
            StressNgParams {
                timeout_s: 0,
                ..StressNgParams::new("cpu", "f")
            },
        ] {
            assert!(matches!(p.argv(), Err(ToolError::Param { .. })), "{p:?}");
        }
    }
}
