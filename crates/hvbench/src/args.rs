//! The command line's arguments: subcommands, their options and the formats they take (clap
//! derive), with no behaviour of their own.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand, ValueEnum};
use hvbench_report::Format;
use std::path::PathBuf;

pub(crate) const DEFAULT_DB: &str = "hvbench.db";

#[derive(Parser)]
#[command(
    name = "hvbench",
    version,
    about = "Compare virtualization platforms with rerunnable experiments"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run an experiment (with no SPEC: the built-in default comparison) and print its report.
    Run {
        /// The experiment file (TOML).
        spec: Option<PathBuf>,
        /// The SQLite database the samples go to.
        #[arg(long, default_value = DEFAULT_DB)]
        db: PathBuf,
        /// Also write the report (Markdown, text, HTML), its summary (JSON, CSV) and raw results
        /// (JSON, CSV) into this directory.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Continue an interrupted run (id or name) where it stopped: its stored plan and seed
        /// give the same schedule, and only the trials that did not finish are run. A SPEC
        /// given too must match the stored plan.
        #[arg(long, value_name = "RUN")]
        resume: Option<String>,
    },
    /// Validate an experiment file and print the expanded plan; runs nothing.
    Plan {
        /// The experiment file (TOML).
        spec: PathBuf,
    },
    /// Print the report of a stored run (default: the latest).
    Report {
        /// Run id or name (default: the latest run).
        run: Option<String>,
        #[arg(long, default_value = DEFAULT_DB)]
        db: PathBuf,
        #[arg(long, default_value = "terminal", value_parser = report_format())]
        format: Format,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// List the stored runs instead.
        #[arg(long)]
        list: bool,
    },
    /// Print the raw samples of a stored run, one object (or row) per sample, warm-ups excluded.
    Results {
        /// Run id or name (default: the latest run).
        run: Option<String>,
        #[arg(long, default_value = DEFAULT_DB)]
        db: PathBuf,
        #[arg(long, value_enum, default_value_t = ResultsFormat::Json)]
        format: ResultsFormat,
    },
    /// Print the raw output the general benchmarks' tools (fio, iperf3, sysbench, ...) printed
    /// in a stored run, every run of every tool, trial by trial.
    Outputs {
        /// Run id or name (default: the latest run).
        run: Option<String>,
        #[arg(long, default_value = DEFAULT_DB)]
        db: PathBuf,
        /// Only this workload (its name, or its label as the report shows it).
        #[arg(long)]
        workload: Option<String>,
        /// Only this platform.
        #[arg(long)]
        platform: Option<String>,
    },
    /// Say what this machine can run (QEMU, KVM, Xen, the lab, kernel image) and what hurts
    /// measurement; with `--host`, check a machine reached over SSH instead.
    Doctor {
        /// A `[[host]]` of SPEC by name, or without SPEC an ssh target: `user@address[:port]`
        /// or an alias of ~/.ssh/config.
        #[arg(long)]
        host: Option<String>,
        /// The experiment file that declares the host.
        spec: Option<PathBuf>,
    },
    /// Check hvbench itself: `fidelity` runs each workload beside the established tool that
    /// measures the same quantity (perf bench, sysbench, stress-ng, cyclictest) on this host.
    #[command(subcommand)]
    Selftest(crate::selftest::Selftest),
    /// Two stored runs side by side (before / after), with a verdict per metric and platform.
    Compare {
        /// The first run (A, "before"): id or name.
        run_a: String,
        /// The second run (B, "after"): id or name.
        run_b: String,
        #[arg(long, default_value = DEFAULT_DB)]
        db: PathBuf,
        #[arg(long, value_enum, default_value_t = CompareFormat::Terminal)]
        format: CompareFormat,
    },
    /// The emulated lab: a real Xen host and a real KVM host nested under QEMU's TCG.
    Lab {
        #[command(subcommand)]
        action: LabAction,
    },
}

#[derive(Subcommand)]
pub(crate) enum LabAction {
    /// Build the lab images into the cache (needs root the first time; cached afterwards).
    Build,
    /// Say whether the lab is built, from which package versions, and which lab hosts are up
    /// (their SSH ports and uptime).
    Status,
    /// Boot the emulated Xen and KVM hosts and keep them up, each with sshd on a loopback
    /// port; campaigns then use them instead of booting them (`hvbench lab down` ends them).
    /// `dual` boots the dual machine instead: one emulated host that boots Xen (first) or KVM,
    /// as `hvbench-lab-select xen|kvm` then `reboot` inside it chooses.
    Up {
        /// Only this lab machine (default: xen and kvm).
        which: Option<LabMachineArg>,
    },
    /// Stop the lab hosts that are up.
    Down {
        /// Only this lab machine (default: every one, dual included).
        which: Option<LabMachineArg>,
    },
}

/// A lab machine on the command line.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LabMachineArg {
    Xen,
    Kvm,
    Dual,
}

/// `hvbench report --format`: the report's formats that have a name ([`Format::name`]).
fn report_format() -> impl TypedValueParser<Value = Format> {
    let names = Format::ALL.into_iter().filter_map(|f| {
        let value = PossibleValue::new(f.name()?);
        Some(match f.help() {
            Some(help) => value.help(help),
            None => value,
        })
    });
    PossibleValuesParser::new(names)
        .map(|name| Format::from_name(&name).expect("a possible value is a format's name"))
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum CompareFormat {
    Terminal,
    Markdown,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ResultsFormat {
    Json,
    Csv,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_format_of(args: &[&str]) -> Result<Format, clap::Error> {
        let argv = ["hvbench", "report"].iter().chain(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Report { format, .. } => Ok(format),
            _ => unreachable!("a report command"),
        }
    }

    #[test]
    fn report_format_names() {
        assert_eq!(report_format_of(&[]).unwrap(), Format::Terminal);
        for (name, format) in [
            ("terminal", Format::Terminal),
            ("markdown", Format::Markdown),
            ("html", Format::Html),
            ("json", Format::SummaryJson),
            ("csv", Format::ResultsCsv),
            ("summary-csv", Format::SummaryCsv),
        ] {
            assert_eq!(report_format_of(&["--format", name]).unwrap(), format);
        }
        assert!(report_format_of(&["--format", "results-json"]).is_err());
    }
}
