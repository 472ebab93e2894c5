//! Counting beside a Xen domain: one `xentrace` per measured window (Xen's trace buffers, the
//! scheduler class plus the HVM class for HVM and PVH guests or the PV class for PV guests),
//! summarised by `xenalyze --summary` once the trial is over (so that it does not run in dom0
//! beside the next window): the domain's exits by reason, its hypercalls and PV traps, its
//! vCPUs' running and runnable time, and dom0's running time. Both tools are Debian's
//! `xen-utils`. Xen's settings in force are facts: the speculative-execution mitigations it
//! printed at boot (`xl dmesg`), the domain's `tsc_mode`, credit2's rate limit.
//!
//! `xentrace` needs a moment to start (about 0.1 s in the lab, once most of a second), so a
//! trace covers part of its window: the agent runs the workload for a lead-in after the
//! window's opening mark, and the counts are a rate over the trace's own span (xenalyze's
//! "Total time"), which the analysis turns into a count per operation.

use super::parse::{
    tsc_mode, xen_spec_ctrl, xen_tsc_reliable, xen_vtsc, xenalyze_summary, xentop_domain, xl_info,
};
use super::{delta, Collector, Counted, WindowKey};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// xentrace's event classes (xen/include/public/trace.h): scheduler, HVM, PV.
const TRC_SCHED: u32 = 0x0002_f000;
const TRC_HVM: u32 = 0x0008_f000;
const TRC_PV: u32 = 0x0020_f000;
/// Trace buffer pages per CPU: 1 MiB, so that a busy window does not lose records.
const TRACE_PAGES: &str = "256";

/// The domain's id and the facts [`XenCollector::learn`] found.
type Learnt = (Option<u32>, BTreeMap<String, String>);

/// One window's trace, kept for `xenalyze`.
struct Pending {
    window: WindowKey,
    file: PathBuf,
}

/// The collector of one Xen trial.
pub struct XenCollector {
    domain: String,
    pv: bool,
    /// Read block back-end counters (`xentop`) around each window: the guest has a disk.
    disk: bool,
    dir: PathBuf,
    domid: Option<u32>,
    tracer: Option<Child>,
    top_before: Option<(Instant, BTreeMap<String, f64>)>,
    pending: Vec<Pending>,
    facts: BTreeMap<String, String>,
    first: bool,
    /// [`XenCollector::learn`]'s thread, until [`XenCollector::learnt`] joins it.
    learning: Option<std::thread::JoinHandle<Learnt>>,
    traced: u32,
}

impl XenCollector {
    /// A collector for domain `domain` (its name in `xl list`), writing its traces under `dir`
    /// (the trial's private work directory).
    pub fn new(domain: &str, pv: bool, disk: bool, dir: PathBuf) -> XenCollector {
        XenCollector {
            domain: domain.to_string(),
            pv,
            disk,
            dir,
            domid: None,
            tracer: None,
            top_before: None,
            pending: Vec::new(),
            facts: BTreeMap::new(),
            first: true,
            learning: None,
            traced: 0,
        }
    }

    /// Once, at the first window: ask `xl` for the domain's id and the settings in force, on
    /// a thread of its own. Each `xl` takes a while in a busy dom0 (seconds in the lab): asked
    /// before the trace starts, the trace missed the window; asked on the console's thread, the
    /// window's end was seen late and its trace ran on past it, diluting every rate. The thread
    /// waits (up to 2 s) for the window's `xentrace` to have opened its file before it starts
    /// its own `xl`s, so that they do not slow that tracer's start.
    fn learn(&mut self, trace: Option<PathBuf>) {
        if !self.first {
            return;
        }
        self.first = false;
        let domain = self.domain.clone();
        self.learning = Some(std::thread::spawn(move || {
            if let Some(trace) = trace {
                let deadline = Instant::now() + Duration::from_secs(2);
                while !trace.exists() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            learn(&domain)
        }));
    }

    /// The answer of [`XenCollector::learn`], once it is there.
    fn learnt(&mut self) {
        if let Some((domid, facts)) = self.learning.take().and_then(|t| t.join().ok()) {
            self.domid = domid;
            self.facts.extend(facts);
        }
    }

    fn mask(&self) -> String {
        let class = if self.pv { TRC_PV } else { TRC_HVM };
        format!("{:#x}", TRC_SCHED | class)
    }
}

impl Collector for XenCollector {
    fn begin(&mut self) {
        if self.first && (which("xentrace").is_none() || which("xenalyze").is_none()) {
            self.facts.insert(
                "evidence.xen.trace".into(),
                "unavailable: xentrace or xenalyze is missing (Debian: xen-utils)".into(),
            );
        }
        if self.disk {
            self.top_before = top(&self.domain).map(|t| (Instant::now(), t));
        }
        if self.facts.contains_key("evidence.xen.trace") {
            return;
        }
        self.traced += 1;
        let file = self.dir.join(format!("window-{}.trace", self.traced));
        let _ = std::fs::remove_file(&file);
        match Command::new("xentrace")
            .args(["-D", "-e", &self.mask(), "-S", TRACE_PAGES])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => {
                self.tracer = Some(child);
                self.learn(Some(file));
            }
            Err(e) => {
                self.facts
                    .insert("evidence.xen.trace".into(), format!("unavailable: {e}"));
                self.learn(None);
            }
        }
    }

