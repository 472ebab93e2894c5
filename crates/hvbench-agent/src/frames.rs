//! Writing frames, and counting what was sent for the closing `Done` frame.

use hvbench_proto::{encode, Message};
use std::io::{self, Write};

/// Writes one frame per message, flushed at once so the host sees it even if the agent dies
/// next, and counts the `Sample` and `Failed` frames for `Done`.
#[derive(Debug)]
pub struct FrameWriter<W: Write> {
    out: W,
    samples: u32,
    failures: u32,
}

impl<W: Write> FrameWriter<W> {
    pub fn new(out: W) -> Self {
        Self {
            out,
            samples: 0,
            failures: 0,
        }
    }

    /// Encode, write and flush one frame.
    pub fn send(&mut self, msg: &Message) -> io::Result<()> {
        match msg {
            Message::Sample { .. } => self.samples = self.samples.saturating_add(1),
            Message::Failed { .. } => self.failures = self.failures.saturating_add(1),
            _ => {}
        }
        self.out.write_all(&encode(msg))?;
        self.out.flush()
    }

    /// Report a failed workload (or plan, under the name `"plan"`).
    pub fn failed(&mut self, workload: &str, reason: impl Into<String>) -> io::Result<()> {
        self.send(&Message::Failed {
            workload: workload.to_string(),
            reason: reason.into(),
        })
    }

    /// Free-form diagnostics.
    pub fn log(&mut self, message: impl Into<String>) -> io::Result<()> {
        self.send(&Message::Log {
            message: message.into(),
        })
    }

    /// `Sample` frames sent so far, warm-up windows included.
    pub fn samples(&self) -> u32 {
        self.samples
    }

    /// `Failed` frames sent so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Send the closing `Done` frame with the counts so far.
    pub fn done(&mut self) -> io::Result<()> {
        self.send(&Message::Done {
            samples: self.samples,
            failures: self.failures,
        })
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}
