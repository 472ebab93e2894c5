//! Pure parsers for the evidence hvbench collects beside a trial: QEMU's QMP `query-cpus-fast`
//! reply, a tracefs `kvm:kvm_exit` histogram, the names of AMD SVM and Intel VMX exit codes,
//! `xenalyze --summary`, `xentop -b`, `xl dmesg`, `xl info`, `xl list -l`,
//! `/proc/PID/task/TID/stat` and `/proc/stat`.
//!
//! This module owns only the text-to-numbers step: no I/O, no commands. Every input is
//! untrusted output of another program, so nothing here panics: garbage gives `None`, an `Err`
//! or an empty map, and counters are summed with saturation.

use serde_json::Value;
use std::collections::BTreeMap;

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;

// ---------------------------------------------------------------------------------------------
// QEMU QMP
// ---------------------------------------------------------------------------------------------

/// The `return` member of a QMP reply. Accepts the reply alone, or a transcript with one JSON
/// object a line (greeting, events, replies): then the last line that is a reply counts.
fn qmp_return(json: &str) -> Result<Value, String> {
    let reply = match serde_json::from_str::<Value>(json) {
        Ok(v) => v,
        Err(e) => json
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .rfind(|v| v.get("return").is_some() || v.get("error").is_some())
            .ok_or_else(|| format!("not a QMP reply: {e}"))?,
    };
    if let Some(err) = reply.get("error") {
        let desc = err
            .get("desc")
            .and_then(Value::as_str)
            .unwrap_or("no description");
        return Err(format!("QMP error: {desc}"));
    }
    reply
        .get("return")
        .cloned()
        .ok_or_else(|| "QMP reply without \"return\"".to_string())
}