    fn end(&mut self, window: &WindowKey) -> Vec<Counted> {
        let mut out = Vec::new();
        if let Some(mut child) = self.tracer.take() {
            stop(&mut child);
            self.pending.push(Pending {
                window: window.clone(),
                file: self.dir.join(format!("window-{}.trace", self.traced)),
            });
        }
        if let Some((at, before)) = self.top_before.take() {
            if let Some(after) = top(&self.domain) {
                let span = at.elapsed().as_nanos() as u64;
                let d: BTreeMap<String, f64> = delta(&before, &after)
                    .into_iter()
                    .filter(|(k, _)| k.starts_with("vbd_"))
                    .collect();
                out.push(("xen.top".to_string(), span, d));
            }
        }
        out
    }

    fn finish(&mut self) -> Vec<(WindowKey, Counted)> {
        if let Some(mut child) = self.tracer.take() {
            stop(&mut child);
        }
        self.learnt();
        let svm = std::fs::read_to_string("/proc/cpuinfo")
            .is_ok_and(|c| c.contains("AuthenticAMD") || c.contains("HygonGenuine"));
        let mut out = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            let mut cmd = Command::new("xenalyze");
            if svm {
                cmd.arg("--svm-mode");
            }
            let size = std::fs::metadata(&p.file).map(|m| m.len()).unwrap_or(0);
            let output = cmd
                .arg("--summary")
                .arg(&p.file)
                .stdin(Stdio::null())
                .output();
            let _ = std::fs::remove_file(&p.file);
            let (text, why) = match output {
                Ok(o) => (
                    String::from_utf8_lossy(&o.stdout).into_owned(),
                    format!(
                        "xenalyze {}: {}",
                        o.status,
                        String::from_utf8_lossy(&o.stderr)
                            .lines()
                            .last()
                            .unwrap_or("")
                    ),
                ),
                Err(e) => (String::new(), format!("cannot run xenalyze: {e}")),
            };
            let summary = xenalyze_summary(&text);
            match counted_from(&summary, self.domid) {
                Some(counted) => out.push((p.window, counted)),
                None => {
                    // Say why, once per workload: an empty trace, a domain the trace never saw.
                    self.facts.insert(
                        format!("evidence.xen.trace.{}", p.window.workload),
                        format!(
                            "window {} counted nothing: trace of {size} bytes over {:.2} s, domain {:?} {}; {why}",
                            p.window.index,
                            summary.total_s,
                            self.domid,
                            if summary.domains.iter().any(|d| Some(d.domid) == self.domid) {
                                "seen"
                            } else {
                                "not seen"
                            },
                        ),
                    );
                }
            }
        }
        out
    }

    fn facts(&mut self) -> BTreeMap<String, String> {
        self.learnt();
        std::mem::take(&mut self.facts)
    }
}

/// What [`XenCollector::learn`] asks `xl`: the domain's id, and as facts Xen's mitigations
/// (`xl dmesg`), the domain's `tsc_mode`, whether the host's TSC is reliable and so whether Xen
/// emulates the guest's `rdtsc` (`xen.tsc_reliable`, `xen.vtsc`), and credit2's rate limit.
fn learn(domain: &str) -> Learnt {
    let domid = output("xl", &["domid", domain]).and_then(|o| o.trim().parse().ok());
    let mut facts = BTreeMap::new();
    if let Some(dmesg) = output("xl", &["dmesg"]) {
        facts.extend(xen_spec_ctrl(&dmesg));
    }
    if let Some(mode) = output("xl", &["list", "-l", domain]).and_then(|j| tsc_mode(&j)) {
        // Whether the host's TSC is reliable, as Xen's `s` debug key says it into its log.
        let reliable = output("xl", &["debug-keys", "s"])
            .and_then(|_| output("xl", &["dmesg"]))
            .and_then(|d| xen_tsc_reliable(&d));
        let cpus = output("xl", &["info"])
            .and_then(|i| xl_info(&i).get("nr_cpus").and_then(|n| n.parse().ok()));
        if let Some(r) = reliable {
            facts.insert("xen.tsc_reliable".into(), r.to_string());
        }
        if let Some(v) = xen_vtsc(&mode, reliable, cpus) {
            facts.insert("xen.vtsc".into(), v.to_string());
        }
        facts.insert("xen.tsc_mode".into(), mode);
    }
    if let Some(text) = output("xl", &["sched-credit2", "-s"]) {
        // "Cpupool Pool-0: ratelimit=1000us" (xl(1), sched-credit2 -s).
        if let Some(v) = text
            .split_whitespace()
            .find_map(|w| w.strip_prefix("ratelimit="))
        {
            facts.insert(
                "xen.credit2.ratelimit_us".into(),
                v.trim_end_matches("us").to_string(),
            );
        }
    }
    (domid, facts)
}

