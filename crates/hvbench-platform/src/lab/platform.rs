//! The controller's side of the lab: [`LabPlatform`] boots an emulated host under QEMU TCG with
//! the job appended to its archive, and streams the host's console frames as a local guest's.
//! Also the host's command line ([`host_argv`]) and the overlay and job archives it boots with.

use super::{build, write_file, LabHost, LabImages, LabJob, INIT};
use crate::cache::{sha256_hex, Cache};
use crate::console::{self, TrialEnd};
use crate::image::{self, Entry, Kernel};
use crate::{Platform, PlatformError, Result, TrialRequest};
use flate2::write::GzEncoder;
use flate2::Compression;
use hvbench_proto::{AgentPlan, Event, Message};
use hvbench_spec::{GuestSpec, PlatformSpec};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a lab host running an isolation cell may print nothing before it is given up: the
/// aggressors' heartbeats come every 500 ms, and a guest boots in the lab in under a minute.
const LAB_CELL_IDLE: Duration = Duration::from_secs(180);
/// Memory of the emulated host and of Xen's dom0 within it.
const LAB_MEMORY_MIB: u64 = 4096;
const DOM0_MEMORY_MIB: u64 = 3000;
/// Time for the emulated host to boot and power off, on top of the guest's own timeout.
pub const LAB_BOOT_ALLOWANCE: Duration = Duration::from_secs(300);

/// Escape a path for QEMU's `-initrd` list, where a comma separates multiboot modules and a
/// doubled comma stands for a comma.
fn qemu_list_item(p: &Path) -> String {
    p.to_string_lossy().replace(',', ",,")
}

/// The command line of the emulated host (program excluded); a pure function.
///
/// Xen: `-cpu qemu64,+svm,+npt` — `max` crashes dom0 in Xen's bounce-frame code, and Debian's
/// Xen is built without shadow paging, so PVH and HVM guests need HAP, which Xen offers only when
/// the emulated CPU has NPT. KVM: `-cpu max` exposes SVM under TCG for kvm-amd.
pub fn host_argv(
    platform: &str,
    host: LabHost,
    images: &LabImages,
    initrd: &Path,
) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |s: &str| a.push(s.into());
    push("-name");
    push(&format!("hvbench-lab-{platform}"));
    push("-machine");
    push("q35,accel=tcg");
    push("-cpu");
    push(match host {
        LabHost::Xen => "qemu64,+svm,+npt",
        LabHost::Kvm => "max",
    });
    push("-smp");
    push("2");
    push("-m");
    push(&format!("{LAB_MEMORY_MIB}M"));
    for s in [
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ] {
        push(s);
    }
    push("-chardev");
    push("stdio,id=console,signal=off");
    push("-serial");
    push("chardev:console");
    match host {
        LabHost::Xen => {
            a.push("-kernel".into());
            a.push(images.xen.clone().into());
            a.push("-append".into());
            a.push(
                format!("console=com1 dom0_mem={DOM0_MEMORY_MIB}M,max:{DOM0_MEMORY_MIB}M").into(),
            );
            a.push("-initrd".into());
            a.push(
                format!(
                    "{} console=hvc0 panic=-1 quiet hvbench.lab=xen,{}",
                    qemu_list_item(&images.kernel),
                    qemu_list_item(initrd)
                )
                .into(),
            );
        }
        LabHost::Kvm => {
            a.push("-kernel".into());
            a.push(images.kernel.clone().into());
            a.push("-append".into());
            a.push("console=ttyS0 panic=-1 quiet hvbench.lab=kvm".into());
            a.push("-initrd".into());
            a.push(initrd.as_os_str().to_owned());
        }
    }
    a
}

/// A platform that runs inside an emulated lab host.
pub struct LabPlatform {
    name: String,
    driver: &'static str,
    host: LabHost,
    images: LabImages,
    /// The lab rootfs with the overlay (hvbench, guest kernel and initramfs images); a trial's
    /// job is appended to a copy of it.
    base_initrd: PathBuf,
    workdir: PathBuf,
    /// The job of a battery trial; cells go in copies of it.
    job: LabJob,
    facts: BTreeMap<String, String>,
    guest_timeout: Duration,
}

