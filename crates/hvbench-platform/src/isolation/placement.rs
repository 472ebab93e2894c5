//! Where an isolation instance runs and how much CPU it may take: a CPU set (process affinity
//! for host processes and QEMU, whose vCPU threads inherit it; `cpus=` for a Xen domain) and,
//! for aggressors, a scheduler weight and cap (a cgroup's `cpu.weight`/`cpu.max` on cgroup v2,
//! `cpu.shares`/`cpu.cfs_quota_us` on a v1 hierarchy; credit2 `weight`/`cap` on Xen).
//!
//! What was applied is described as facts, so the report shows the placement that really ran,
//! not the one asked for.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The placement of one instance (victim or aggressor) of an isolation cell.
#[derive(Debug, Default)]
pub struct InstancePlace {
    /// Host CPUs the instance may run on; empty: no affinity set.
    pub cpus: Vec<usize>,
    /// Scheduler weight, cgroup v2 scale (100 = the default share).
    pub weight: Option<u32>,
    /// CPU cap in % of one CPU.
    pub cap_pct: Option<u32>,
    /// The cgroup the process joins, for host processes and QEMU.
    pub cgroup: Option<CpuGroup>,
    /// Why a weight or cap that was asked for could not be applied.
    pub unapplied: Option<String>,
}

impl InstancePlace {
    /// Make `cmd`'s process (and every thread and child it starts) run on `cpus` and in the
    /// cgroup. Applied in the child between fork and exec, so nothing runs unplaced.
    pub fn apply_to(&self, cmd: &mut Command) {
        let set = (!self.cpus.is_empty()).then(|| crate::isolation::affinity::cpu_set(&self.cpus));
        let procs = self
            .cgroup
            .as_ref()
            .and_then(|g| CString::new(g.procs_file().as_os_str().as_encoded_bytes()).ok());
        // SAFETY: the closure runs in the forked child before exec. It calls only
        // sched_setaffinity(2), open(2), write(2) and close(2), which are async-signal-safe,
        // on memory prepared before the fork (the CPU set and the path were built before);
        // it takes no lock and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                if let Some(set) = &set {
                    crate::isolation::affinity::set_affinity(0, set)?;
                }
                if let Some(path) = &procs {
                    // Writing "0" to cgroup.procs moves the writing process (v1 and v2).
                    let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    let n = libc::write(fd, b"0".as_ptr().cast(), 1);
                    let err = std::io::Error::last_os_error();
                    libc::close(fd);
                    if n != 1 {
                        return Err(err);
                    }
                }
                Ok(())
            });
        }
    }

    /// What is applied, as facts (`cpus`, `cgroup`, `weight`, `cap_pct`).
    pub fn facts(&self) -> BTreeMap<String, String> {
        let mut f = BTreeMap::new();
        f.insert(
            "cpus".to_string(),
            if self.cpus.is_empty() {
                "any".to_string()
            } else {
                cpu_list(&self.cpus)
            },
        );
        if let Some(w) = self.weight {
            f.insert("weight".to_string(), w.to_string());
        }
        if let Some(c) = self.cap_pct {
            f.insert("cap_pct".to_string(), c.to_string());
        }
        if let Some(g) = &self.cgroup {
            f.insert("cgroup".to_string(), g.describe());
        }
        if let Some(why) = &self.unapplied {
            f.insert("weight_cap".to_string(), format!("not applied: {why}"));
        }
        f
    }
}

