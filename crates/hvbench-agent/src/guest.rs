//! Guest mode: the agent as PID 1 of a guest initramfs.
//!
//! PID 1 must never exit: the kernel panics when init dies. So everything runs under
//! `catch_unwind`, a panic is reported as a `Log` frame, and every path ends in a power-off
//! (or, if the kernel refuses that, in an idle loop the host's timeout will end).

use crate::facts::Facts;
use crate::frames::FrameWriter;
use crate::plan::{self, GUEST_PLAN_PATH};
use crate::{kmod, netif, panics, run, stress, Mode};
use hvbench_proto::Message;
use std::ffi::CString;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Duration;

/// Run as PID 1: prepare the system, run the plan in [`GUEST_PLAN_PATH`], power off.
pub fn main() -> ! {
    panics::install_hook(false);
    let mut notes = catch_unwind(prepare_system).unwrap_or_else(|payload| {
        vec![format!(
            "panicked while preparing the system: {}",
            panics::message(&*payload)
        )]
    });
    let (device_facts, device_notes) = catch_unwind(prepare_devices).unwrap_or_else(|payload| {
        let note = format!(
            "panicked while preparing devices: {}",
            panics::message(&*payload)
        );
        (Facts::new(), vec![note])
    });
    notes.extend(device_notes);
    let mut frames = FrameWriter::new(io::stdout());
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        run_guest(&notes, &device_facts, &mut frames)
    }));
    match outcome {
        Ok(Ok(())) => {}
        // The console is gone; nobody is listening any more.
        Ok(Err(_)) => {}
        Err(payload) => {
            // Best effort: the host learns why the run ended early, and still gets `Done`.
            let _ = frames.log(format!("agent panicked: {}", panics::message(&*payload)));
            let _ = run::finish(&mut frames);
        }
    }
    power_off(&mut frames)
}

/// `Hello`, `Facts`, the devices' facts, the set-up notes as `Log` frames, the plan (or why
/// there is none), `Done`.
fn run_guest<W: Write>(
    notes: &[String],
    device_facts: &Facts,
    frames: &mut FrameWriter<W>,
) -> io::Result<()> {
    let plan = plan::read_plan(Path::new(GUEST_PLAN_PATH));
    run::start(Mode::Guest, frames)?;
    if !device_facts.is_empty() {
        frames.send(&Message::Facts {
            facts: device_facts.clone(),
        })?;
    }
    for note in notes {
        frames.log(note.as_str())?;
    }
    match plan {
        Ok(plan) => {
            if let Some(root) = &plan.tools_root {
                match crate::tools_disk::mount_tools(root) {
                    Ok(dev) => frames.send(&Message::Facts {
                        facts: [("tools.disk".to_string(), dev.display().to_string())].into(),
                    })?,
                    // The general benchmarks then fail, each saying the tree is not there.
                    Err(e) => frames.log(e)?,
                }
            }
            if plan.stress.is_some() {
                if let Err(e) = stress::stop::install_handlers() {
                    frames.log(format!("cannot handle SIGTERM: {e}"))?;
                }
            }
            run::run_planned(&plan, frames)?
        }
        Err(e) => frames.failed("plan", e.to_string())?,
    }
    run::finish(frames).map(drop)
}

/// Mount the pseudo file systems and make sure stdout reaches the console. Returns what went
/// wrong, to be sent as `Log` frames once frames can be sent.
fn prepare_system() -> Vec<String> {
    let mut notes = Vec::new();
    for (fstype, target) in [("proc", "/proc"), ("sysfs", "/sys"), ("devtmpfs", "/dev")] {
        if let Err(e) = mount_pseudo(fstype, target) {
            notes.push(format!("cannot mount {fstype} on {target}: {e}"));
        }
    }
    if !stdout_reaches_a_device() {
        if let Err(e) = attach_console() {
            notes.push(format!("cannot open /dev/console: {e}"));
        }
    }
    notes
}

/// Load the image's kernel modules (the disk and network drivers), then configure the network
/// interfaces. Returns the `modules.*` and `net.*` facts and what went wrong.
fn prepare_devices() -> (Facts, Vec<String>) {
    let modules = kmod::load_listed(Path::new(kmod::MODULES_LIST));
    let mut facts = modules.facts();
    let mut notes = modules.notes();
    let (net_facts, net_notes) = netif::configure_guest(Path::new("/sys/class/net"));
    facts.extend(net_facts);
    notes.extend(net_notes);
    (facts, notes)
}

/// Mount a kernel pseudo file system, creating the mount point if needed. Already mounted
/// (by the kernel or an earlier mount) is fine.
fn mount_pseudo(fstype: &str, target: &str) -> io::Result<()> {
    // A failure here shows up as mount's error below.
    let _ = std::fs::create_dir_all(target);
    if is_mount_point(Path::new(target)) {
        return Ok(());
    }
    let source = CString::new(fstype)?;
    let target_c = CString::new(target)?;
    let flags = libc::MS_NOSUID | libc::MS_NOEXEC;
    // SAFETY: the three strings are valid and NUL-terminated for the whole call; a null data
    // pointer means no options, which every one of these file systems accepts.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target_c.as_ptr(),
            source.as_ptr(),
            flags,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EBUSY) {
        return Ok(());
    }
    Err(err)
}

/// A directory on another device than its parent has something mounted on it.
fn is_mount_point(path: &Path) -> bool {
    let parent = path.parent().unwrap_or(Path::new("/"));
    match (std::fs::metadata(path), std::fs::metadata(parent)) {
        (Ok(p), Ok(q)) => p.dev() != q.dev(),
        _ => false,
    }
}

/// Whether fd 1 is open on something other than `/dev/null`. The kernel opens the console as
/// fds 0-2 for init only when the initramfs has `/dev/console`; without it they are closed,
/// and a runtime may have pointed them at `/dev/null`, which swallows frames just as silently.
fn stdout_reaches_a_device() -> bool {
    match std::fs::metadata("/proc/self/fd/1") {
        Ok(m) => {
            let dev_null = m.file_type().is_char_device()
                && libc::major(m.rdev()) == 1
                && libc::minor(m.rdev()) == 3;
            !dev_null
        }
        // Closed, or /proc is not there to ask: reopening the console is harmless either way.
        Err(_) => false,
    }
}

/// Open `/dev/console` (devtmpfs has it) as fds 0, 1 and 2.
fn attach_console() -> io::Result<()> {
    let path = CString::new("/dev/console")?;
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NOCTTY) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    for target in 0..=2 {
        if fd != target {
            // SAFETY: `fd` is open; dup2 onto 0-2 replaces whatever was there, which is what
            // we want, and Rust's Stdin/Stdout/Stderr keep using the same fd numbers.
            if unsafe { libc::dup2(fd, target) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    if fd > 2 {
        // SAFETY: `fd` is ours and no longer needed; 0-2 hold their own duplicates.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// Flush the file systems and power the machine off. Never returns.
fn power_off<W: Write>(frames: &mut FrameWriter<W>) -> ! {
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
    // SAFETY: reboot with a valid command; as PID 1 (CAP_SYS_BOOT) it powers off and does
    // not return.
    unsafe { libc::reboot(libc::RB_POWER_OFF) };
    let err = io::Error::last_os_error();
    let _ = frames.log(format!(
        "power-off refused ({err}); idling until the host stops the guest"
    ));
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