impl LabPlatform {
    /// Build (or find) the lab, then the boot archive for this platform: the lab rootfs with
    /// an overlay holding hvbench, the job and the guest kernel. Written once into `workdir`.
    ///
    /// `cell_plans` are the plans of the isolation cells this platform may run (victims and
    /// aggressors): their guest images are built here too and shipped in the overlay.
    pub fn prepare(
        spec: &PlatformSpec,
        guest: &GuestSpec,
        plan: &AgentPlan,
        cell_plans: &[AgentPlan],
        cache: &Cache,
        workdir: &Path,
        say: &mut dyn FnMut(&str),
    ) -> Result<LabPlatform> {
        let host = LabHost::for_driver(&spec.driver).ok_or_else(|| {
            PlatformError::unavailable(
                "the host driver cannot run in the lab",
                "remove `lab = true` from the host platform",
            )
        })?;
        if Command::new(crate::qemu::qemu_binary())
            .arg("--version")
            .output()
            .is_err()
        {
            return Err(PlatformError::unavailable(
                "the lab needs qemu-system-x86_64 on this machine",
                "apt-get install qemu-system-x86",
            ));
        }
        let images = build(cache, say)?;
        let kernel = image::resolve_kernel(guest.kernel.as_deref(), cache)?;
        let exe = std::env::current_exe()
            .map_err(PlatformError::io("cannot find the hvbench executable"))?;
        let job = LabJob {
            platform: PlatformSpec {
                lab: false,
                ..spec.clone()
            },
            // Inside, the guest kernel is found in the cache the overlay carries.
            guest: GuestSpec {
                kernel: None,
                ..guest.clone()
            },
            plan: plan.clone(),
            cell: None,
        };
        // The guests' initramfs images are built here, where it is fast, and shipped in the
        // cache the lab's hvbench reads: inside, the same content hash finds them instead of
        // rebuilding them under emulation. A plan that needs a network or a disk gets the
        // same rewriting inside as the driver does here; building from the plan as given
        // and from the driver's view covers both.
        let agent = crate::agent::agent_bytes()?;
        let mut guest_initrds = Vec::new();
        for p in std::iter::once(plan).chain(cell_plans) {
            for variant in guest_plan_variants(p) {
                let (initrd, _) = image::guest_initramfs_for(&kernel, &agent, &variant, cache)?;
                if !guest_initrds.contains(&initrd) {
                    guest_initrds.push(initrd);
                }
            }
        }
        let overlay = overlay(&exe, &kernel, &guest_initrds)?;
        let initrd = workdir.join(format!(
            "lab-{}-{}.cpio.gz",
            spec.name,
            &sha256_hex(&overlay)[..12]
        ));
        let mut combined = std::fs::read(&images.rootfs)
            .map_err(PlatformError::io("cannot read the lab rootfs"))?;
        combined.extend_from_slice(&overlay);
        write_file(&initrd, &combined, 0o600)?;

        let mut facts = BTreeMap::new();
        facts.insert("lab".to_string(), host.as_str().to_string());
        facts.insert("lab.images".to_string(), images.key.clone());
        facts.insert(
            "lab.emulation".to_string(),
            format!(
                "{} host nested under QEMU TCG on this machine: timings are emulated",
                host.as_str()
            ),
        );
        facts.insert("host.emulated".to_string(), "true".to_string());
        facts.insert("guest.kernel.origin".to_string(), kernel.origin);
        Ok(LabPlatform {
            name: spec.name.clone(),
            driver: spec.driver.as_str(),
            host,
            images,
            base_initrd: initrd,
            workdir: workdir.to_path_buf(),
            job,
            facts,
            guest_timeout: Duration::from_secs(guest.timeout_s),
        })
    }

    /// Boot the lab host with `job` appended to the base archive, and read its console.
    fn boot(
        &self,
        job: &LabJob,
        timeout: Duration,
        idle: Option<Duration>,
        console_log: Option<&Path>,
        on_event: &mut dyn FnMut(Event),
    ) -> TrialEnd {
        let initrd = self.workdir.join(format!("lab-{}-job.cpio.gz", self.name));
        let made = std::fs::copy(&self.base_initrd, &initrd).and_then(|_| {
            let mut f = std::fs::OpenOptions::new().append(true).open(&initrd)?;
            f.write_all(&job_archive(job)?)
        });
        if let Err(e) = made {
            return TrialEnd::Failed(format!(
                "cannot write the lab archive {}: {e}",
                initrd.display()
            ));
        }
        let mut cmd = Command::new(crate::qemu::qemu_binary());
        cmd.args(host_argv(&self.name, self.host, &self.images, &initrd));
        let started = Instant::now();
        let mut end = match idle {
            Some(idle) => console::run_watched(cmd, timeout, idle, console_log, on_event),
            None => console::run(cmd, timeout, console_log, on_event),
        };
        let _ = std::fs::remove_file(&initrd);
        if let TrialEnd::Failed(reason) = &mut end {
            reason.insert_str(
                0,
                &format!("lab host ({} s): ", started.elapsed().as_secs()),
            );
        }
        end
    }
}

