//! Host mode: `hvbench-agent --plan FILE` as a plain process.

use crate::{panics, plan, run, Mode, AGENT_VERSION};
use std::ffi::OsString;
use std::io::{self, Write};
use std::panic::catch_unwind;
use std::path::PathBuf;

/// Exit status: the plan ran (workloads that failed are reported as frames, not here).
pub const EXIT_OK: i32 = 0;
/// Exit status: frames could not be written, or the agent crashed.
pub const EXIT_FAILURE: i32 = 1;
/// Exit status: bad usage, or a plan that cannot be read or run.
pub const EXIT_USAGE: i32 = 2;

const USAGE: &str = "\
usage: hvbench-agent --plan FILE    run an agent plan (JSON; `-` reads stdin), frames on stdout
       hvbench-agent --version
As PID 1 (in a guest) it reads /hvbench/plan.json and powers off when done.";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run { plan: PathBuf },
    Version,
    Help,
}

/// Parse the arguments (without the program name).
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let mut plan = None;
    let mut command = None;
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        match text.as_ref() {
            "--plan" => {
                let file = args
                    .next()
                    .ok_or("--plan needs a FILE (or `-` for stdin)")?;
                plan = Some(PathBuf::from(file));
            }
            "--version" | "-V" => command = Some(Command::Version),
            "--help" | "-h" => command = Some(Command::Help),
            _ => match text.strip_prefix("--plan=") {
                Some(file) => plan = Some(PathBuf::from(file)),
                None => return Err(format!("unexpected argument `{text}`")),
            },
        }
    }
    match (command, plan) {
        (Some(c), _) => Ok(c),
        (None, Some(plan)) => Ok(Command::Run { plan }),
        (None, None) => Err("missing --plan FILE".to_string()),
    }
}

/// Run host mode; returns the process exit status.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    panics::install_hook(true);
    let command = match parse_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hvbench-agent: {e}\n{USAGE}");
            return EXIT_USAGE;
        }
    };
    match command {
        Command::Version => {
            println!("hvbench-agent {AGENT_VERSION}");
            EXIT_OK
        }
        Command::Help => {
            println!("{USAGE}");
            EXIT_OK
        }
        Command::Run { plan } => run_file(plan),
    }
}

fn run_file(path: PathBuf) -> i32 {
    let plan = match plan::read_plan(&path) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("hvbench-agent: {e}");
            return EXIT_USAGE;
        }
    };
    let outcome = catch_unwind(|| {
        let stdout = io::stdout().lock();
        run::run_plan(&plan, Mode::Host, stdout)
    });
    match outcome {
        Ok(Ok(_)) => EXIT_OK,
        Ok(Err(e)) => {
            eprintln!("hvbench-agent: cannot write frames to stdout: {e}");
            EXIT_FAILURE
        }
        Err(payload) => {
            let _ = io::stdout().flush();
            eprintln!("hvbench-agent: crashed: {}", panics::message(&*payload));
            EXIT_FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse(&["--plan", "p.json"]),
            Ok(Command::Run {
                plan: "p.json".into()
            })
        );
        assert_eq!(parse(&["--plan=-"]), Ok(Command::Run { plan: "-".into() }));
        assert_eq!(parse(&["--version"]), Ok(Command::Version));
        assert_eq!(parse(&["--plan", "x", "--help"]), Ok(Command::Help));
        assert!(parse(&[]).unwrap_err().contains("--plan"));
        assert!(parse(&["--plan"]).unwrap_err().contains("FILE"));
        assert!(parse(&["run"]).unwrap_err().contains("`run`"));
    }
}
