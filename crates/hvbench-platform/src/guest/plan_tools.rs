//! What a plan's general benchmarks need from the platform that runs them: the Debian packages
//! of their tools, the tools tree built from them ([`super::tools::tools_tree`]), its versions
//! as platform facts, and, for a guest, a kernel that can mount the tree's ext4 image.

use super::cache::Cache;
use super::kernel::Kernel;
use super::tools::{shipped_only, shipped_tree, tool_packages, tools_tree, ToolsTree};
use crate::{PlatformError, Result};
use hvbench_proto::{catalog, AgentPlan, Device};
use std::collections::BTreeMap;

/// The tools the plan's general benchmarks run (`sysbench`, `stress-ng`), and its stressor
/// where that is a tool of the tree (an aggressor running `stress-ng`), sorted, once each.
/// With `AgentPlan::needs(Device::Tools)`, which asks the catalog about workloads and
/// stressors alike, this is where every driver learns that a plan needs the tools tree.
pub fn plan_tools(plan: &AgentPlan) -> Vec<&'static str> {
    let stressor = plan
        .stress
        .iter()
        .filter_map(|s| catalog::stressor(&s.kind)?.tool);
    let mut tools: Vec<&'static str> = plan
        .workloads
        .iter()
        .filter_map(|w| catalog::workload(&w.name)?.tool())
        .chain(stressor)
        .collect();
    tools.sort_unstable();
    tools.dedup();
    tools
}

/// The Debian packages the plan's general benchmarks need, sorted, once each; empty for a plan
/// without any.
pub fn plan_packages(plan: &AgentPlan) -> Result<Vec<&'static str>> {
    let mut packages = Vec::new();
    for tool in plan_tools(plan) {
        let p = tool_packages(tool).ok_or_else(|| {
            PlatformError::unavailable(
                format!("the tools tree knows no packages for the tool `{tool}`"),
                "this is a bug of hvbench: the catalog and the tools tree disagree",
            )
        })?;
        packages.extend_from_slice(p);
    }
    packages.sort_unstable();
    packages.dedup();
    Ok(packages)
}

/// The tools tree of the plan's general benchmarks, from the cache or built into it; `None` for
/// a plan without any. In an executor a controller shipped the trees to
/// ([`super::tools::SHIPPED_ENV`]), only the shipped entry is looked up: its image and
/// versions, and no tree directory ([`super::tools::shipped_tree`]).
pub fn tree_for(plan: &AgentPlan, cache: &Cache) -> Result<Option<ToolsTree>> {
    if !plan.needs(Device::Tools) {
        return Ok(None);
    }
    let packages = plan_packages(plan)?;
    if shipped_only() {
        return shipped_tree(&packages, cache).map(Some);
    }
    tools_tree(&packages, cache, &mut |_| {}).map(Some)
}

/// The facts of a tree: `tools.<package>` = its version for every package the plan named
/// (`tools.sysbench` = `1.0.20+ds-5`), and `tools.tree` (its cache key and package count).
pub fn tree_facts(plan: &AgentPlan, tree: &ToolsTree) -> BTreeMap<String, String> {
    let named = plan_packages(plan).unwrap_or_default();
    let mut facts: BTreeMap<String, String> = tree
        .versions
        .iter()
        .filter(|(p, _)| named.contains(&p.as_str()))
        .map(|(p, v)| (format!("tools.{p}"), v.clone()))
        .collect();
    facts.insert(
        "tools.tree".into(),
        format!(
            "{} ({} Debian 12 packages, unpacked, never installed)",
            tree.key,
            tree.versions.len()
        ),
    );
    facts
}

/// The tree the trials' network peers run their side of general benchmarks from (iperf3's
/// server, redis-benchmark), for plans with a tools tree and a network: the tree's directory,
/// or its shipped image loop-mounted for the peer alone (mount point made in `workdir`).
pub fn peer_tree(
    plan: &AgentPlan,
    tree: Option<&ToolsTree>,
    workdir: &std::path::Path,
) -> Result<Option<crate::trial::loopmount::TreeAt>> {
    match tree {
        Some(t) if plan.needs(Device::Network) => {
            crate::trial::loopmount::TreeAt::of(t, workdir, "the network peer").map(Some)
        }
        _ => Ok(None),
    }
}

/// For `hvbench plan`: the tools tree of these tools (catalog names, `sysbench`), its size and
/// package count if the cache holds it, else what the first run will do. Looks only; builds
/// nothing and fetches nothing.
pub fn describe_cached(tools: &[&str], cache: &Cache) -> String {
    let mut packages: Vec<&str> = tools
        .iter()
        .filter_map(|t| tool_packages(t))
        .flatten()
        .copied()
        .collect();
    packages.sort_unstable();
    packages.dedup();
    match super::tools::cached_tree(&packages, cache) {
        Some(t) => format!(
            "tools image:  {} MiB read-only disk per guest ({} MiB of files, {} Debian 12 packages, \
             cached: {})\n",
            t.image_bytes >> 20,
            t.tree_bytes >> 20,
            t.versions.len(),
            t.image.display()
        ),
        None => format!(
            "tools image:  not in the cache yet; the first run fetches {} and what they depend on \
             (Debian 12), builds the tree and its image\n",
            packages.join(", ")
        ),
    }
}

