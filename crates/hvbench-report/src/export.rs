//! Raw samples for other tools: JSON and CSV, one record per measured sample (warm-ups are
//! excluded), in the order they were stored.

use crate::ReportInput;
use serde::Serialize;

/// One measured sample, as `hvbench results` documents it. The field order is the column order.
#[derive(Serialize)]
struct Record<'a> {
    run: &'a str,
    platform: &'a str,
    guest: &'a str,
    scenario: &'a str,
    workload: &'a str,
    metric: &'a str,
    unit: &'a str,
    better: &'a str,
    repetition: u32,
    /// Non-finite values become JSON null / an empty CSV field.
    value: f64,
}

const COLUMNS: [&str; 10] = [
    "run",
    "platform",
    "guest",
    "scenario",
    "workload",
    "metric",
    "unit",
    "better",
    "repetition",
    "value",
];

fn records<'a>(input: &'a ReportInput<'a>) -> impl Iterator<Item = Record<'a>> {
    input.samples.iter().filter(|s| !s.warmup).map(|s| Record {
        run: &input.run.name,
        platform: &s.platform,
        guest: &s.guest,
        scenario: &s.scenario,
        workload: &s.workload,
        metric: &s.metric,
        unit: &s.unit,
        better: &s.better,
        repetition: s.round,
        value: s.value,
    })
}

/// A JSON array of sample objects, one object per line.
pub fn results_json(input: &ReportInput) -> String {
    let lines: Vec<String> = records(input)
        .map(|r| serde_json::to_string(&r).expect("a record of strings and numbers serializes"))
        .collect();
    if lines.is_empty() {
        return "[]\n".to_string();
    }
    format!("[\n{}\n]\n", lines.join(",\n"))
}

/// CSV with a header row; RFC 4180: CRLF line ends, fields holding a comma, a double quote or a
/// line break are quoted, with their quotes doubled.
pub fn results_csv(input: &ReportInput) -> String {
    let mut out = csv_line(COLUMNS.iter().map(|c| c.to_string()));
    for r in records(input) {
        let value = if r.value.is_finite() {
            serde_json::to_string(&r.value).unwrap_or_default()
        } else {
            String::new()
        };
        out.push_str(&csv_line(
            [
                r.run, r.platform, r.guest, r.scenario, r.workload, r.metric, r.unit, r.better,
            ]
            .into_iter()
            .map(str::to_string)
            .chain([r.repetition.to_string(), value]),
        ));
    }
    out
}

pub(crate) fn csv_line(fields: impl Iterator<Item = String>) -> String {
    let mut line = fields.map(|f| csv_field(&f)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

fn csv_field(f: &str) -> String {
    if f.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field(""), "");
    }
}
