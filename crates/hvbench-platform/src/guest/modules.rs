//! Kernel modules for guests: which ones a guest needs, picked out of a kernel package with
//! their dependencies, and the order to load them in.
//!
//! Debian's cloud kernel builds the virtio transport and the disk and network front ends (of
//! QEMU's virtio and of Xen) as modules and ships no `modules.dep`, so the dependencies are
//! read from each module's `.modinfo` ELF section (`depends=a,b`, the field `modprobe` reads).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The modules a guest loads, by name; their dependencies come along. virtio_pci is the
/// transport (no driver depends on it, so it is named); the rest are the scratch disk and
/// network drivers of QEMU (virtio) and Xen (front ends).
pub const GUEST_MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "xen_blkfront",
    "xen_netfront",
];

/// One module file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleFile {
    /// The name the kernel knows it by (`.modinfo` `name=`, or the file name with `-` as `_`).
    pub name: String,
    /// The names of the modules it needs loaded first.
    pub depends: Vec<String>,
    /// Where it is on this machine.
    pub path: PathBuf,
    /// Its path under `/lib/modules/<release>/`, e.g. `kernel/drivers/block/virtio_blk.ko`.
    pub rel: PathBuf,
}

/// The modules of one kernel release, in load order (every module after its dependencies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelModules {
    pub release: String,
    pub files: Vec<ModuleFile>,
}

impl KernelModules {
    /// The module names in load order, comma-separated (for facts).
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.files.iter().map(|m| m.name.as_str()).collect();
        names.join(",")
    }
}

/// The `key=value` pairs of an ELF64 little-endian object's `.modinfo` section.
pub fn modinfo(elf: &[u8]) -> Result<Vec<(String, String)>, String> {
    let u16_at = |at: usize| -> Option<usize> {
        Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?) as usize)
    };
    let u32_at = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    let u64_at = |at: usize| -> Option<usize> {
        usize::try_from(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?)).ok()
    };
    if elf.get(..6) != Some(b"\x7fELF\x02\x01") {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let bad = || "truncated or malformed ELF section headers".to_string();
    // ELF-64 Object File Format: e_shoff at 0x28, e_shentsize at 0x3a, e_shnum at 0x3c,
    // e_shstrndx at 0x3e; in a section header, sh_name at 0, sh_offset at 0x18, sh_size at 0x20.
    let shoff = u64_at(0x28).ok_or_else(bad)?;
    let shentsize = u16_at(0x3a).ok_or_else(bad)?;
    let shnum = u16_at(0x3c).ok_or_else(bad)?;
    let shstrndx = u16_at(0x3e).ok_or_else(bad)?;
    let section = |i: usize| -> Option<(usize, &[u8])> {
        let h = shoff.checked_add(i.checked_mul(shentsize)?)?;
        let name = u32_at(h)?;
        let offset = u64_at(h + 0x18)?;
        let size = u64_at(h + 0x20)?;
        Some((name, elf.get(offset..offset.checked_add(size)?)?))
    };
    let (_, names) = section(shstrndx).ok_or_else(bad)?;
    for i in 0..shnum {
        let (name, data) = section(i).ok_or_else(bad)?;
        let name = names.get(name..).unwrap_or(&[]);
        let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
        if name == b".modinfo" {
            return Ok(data
                .split(|&b| b == 0)
                .filter_map(|kv| {
                    let kv = std::str::from_utf8(kv).ok()?;
                    let (k, v) = kv.split_once('=')?;
                    Some((k.to_string(), v.to_string()))
                })
                .collect());
        }
    }
    Err("no .modinfo section (not a kernel module)".into())
}

/// Read one module file's name and dependencies.
pub fn read_module(path: &Path, rel: PathBuf) -> Result<ModuleFile, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let info = modinfo(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let field = |key: &str| info.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let name = field("name").unwrap_or_else(|| file_module_name(path));
    let depends = field("depends")
        .unwrap_or_default()
        .split(',')
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect();
    Ok(ModuleFile {
        name,
        depends,
        path: path.to_path_buf(),
        rel,
    })
}

/// A module's name from its file name: `xen-blkfront.ko` -> `xen_blkfront`.
pub fn file_module_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.strip_suffix(".ko").unwrap_or(&file).replace('-', "_")
}

/// Every `.ko` file under `dir`, as (path, path relative to `dir`), sorted.
fn ko_files(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "ko") {
                if let Ok(rel) = p.strip_prefix(dir) {
                    out.push((p.clone(), rel.to_path_buf()));
                }
            }
        }
    }
    out.sort();
    out
}

