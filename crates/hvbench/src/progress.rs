//! A progress bar on a terminal; nothing when output goes to a file or a pipe.

use hvbench_platform::TrialEnd;
use hvbench_runner::{Progress, Quiet};
use hvbench_store::RunId;
use indicatif::{ProgressBar, ProgressStyle};

pub fn for_stderr(is_terminal: bool) -> Box<dyn Progress> {
    if is_terminal {
        Box::new(Bar { bar: None })
    } else {
        Box::new(Quiet)
    }
}

struct Bar {
    bar: Option<ProgressBar>,
}

impl Progress for Bar {
    fn start(&mut self, run: RunId, trials: u64) {
        let bar = ProgressBar::new(trials);
        bar.set_style(
            ProgressStyle::with_template(
                "run {prefix} [{elapsed_precise}] {bar:30} {pos}/{len} trials  {msg}",
            )
            .expect("valid template"),
        );
        bar.set_prefix(run.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(250));
        self.bar = Some(bar);
    }

    fn trial_started(&mut self, round: u32, platform: &str) {
        if let Some(b) = &self.bar {
            b.set_message(format!("round {} on {platform}", round + 1));
        }
    }

    fn trial_finished(&mut self, round: u32, platform: &str, end: &TrialEnd, _samples: u32) {
        if let Some(b) = &self.bar {
            if let Some(reason) = end.reason() {
                let first = reason.lines().next().unwrap_or("");
                b.println(format!("round {} on {platform} failed: {first}", round + 1));
            }
            b.inc(1);
        }
    }

    fn lab_fault(&mut self, round: u32, platform: &str, reason: &str) {
        let first = reason.lines().next().unwrap_or("");
        let line = format!(
            "round {} on {platform}: lab fault, running it again: {first}",
            round + 1
        );
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
