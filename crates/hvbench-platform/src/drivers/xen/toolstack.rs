//! The toolstack in dom0: `xl info` (checked before anything, and the host's CPUs for
//! isolation cells), and an isolation instance's placement applied to its domain and read
//! back as facts.

use crate::{PlatformError, Result};
use std::collections::BTreeMap;
use std::process::Command;

/// `xl info` as key/value pairs.
pub fn parse_xl_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

pub(super) fn xl_info() -> Result<BTreeMap<String, String>> {
    let out = Command::new("xl").arg("info").output().map_err(|e| {
        PlatformError::unavailable(
            format!("cannot run xl: {e}"),
            "run on a Xen dom0 with xen-utils installed, or set lab = true to use the emulated lab",
        )
    })?;
    if !out.status.success() {
        return Err(PlatformError::unavailable(
            format!(
                "`xl info` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "is this a Xen dom0 with the toolstack running (xencommons)? Otherwise set lab = true",
        ));
    }
    Ok(parse_xl_info(&String::from_utf8_lossy(&out.stdout)))
}

/// The Xen host's physical CPUs (`xl info` nr_cpus), for placing isolation instances.
pub fn host_cpus() -> Option<Vec<usize>> {
    let n: usize = xl_info().ok()?.get("nr_cpus")?.trim().parse().ok()?;
    (n > 0).then(|| (0..n).collect())
}

/// The state column (`r-----`, `--p---`, ...) of domain `name` in `xl list` output.
fn domain_state<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    list.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.first() == Some(&name) && f.len() >= 5).then(|| f[4])
    })
}

/// A weight on cgroup v2's scale (100 = default) as a credit2 weight (256 = default).
pub fn xen_weight(weight: u32) -> u32 {
    (u64::from(weight) * 256 / 100).clamp(1, 65535) as u32
}

/// Wait (up to 120 s) for domain `name` to be built and unpaused — xl sets its scheduler
/// parameters while building it, paused — then read its vCPU affinity (`xl vcpu-list`) and
/// credit2 parameters (`xl sched-credit2 -d`) as facts `xen.applied.*`.
pub(super) fn applied_placement(
    name: &str,
    cpus: Option<String>,
    weight: Option<u32>,
    cap: Option<u32>,
) -> Option<BTreeMap<String, String>> {
    let started = std::time::Instant::now();
    let mut commands: Vec<String> = Vec::new();
    let mut applied = false;
    while started.elapsed() < std::time::Duration::from_secs(120) {
        // Asked to stop (Ctrl-C, a dropped SSH connection): the trial's `xl destroy` waits
        // for this thread, so it must not hold it back.
        if crate::trial::interrupt::requested().is_some() {
            break;
        }
        if !applied
            && Command::new("xl")
                .args(["domid", name])
                .output()
                .is_ok_and(|o| o.status.success())
        {
            applied = true;
            let mut run = |args: Vec<String>| {
                let out = Command::new("xl").args(&args).output();
                let status = match out {
                    Ok(o) if o.status.success() => "ok".to_string(),
                    Ok(o) => format!("failed: {}", String::from_utf8_lossy(&o.stderr).trim()),
                    Err(e) => format!("failed: {e}"),
                };
                commands.push(format!("xl {}: {status}", args.join(" ")));
            };
            if let Some(c) = &cpus {
                run(vec![
                    "vcpu-pin".into(),
                    name.into(),
                    "all".into(),
                    c.clone(),
                ]);
            }
            if weight.is_some() || cap.is_some() {
                let mut args = vec!["sched-credit2".into(), "-d".into(), name.into()];
                if let Some(w) = weight {
                    args.extend(["-w".into(), w.to_string()]);
                }
                if let Some(c) = cap {
                    args.extend(["-c".into(), c.to_string()]);
                }
                run(args);
            }
        }
        let listed = Command::new("xl")
            .args(["list", name])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        if listed
            .as_deref()
            .and_then(|l| domain_state(l, name))
            .is_some_and(|s| !s.contains('p'))
        {
            let mut facts = BTreeMap::new();
            for (key, args) in [
                ("xen.applied.vcpu-list", vec!["vcpu-list", name]),
                (
                    "xen.applied.sched-credit2",
                    vec!["sched-credit2", "-d", name],
                ),
            ] {
                if let Ok(o) = Command::new("xl").args(&args).output() {
                    let text = String::from_utf8_lossy(&o.stdout);
                    // The header and the domain's lines, squeezed onto one line each.
                    let lines: Vec<String> = text
                        .lines()
                        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                        .filter(|l| !l.is_empty())
                        .collect();
                    facts.insert(key.to_string(), lines.join(" | "));
                }
            }
            if !commands.is_empty() {
                facts.insert("xen.applied.commands".to_string(), commands.join("; "));
            }
            return Some(facts);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_of_a_listed_domain_is_found() {
        let list = "Name                                        ID   Mem VCPUs\tState\tTime(s)\n\
                    Domain-0                                     0  3000     2     r-----      12.0\n\
                    hvbench-kvm-victim-1                         3   256     1     --p---       0.0\n";
        assert_eq!(domain_state(list, "hvbench-kvm-victim-1"), Some("--p---"));
        assert_eq!(domain_state(list, "Domain-0"), Some("r-----"));
        assert_eq!(domain_state(list, "hvbench"), None);
    }

    #[test]
    fn xl_info_is_parsed() {
        let info = parse_xl_info(
            "host                   : lab\nxen_version            : 4.17.6-pre\nxen_scheduler          : credit2\nvirt_caps              : pv hvm hap\n",
        );
        assert_eq!(info["xen_version"], "4.17.6-pre");
        assert_eq!(info["xen_scheduler"], "credit2");
        assert_eq!(info["virt_caps"], "pv hvm hap");
    }
}