/// CPU numbers as a list such as "0-2,5".
pub fn cpu_list(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// The CPUs this process may run on (its affinity mask), in order; CPU 0 alone when it cannot
/// be read.
pub fn available_cpus() -> Vec<usize> {
    crate::isolation::affinity::allowed_cpus().unwrap_or_else(|_| vec![0])
}

/// The victim's and the aggressors' CPU sets for a placement over `cpus` (the CPUs available):
/// `shared` puts everyone on the victim's CPUs; `pinned_apart` gives the victim the first
/// `victim_cpus` (at most all but one) and the aggressors the rest. Pinned apart needs two CPUs.
pub fn split_cpus(
    cpus: &[usize],
    victim_cpus: usize,
    pinned_apart: bool,
) -> Result<(Vec<usize>, Vec<usize>), String> {
    if cpus.is_empty() {
        return Err("no CPU is available to this process".into());
    }
    if pinned_apart && cpus.len() < 2 {
        return Err(format!(
            "placement pinned-apart needs at least 2 CPUs, and only CPU {} is available here",
            cpu_list(cpus)
        ));
    }
    let max_victim = if pinned_apart {
        cpus.len() - 1
    } else {
        cpus.len()
    };
    let k = victim_cpus.clamp(1, max_victim);
    let victim = cpus[..k].to_vec();
    let aggressors = if pinned_apart {
        cpus[k..].to_vec()
    } else {
        victim.clone()
    };
    Ok((victim, aggressors))
}

/// Which cgroup hierarchy holds the `cpu` controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// A cgroup made for one instance, removed when dropped (once its processes are gone).
#[derive(Debug)]
pub struct CpuGroup {
    path: PathBuf,
    version: CgroupVersion,
    settings: Vec<(String, String)>,
}

/// The default cgroup v1 `cpu.shares`, which cgroup v2's `cpu.weight` 100 corresponds to.
const V1_DEFAULT_SHARES: u64 = 1024;
/// The CFS period used for caps, in microseconds (the kernel's default).
const CFS_PERIOD_US: u64 = 100_000;

impl CpuGroup {
    /// Make the cgroup `name` under hvbench's own group of the `cpu` hierarchy, with `weight`
    /// (cgroup v2 scale, 1..=10000) and `cap_pct` (% of one CPU). The error says why not
    /// (no cgroup file system with the cpu controller, not root, read-only).
    pub fn create(name: &str, weight: Option<u32>, cap_pct: Option<u32>) -> Result<Self, String> {
        let (root, version) =
            cpu_hierarchy().ok_or("no cgroup file system with the cpu controller is mounted")?;
        Self::create_in(&root, version, name, weight, cap_pct)
    }

    fn create_in(
        root: &Path,
        version: CgroupVersion,
        name: &str,
        weight: Option<u32>,
        cap_pct: Option<u32>,
    ) -> Result<Self, String> {
        let parent = root.join("hvbench");
        let mkdir = |p: &Path| match std::fs::create_dir(p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(format!("cannot create the cgroup {}: {e}", p.display())),
        };
        if version == CgroupVersion::V2 {
            // The cpu controller must be enabled for the children of every level.
            enable_cpu_controller(root)?;
            mkdir(&parent)?;
            enable_cpu_controller(&parent)?;
        } else {
            mkdir(&parent)?;
        }
        let path = parent.join(name);
        mkdir(&path)?;
        let mut group = CpuGroup {
            path,
            version,
            settings: Vec::new(),
        };
        let mut set = |file: &str, value: String| -> Result<(), String> {
            let p = group.path.join(file);
            std::fs::write(&p, &value)
                .map_err(|e| format!("cannot write {value} to {}: {e}", p.display()))?;
            group.settings.push((file.to_string(), value));
            Ok(())
        };
        match version {
            CgroupVersion::V2 => {
                set(
                    "cpu.weight",
                    weight.unwrap_or(100).clamp(1, 10_000).to_string(),
                )?;
                set(
                    "cpu.max",
                    match cap_pct {
                        Some(c) => {
                            format!("{} {CFS_PERIOD_US}", u64::from(c) * CFS_PERIOD_US / 100)
                        }
                        None => format!("max {CFS_PERIOD_US}"),
                    },
                )?;
            }
            CgroupVersion::V1 => {
                let shares = u64::from(weight.unwrap_or(100)) * V1_DEFAULT_SHARES / 100;
                set("cpu.shares", shares.max(2).to_string())?;
                set("cpu.cfs_period_us", CFS_PERIOD_US.to_string())?;
                set(
                    "cpu.cfs_quota_us",
                    match cap_pct {
                        Some(c) => (u64::from(c) * CFS_PERIOD_US / 100).to_string(),
                        None => "-1".to_string(),
                    },
                )?;
            }
        }
        Ok(group)
    }

    /// The file a process writes to join the group.
    pub fn procs_file(&self) -> PathBuf {
        self.path.join("cgroup.procs")
    }

    /// "cgroup v2 /sys/fs/cgroup/hvbench/x: cpu.weight=50 cpu.max=50000 100000".
    pub fn describe(&self) -> String {
        let v = match self.version {
            CgroupVersion::V1 => "v1",
            CgroupVersion::V2 => "v2",
        };
        let settings: Vec<String> = self
            .settings
            .iter()
            .map(|(k, val)| format!("{k}={val}"))
            .collect();
        format!("cgroup {v} {}: {}", self.path.display(), settings.join(" "))
    }
}

impl Drop for CpuGroup {
    fn drop(&mut self) {
        // Fails while processes remain (they are killed with their trial); a leftover empty
        // group is harmless and reused by name.
        let _ = std::fs::remove_dir(&self.path);
    }
}

fn enable_cpu_controller(dir: &Path) -> Result<(), String> {
    let control = dir.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&control).unwrap_or_default();
    if enabled.split_whitespace().any(|c| c == "cpu") {
        return Ok(());
    }
    std::fs::write(&control, "+cpu").map_err(|e| {
        format!(
            "cannot enable the cpu controller in {}: {e}",
            control.display()
        )
    })
}