/// Host thread ids of the vCPUs, in reply order, from a `query-cpus-fast` reply (`thread-id`).
/// Empty on garbage.
pub fn vcpu_threads(json: &str) -> Vec<u32> {
    let Ok(ret) = qmp_return(json) else {
        return Vec::new();
    };
    ret.as_array()
        .map(|cpus| {
            cpus.iter()
                .filter_map(|c| c.get("thread-id")?.as_u64())
                .filter_map(|t| u32::try_from(t).ok())
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// tracefs histogram of kvm:kvm_exit
// ---------------------------------------------------------------------------------------------

/// The number in a histogram key value: `1531`, or with the `.execname` modifier
/// `qemu-system-x86 [      1531]` (the pid is in the brackets).
fn hist_number(v: &str) -> Option<u64> {
    let v = match (v.find('['), v.rfind(']')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v,
    };
    v.trim().parse().ok()
}

/// Hit counts per exit reason from the `hist` file of `kvm:kvm_exit` with the trigger
/// `hist:keys=common_pid,exit_reason:vals=hitcount`, whose entries read
/// `{ common_pid:       1531, exit_reason:        123 } hitcount:      20197`
/// (see the kernel's Documentation/trace/histogram.rst). Only entries whose `common_pid` is in
/// `pids` count, or every entry when `pids` is empty. The exit reason is the raw code: name it
/// with [`svm_exit_name`] or [`vmx_exit_name`].
pub fn kvm_exit_hist(text: &str, pids: &[u32]) -> BTreeMap<u32, u64> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| l.starts_with('{')) {
        let Some((keys, vals)) = line[1..].split_once('}') else {
            continue;
        };
        let mut pid = None;
        let mut reason = None;
        for kv in keys.split(',') {
            let Some((k, v)) = kv.split_once(':') else {
                continue;
            };
            match k.trim() {
                "common_pid" => pid = hist_number(v).and_then(|p| u32::try_from(p).ok()),
                "exit_reason" => reason = hist_number(v).and_then(|r| u32::try_from(r).ok()),
                _ => {}
            }
        }
        let hits = vals
            .trim()
            .strip_prefix("hitcount:")
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok());
        if let (Some(pid), Some(reason), Some(hits)) = (pid, reason, hits) {
            if pids.is_empty() || pids.contains(&pid) {
                let e = out.entry(reason).or_insert(0u64);
                *e = e.saturating_add(hits);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Exit code names
// ---------------------------------------------------------------------------------------------
//
// Names are lowercase. Where both ISAs exit for the same cause the name is the same: `cpuid`,
// `hlt`, `io`, `rdtsc`, `rdtscp`, `rdpmc`, `invd`, `invlpg`, `invpcid`, `rsm`, `pause`,
// `wbinvd`, `xsetbv`, `monitor`, `mwait`, `task_switch`, `init`, `bus_lock`. Where the
// causes only correspond, each ISA keeps its own name and a comparison has to map them:
//
//   SVM                      VMX
//   intr                     external_interrupt
//   vintr                    interrupt_window
//   msr (one, both ways)     msr_read + msr_write
//   npf                      ept_violation + ept_misconfig (KVM's MMIO exits are the latter)
//   vmmcall                  vmcall
//   shutdown                 triple_fault
//   crN_read / crN_write     cr_access
//   drN_read / drN_write     dr_access
//   exception_XX, nmi        exception_nmi
//   smi                      io_smi, other_smi
//
// The SVM names are the APM's `VMEXIT_*` mnemonics lowercased without the prefix, which is
// also what `xenalyze --svm-mode` prints, except 0x7B `VMEXIT_IOIO`: `io` here (xenalyze's
// `ioio`).

/// SVM exit codes 0x00..=0x5F (APM vol. 2, appendix C), a comment marking each 0x10th: reads
/// and writes of CR0-CR15 and DR0-DR15, then exceptions 0-31, which go by their AMD mnemonics (APM vol. 2, table 8-1
/// "Interrupt Vector Source and Cause"), reserved vectors by number.
#[rustfmt::skip]
const SVM_00_5F: [&str; 0x60] = [
    /* 0x00 */ "cr0_read", "cr1_read", "cr2_read", "cr3_read", "cr4_read", "cr5_read", "cr6_read",
               "cr7_read", "cr8_read", "cr9_read", "cr10_read", "cr11_read", "cr12_read", "cr13_read",
               "cr14_read", "cr15_read",
    /* 0x10 */ "cr0_write", "cr1_write", "cr2_write", "cr3_write", "cr4_write", "cr5_write",
               "cr6_write", "cr7_write", "cr8_write", "cr9_write", "cr10_write", "cr11_write",
               "cr12_write", "cr13_write", "cr14_write", "cr15_write",
    /* 0x20 */ "dr0_read", "dr1_read", "dr2_read", "dr3_read", "dr4_read", "dr5_read", "dr6_read",
               "dr7_read", "dr8_read", "dr9_read", "dr10_read", "dr11_read", "dr12_read", "dr13_read",
               "dr14_read", "dr15_read",
    /* 0x30 */ "dr0_write", "dr1_write", "dr2_write", "dr3_write", "dr4_write", "dr5_write",
               "dr6_write", "dr7_write", "dr8_write", "dr9_write", "dr10_write", "dr11_write",
               "dr12_write", "dr13_write", "dr14_write", "dr15_write",
    /* 0x40 */ "exception_de", "exception_db", "exception_nmi", "exception_bp", "exception_of",
               "exception_br", "exception_ud", "exception_nm", "exception_df", "exception_9",
               "exception_ts", "exception_np", "exception_ss", "exception_gp", "exception_pf",
               "exception_15",
    /* 0x50 */ "exception_mf", "exception_ac", "exception_mc", "exception_xf", "exception_20",
               "exception_cp", "exception_22", "exception_23", "exception_24", "exception_25",
               "exception_26", "exception_27", "exception_hv", "exception_vc", "exception_sx",
               "exception_31",
];

/// SVM exit codes 0x60..=0xA6 (APM vol. 2, appendix C); a comment marks each 0x10th.
#[rustfmt::skip]
const SVM_60_A6: [&str; 0x47] = [
    /* 0x60 */ "intr", "nmi", "smi", "init", "vintr", "cr0_sel_write", "idtr_read", "gdtr_read",
               "ldtr_read", "tr_read", "idtr_write", "gdtr_write", "ldtr_write", "tr_write",
               "rdtsc", "rdpmc",
    /* 0x70 */ "pushf", "popf", "cpuid", "rsm", "iret", "swint", "invd", "pause", "hlt", "invlpg",
               "invlpga", "io", "msr", "task_switch", "ferr_freeze", "shutdown",
    /* 0x80 */ "vmrun", "vmmcall", "vmload", "vmsave", "stgi", "clgi", "skinit", "rdtscp", "icebp",
               "wbinvd", "monitor", "mwait", "mwait_conditional", "xsetbv", "rdpru",
               "efer_write_trap",
    /* 0x90 */ "cr0_write_trap", "cr1_write_trap", "cr2_write_trap", "cr3_write_trap",
               "cr4_write_trap", "cr5_write_trap", "cr6_write_trap", "cr7_write_trap",
               "cr8_write_trap", "cr9_write_trap", "cr10_write_trap", "cr11_write_trap",
               "cr12_write_trap", "cr13_write_trap", "cr14_write_trap", "cr15_write_trap",
    /* 0xA0 */ "invlpgb", "invlpgb_illegal", "invpcid", "mcommit", "tlbsync", "bus_lock",
               "idle_hlt",
];

/// The name of an AMD SVM exit code (the VMCB's EXITCODE; APM vol. 2, appendix C "SVM Intercept
/// Exit Codes"). `kvm:kvm_exit` records it as 32 bits, so `VMEXIT_INVALID` (-1) and
/// `VMEXIT_BUSY` (-2) arrive as 0xFFFF_FFFF and 0xFFFF_FFFE.
pub fn svm_exit_name(code: u32) -> Option<&'static str> {
    match code {
        0x00..=0x5F => SVM_00_5F.get(code as usize).copied(),
        0x60..=0xA6 => SVM_60_A6.get((code - 0x60) as usize).copied(),
        0x400 => Some("npf"),
        0x401 => Some("avic_incomplete_ipi"),
        0x402 => Some("avic_noaccel"),
        0x403 => Some("vmgexit"),
        0xFFFF_FFFE => Some("busy"),
        0xFFFF_FFFF => Some("invalid"),
        _ => None,
    }
}

/// VMX basic exit reasons 0..=79 (Intel SDM vol. 3, appendix C), ten a row; "" is unused.
#[rustfmt::skip]
const VMX_REASONS: [&str; 80] = [
    /*  0 */ "exception_nmi", "external_interrupt", "triple_fault", "init", "sipi", "io_smi",
             "other_smi", "interrupt_window", "nmi_window", "task_switch",
    /* 10 */ "cpuid", "getsec", "hlt", "invd", "invlpg", "rdpmc", "rdtsc", "rsm", "vmcall",
             "vmclear",
    /* 20 */ "vmlaunch", "vmptrld", "vmptrst", "vmread", "vmresume", "vmwrite", "vmxoff", "vmxon",
             "cr_access", "dr_access",
    /* 30 */ "io", "msr_read", "msr_write", "invalid_guest_state", "msr_load_fail", "", "mwait",
             "monitor_trap_flag", "", "monitor",
    /* 40 */ "pause", "mce_during_vmentry", "", "tpr_below_threshold", "apic_access",
             "eoi_induced", "gdtr_idtr", "ldtr_tr", "ept_violation", "ept_misconfig",
    /* 50 */ "invept", "rdtscp", "preemption_timer", "invvpid", "wbinvd", "xsetbv", "apic_write",
             "rdrand", "invpcid", "vmfunc",
    /* 60 */ "encls", "rdseed", "pml_full", "xsaves", "xrstors", "pconfig", "spp", "umwait",
             "tpause", "loadiwkey",
    /* 70 */ "enclv", "", "enqcmd_pasid_fail", "enqcmds_pasid_fail", "bus_lock",
             "instruction_timeout", "seamcall", "tdcall", "rdmsrlist", "wrmsrlist",
];

/// The name of an Intel VMX basic exit reason (Intel SDM vol. 3, appendix C "VMX Basic Exit
/// Reasons"). Only bits 15:0 of the exit-reason field are the basic reason (SDM vol. 3, "Basic
/// VM-Exit Information"); the flag bits above them (31: VM-entry failure, 27: enclave mode...)
/// are masked off, since KVM's tracepoint records the full field.
pub fn vmx_exit_name(code: u32) -> Option<&'static str> {
    VMX_REASONS
        .get((code & 0xFFFF) as usize)
        .copied()
        .filter(|n| !n.is_empty())
}

// ---------------------------------------------------------------------------------------------
// xenalyze --summary
// ---------------------------------------------------------------------------------------------

/// One `|-- Domain N --|` block of `xenalyze --summary`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct XenalyzeDomain {
    pub domid: u32,
    /// Seconds in each runstate, summed over the domain's vCPUs.
    pub running_s: f64,
    pub runnable_s: f64,
    pub blocked_s: f64,
    /// HVM exits by reason (`rdtsc`, `cpuid`, `msr`...), summed over the vCPUs.
    pub exits: BTreeMap<String, u64>,
    /// PV hypercalls by name (`mmu_update`, `iret`...), summed over the vCPUs.
    pub hypercalls: BTreeMap<String, u64>,
    /// PV events (`page_fault`, `emulate_privop`, `hypercall`...), summed over the vCPUs.
    pub pv_events: BTreeMap<String, u64>,
}

/// `xenalyze --summary`: the traced time and every domain, the idle domain 32767 included.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct XenalyzeSummary {
    pub total_s: f64,
    pub domains: Vec<XenalyzeDomain>,
}

