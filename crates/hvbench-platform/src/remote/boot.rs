//! Dual-boot machines (docs/architecture.md, "Dual-boot hosts"): a `[[host]]` with boot entries
//! boots Xen (Linux as dom0) or plain Linux with KVM. Before a trial, [`DualHost::ensure`]
//! reboots the machine into the entry the trial's platform needs, the way its owner would: the
//! entry's `select` command (`grub-reboot '...'`, or the lab's `hvbench-lab-select`), then its
//! `reboot` command; then it waits for SSH, and verifies the boot by what the machine shows
//! (Xen's dom0 with `xl` answering, or a `/dev/kvm` that opens read-write). A machine that came
//! up in the wrong one is refused: the trial fails with the reason, nothing is measured there.
//! Every boot is a [`BootRecord`] for the store and the report.

use super::ssh::{quote, Ssh};
use super::RemotePlatform;
use crate::cache::Cache;
use crate::{interrupt, Platform, TrialEnd, TrialRequest};
use hvbench_proto::{AgentPlan, Event, Message};
use hvbench_spec::{BootEntry, GuestSpec, HostSpec, Hypervisor, PlatformSpec};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a machine shows about its boot, read over SSH by [`OBSERVE`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// `/proc/sys/kernel/random/boot_id`: new at every boot.
    pub boot_id: String,
    /// `uname -r`.
    pub kernel: String,
    /// `/sys/hypervisor/type` (`xen` under Xen, dom0 or guest); empty without.
    pub hypervisor_type: String,
    /// `/proc/xen/capabilities` (`control_d` in dom0); empty without.
    pub xen_caps: String,
    /// `xl info` answered (as the SSH user, or with `sudo -n`).
    pub xl: bool,
    /// `/dev/kvm` opened read-write.
    pub kvm_rw: bool,
}

/// The shell script that reads [`Observed`]: `key=value` lines.
pub const OBSERVE: &str = "echo \"boot_id=$(cat /proc/sys/kernel/random/boot_id)\"; \
     echo \"kernel=$(uname -r)\"; \
     echo \"hypervisor_type=$(cat /sys/hypervisor/type 2>/dev/null)\"; \
     echo \"xen_caps=$(cat /proc/xen/capabilities 2>/dev/null)\"; \
     if xl info >/dev/null 2>&1 || sudo -n xl info >/dev/null 2>&1; then echo xl=yes; fi; \
     if ( exec 3<>/dev/kvm ) 2>/dev/null; then echo kvm=rw; fi";

impl Observed {
    /// Parse [`OBSERVE`]'s output.
    pub fn parse(text: &str) -> Observed {
        let mut o = Observed::default();
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim().to_string();
            match k.trim() {
                "boot_id" => o.boot_id = v,
                "kernel" => o.kernel = v,
                "hypervisor_type" => o.hypervisor_type = v,
                "xen_caps" => o.xen_caps = v,
                "xl" => o.xl = v == "yes",
                "kvm" => o.kvm_rw = v == "rw",
                _ => {}
            }
        }
        o
    }

    fn dom0(&self) -> bool {
        self.hypervisor_type == "xen" && self.xen_caps.split(',').any(|c| c == "control_d")
    }

    /// What the machine runs, in words: `xen dom0`, `xen dom0 (xl does not answer)`,
    /// `xen guest`, `kvm`, or `no hypervisor (no usable /dev/kvm)`.
    pub fn seen(&self) -> String {
        if self.dom0() {
            if self.xl {
                "xen dom0".into()
            } else {
                "xen dom0 (xl does not answer)".into()
            }
        } else if self.hypervisor_type == "xen" {
            "xen guest".into()
        } else if self.kvm_rw {
            "kvm".into()
        } else {
            "no hypervisor (no usable /dev/kvm)".into()
        }
    }

    /// Whether this boot is one of hypervisor `want`: Xen is dom0 with `xl` answering; KVM is
    /// a `/dev/kvm` that opens read-write, outside Xen. `Err` says what it is instead.
    pub fn verify(&self, want: Hypervisor) -> Result<(), String> {
        let ok = match want {
            Hypervisor::Xen => self.dom0() && self.xl,
            Hypervisor::Kvm => self.kvm_rw && self.hypervisor_type != "xen",
        };
        if ok {
            return Ok(());
        }
        let wanted = match want {
            Hypervisor::Xen => "Xen's dom0 with `xl info` answering",
            Hypervisor::Kvm => "Linux with a read-write /dev/kvm",
        };
        Err(format!(
            "it came up as {} (kernel {}), not {wanted}",
            self.seen(),
            if self.kernel.is_empty() {
                "unknown"
            } else {
                &self.kernel
            }
        ))
    }
}