/// Where the `cpu` controller is: the cgroup v2 mount if it offers `cpu`, else a v1 mount with
/// the `cpu` option, from /proc/self/mounts.
pub fn cpu_hierarchy() -> Option<(PathBuf, CgroupVersion)> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    find_cpu_hierarchy(&mounts, |p| {
        std::fs::read_to_string(p.join("cgroup.controllers")).unwrap_or_default()
    })
}

fn find_cpu_hierarchy(
    mounts: &str,
    controllers: impl Fn(&Path) -> String,
) -> Option<(PathBuf, CgroupVersion)> {
    let mut v1 = None;
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        let (dir, fstype, opts) = (Path::new(f[1]), f[2], f[3]);
        if fstype == "cgroup2" && controllers(dir).split_whitespace().any(|c| c == "cpu") {
            return Some((dir.to_path_buf(), CgroupVersion::V2));
        }
        if fstype == "cgroup" && opts.split(',').any(|o| o == "cpu") && v1.is_none() {
            v1 = Some((dir.to_path_buf(), CgroupVersion::V1));
        }
    }
    v1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_are_compact() {
        assert_eq!(cpu_list(&[0]), "0");
        assert_eq!(cpu_list(&[3, 0, 1, 2, 5]), "0-3,5");
        assert_eq!(cpu_list(&[1, 3]), "1,3");
    }

    #[test]
    fn placements_split_the_cpus() {
        assert_eq!(split_cpus(&[0, 1], 1, false).unwrap(), (vec![0], vec![0]));
        assert_eq!(split_cpus(&[0, 1], 1, true).unwrap(), (vec![0], vec![1]));
        assert_eq!(
            split_cpus(&[0, 1, 2, 3], 2, true).unwrap(),
            (vec![0, 1], vec![2, 3])
        );
        // A 4-vCPU victim on 2 CPUs pinned apart still leaves one CPU to the aggressors.
        assert_eq!(split_cpus(&[0, 1], 4, true).unwrap(), (vec![0], vec![1]));
        let e = split_cpus(&[3], 1, true).unwrap_err();
        assert!(e.contains("at least 2 CPUs") && e.contains("CPU 3"), "{e}");
        assert_eq!(split_cpus(&[3], 1, false).unwrap(), (vec![3], vec![3]));
    }

    #[test]
    fn the_cpu_controller_is_found_in_v2_then_v1() {
        let hybrid = "cgroup /sys/fs/cgroup/cpu cgroup rw,nosuid,cpu 0 0\n\
                      cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n";
        let none = |_: &Path| "hugetlb".to_string();
        assert_eq!(
            find_cpu_hierarchy(hybrid, none),
            Some(("/sys/fs/cgroup/cpu".into(), CgroupVersion::V1))
        );
        let unified = "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n";
        let cpu = |_: &Path| "cpuset cpu io memory".to_string();
        assert_eq!(
            find_cpu_hierarchy(unified, cpu),
            Some(("/sys/fs/cgroup".into(), CgroupVersion::V2))
        );
        assert_eq!(find_cpu_hierarchy("proc /proc proc rw 0 0\n", cpu), None);
    }

    #[test]
    fn groups_write_weight_and_cap_in_each_version() {
        let dir = tempfile::tempdir().unwrap();
        let g =
            CpuGroup::create_in(dir.path(), CgroupVersion::V1, "a", Some(50), Some(25)).unwrap();
        let read = |f: &str| std::fs::read_to_string(dir.path().join("hvbench/a").join(f)).unwrap();
        assert_eq!(read("cpu.shares"), "512");
        assert_eq!(read("cpu.cfs_quota_us"), "25000");
        assert!(g.describe().contains("cgroup v1"), "{}", g.describe());
        // (Removed when dropped on a cgroup file system; here its files make it a plain
        // non-empty directory, which stays.)
        drop(g);
        let g = CpuGroup::create_in(dir.path(), CgroupVersion::V2, "b", None, Some(150)).unwrap();
        let read = |f: &str| std::fs::read_to_string(dir.path().join("hvbench/b").join(f)).unwrap();
        assert_eq!(read("cpu.weight"), "100");
        assert_eq!(read("cpu.max"), "150000 100000");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("cgroup.subtree_control")).unwrap(),
            "+cpu"
        );
        assert!(g.describe().contains("cpu.max=150000 100000"));
    }

    #[test]
    fn affinity_is_applied_before_exec() {
        let cpus = available_cpus();
        let place = InstancePlace {
            cpus: vec![cpus[0]],
            ..Default::default()
        };
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("grep Cpus_allowed_list /proc/self/status");
        place.apply_to(&mut cmd);
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.trim().ends_with(&format!("\t{}", cpus[0])),
            "the child runs only on CPU {}: {text}",
            cpus[0]
        );
    }
}