#[derive(Clone, Copy, PartialEq)]
enum XaSection {
    Other,
    Runstates,
    Exits,
    PvEvents,
}

/// A finite, non-negative number of seconds.
fn seconds(w: &str) -> Option<f64> {
    w.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0)
}

fn add(map: &mut BTreeMap<String, u64>, key: String, n: u64) {
    let e = map.entry(key).or_insert(0);
    *e = e.saturating_add(n);
}

/// A key for a PV event's text: lowercase, every run of other than `[a-z0-9]` one `_`
/// (`emulate privop` -> `emulate_privop`, `hypercall (subcall)` -> `hypercall_subcall`).
fn event_key(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// Parse the output of `xenalyze [--svm-mode] --summary` (tools/xentrace/xenalyze.c in Xen).
/// Its layout, as the fixtures show it: `Total time: 5.63 seconds (...)`, then per domain a
/// `|-- Domain N --|` line, the domain-level ` Runstates:` (full run, concurrency_hazard...,
/// which this ignores), then per vCPU a `-- vN --` line with its own ` Runstates:`
/// (`running:  COUNT  SECONDSs  AVG_CYCLES {...}`, `runnable:` with its `wake:`/`preempt:`
/// parts, `blocked:`), and for HVM an `Exit reasons:` block whose reasons are indented one
/// space (` VMEXIT_RDTSC  3244  0.09s ...`) and their breakdowns three (`   cpuid  36 ...`,
/// not counted), or for PV a `PV events:` block (`  page_fault  54`, the hypercalls as
/// `    mmu_update    [ 1]:  16274`). Lines it does not know are skipped; garbage gives an
/// empty summary.
pub fn xenalyze_summary(text: &str) -> XenalyzeSummary {
    let mut sum = XenalyzeSummary::default();
    let mut in_vcpu = false;
    let mut section = XaSection::Other;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Total time:") {
            if let Some(s) = rest.split_whitespace().next().and_then(seconds) {
                sum.total_s = s;
            }
            continue;
        }
        if let Some(id) = t
            .strip_prefix("|-- Domain ")
            .and_then(|r| r.strip_suffix("--|"))
        {
            if let Ok(domid) = id.trim().parse::<u32>() {
                sum.domains.push(XenalyzeDomain {
                    domid,
                    ..XenalyzeDomain::default()
                });
                in_vcpu = false;
                section = XaSection::Other;
            }
            continue;
        }
        let Some(dom) = sum.domains.last_mut() else {
            continue;
        };
        if t.strip_prefix("-- v")
            .and_then(|r| r.strip_suffix(" --"))
            .is_some_and(|v| v.parse::<u32>().is_ok())
        {
            in_vcpu = true;
            section = XaSection::Other;
            continue;
        }
        if t == "Emulate eip list" || t.ends_with(':') {
            section = match t {
                "Runstates:" if in_vcpu => XaSection::Runstates,
                "Exit reasons:" => XaSection::Exits,
                "PV events:" => XaSection::PvEvents,
                _ => XaSection::Other,
            };
            continue;
        }
        let mut words = t.split_whitespace();
        match section {
            XaSection::Runstates => {
                let slot = match words.next() {
                    Some("running:") => &mut dom.running_s,
                    Some("runnable:") => &mut dom.runnable_s,
                    Some("blocked:") => &mut dom.blocked_s,
                    _ => continue,
                };
                // COUNT then SECONDS with an `s` suffix.
                if let Some(s) = words
                    .nth(1)
                    .and_then(|w| w.strip_suffix('s'))
                    .and_then(seconds)
                {
                    *slot += s;
                }
            }
            XaSection::Exits => {
                // A reason is indented by exactly one space; deeper lines break it down.
                if !line.starts_with(' ') || line[1..].starts_with(char::is_whitespace) {
                    continue;
                }
                let (Some(name), Some(n)) = (
                    words.next(),
                    words.next().and_then(|w| w.parse::<u64>().ok()),
                ) else {
                    continue;
                };
                let name = name
                    .strip_prefix("VMEXIT_")
                    .unwrap_or(name)
                    .to_ascii_lowercase();
                add(&mut dom.exits, name, n);
            }
            XaSection::PvEvents => {
                if let Some((name, count)) = t.split_once("]:") {
                    // `mmu_update   [ 1]:  16274`
                    let (Some(name), Ok(n)) =
                        (name.split_whitespace().next(), count.trim().parse::<u64>())
                    else {
                        continue;
                    };
                    add(&mut dom.hypercalls, name.to_string(), n);
                } else if let Some((name, count)) = t.rsplit_once(char::is_whitespace) {
                    let (key, Ok(n)) = (event_key(name), count.parse::<u64>()) else {
                        continue;
                    };
                    if !key.is_empty() {
                        add(&mut dom.pv_events, key, n);
                    }
                }
            }
            XaSection::Other => {}
        }
    }
    sum
}