/// From the module tree `tree` (a `/lib/modules/<release>` directory), the modules named in
/// `roots` and everything they depend on, in load order. Roots the kernel does not have as
/// modules (built in, or absent) are skipped; a dependency that cannot be found is an error.
pub fn select(tree: &Path, roots: &[&str]) -> Result<Vec<ModuleFile>, String> {
    // File names give module names without opening the ~2000 files of a kernel package.
    let by_name: BTreeMap<String, (PathBuf, PathBuf)> = ko_files(tree)
        .into_iter()
        .map(|(p, rel)| (file_module_name(&p), (p, rel)))
        .collect();
    let mut chosen: BTreeMap<String, ModuleFile> = BTreeMap::new();
    let mut todo: Vec<String> = roots
        .iter()
        .filter(|r| by_name.contains_key(**r))
        .map(|r| r.to_string())
        .collect();
    while let Some(name) = todo.pop() {
        if chosen.contains_key(&name) {
            continue;
        }
        let (path, rel) = by_name.get(&name).ok_or_else(|| {
            format!(
                "module {name} is needed but not in {} (the package is incomplete)",
                tree.display()
            )
        })?;
        let m = read_module(path, rel.clone())?;
        todo.extend(m.depends.iter().cloned());
        chosen.insert(name, m);
    }
    Ok(load_order(chosen.into_values().collect()))
}

/// Dependencies first; otherwise by name, so the order is reproducible. A dependency that is
/// not in the set (built into the kernel) imposes nothing; a cycle is broken where found.
pub fn load_order(modules: Vec<ModuleFile>) -> Vec<ModuleFile> {
    let mut by_name: BTreeMap<String, ModuleFile> =
        modules.into_iter().map(|m| (m.name.clone(), m)).collect();
    let names: Vec<String> = by_name.keys().cloned().collect();
    let mut placed = BTreeSet::new();
    let mut visiting = BTreeSet::new();
    let mut order = Vec::new();
    fn visit(
        name: &str,
        by_name: &BTreeMap<String, ModuleFile>,
        placed: &mut BTreeSet<String>,
        visiting: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) {
        if placed.contains(name) || !visiting.insert(name.to_string()) {
            return;
        }
        if let Some(m) = by_name.get(name) {
            let mut deps = m.depends.clone();
            deps.sort();
            for d in &deps {
                visit(d, by_name, placed, visiting, order);
            }
            placed.insert(name.to_string());
            order.push(name.to_string());
        }
        visiting.remove(name);
    }
    for n in &names {
        visit(n, &by_name, &mut placed, &mut visiting, &mut order);
    }
    order
        .into_iter()
        .filter_map(|n| by_name.remove(&n))
        .collect()
}

/// Copy `modules` (from a package's `/lib/modules/<release>`) to `dest/<release>/...`.
pub fn copy_tree(modules: &[ModuleFile], release: &str, dest: &Path) -> std::io::Result<()> {
    for m in modules {
        let to = dest.join(release).join(&m.rel);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::copy(&m.path, &to)?;
    }
    Ok(())
}

