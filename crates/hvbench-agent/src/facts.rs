//! What the agent can see about the machine it runs on. The report uses these facts to explain
//! results (a `tsc` versus `xen` clocksource, a missing `ept` flag, an emulating hypervisor).
//! Whatever cannot be read is simply absent.

use crate::Mode;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The facts, keyed by dotted names (`kernel.release`, `cpu.model`, ...).
pub type Facts = BTreeMap<String, String>;

/// Where the pseudo file systems are; tests point these at fake trees.
#[derive(Debug, Clone)]
pub struct FactSources {
    pub proc_dir: PathBuf,
    pub sys_dir: PathBuf,
}

impl Default for FactSources {
    fn default() -> Self {
        Self {
            proc_dir: PathBuf::from("/proc"),
            sys_dir: PathBuf::from("/sys"),
        }
    }
}

/// Collect the facts of the running machine.
pub fn collect(mode: Mode) -> Facts {
    collect_from(&FactSources::default(), mode)
}

/// Collect the facts, reading files under `sources` (uname, CPUID and, as a fallback, the
/// online CPU count come from the running system whatever `sources` says).
pub fn collect_from(sources: &FactSources, mode: Mode) -> Facts {
    let mut facts = Facts::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            facts.insert(key.to_string(), v);
        }
    };
    let proc_file = |name: &str| read_trimmed(&sources.proc_dir.join(name));
    let sys_file = |name: &str| read_trimmed(&sources.sys_dir.join(name));

    let (release, version) = match uname() {
        Some((r, v)) => (Some(r), Some(v)),
        None => (None, None),
    };
    put("kernel.release", release);
    put("kernel.version", version);
    put("kernel.cmdline", proc_file("cmdline"));
    put(
        "clocksource",
        sys_file("devices/system/clocksource/clocksource0/current_clocksource"),
    );
    put(
        "clocksource.available",
        sys_file("devices/system/clocksource/clocksource0/available_clocksource"),
    );
    if let Some(cpuinfo) = proc_file("cpuinfo") {
        put(
            "cpu.model",
            cpuinfo_field(&cpuinfo, "model name").map(str::to_string),
        );
        put(
            "cpu.vendor",
            cpuinfo_field(&cpuinfo, "vendor_id").map(str::to_string),
        );
        let flags = cpuinfo_field(&cpuinfo, "flags");
        put("cpu.tsc_flags", flags.map(tsc_flags));
        put("cpu.flags", flags.map(str::to_string));
    }
    // Evidence: the mitigations the kernel applies, one fact per file of
    // /sys/devices/system/cpu/vulnerabilities (Documentation/ABI/testing/sysfs-devices-system-cpu).
    if let Ok(dir) = fs::read_dir(sources.sys_dir.join("devices/system/cpu/vulnerabilities")) {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            put(&format!("cpu.vuln.{name}"), read_trimmed(&entry.path()));
        }
    }
    put(
        "cpu.count",
        sys_file("devices/system/cpu/online")
            .and_then(|list| count_cpu_list(&list))
            .or_else(online_cpus_sysconf)
            .map(|n| n.to_string()),
    );
    put(
        "mem.total_kib",
        proc_file("meminfo")
            .and_then(|m| meminfo_kib(&m, "MemTotal"))
            .map(|n| n.to_string()),
    );
    put("hypervisor.type", sys_file("hypervisor/type"));
    put("cpuid.hypervisor", cpuid_hypervisor());
    put(
        "thp.enabled",
        sys_file("kernel/mm/transparent_hugepage/enabled")
            .and_then(|t| bracketed(&t).map(str::to_string)),
    );
    put("agent.mode", Some(mode.as_str().to_string()));
    facts
}

/// The flags of a CPU that say how its time stamp counter behaves (`tsc`, `rdtscp`,
/// `constant_tsc`, `nonstop_tsc`, `tsc_known_freq`, `tsc_reliable`, `tsc_adjust`,
/// `tsc_deadline_timer`, `tsc_scale`), in the order the kernel lists them; `none` when none.
pub fn tsc_flags(flags: &str) -> String {
    let found: Vec<&str> = flags
        .split_whitespace()
        .filter(|f| f.contains("tsc"))
        .collect();
    if found.is_empty() {
        "none".to_string()
    } else {
        found.join(" ")
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// The value of the first `key : value` line of /proc/cpuinfo named `key`.
pub fn cpuinfo_field<'a>(cpuinfo: &'a str, key: &str) -> Option<&'a str> {
    cpuinfo.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// A `Key:   1234 kB` value of /proc/meminfo, in KiB.
pub fn meminfo_kib(meminfo: &str, key: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        if k.trim() != key {
            return None;
        }
        v.split_whitespace().next()?.parse().ok()
    })
}