// ---------------------------------------------------------------------------------------------
// xentop, xl
// ---------------------------------------------------------------------------------------------

/// The row of domain `name` in the last iteration of `xentop -b` output (each iteration starts
/// with a header line `NAME STATE CPU(sec) ...`): its numeric columns, keyed by the lowercase
/// header (`cpu(sec)`, `cpu(%)`, `mem(k)`, `vbd_rd`...). `STATE`, the name and non-numeric
/// values (`n/a`) are left out. xentop writes an unlimited `MAXMEM(k)` as `no limit`, read here
/// as one (non-numeric) value. `None` when the last iteration has no such domain (or only a
/// row cut short).
pub fn xentop_domain(text: &str, name: &str) -> Option<BTreeMap<String, f64>> {
    let mut header: Vec<String> = Vec::new();
    let mut found = None;
    for line in text.lines() {
        let line = line.replace("no limit", "no_limit");
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"NAME") {
            header = words.iter().map(|w| w.to_ascii_lowercase()).collect();
            found = None;
            continue;
        }
        // A row has a value for every column; a shorter one was cut off.
        if header.is_empty() || words.first() != Some(&name) || words.len() != header.len() {
            continue;
        }
        let row = header
            .iter()
            .zip(&words)
            .filter(|(h, _)| *h != "name" && *h != "state")
            .filter_map(|(h, w)| {
                Some((h.clone(), w.parse::<f64>().ok().filter(|v| v.is_finite())?))
            })
            .collect();
        found = Some(row);
    }
    found
}