/// One boot of a dual-boot machine, for the store (`boots`) and the report.
#[derive(Debug, Clone, PartialEq)]
pub struct BootRecord {
    /// The `[[host]]`'s name.
    pub host: String,
    /// The boot entry asked for (a reboot) or recognised (the boot found at the start; empty
    /// when it matched no entry).
    pub entry: String,
    /// Milliseconds since the epoch when the reboot was issued (or the boot found).
    pub at_ms: u64,
    /// From issuing the select and reboot commands until SSH answered in the new boot and it
    /// was verified; 0 for the boot found at the start.
    pub seconds: f64,
    /// Whether hvbench rebooted the machine for it (false: the boot found at the start).
    pub reboot: bool,
    pub boot_id: String,
    pub kernel: String,
    /// [`Observed::seen`].
    pub hypervisor: String,
    /// The machine came up in the entry asked for.
    pub ok: bool,
    /// Why not, or a note.
    pub detail: String,
}

/// Why a trial cannot run in the boot it needs.
#[derive(Debug, Clone, PartialEq)]
pub enum BootFail {
    /// The select command failed or the machine came up wrong: the trial fails with the reason.
    Refused(String),
    /// The machine did not come back, or its connection was lost: the trial is lost, and
    /// `--resume` runs it once the machine is back.
    Lost(String),
}

/// A dual-boot machine: its connection, its entries, the boot it is in, and what happened.
pub struct DualHost {
    ssh: Ssh,
    entries: Vec<BootEntry>,
    /// The boot the machine is in: what it showed, and the entry it matched.
    current: Option<(Observed, Option<String>)>,
    /// Set when the machine did not come back: its other trials are lost at once.
    gone: Option<String>,
    records: Vec<BootRecord>,
    /// How often to poll for SSH while the machine reboots.
    poll: Duration,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The entry `observed` is, when exactly one entry's hypervisor matches it.
fn matching_entry(entries: &[BootEntry], observed: &Observed) -> Option<String> {
    let matching: Vec<&BootEntry> = entries
        .iter()
        .filter(|e| observed.verify(e.hypervisor).is_ok())
        .collect();
    match matching.as_slice() {
        [one] => Some(one.name.clone()),
        _ => None,
    }
}

/// The order of boot entries in round `round` (ABBA): the entries in `first_seen` order in even
/// rounds, reversed in odd ones, so that drift and warm-up do not fall on one hypervisor, and
/// consecutive rounds meet in the same boot (one reboot per round, not two).
pub fn boot_order(entries: &[String], round: u32) -> Vec<String> {
    let mut v = entries.to_vec();
    if round % 2 == 1 {
        v.reverse();
    }
    v
}

impl DualHost {
    /// Connect to the machine and see which boot it is in; recorded as the first boot. The
    /// machine may be between boots (a run stopped while it rebooted, resumed at once): it is
    /// waited for as long as its slowest boot entry allows.
    pub fn connect(host: &HostSpec) -> Result<DualHost, String> {
        let ssh = Ssh::new(host, &super::make_control_dir().map_err(|e| e.to_string())?);
        let limit = Duration::from_secs(host.boots.iter().map(|b| b.timeout_s).max().unwrap_or(0));
        let started = Instant::now();
        let mut said = false;
        loop {
            match ssh.connect() {
                Ok(()) => break,
                // A key that is not trusted or a login refused does not get better by waiting.
                Err(
                    e @ (super::ssh::SshError::HostKey { .. } | super::ssh::SshError::Auth { .. }),
                ) => return Err(e.to_string()),
                Err(e) if started.elapsed() >= limit || interrupt::requested().is_some() => {
                    return Err(e.to_string())
                }
                Err(e) => {
                    if !said {
                        eprintln!(
                            "boot: host `{}` does not answer SSH ({e}); it may be rebooting: \
                             waiting up to {} s",
                            host.name,
                            limit.as_secs()
                        );
                        said = true;
                    }
                    ssh.close();
                    std::thread::sleep(Duration::from_secs(2));
                }
            }
        }
        let mut dual = DualHost {
            ssh,
            entries: host.boots.clone(),
            current: None,
            gone: None,
            records: Vec::new(),
            poll: Duration::from_secs(2),
        };
        let at_ms = now_ms();
        let observed = dual.observe()?;
        let entry = matching_entry(&dual.entries, &observed);
        dual.records.push(BootRecord {
            host: host.name.clone(),
            entry: entry.clone().unwrap_or_default(),
            at_ms,
            seconds: 0.0,
            reboot: false,
            boot_id: observed.boot_id.clone(),
            kernel: observed.kernel.clone(),
            hypervisor: observed.seen(),
            ok: entry.is_some(),
            detail: match &entry {
                Some(e) => format!("found in boot `{e}` at the start"),
                None => "found at the start in no boot entry's hypervisor".into(),
            },
        });
        dual.current = Some((observed, entry));
        Ok(dual)
    }