/// The plans a driver may turn `plan` into before building its guest image: as given, and with
/// the peer address a guest with a network uses.
pub(crate) fn guest_plan_variants(plan: &AgentPlan) -> Vec<AgentPlan> {
    let mut out = vec![plan.clone()];
    if plan.needs(hvbench_proto::Device::Network) {
        let mut p = plan.clone();
        p.peer = Some(crate::qemu::GUEST_PEER.to_string());
        out.push(p);
    }
    out
}

/// The gzip-compressed cpio with `/hvbench/job.json`, appended last to the lab's archive.
fn job_archive(job: &LabJob) -> std::io::Result<Vec<u8>> {
    let entries = vec![
        Entry::Dir {
            path: "hvbench".into(),
            mode: 0o755,
        },
        Entry::File {
            path: "hvbench/job.json".into(),
            mode: 0o644,
            data: serde_json::to_vec_pretty(job).expect("job serialises"),
        },
    ];
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&image::cpio_newc(&entries))?;
    gz.finish()
}

/// The gzip-compressed cpio appended to the lab rootfs: `/hvbench/hvbench`, the guests'
/// initramfs images, and the guest kernel's cache directory (kernel, and modules where kept) where hvbench's cache
/// inside the lab finds it.
fn overlay(exe: &Path, guest_kernel: &Kernel, guest_initrds: &[PathBuf]) -> Result<Vec<u8>> {
    let hvbench =
        std::fs::read(exe).map_err(PlatformError::io(format!("cannot read {}", exe.display())))?;
    let dir = |p: &str| Entry::Dir {
        path: p.into(),
        mode: 0o755,
    };
    let mut entries = vec![
        // The current /init, over the one the cached rootfs was built with.
        Entry::File {
            path: "init".into(),
            mode: 0o755,
            data: INIT.as_bytes().to_vec(),
        },
        dir("hvbench"),
        Entry::File {
            path: "hvbench/hvbench".into(),
            mode: 0o755,
            data: hvbench,
        },
        dir("hvbench-cache"),
        dir("hvbench-cache/initramfs"),
    ];
    for guest_initrd in guest_initrds {
        entries.push(Entry::File {
            path: format!(
                "hvbench-cache/initramfs/{}",
                guest_initrd
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
            ),
            mode: 0o644,
            data: std::fs::read(guest_initrd).map_err(PlatformError::io(format!(
                "cannot read {}",
                guest_initrd.display()
            )))?,
        });
    }
    entries.push(dir("hvbench-cache/kernels"));
    // A cached Debian kernel brings its directory (named by package and version); a user's
    // kernel goes alone.
    let (name, src) = match guest_kernel
        .path
        .parent()
        .filter(|_| guest_kernel.origin.starts_with("debian:"))
    {
        Some(d) => (
            d.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Some(d),
        ),
        None => ("user-kernel".to_string(), None),
    };
    let base = format!("hvbench-cache/kernels/{name}");
    entries.push(dir(&base));
    match src {
        Some(d) => add_tree(d, &base, &mut entries)?,
        None => entries.push(Entry::File {
            path: format!("{base}/vmlinuz"),
            mode: 0o644,
            data: std::fs::read(&guest_kernel.path).map_err(PlatformError::io(format!(
                "cannot read {}",
                guest_kernel.path.display()
            )))?,
        }),
    }
    let cpio = image::cpio_newc(&entries);
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&cpio)
        .map_err(PlatformError::io("cannot compress the lab overlay"))?;
    gz.finish()
        .map_err(PlatformError::io("cannot compress the lab overlay"))
}

impl Platform for LabPlatform {
    fn name(&self) -> &str {
        &self.name
    }