/// The selected choice of a sysfs multiple-choice file: `always [madvise] never` -> `madvise`.
pub fn bracketed(text: &str) -> Option<&str> {
    let start = text.find('[')? + 1;
    let len = text[start..].find(']')?;
    Some(&text[start..start + len])
}

/// How many CPUs a sysfs CPU list names: `0-3,6,8-9` -> 7.
pub fn count_cpu_list(list: &str) -> Option<u64> {
    let mut count = 0u64;
    for part in list.trim().split(',') {
        let n = match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi): (u64, u64) = (lo.parse().ok()?, hi.parse().ok()?);
                hi.checked_sub(lo)? + 1
            }
            None => {
                part.parse::<u64>().ok()?;
                1
            }
        };
        count += n;
    }
    Some(count)
}

fn online_cpus_sysconf() -> Option<u64> {
    // SAFETY: sysconf only reads its integer argument.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u64::try_from(n).ok().filter(|&n| n > 0)
}

/// The kernel's release and version strings.
fn uname() -> Option<(String, String)> {
    // SAFETY: utsname is plain old data (arrays of c_char); all zeroes is a valid value.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname writes only into the struct we own and pass by a valid pointer.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return None;
    }
    Some((c_chars(&uts.release), c_chars(&uts.version)))
}

/// A NUL-terminated `c_char` array as text (lossy; the kernel's strings are ASCII).
fn c_chars(field: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = field
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The hypervisor's CPUID vendor signature (`KVMKVMKVM`, `XenVMMXenVMM`, `TCGTCGTCGTCG`, ...),
/// when CPUID says a hypervisor is present (leaf 1, ECX bit 31).
#[cfg(target_arch = "x86_64")]
pub fn cpuid_hypervisor() -> Option<String> {
    use core::arch::x86_64::__cpuid;
    const HYPERVISOR_PRESENT: u32 = 1 << 31;
    // `__cpuid` became a safe function in newer Rust; the block keeps older compilers
    // (down to the workspace's rust-version) building.
    #[allow(unused_unsafe)]
    // SAFETY: CPUID exists on every x86_64 CPU; leaf 1 is always implemented and leaf
    // 0x40000000 is reserved for hypervisors (a bare CPU answers it with harmless values).
    let (leaf1, leaf_hv) = unsafe { (__cpuid(1), __cpuid(0x4000_0000)) };
    if leaf1.ecx & HYPERVISOR_PRESENT == 0 {
        return None;
    }
    hypervisor_signature(leaf_hv.ebx, leaf_hv.ecx, leaf_hv.edx)
}

#[cfg(not(target_arch = "x86_64"))]
pub fn cpuid_hypervisor() -> Option<String> {
    None
}

/// The 12-byte signature in EBX, ECX, EDX, without trailing NULs.
pub fn hypervisor_signature(ebx: u32, ecx: u32, edx: u32) -> Option<String> {
    let mut bytes = Vec::with_capacity(12);
    for reg in [ebx, ecx, edx] {
        bytes.extend_from_slice(&reg.to_le_bytes());
    }
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    let sig = String::from_utf8_lossy(&bytes).into_owned();
    (!sig.is_empty()).then_some(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\n\
        model name\t: AMD EPYC 7B13\nflags\t\t: fpu vme de pse tsc msr svm npt\n\n\
        processor\t: 1\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu vme\n";

    #[test]
    fn running_machine_has_kernel_release_and_mode() {
        let facts = collect(Mode::Host);
        let release = facts.get("kernel.release").expect("kernel.release");
        assert!(!release.is_empty());
        assert_eq!(facts["agent.mode"], "host");
        assert!(facts["cpu.count"].parse::<u64>().unwrap() >= 1);
        assert!(facts.values().all(|v| !v.is_empty()));
    }

    #[test]
    fn reads_a_fake_tree() {
        let root = std::env::temp_dir().join(format!("hvbench-facts-{}", std::process::id()));
        let write = |rel: &str, text: &str| {
            let p = root.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        };
        write("proc/cpuinfo", CPUINFO);
        write("proc/cmdline", "console=ttyS0 panic=-1\n");
        write(
            "proc/meminfo",
            "MemTotal:        2027564 kB\nMemFree: 1 kB\n",
        );
        write(
            "sys/devices/system/clocksource/clocksource0/current_clocksource",
            "xen\n",
        );
        write("sys/devices/system/cpu/online", "0-1\n");
        write("sys/hypervisor/type", "xen\n");
        write(
            "sys/devices/system/clocksource/clocksource0/available_clocksource",
            "xen tsc hpet acpi_pm \n",
        );
        write(
            "sys/devices/system/cpu/vulnerabilities/meltdown",
            "Mitigation: PTI\n",
        );
        write(
            "sys/devices/system/cpu/vulnerabilities/l1tf",
            "Not affected\n",
        );
        write(
            "sys/kernel/mm/transparent_hugepage/enabled",
            "[always] madvise never\n",
        );
        let sources = FactSources {
            proc_dir: root.join("proc"),
            sys_dir: root.join("sys"),
        };
        let facts = collect_from(&sources, Mode::Guest);
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(facts["cpu.model"], "AMD EPYC 7B13");
        assert_eq!(facts["cpu.flags"], "fpu vme de pse tsc msr svm npt");
        assert_eq!(facts["cpu.count"], "2");
        assert_eq!(facts["kernel.cmdline"], "console=ttyS0 panic=-1");
        assert_eq!(facts["mem.total_kib"], "2027564");
        assert_eq!(facts["clocksource"], "xen");
        assert_eq!(facts["hypervisor.type"], "xen");
        assert_eq!(facts["thp.enabled"], "always");
        assert_eq!(facts["agent.mode"], "guest");
        assert_eq!(facts["clocksource.available"], "xen tsc hpet acpi_pm");
        assert_eq!(facts["cpu.vuln.meltdown"], "Mitigation: PTI");
        assert_eq!(facts["cpu.vuln.l1tf"], "Not affected");
        assert_eq!(facts["cpu.vendor"], "AuthenticAMD");
        assert_eq!(facts["cpu.tsc_flags"], "tsc");
    }

    #[test]
    fn tsc_flags_are_picked_out() {
        assert_eq!(
            tsc_flags("fpu tsc msr rdtscp constant_tsc nonstop_tsc tsc_known_freq svm"),
            "tsc rdtscp constant_tsc nonstop_tsc tsc_known_freq"
        );
        assert_eq!(tsc_flags("fpu msr"), "none");
    }

    #[test]
    fn missing_files_are_absent_facts() {
        let sources = FactSources {
            proc_dir: PathBuf::from("/nonexistent/proc"),
            sys_dir: PathBuf::from("/nonexistent/sys"),
        };
        let facts = collect_from(&sources, Mode::Host);
        for key in [
            "cpu.model",
            "cpu.flags",
            "kernel.cmdline",
            "clocksource",
            "thp.enabled",
        ] {
            assert!(!facts.contains_key(key), "{key}");
        }
        assert!(facts.contains_key("kernel.release"));
        assert!(facts.contains_key("cpu.count"), "falls back to sysconf");
    }

    #[test]
    fn parsers() {
        assert_eq!(cpuinfo_field(CPUINFO, "vendor_id"), Some("AuthenticAMD"));
        assert_eq!(cpuinfo_field(CPUINFO, "bogomips"), None);
        assert_eq!(
            meminfo_kib("MemAvailable:   123 kB\n", "MemAvailable"),
            Some(123)
        );
        assert_eq!(
            meminfo_kib("MemAvailableX:   123 kB\n", "MemAvailable"),
            None
        );
        assert_eq!(bracketed("always [madvise] never"), Some("madvise"));
        assert_eq!(bracketed("always madvise never"), None);
        assert_eq!(count_cpu_list("0-3,6,8-9\n"), Some(7));
        assert_eq!(count_cpu_list("0"), Some(1));
        assert_eq!(count_cpu_list("3-1"), None);
        assert_eq!(count_cpu_list("x"), None);
    }

    #[test]
    fn hypervisor_signatures() {
        let regs = |s: &[u8; 12]| {
            let r = |i: usize| u32::from_le_bytes(s[i..i + 4].try_into().unwrap());
            (r(0), r(4), r(8))
        };
        let (b, c, d) = regs(b"KVMKVMKVM\0\0\0");
        assert_eq!(hypervisor_signature(b, c, d).as_deref(), Some("KVMKVMKVM"));
        let (b, c, d) = regs(b"XenVMMXenVMM");
        assert_eq!(
            hypervisor_signature(b, c, d).as_deref(),
            Some("XenVMMXenVMM")
        );
        assert_eq!(hypervisor_signature(0, 0, 0), None);
    }
}