/// The counters of `domid` (and dom0's running time) from one window's summary; None when the
/// trace covers no time or does not know the domain.
fn counted_from(s: &super::parse::XenalyzeSummary, domid: Option<u32>) -> Option<Counted> {
    let domid = domid?;
    if s.total_s <= 0.0 {
        return None;
    }
    let d = s.domains.iter().find(|d| d.domid == domid)?;
    let mut values = BTreeMap::new();
    for (name, n) in &d.exits {
        // xenalyze says `ioio` where KVM's tracepoint says `io`: one name for one cause.
        let name = if name == "ioio" { "io" } else { name.as_str() };
        *values.entry(format!("exit.{name}")).or_insert(0.0) += *n as f64;
    }
    for (name, n) in &d.hypercalls {
        values.insert(format!("hypercall.{name}"), *n as f64);
    }
    for (name, n) in &d.pv_events {
        // The hypercall total and its subcalls are broken down above.
        if name != "hypercall" && name != "hypercall_subcall" {
            values.insert(format!("pv.{name}"), *n as f64);
        }
    }
    values.insert("running_ns".into(), d.running_s * 1e9);
    values.insert("runnable_ns".into(), d.runnable_s * 1e9);
    if let Some(dom0) = s.domains.iter().find(|d| d.domid == 0) {
        values.insert("dom0.running_ns".into(), dom0.running_s * 1e9);
    }
    Some(("xen.trace".to_string(), (s.total_s * 1e9) as u64, values))
}

/// Stop `xentrace` as its manual says (SIGINT: it flushes and exits), killing it if it does
/// not within 5 s.
fn stop(child: &mut Child) {
    // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The domain's row of one `xentop -b` iteration.
fn top(domain: &str) -> Option<BTreeMap<String, f64>> {
    output("xentop", &["-b", "-i", "1"]).and_then(|t| xentop_domain(&t, domain))
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pvh_window_counts_exits_by_reason_over_the_trace() {
        let s = xenalyze_summary(include_str!("fixtures/xenalyze-pvh.txt"));
        let (source, span, v) = counted_from(&s, Some(6)).unwrap();
        assert_eq!(source, "xen.trace");
        assert_eq!(span, 5_630_000_000);
        assert_eq!(v["exit.rdtsc"], 3244.0);
        assert_eq!(v["exit.cpuid"], 36.0);
        assert_eq!(v["exit.io"], 2.0, "xenalyze's ioio is io");
        assert!((v["running_ns"] - 1.09e9).abs() < 1.0);
        assert!(v["dom0.running_ns"] > 0.0);
        assert!(counted_from(&s, Some(99)).is_none(), "unknown domain");
        assert!(counted_from(&s, None).is_none());
    }

    #[test]
    fn a_pv_window_counts_hypercalls_without_their_total() {
        let s = xenalyze_summary(include_str!("fixtures/xenalyze-pv.txt"));
        let (_, _, v) = counted_from(&s, Some(8)).unwrap();
        assert_eq!(v["hypercall.mmu_update"], 16274.0);
        assert_eq!(v["hypercall.iret"], 536.0);
        assert_eq!(v["pv.emulate_privop"], 3507.0);
        assert!(!v.contains_key("pv.hypercall"));
    }

    #[test]
    fn the_trace_mask_follows_the_guest_type() {
        let pv = XenCollector::new("d", true, false, PathBuf::from("/tmp"));
        let pvh = XenCollector::new("d", false, false, PathBuf::from("/tmp"));
        assert_eq!(pv.mask(), "0x22f000");
        assert_eq!(pvh.mask(), "0xaf000");
    }
}