/// Whether a guest of `kernel` can mount the tools disk (ext4). Debian's cloud kernel builds
/// ext4, jbd2, mbcache, crc16 and crc32c in (`CONFIG_EXT4_FS=y`), so its guests need no module
/// for it and get none; a kernel whose recorded config says ext4 is a module, or absent, is
/// refused before anything boots. A user's kernel (no config recorded) is trusted.
pub fn check_kernel_ext4(kernel: &Kernel) -> Result<()> {
    let Some(config) = kernel
        .path
        .parent()
        .map(|d| d.join("config"))
        .and_then(|p| std::fs::read_to_string(p).ok())
    else {
        return Ok(());
    };
    match ext4_in_config(&config) {
        Some('y') => Ok(()),
        other => Err(PlatformError::unavailable(
            format!(
                "the guest kernel {} {}: its guests cannot mount the tools disk",
                kernel.path.display(),
                match other {
                    Some('m') => "builds ext4 as a module, which hvbench does not stage",
                    _ => "has no ext4",
                }
            ),
            "use Debian's cloud kernel (the default) or a kernel with CONFIG_EXT4_FS=y",
        )),
    }
}

/// The value of `CONFIG_EXT4_FS` in a kernel config (`y`, `m`), `None` when it is not set.
fn ext4_in_config(config: &str) -> Option<char> {
    config
        .lines()
        .find_map(|l| l.strip_prefix("CONFIG_EXT4_FS="))
        .and_then(|v| v.trim().chars().next())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvbench_proto::{WorkloadRequest, PLAN_VERSION};

    fn plan(names: &[&str]) -> AgentPlan {
        AgentPlan {
            version: PLAN_VERSION,
            warmup: 0,
            samples: 1,
            min_window_ms: 1,
            workloads: names
                .iter()
                .map(|n| WorkloadRequest {
                    name: n.to_string(),
                    id: String::new(),
                    params: BTreeMap::new(),
                })
                .collect(),
            peer: None,
            stress: None,
            evidence: false,
            tools_root: None,
        }
    }

    #[test]
    fn a_plan_names_the_packages_of_its_tools_once() {
        let p = plan(&["syscall", "sysbench-cpu", "sysbench-memory", "stress-ng"]);
        assert_eq!(plan_tools(&p), ["stress-ng", "sysbench"]);
        assert_eq!(plan_packages(&p).unwrap(), ["stress-ng", "sysbench"]);
        let none = plan(&["syscall", "disk-fsync"]);
        assert!(plan_packages(&none).unwrap().is_empty());
        assert!(!none.needs(Device::Tools));
        let cache = Cache::at(std::path::PathBuf::from("/nonexistent/hvbench-cache"));
        assert_eq!(tree_for(&none, &cache).unwrap(), None);
    }

    /// An aggressor running stress-ng needs the tree as a workload running it does; one
    /// running the agent's own stressor needs none.
    #[test]
    fn an_aggressor_running_stress_ng_needs_its_package() {
        let aggressor = |kind: &str| AgentPlan {
            stress: Some(hvbench_proto::StressPlan {
                kind: kind.into(),
                params: BTreeMap::from([("stressor".to_string(), "matrix".to_string())]),
                duration_ms: 1000,
                report_ms: 500,
            }),
            ..plan(&[])
        };
        let p = aggressor("stress-ng");
        assert!(p.needs(Device::Tools));
        assert_eq!(plan_tools(&p), ["stress-ng"]);
        assert_eq!(plan_packages(&p).unwrap(), ["stress-ng"]);
        let own = aggressor("cpu");
        assert!(!own.needs(Device::Tools));
        assert!(plan_tools(&own).is_empty());
    }

    #[test]
    fn facts_name_the_versions_of_the_planned_tools() {
        let tree = ToolsTree {
            dir: "/c/tools/k/tree".into(),
            image: "/c/tools/k/tools.ext4".into(),
            image_bytes: 1,
            tree_bytes: 1,
            versions: vec![
                ("libc6".into(), "2.36-9".into()),
                ("sysbench".into(), "1.0.20+ds-5".into()),
            ],
            key: "k".into(),
        };
        let f = tree_facts(&plan(&["sysbench-cpu"]), &tree);
        assert_eq!(f["tools.sysbench"], "1.0.20+ds-5");
        assert!(!f.contains_key("tools.libc6"));
        assert!(f["tools.tree"].starts_with("k (2 Debian 12 packages"));
    }

    #[test]
    fn ext4_must_be_built_in() {
        assert_eq!(ext4_in_config("# x\nCONFIG_EXT4_FS=y\n"), Some('y'));
        assert_eq!(ext4_in_config("CONFIG_EXT4_FS=m\n"), Some('m'));
        assert_eq!(ext4_in_config("# CONFIG_EXT4_FS is not set\n"), None);
        let user = Kernel {
            path: "/nonexistent/vmlinuz".into(),
            origin: "user".into(),
            modules: None,
        };
        assert!(check_kernel_ext4(&user).is_ok());
    }
}
