//! Running one program of the tools tree (docs/architecture.md, "The tools tree"): in a child
//! with a private mount namespace (`unshare(CLONE_NEWNS)`, then `/` made recursively private so
//! that nothing it mounts reaches the host), `proc` on `TREE/proc`, the machine's `/dev` bound
//! on `TREE/dev`, a fresh private directory of the agent's bound on `TREE/tmp` (so that what a
//! tool writes there, stress-ng's YAML report, outlives it), then `chroot(TREE)` and
//! `chdir(/tmp)`. The child is the leader of its own process group, which is killed whole when
//! it outlives its limit.

use std::ffi::CString;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What one run of a tool left.
#[derive(Debug, Clone)]
pub struct Ran {
    /// The exit status; `None` when it died by a signal (or was killed for its limit).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
    /// Whether it was killed for running past its limit.
    pub timed_out: bool,
}

/// A private directory for one run, bound on the tree's `/tmp`; removed on drop.
pub struct WorkDir(PathBuf);

impl WorkDir {
    /// In the system's temporary directory.
    pub fn new() -> io::Result<WorkDir> {
        WorkDir::new_in(&std::env::temp_dir())
    }

    /// In `base` (made if missing).
    pub fn new_in(base: &Path) -> io::Result<WorkDir> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        std::fs::create_dir_all(base)?;
        let dir = base.join(format!(
            "hvbench-tool-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir)?;
        Ok(WorkDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))
}

/// Start `argv` (its first element a program name under `/usr/bin` of the tree, or an absolute
/// path inside it) chrooted in `tree`, with `work` as its `/tmp`, its stdout and stderr piped,
/// the leader of its own process group. Errors are the ones that kept it from starting.
pub fn spawn_in_tree(tree: &Path, argv: &[String], work: &Path) -> io::Result<Child> {
    spawn_in_tree_as(tree, argv, work, None)
}

/// [`spawn_in_tree`], the program running as `user` (uid, gid; no supplementary groups)
/// instead of root, for programs that refuse root (PostgreSQL).
pub fn spawn_in_tree_as(
    tree: &Path,
    argv: &[String],
    work: &Path,
    user: Option<(u32, u32)>,
) -> io::Result<Child> {
    let Some((program, args)) = argv.split_first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty argv"));
    };
    let inside = if program.starts_with('/') {
        program.clone()
    } else {
        format!("/usr/bin/{program}")
    };
    if !tree.join(inside.trim_start_matches('/')).exists() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{inside} is not in the tools tree {}", tree.display()),
        ));
    }
    let root = cstring(tree)?;
    let proc_dir = cstring(&tree.join("proc"))?;
    let dev_dir = cstring(&tree.join("dev"))?;
    let tmp_dir = cstring(&tree.join("tmp"))?;
    let work = cstring(work)?;
    let mut cmd = Command::new(&inside);
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", "/tmp")
        .env("LANG", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: the closure runs in the child between fork and exec and calls only
    // async-signal-safe system calls on strings built before the fork.
    unsafe {
        cmd.pre_exec(move || {
            enter_tree(&root, &proc_dir, &dev_dir, &tmp_dir, &work)?;
            if let Some((uid, gid)) = user {
                for rc in [
                    libc::setgroups(0, std::ptr::null()),
                    libc::setgid(gid),
                    libc::setuid(uid),
                ] {
                    if rc != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
            }
            // A tool starts with SIGINT and SIGQUIT at their defaults, however hvbench was
            // started: a shell runs its background jobs with them ignored, and a program that
            // starts with a signal ignored may keep it so (a shell cannot trap it), which would
            // leave the stress-ng stressor's SIGINT at a window's end unheard.
            for sig in [libc::SIGINT, libc::SIGQUIT] {
                if libc::signal(sig, libc::SIG_DFL) == libc::SIG_ERR {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Run `argv` as [`spawn_in_tree`] starts it; killed (its whole process group) after `limit`.
/// Errors are the ones that kept it from starting.
pub fn run_in_tree(tree: &Path, argv: &[String], work: &Path, limit: Duration) -> io::Result<Ran> {
    run_in_tree_as(tree, argv, work, limit, None)
}

/// [`run_in_tree`] as `user` ([`spawn_in_tree_as`]).
pub fn run_in_tree_as(
    tree: &Path,
    argv: &[String],
    work: &Path,
    limit: Duration,
    user: Option<(u32, u32)>,
) -> io::Result<Ran> {
    let start = Instant::now();
    let mut child = spawn_in_tree_as(tree, argv, work, user)?;
    let out = reader(child.stdout.take());
    let err = reader(child.stderr.take());
    let deadline = start + limit;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            // SAFETY: kill(2) on the child's own process group (it is its leader).
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    // Whatever the tool forked may still hold the pipes: end its whole group.
    // SAFETY: as above; the group may be gone already (ESRCH), which is fine.
    unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
    Ok(Ran {
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed,
        timed_out,
    })
}

/// Read a spawned server's stdout and stderr to their end on threads of their own, handing each
/// chunk to `on` (which may discard it), so that the server never blocks on a full pipe.
pub fn drain_output(child: &mut Child, on: impl Fn(&[u8]) + Clone + Send + 'static) {
    let pipes: [Option<Box<dyn Read + Send>>; 2] = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ];
    for mut pipe in pipes.into_iter().flatten() {
        let on = on.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                on(&buf[..n]);
            }
        });
    }
}

pub(crate) fn reader<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// In the child: a private mount namespace, the tree's mounts, chroot.
fn enter_tree(
    root: &CString,
    proc_dir: &CString,
    dev_dir: &CString,
    tmp_dir: &CString,
    work: &CString,
) -> io::Result<()> {
    let check = |rc: libc::c_int| {
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    let null = std::ptr::null::<libc::c_char>();
    // SAFETY: every pointer is a NUL-terminated string that outlives the call, or null where
    // mount(2) takes none.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS))?;
        check(libc::mount(
            null,
            c"/".as_ptr(),
            null,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        check(libc::mount(
            c"proc".as_ptr(),
            proc_dir.as_ptr(),
            c"proc".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        ))?;
        check(libc::mount(
            c"/dev".as_ptr(),
            dev_dir.as_ptr(),
            null,
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        ))?;
        // Recursive: what the agent mounted inside it (the database's file system) comes too.
        check(libc::mount(
            work.as_ptr(),
            tmp_dir.as_ptr(),
            null,
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        ))?;
        check(libc::chroot(root.as_ptr()))?;
        // The tree is read-only in a guest; tools that write where they stand (stress-ng's
        // temp-path is `.`) write in the run's private /tmp.
        check(libc::chdir(c"/tmp".as_ptr()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_missing_from_the_tree_is_named() {
        let tree = WorkDir::new().unwrap();
        let work = WorkDir::new().unwrap();
        let e = run_in_tree(
            tree.path(),
            &["sysbench".into()],
            work.path(),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(e.to_string().contains("/usr/bin/sysbench"), "{e}");
    }

    #[test]
    fn work_dirs_are_private_and_removed() {
        let w = WorkDir::new().unwrap();
        let p = w.path().to_path_buf();
        assert!(p.is_dir());
        drop(w);
        assert!(!p.exists());
    }
}
