//! The formats a run's report is written in: one list for `hvbench report --format` and for the
//! files of `hvbench run --report DIR`.

use crate::{Report, ReportInput};
use hvbench_analysis::BootstrapConfig;

/// One way to render a run: its `--format` name, the file `--report DIR` writes it to, and its
/// renderer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned plain text for a terminal ([`Report::terminal`]).
    Terminal,
    /// Markdown ([`Report::markdown`]).
    Markdown,
    /// One self-contained HTML page with SVG charts ([`Report::html`]).
    Html,
    /// The summary as JSON ([`Report::summary_json`]).
    SummaryJson,
    /// The raw samples as JSON ([`crate::results_json`]).
    ResultsJson,
    /// The raw samples as CSV ([`crate::results_csv`]).
    ResultsCsv,
    /// The summary as CSV ([`Report::summary_csv`]).
    SummaryCsv,
}

impl Format {
    /// Every format, in the order `--report DIR` writes them.
    pub const ALL: [Format; 7] = [
        Format::Markdown,
        Format::Terminal,
        Format::SummaryJson,
        Format::ResultsJson,
        Format::ResultsCsv,
        Format::Html,
        Format::SummaryCsv,
    ];

    /// The name `hvbench report --format` takes; `None` for a format only `--report DIR`
    /// writes (`hvbench results` prints the raw samples as JSON).
    pub fn name(self) -> Option<&'static str> {
        match self {
            Format::Terminal => Some("terminal"),
            Format::Markdown => Some("markdown"),
            Format::Html => Some("html"),
            Format::SummaryJson => Some("json"),
            Format::ResultsCsv => Some("csv"),
            Format::SummaryCsv => Some("summary-csv"),
            Format::ResultsJson => None,
        }
    }

    /// What `--format NAME` gives, for the command line's help (`None`: the name says it).
    pub fn help(self) -> Option<&'static str> {
        match self {
            Format::Terminal | Format::Markdown | Format::ResultsJson => None,
            Format::Html => Some("One self-contained HTML page with SVG charts"),
            Format::SummaryJson => {
                Some("The summary (medians, ratios, verdicts, anomalies, manifest) as JSON")
            }
            Format::ResultsCsv => Some("The raw samples as CSV"),
            Format::SummaryCsv => {
                Some("The summary as CSV, one row per (scenario, workload, metric, platform)")
            }
        }
    }

    /// The format whose [`Format::name`] is `name`.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == Some(name))
    }

    /// The file `hvbench run --report DIR` writes this format to.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Terminal => "report.txt",
            Format::Markdown => "report.md",
            Format::Html => "report.html",
            Format::SummaryJson => "summary.json",
            Format::ResultsJson => "results.json",
            Format::ResultsCsv => "results.csv",
            Format::SummaryCsv => "summary.csv",
        }
    }

    /// Render a run in this format. The raw samples are written without analysing the run.
    pub fn render(self, input: &ReportInput, cfg: &BootstrapConfig) -> String {
        match self {
            Format::ResultsJson => crate::results_json(input),
            Format::ResultsCsv => crate::results_csv(input),
            _ => Report::new(input, cfg).render(self),
        }
    }
}

impl Report<'_> {
    /// The report in `format`, from this analysis.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Terminal => self.terminal(),
            Format::Markdown => self.markdown(),
            Format::Html => self.html(),
            Format::SummaryJson => self.summary_json(),
            Format::ResultsJson => crate::results_json(self.model.input),
            Format::ResultsCsv => crate::results_csv(self.model.input),
            Format::SummaryCsv => self.summary_csv(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Format;

    #[test]
    fn names_and_files_are_distinct_and_round_trip() {
        let mut files: Vec<_> = Format::ALL.iter().map(|f| f.file_name()).collect();
        files.sort_unstable();
        files.dedup();
        assert_eq!(files.len(), Format::ALL.len());
        for f in Format::ALL {
            if let Some(name) = f.name() {
                assert_eq!(Format::from_name(name), Some(f));
            }
        }
        assert_eq!(Format::from_name("results-json"), None);
    }
}