    fn driver(&self) -> &'static str {
        self.driver
    }

    fn facts(&self) -> BTreeMap<String, String> {
        self.facts.clone()
    }

    fn run_trial(&mut self, req: &TrialRequest<'_>, on_event: &mut dyn FnMut(Event)) -> TrialEnd {
        self.boot(
            &self.job,
            self.guest_timeout + LAB_BOOT_ALLOWANCE,
            None,
            req.console_log.as_deref(),
            on_event,
        )
    }

    /// The whole cell runs inside one lab host, so that victim and aggressors share its
    /// (emulated) CPUs: the lab's `hvbench lab-exec` co-schedules them with the real driver and
    /// sends their events out as `Instance` frames.
    fn run_cell(
        &mut self,
        cell: &crate::isolation::Cell,
        timeout: Duration,
        logs: Option<&Path>,
        on_message: &mut dyn FnMut(Message),
    ) -> TrialEnd {
        let job = LabJob {
            cell: Some(cell.clone()),
            ..self.job.clone()
        };
        let log = logs.map(|d| d.join("lab-console.log"));
        let mut on_event = |ev: Event| match ev {
            Event::Frame(m) => on_message(m),
            Event::Bad { error, excerpt } => on_message(Message::Failed {
                workload: "(console)".into(),
                reason: format!("untrusted frame ignored: {error}; it began: {excerpt}"),
            }),
        };
        // Victim and aggressors, and the wait for the aggressors' start and their stop.
        let limit = timeout * 3 + Duration::from_millis(cell.settle_ms) + LAB_BOOT_ALLOWANCE;
        // A cell's limit is long (the aggressors' start, the victim, their stop); a lab host
        // whose kernel hung (seen with two nested KVM guests under TCG) goes silent, and is
        // given up after LAB_CELL_IDLE instead.
        self.boot(
            &job,
            limit,
            Some(LAB_CELL_IDLE),
            log.as_deref(),
            &mut on_event,
        )
    }
}

/// Regular files and directories under `src`, as archive entries under `dst`.
fn add_tree(src: &Path, dst: &str, entries: &mut Vec<Entry>) -> Result<()> {
    let rd = std::fs::read_dir(src)
        .map_err(PlatformError::io(format!("cannot list {}", src.display())))?;
    for e in rd.flatten() {
        let path = format!("{dst}/{}", e.file_name().to_string_lossy());
        let ft = e
            .file_type()
            .map_err(PlatformError::io("cannot stat a kernel cache entry"))?;
        if ft.is_dir() {
            entries.push(Entry::Dir {
                path: path.clone(),
                mode: 0o755,
            });
            add_tree(&e.path(), &path, entries)?;
        } else if ft.is_file() {
            let data = std::fs::read(e.path()).map_err(PlatformError::io(format!(
                "cannot read {}",
                e.path().display()
            )))?;
            entries.push(Entry::File {
                path,
                mode: 0o644,
                data,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images() -> LabImages {
        LabImages::in_dir("/cache/lab/k".into(), "k".into())
    }

    #[test]
    fn xen_host_argv_snapshot() {
        let a: Vec<String> = host_argv(
            "xen-pv",
            LabHost::Xen,
            &images(),
            Path::new("/run/lab-x.cpio.gz"),
        )
        .into_iter()
        .map(|s| s.into_string().unwrap())
        .collect();
        assert_eq!(
            a.join(" "),
            "-name hvbench-lab-xen-pv -machine q35,accel=tcg -cpu qemu64,+svm,+npt -smp 2 -m 4096M -nodefaults \
             -no-user-config -display none -no-reboot -chardev stdio,id=console,signal=off -serial chardev:console \
             -kernel /cache/lab/k/xen.elf -append console=com1 dom0_mem=3000M,max:3000M \
             -initrd /cache/lab/k/vmlinuz console=hvc0 panic=-1 quiet hvbench.lab=xen,/run/lab-x.cpio.gz"
        );
    }

    #[test]
    fn kvm_host_argv_boots_linux_directly() {
        let a: Vec<String> = host_argv(
            "kvm",
            LabHost::Kvm,
            &images(),
            Path::new("/run/a,b.cpio.gz"),
        )
        .into_iter()
        .map(|s| s.into_string().unwrap())
        .collect();
        let i = a.iter().position(|s| s == "-cpu").unwrap();
        assert_eq!(a[i + 1], "max");
        let k = a.iter().position(|s| s == "-kernel").unwrap();
        assert_eq!(a[k + 1], "/cache/lab/k/vmlinuz");
        assert!(a.contains(&"console=ttyS0 panic=-1 quiet hvbench.lab=kvm".to_string()));
        // A single -initrd file for Linux: no list, so no comma escaping.
        assert_eq!(a.last().unwrap(), "/run/a,b.cpio.gz");
    }

    #[test]
    fn commas_in_multiboot_module_paths_are_doubled() {
        let mut i = images();
        i.kernel = "/odd,dir/vmlinuz".into();
        let a = host_argv("x", LabHost::Xen, &i, Path::new("/x.cpio.gz"));
        assert!(a
            .last()
            .unwrap()
            .to_string_lossy()
            .starts_with("/odd,,dir/vmlinuz console=hvc0"));
    }
}