/// Strip `(XEN) ` and a console timestamp `[...] ` right after it from an `xl dmesg` line.
fn xen_message(line: &str) -> &str {
    let Some(msg) = line.strip_prefix("(XEN) ") else {
        return line.trim();
    };
    let msg = match msg.strip_prefix('[').and_then(|m| m.split_once("] ")) {
        Some((_, rest)) => rest,
        None => msg,
    };
    msg.trim()
}

/// Facts about Xen's speculative-execution mitigations and TSC from `xl dmesg` (the lines
/// Xen's xen/arch/x86/spec_ctrl.c prints under "Speculative mitigation facilities:"):
/// `xen.spec.xpti`, `xen.spec.l1tf_shadow`, `xen.spec.settings`, `xen.spec.hvm_support`,
/// `xen.spec.pv_support` (the text after the label), `xen.spec.l1d_flush` (every line naming
/// L1D_FLUSH or "L1D flush", joined with "; ") and `xen.tsc` (every line about the TSC, joined
/// the same way).
pub fn xen_spec_ctrl(dmesg: &str) -> BTreeMap<String, String> {
    const LABELS: [(&str, &str); 5] = [
        ("XPTI (64-bit PV only): ", "xen.spec.xpti"),
        ("PV L1TF shadowing: ", "xen.spec.l1tf_shadow"),
        ("Xen settings: ", "xen.spec.settings"),
        ("Support for HVM VMs: ", "xen.spec.hvm_support"),
        ("Support for PV VMs: ", "xen.spec.pv_support"),
    ];
    let mut out = BTreeMap::new();
    let mut l1d = Vec::new();
    let mut tsc = Vec::new();
    for msg in dmesg.lines().map(xen_message) {
        for (label, key) in LABELS {
            if let Some(v) = msg.strip_prefix(label) {
                out.insert(key.to_string(), v.trim().to_string());
            }
        }
        if msg.contains("L1D_FLUSH") || msg.to_ascii_lowercase().contains("l1d flush") {
            l1d.push(msg);
        }
        if msg
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w == "TSC")
        {
            tsc.push(msg);
        }
    }
    if !l1d.is_empty() {
        out.insert("xen.spec.l1d_flush".to_string(), l1d.join("; "));
    }
    if !tsc.is_empty() {
        out.insert("xen.tsc".to_string(), tsc.join("; "));
    }
    out
}

