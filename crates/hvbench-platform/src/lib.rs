//! Platform drivers: the ways hvbench runs its agent — as a plain process on the host, or as
//! PID 1 in a QEMU guest — and everything a driver needs for that: the embedded static agent,
//! guest kernels and initramfs images, and a console reader that turns a child's output into
//! decoded frames under a deadline.
//!
//! A driver is chosen by the plan (`driver = ...`), never by `if` chains in the runner: each
//! implements [`Platform`].

pub mod builder;
pub mod drivers;
pub mod evidence;
pub mod guest;
pub mod isolation;
pub mod lab;
pub mod remote;
pub mod trial;

use hvbench_proto::{AgentPlan, Event};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use trial::console::TrialEnd;

/// Errors found while preparing a platform, before any trial runs. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("{what}\n  hint: {hint}")]
    Unavailable { what: String, hint: String },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl PlatformError {
    pub fn unavailable(what: impl Into<String>, hint: impl Into<String>) -> Self {
        PlatformError::Unavailable {
            what: what.into(),
            hint: hint.into(),
        }
    }
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| PlatformError::Io { context, source }
    }
}

pub type Result<T> = std::result::Result<T, PlatformError>;

/// One trial's request: what the agent should do, and how long the whole trial may take.
#[derive(Debug, Clone)]
pub struct TrialRequest<'a> {
    pub plan: &'a AgentPlan,
    pub timeout: Duration,
    /// Where the raw console of this trial is kept, for diagnosis.
    pub console_log: Option<PathBuf>,
    /// Set by an isolation cell when this instance is to stop (an aggressor, once the victim
    /// is done): the driver asks it to end and tears it down.
    pub stop: Option<&'a std::sync::atomic::AtomicBool>,
    /// An isolation instance's CPUs, weight and cap; None: the platform's own configuration.
    pub place: Option<&'a isolation::placement::InstancePlace>,
}

/// A way of running the agent: host process, QEMU guest, Xen domain, or one of those inside an
/// emulated lab host.
pub trait Platform: Send {
    /// The platform's name in the experiment file.
    fn name(&self) -> &str;
    /// The driver's name: "host", "qemu", ...; recorded with the platform, never branched on.
    fn driver(&self) -> &'static str;
    /// Whether a trial boots a guest (every VM driver) or runs the agent as a plain process
    /// on the machine (the host driver, the bare-metal baseline). The runner takes a battery
    /// trial's role in the store and its time limit from it.
    fn boots_guest(&self) -> bool {
        true
    }
    /// The machine it runs on: None for this one, else the `[[host]]` reached over SSH.
    /// Machines run their trials at once; one machine's platforms take turns.
    fn machine(&self) -> Option<&str> {
        None
    }
    /// What the driver knows about the platform before any trial: accelerator, versions,
    /// machine type, kernel. The agent adds what it sees from inside.
    fn facts(&self) -> BTreeMap<String, String>;
    /// The boot entry of its dual-boot machine that this platform needs (`[[host.boot]]`);
    /// None on a machine that is not rebooted between hypervisors. The runner groups a
    /// round's trials on one machine by boot.
    fn boot(&self) -> Option<&str> {
        None
    }
    /// The boots of its machine since last asked (the one found at the start, every reboot),
    /// for the store; a dual-boot machine's platforms share them, so one of them reports each.
    fn take_boots(&mut self) -> Vec<remote::boot::BootRecord> {
        Vec::new()
    }
    /// Run the agent once, passing every console event to `on_event` as it arrives.
    fn run_trial(&mut self, req: &TrialRequest<'_>, on_event: &mut dyn FnMut(Event)) -> TrialEnd;
    /// Run one isolation cell ([`isolation::Cell`]): the victim beside its aggressors, every
    /// instance's events as [`hvbench_proto::Message::Instance`] frames. The end is the cell's:
    /// completed when the victim completed.
    fn run_cell(
        &mut self,
        _cell: &isolation::Cell,
        _timeout: Duration,
        _logs: Option<&std::path::Path>,
        _on_message: &mut dyn FnMut(hvbench_proto::Message),
    ) -> TrialEnd {
        TrialEnd::Failed(format!(
            "the {} driver of platform `{}` cannot run isolation experiments",
            self.driver(),
            self.name()
        ))
    }
}

/// What a notice is about; the CLI prints it before the text ("lab: ...", "boot: ...").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Lab hosts and machines: images built, hosts booted, restarted, taken down.
    Lab,
    /// Machines over SSH: shipping files, preparing a platform there.
    Ssh,
    /// Dual-boot machines: reboots and the boot each one came up in.
    Boot,
    /// Something the user should know that does not stop the campaign.
    Warning,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Lab => "lab",
            Topic::Ssh => "ssh",
            Topic::Boot => "boot",
            Topic::Warning => "warning",
        }
    }
}

/// The one channel through which library code says what it is doing — while platforms are
/// built and during trials (a lab host booted again, a machine rebooted) — so that the CLI
/// decides what the user sees. Cheap to clone; platforms keep one.
#[derive(Clone)]
pub struct Notices(std::sync::Arc<SayFn>);

/// What receives the notices.
type SayFn = dyn Fn(Topic, &str) + Send + Sync;

impl Notices {
    pub fn new(f: impl Fn(Topic, &str) + Send + Sync + 'static) -> Notices {
        Notices(std::sync::Arc::new(f))
    }

    /// Notices dropped (tests, and callers that report otherwise).
    pub fn silent() -> Notices {
        Notices::new(|_, _| {})
    }

    pub fn say(&self, topic: Topic, text: &str) {
        (self.0)(topic, text)
    }

    /// A `say` callback for one topic, for functions that take `&mut dyn FnMut(&str)`.
    pub fn on(&self, topic: Topic) -> impl FnMut(&str) + '_ {
        move |m: &str| self.say(topic, m)
    }
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notices")
    }
}