    fn observe(&self) -> Result<Observed, String> {
        self.observe_within(Duration::from_secs(120))
    }

    /// [`OBSERVE`], given up after `limit` (while the machine reboots, an attempt must not
    /// outlast a Ctrl-C by long).
    fn observe_within(&self, limit: Duration) -> Result<Observed, String> {
        let out = self
            .ssh
            .run(OBSERVE, b"", limit)
            .map_err(|e| e.to_string())?;
        let o = Observed::parse(&String::from_utf8_lossy(&out.stdout));
        if o.boot_id.is_empty() {
            return Err(format!(
                "host `{}` did not say its boot id: {}",
                self.ssh.host(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(o)
    }

    /// The machine's current boot: what it showed and the entry it is.
    pub fn current(&self) -> Option<&(Observed, Option<String>)> {
        self.current.as_ref()
    }

    /// The boots since last asked.
    pub fn take_records(&mut self) -> Vec<BootRecord> {
        std::mem::take(&mut self.records)
    }

    /// Bring the machine into boot entry `entry` (reboot it unless it is there), verified.
    pub fn ensure(&mut self, entry: &str) -> Result<(), BootFail> {
        if let Some(reason) = &self.gone {
            return Err(BootFail::Lost(reason.clone()));
        }
        if self
            .current
            .as_ref()
            .is_some_and(|(_, e)| e.as_deref() == Some(entry))
        {
            return Ok(());
        }
        let Some(want) = self.entries.iter().find(|e| e.name == entry).cloned() else {
            return Err(BootFail::Refused(format!(
                "host `{}` has no boot entry `{entry}`",
                self.ssh.host()
            )));
        };
        self.reboot_into(&want)
    }

    fn reboot_into(&mut self, want: &BootEntry) -> Result<(), BootFail> {
        let host = self.ssh.host().to_string();
        let old_id = self
            .current
            .as_ref()
            .map(|(o, _)| o.boot_id.clone())
            .unwrap_or_default();
        let at_ms = now_ms();
        let started = Instant::now();
        eprintln!(
            "boot: rebooting host `{host}` into `{}` ({}, then {})",
            want.name, want.select, want.reboot
        );
        // The select command first, on its own: if it fails, the machine is not rebooted.
        let out = self
            .ssh
            .run(&want.select, b"", Duration::from_secs(120))
            .map_err(|e| BootFail::Lost(format!("host `{host}`: {e}")))?;
        if !out.status.success() {
            return Err(BootFail::Refused(format!(
                "host `{host}`: the select command of boot `{}` ({}) failed ({}): {}",
                want.name,
                want.select,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        // The reboot detached, a second later, so that this session ends cleanly first.
        let reboot = format!(
            "nohup sh -c {} >/dev/null 2>&1 </dev/null &",
            quote(&format!("sleep 1; {}", want.reboot))
        );
        let out = self
            .ssh
            .run(&reboot, b"", Duration::from_secs(60))
            .map_err(|e| BootFail::Lost(format!("host `{host}`: {e}")))?;
        if !out.status.success() {
            return Err(BootFail::Refused(format!(
                "host `{host}`: the reboot command ({}) failed ({}): {}",
                want.reboot,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        // The multiplexed connection dies with the old boot.
        self.ssh.close();
        self.current = None;
        let limit = Duration::from_secs(want.timeout_s);
        let observed = loop {
            if let Some(signal) = interrupt::requested() {
                return Err(BootFail::Lost(format!(
                    "host `{host}`: stopped by {} while it rebooted into `{}`",
                    interrupt::signal_name(signal),
                    want.name
                )));
            }
            if started.elapsed() > limit {
                let reason = format!(
                    "host `{host}` did not come back within {} s after `{}` and `{}` (boot `{}`); \
                     its trials are left for `hvbench run --resume` once it answers SSH again",
                    want.timeout_s, want.select, want.reboot, want.name
                );
                self.gone = Some(reason.clone());
                return Err(BootFail::Lost(reason));
            }
            std::thread::sleep(self.poll);
            match self.observe_within(Duration::from_secs(15)) {
                Ok(o) if o.boot_id != old_id => break o,
                // Still the old boot (the reboot has not begun), or not up yet.
                Ok(_) => {}
                Err(_) => self.ssh.close(),
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        let verdict = observed.verify(want.hypervisor);
        eprintln!(
            "boot: host `{host}` answers after {seconds:.1} s: {}, kernel {}, boot id {}{}",
            observed.seen(),
            observed.kernel,
            observed.boot_id,
            if verdict.is_ok() {
                ""
            } else {
                " (the wrong boot)"
            }
        );
        let matched = matching_entry(&self.entries, &observed);
        self.records.push(BootRecord {
            host: host.clone(),
            entry: want.name.clone(),
            at_ms,
            seconds,
            reboot: true,
            boot_id: observed.boot_id.clone(),
            kernel: observed.kernel.clone(),
            hypervisor: observed.seen(),
            ok: verdict.is_ok(),
            detail: match &verdict {
                Ok(()) => String::new(),
                Err(why) => format!("refused: {why}"),
            },
        });
        self.current = Some((observed, matched));
        verdict.map_err(|why| {
            BootFail::Refused(format!(
                "host `{host}` was rebooted into boot `{}` (with `{}`) but {why}; nothing is \
                 measured in the wrong boot: check the boot entry's select command",
                want.name, want.select
            ))
        })
    }
}

/// A platform on a dual-boot machine: a [`RemotePlatform`] prepared in the boot it needs
/// (again after every reboot, since the machine may have lost what was shipped: the lab's root
/// is a tmpfs), the machine rebooted into that boot before each trial.
pub struct DualBootPlatform {
    name: String,
    driver: &'static str,
    boots_guest: bool,
    machine: Option<String>,
    entry: String,
    host: Arc<Mutex<DualHost>>,
    inner: Option<RemotePlatform>,
    /// The boot id `inner` was prepared in.
    prepared_in: String,
    facts: BTreeMap<String, String>,
    /// Facts a wrapper adds (the lab's).
    extra: BTreeMap<String, String>,
    args: DualArgs,
}

/// What preparing the platform again needs.
struct DualArgs {
    spec: PlatformSpec,
    host: HostSpec,
    guest: GuestSpec,
    plan: AgentPlan,
    cell_plans: Vec<AgentPlan>,
    cache: Cache,
    executor: &'static [u8],
}

impl DualBootPlatform {
    /// The platform on `host`'s machine (shared by its platforms); prepared now if the machine
    /// is in its boot, else before its first trial. `machine` is None for the lab (its CPUs
    /// are this machine's, and its platforms this machine's in the report); `extra` facts are
    /// added.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        spec: &PlatformSpec,
        host_spec: &HostSpec,
        host: Arc<Mutex<DualHost>>,
        guest: &GuestSpec,
        plan: &AgentPlan,
        cell_plans: &[AgentPlan],
        cache: &Cache,
        executor: &'static [u8],
        machine: Option<String>,
        extra: BTreeMap<String, String>,
    ) -> DualBootPlatform {
        let entry = spec.boot.clone().unwrap_or_default();
        let mut p = DualBootPlatform {
            name: spec.name.clone(),
            driver: spec.driver.as_str(),
            boots_guest: spec.is_vm(),
            machine,
            entry,
            host,
            inner: None,
            prepared_in: String::new(),
            facts: BTreeMap::new(),
            extra,
            args: DualArgs {
                spec: spec.clone(),
                host: host_spec.clone(),
                guest: guest.clone(),
                plan: plan.clone(),
                cell_plans: cell_plans.to_vec(),
                cache: cache.clone(),
                executor,
            },
        };
        p.set_facts(None);
        let here = {
            let h = p.host.lock().unwrap_or_else(|e| e.into_inner());
            h.current()
                .filter(|(_, e)| e.as_deref() == Some(p.entry.as_str()))
                .map(|(o, _)| o.clone())
        };
        if let Some(observed) = here {
            if let Err(e) = p.prepare(&observed) {
                eprintln!(
                    "warning: platform `{}`: {e}; tried again before its first trial",
                    p.name
                );
            }
        }
        p
    }

    fn set_facts(&mut self, boot: Option<&Observed>) {
        let mut facts = self.inner.as_ref().map(|i| i.facts()).unwrap_or_default();
        match &self.machine {
            Some(m) => facts.insert(hvbench_proto::facts::MACHINE.into(), m.clone()),
            None => facts.remove(hvbench_proto::facts::MACHINE),
        };
        facts.insert("boot.entry".into(), self.entry.clone());
        if let Some(e) = self.args.host.boots.iter().find(|e| e.name == self.entry) {
            facts.insert("boot.select".into(), e.select.clone());
            facts.insert("boot.hypervisor".into(), e.hypervisor.as_str().into());
        }
        if let Some(o) = boot {
            facts.insert("boot.id".into(), o.boot_id.clone());
            facts.insert("boot.kernel".into(), o.kernel.clone());
            facts.insert("boot.seen".into(), o.seen());
        }
        facts.extend(self.extra.clone());
        self.facts = facts;
    }

    /// Prepare the platform in the current boot (`observed`), its facts with it.
    fn prepare(&mut self, observed: &Observed) -> Result<(), String> {
        let a = &self.args;
        let mut say = |m: &str| eprintln!("ssh: {m}");
        let inner = RemotePlatform::prepare(
            &PlatformSpec {
                boot: None,
                ..a.spec.clone()
            },
            &a.host,
            &a.guest,
            &a.plan,
            &a.cell_plans,
            &a.cache,
            a.executor,
            &mut say,
        )
        .map_err(|e| e.to_string())?;
        self.inner = Some(inner);
        self.prepared_in = observed.boot_id.clone();
        self.set_facts(Some(observed));
        Ok(())
    }

    /// Before a trial: the machine in this platform's boot, the platform prepared in it, its
    /// facts those of the boot (the runner stores them after the trial). `Err`: how the trial
    /// ends instead.
    fn ready(&mut self) -> Result<(), TrialEnd> {
        let observed = {
            let mut h = self.host.lock().unwrap_or_else(|e| e.into_inner());
            match h.ensure(&self.entry) {
                Ok(()) => h.current().map(|(o, _)| o.clone()).unwrap_or_default(),
                Err(BootFail::Refused(r)) => return Err(TrialEnd::Failed(r)),
                Err(BootFail::Lost(r)) => return Err(TrialEnd::Lost(r)),
            }
        };
        if self.inner.is_none() || self.prepared_in != observed.boot_id {
            self.inner = None;
            if let Err(e) = self.prepare(&observed) {
                return Err(TrialEnd::Failed(format!(
                    "platform `{}` cannot be prepared in boot `{}` of host `{}`: {e}",
                    self.name, self.entry, self.args.host.name
                )));
            }
        }
        self.set_facts(Some(&observed));
        Ok(())
    }
}

impl Platform for DualBootPlatform {
    fn name(&self) -> &str {
        &self.name
    }
    fn driver(&self) -> &'static str {
        self.driver
    }
    fn boots_guest(&self) -> bool {
        self.boots_guest
    }
    fn machine(&self) -> Option<&str> {
        self.machine.as_deref()
    }
    fn facts(&self) -> BTreeMap<String, String> {
        self.facts.clone()
    }
    fn boot(&self) -> Option<&str> {
        Some(&self.entry)
    }
    fn take_boots(&mut self) -> Vec<BootRecord> {
        self.host
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take_records()
    }
    fn run_trial(&mut self, req: &TrialRequest<'_>, on_event: &mut dyn FnMut(Event)) -> TrialEnd {
        if let Err(end) = self.ready() {
            return end;
        }
        let inner = self.inner.as_mut().expect("prepared by ready()");
        inner.run_trial(req, on_event)
    }
    fn run_cell(
        &mut self,
        cell: &crate::isolation::Cell,
        timeout: Duration,
        logs: Option<&Path>,
        on_message: &mut dyn FnMut(Message),
    ) -> TrialEnd {
        if let Err(end) = self.ready() {
            return end;
        }
        let inner = self.inner.as_mut().expect("prepared by ready()");
        inner.run_cell(cell, timeout, logs, on_message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOM0: &str = "boot_id=6f1c\nkernel=6.1.0-28-amd64\nhypervisor_type=xen\n\
                        xen_caps=control_d\nxl=yes\n";
    const KVM: &str = "boot_id=77aa\nkernel=6.1.0-28-amd64\nhypervisor_type=\nxen_caps=\nkvm=rw\n";

    fn entry(name: &str, hv: Hypervisor) -> BootEntry {
        BootEntry {
            name: name.into(),
            select: format!("grub-reboot {name}"),
            reboot: "reboot".into(),
            hypervisor: hv,
            timeout_s: 600,
        }
    }

    #[test]
    fn a_dom0_with_xl_is_xen_and_not_kvm() {
        let o = Observed::parse(DOM0);
        assert_eq!(o.boot_id, "6f1c");
        assert_eq!(o.seen(), "xen dom0");
        assert_eq!(o.verify(Hypervisor::Xen), Ok(()));
        let e = o.verify(Hypervisor::Kvm).unwrap_err();
        assert!(
            e.contains("came up as xen dom0 (kernel 6.1.0-28-amd64)"),
            "{e}"
        );
        assert!(e.contains("read-write /dev/kvm"), "{e}");
    }

    #[test]
    fn plain_linux_with_kvm_is_kvm_and_not_xen() {
        let o = Observed::parse(KVM);
        assert_eq!(o.seen(), "kvm");
        assert_eq!(o.verify(Hypervisor::Kvm), Ok(()));
        assert!(o
            .verify(Hypervisor::Xen)
            .unwrap_err()
            .contains("Xen's dom0"));
    }

    #[test]
    fn a_xen_guest_or_a_dom0_without_xl_is_refused() {
        let guest = Observed::parse("boot_id=1\nhypervisor_type=xen\nxen_caps=\nkvm=rw\n");
        assert_eq!(guest.seen(), "xen guest");
        assert!(guest.verify(Hypervisor::Xen).is_err());
        // A Xen guest with a /dev/kvm (nested) is still not the plain-Linux boot.
        assert!(guest.verify(Hypervisor::Kvm).is_err());
        let no_xl = Observed::parse("boot_id=1\nhypervisor_type=xen\nxen_caps=control_d\n");
        assert_eq!(no_xl.seen(), "xen dom0 (xl does not answer)");
        assert!(no_xl.verify(Hypervisor::Xen).is_err());
        let nothing = Observed::parse("boot_id=1\nkernel=6.1\n");
        assert_eq!(
            nothing.verify(Hypervisor::Kvm).unwrap_err(),
            "it came up as no hypervisor (no usable /dev/kvm) (kernel 6.1), not Linux with a \
             read-write /dev/kvm"
        );
    }

    #[test]
    fn the_boot_found_is_the_entry_of_its_hypervisor() {
        let entries = [entry("xen", Hypervisor::Xen), entry("kvm", Hypervisor::Kvm)];
        assert_eq!(
            matching_entry(&entries, &Observed::parse(DOM0)).as_deref(),
            Some("xen")
        );
        assert_eq!(
            matching_entry(&entries, &Observed::parse(KVM)).as_deref(),
            Some("kvm")
        );
        // Two entries of one hypervisor (two Xen versions): the boot found cannot be told.
        let two = [
            entry("xen-a", Hypervisor::Xen),
            entry("xen-b", Hypervisor::Xen),
        ];
        assert_eq!(matching_entry(&two, &Observed::parse(DOM0)), None);
    }

    #[test]
    fn rounds_alternate_the_boot_order_abba() {
        let e = vec!["xen".to_string(), "kvm".to_string()];
        let seq: Vec<String> = (0..4).flat_map(|r| boot_order(&e, r)).collect();
        assert_eq!(
            seq,
            ["xen", "kvm", "kvm", "xen", "xen", "kvm", "kvm", "xen"]
        );
    }

    #[test]
    fn the_observe_script_reads_a_real_machine() {
        // This machine: whatever it runs, it has a boot id and a kernel.
        let out = std::process::Command::new("sh")
            .args(["-c", OBSERVE])
            .output()
            .unwrap();
        let o = Observed::parse(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(o.boot_id.len(), 36, "{o:?}");
        assert!(!o.kernel.is_empty(), "{o:?}");
    }
}