/// Whether XPTI is on for DomU, from `xen.spec.xpti` of [`xen_spec_ctrl`]
/// (`Dom0 disabled, DomU disabled (without PCID)` -> false). `None` when unknown.
pub fn xpti_domu_on(spec: &BTreeMap<String, String>) -> Option<bool> {
    let xpti = spec.get("xen.spec.xpti")?;
    let state = xpti
        .split(',')
        .find_map(|p| p.trim().strip_prefix("DomU"))?
        .trim_start();
    if state.starts_with("enabled") {
        Some(true)
    } else if state.starts_with("disabled") {
        Some(false)
    } else {
        None
    }
}

/// What Xen's `s` debug key (`xl debug-keys s`, then `xl dmesg`) said last of the host's TSC:
/// `Some(true)` for "TSC marked as reliable" or "... deemed reliable", `Some(false)` for "not
/// reliable" or "TSC not marked as either constant or reliable", `None` when the log holds
/// neither (Xen's `dump_softtsc`).
pub fn xen_tsc_reliable(dmesg: &str) -> Option<bool> {
    dmesg.lines().rev().find_map(|l| {
        let l = l.trim_start_matches("(XEN)").trim();
        if l.starts_with("TSC marked as reliable") || l.contains("deemed reliable") {
            Some(true)
        } else if l.starts_with("TSC not marked")
            || (l.starts_with("TSC has constant rate") && l.contains("not reliable"))
        {
            Some(false)
        } else {
            None
        }
    })
}

/// Whether Xen emulates a domain's `rdtsc`, as xen-tscmode(7) and Xen's `tsc_set_info` decide it
/// for a domain whose TSC frequency is the host's (hvbench's guests never set one): always for
/// `always_emulate`; never for `native` and `native_paravirt`; for `default`, natively only
/// when the host's TSC is safe — marked reliable, or a single physical CPU. `None` when the
/// mode is unknown.
pub fn xen_vtsc(
    mode: &str,
    tsc_reliable: Option<bool>,
    nr_cpus: Option<u32>,
) -> Option<&'static str> {
    match mode {
        "always_emulate" => Some("emulated"),
        "native" | "native_paravirt" => Some("native"),
        "default" => {
            let safe = tsc_reliable == Some(true) || nr_cpus == Some(1);
            if safe {
                Some("native")
            } else if tsc_reliable == Some(false) {
                Some("emulated")
            } else {
                None
            }
        }
        _ => None,
    }
}

/// `xl info`: its `key : value` lines (split at the first colon; values may hold colons).
pub fn xl_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| !k.trim().is_empty() && !k.trim().contains(char::is_whitespace))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The domain's TSC mode from `xl list -l NAME` (a JSON array of `{"domid", "config"}`):
/// `config.b_info.tsc_mode`, or `"default"` when b_info has none (libxl's default), or `None`
/// when the text is not that JSON.
pub fn tsc_mode(xl_list_l: &str) -> Option<String> {
    let v: Value = serde_json::from_str(xl_list_l).ok()?;
    let domains = match &v {
        Value::Array(a) => a.iter().collect::<Vec<_>>(),
        other => vec![other],
    };
    let b_info = domains
        .iter()
        .find_map(|d| d.get("config")?.get("b_info"))?;
    Some(match b_info.get("tsc_mode") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "default".to_string(),
        Some(other) => other.to_string(),
    })
}

// ---------------------------------------------------------------------------------------------
// procfs
// ---------------------------------------------------------------------------------------------

/// utime and stime, in clock ticks, from a `/proc/PID/task/TID/stat` line: fields 14 and 15
/// (proc(5)). Field 2, the command, is in parentheses and may hold spaces and `)`, so the
/// fields are counted after the last `)`.
pub fn task_cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    let (_, rest) = stat.rsplit_once(')')?;
    // rest starts at field 3 (state): fields 14 and 15 are its 12th and 13th words.
    let mut words = rest.split_whitespace().skip(11);
    let utime = words.next()?.parse().ok()?;
    let stime = words.next()?.parse().ok()?;
    Some((utime, stime))
}