/// The modules kept in a cache entry's `modules/` directory (`modules/<release>/...`), in load
/// order; `None` when there are none.
pub fn read_cached(dir: &Path) -> Option<KernelModules> {
    let mut releases: Vec<PathBuf> = fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    releases.sort();
    let tree = releases.pop()?;
    let release = tree.file_name()?.to_string_lossy().into_owned();
    let files: Vec<ModuleFile> = ko_files(&tree)
        .into_iter()
        .filter_map(|(p, rel)| read_module(&p, rel).ok())
        .collect();
    if files.is_empty() {
        return None;
    }
    Some(KernelModules {
        release,
        files: load_order(files),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, deps: &[&str]) -> ModuleFile {
        ModuleFile {
            name: name.into(),
            depends: deps.iter().map(|d| d.to_string()).collect(),
            path: PathBuf::from(format!("/x/{name}.ko")),
            rel: PathBuf::from(format!("kernel/{name}.ko")),
        }
    }

    fn names(ms: &[ModuleFile]) -> Vec<&str> {
        ms.iter().map(|m| m.name.as_str()).collect()
    }

    #[test]
    fn dependencies_load_first() {
        // The cloud kernel's real graph (6.1), given in an unhelpful order.
        let order = load_order(vec![
            m("virtio_net", &["virtio_ring", "virtio", "net_failover"]),
            m("virtio_blk", &["virtio", "virtio_ring"]),
            m(
                "virtio_pci",
                &[
                    "virtio_ring",
                    "virtio_pci_modern_dev",
                    "virtio_pci_legacy_dev",
                    "virtio",
                ],
            ),
            m("net_failover", &["failover"]),
            m("virtio", &["virtio_ring"]),
            m("xen_blkfront", &[]),
            m("failover", &[]),
            m("virtio_ring", &[]),
            m("virtio_pci_modern_dev", &[]),
            m("virtio_pci_legacy_dev", &[]),
        ]);
        let order = names(&order);
        assert_eq!(order.len(), 10);
        let at = |n: &str| order.iter().position(|x| *x == n).unwrap();
        for (module, dep) in [
            ("virtio", "virtio_ring"),
            ("virtio_blk", "virtio"),
            ("virtio_net", "net_failover"),
            ("net_failover", "failover"),
            ("virtio_pci", "virtio_pci_modern_dev"),
            ("virtio_pci", "virtio_pci_legacy_dev"),
        ] {
            assert!(
                at(dep) < at(module),
                "{dep} must precede {module}: {order:?}"
            );
        }
        // Reproducible: the same set in another order gives the same sequence.
        let again = load_order(vec![
            m("virtio_ring", &[]),
            m("virtio", &["virtio_ring"]),
            m("failover", &[]),
        ]);
        assert_eq!(names(&again), ["failover", "virtio_ring", "virtio"]);
    }

    #[test]
    fn built_in_dependencies_and_cycles_do_not_stop_the_order() {
        let order = load_order(vec![m("a", &["b", "builtin"]), m("b", &["a"])]);
        assert_eq!(order.len(), 2);
    }

    #[test]
    fn modinfo_of_a_hand_made_elf() {
        let elf = tiny_elf(b"license=GPL\0depends=virtio,virtio_ring\0name=virtio_blk\0");
        let info = modinfo(&elf).unwrap();
        assert!(info.contains(&("depends".into(), "virtio,virtio_ring".into())));
        assert!(info.contains(&("name".into(), "virtio_blk".into())));
        assert!(modinfo(b"\x7fELF\x01\x01").is_err());
        assert!(modinfo(&elf[..0x30]).is_err());
    }

    #[test]
    fn select_follows_depends_and_copies_the_tree() {
        let d = tempfile::tempdir().unwrap();
        let tree = d.path().join("lib/modules/6.1.0-test");
        let put = |rel: &str, info: &str| {
            let p = tree.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, tiny_elf(info.as_bytes())).unwrap();
        };
        put(
            "kernel/drivers/virtio/virtio_ring.ko",
            "depends=\0name=virtio_ring\0",
        );
        put(
            "kernel/drivers/virtio/virtio.ko",
            "depends=virtio_ring\0name=virtio\0",
        );
        put(
            "kernel/drivers/block/virtio_blk.ko",
            "depends=virtio,virtio_ring\0name=virtio_blk\0",
        );
        put(
            "kernel/drivers/block/xen-blkfront.ko",
            "depends=\0name=xen_blkfront\0",
        );
        put("kernel/sound/unrelated.ko", "depends=\0name=unrelated\0");
        let picked = select(&tree, &["virtio_blk", "xen_blkfront", "not_a_module"]).unwrap();
        assert_eq!(
            names(&picked),
            ["virtio_ring", "virtio", "virtio_blk", "xen_blkfront"]
        );
        let cache = d.path().join("cache/modules");
        copy_tree(&picked, "6.1.0-test", &cache).unwrap();
        let cached = read_cached(&cache).unwrap();
        assert_eq!(cached.release, "6.1.0-test");
        assert_eq!(cached.names(), "virtio_ring,virtio,virtio_blk,xen_blkfront");
        assert_eq!(
            cached.files[3].rel,
            PathBuf::from("kernel/drivers/block/xen-blkfront.ko")
        );
        // A dependency missing from the package is an error that names it.
        put("kernel/net/needy.ko", "depends=absent\0name=needy\0");
        let e = select(&tree, &["needy"]).unwrap_err();
        assert!(e.contains("absent"), "{e}");
        assert!(read_cached(&d.path().join("nothing")).is_none());
    }

    /// A minimal ELF64 with a section-name table and a `.modinfo` section holding `info`.
    fn tiny_elf(info: &[u8]) -> Vec<u8> {
        let shstr = b"\0.shstrtab\0.modinfo\0";
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        let shstr_off = elf.len();
        elf.extend_from_slice(shstr);
        let info_off = elf.len();
        elf.extend_from_slice(info);
        while !elf.len().is_multiple_of(8) {
            elf.push(0);
        }
        let shoff = elf.len();
        let header = |name: u32, off: usize, size: usize| {
            let mut h = vec![0u8; 64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[0x18..0x20].copy_from_slice(&(off as u64).to_le_bytes());
            h[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
            h
        };
        elf.extend(header(0, 0, 0));
        elf.extend(header(1, shstr_off, shstr.len()));
        elf.extend(header(11, info_off, info.len()));
        elf[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        elf[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        elf[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        elf[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes());
        elf
    }
}
