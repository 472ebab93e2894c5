//! The `oltp` workload's database (docs/architecture.md, "The tools tree"): PostgreSQL 15 from
//! the tools tree, its data on the scratch disk. In a guest the agent makes an ext4 file system
//! on the scratch disk with the tree's `mke2fs` and mounts it; on a host the data goes where
//! the disk workloads put their scratch files (`HVBENCH_SCRATCH_DIR`, else `/var/tmp`). Then,
//! as `nobody` (PostgreSQL refuses root): `initdb`, and the server on a unix socket only (no
//! TCP listener), dynamic shared memory in files (a guest has no `/dev/shm`); then `pgbench -i`
//! fills the tables. Everything is torn down when the [`Database`] is dropped: the server's
//! process group killed, the file system unmounted, the directory removed.
//!
//! Why PostgreSQL and pgbench rather than MariaDB and sysbench OLTP: pgbench ships with the
//! server in one Debian package (`postgresql-15`), needs no Lua scripts, and its TPC-B-like
//! transaction is the one the literature's OLTP comparisons of hypervisors ran.

use super::chroot::{drain_output, run_in_tree_as, spawn_in_tree_as, WorkDir};
use crate::tools::pgbench::{PgConn, PgbenchInit};
use crate::workloads::disk::{find_disk, DEFAULT_SCRATCH_BASE};
use crate::Mode;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where PostgreSQL 15's programs are in the tree (Debian keeps them out of `/usr/bin`).
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// Debian's `nobody` and `nogroup` (the tree's `/etc/passwd` names them).
const NOBODY: (u32, u32) = (65534, 65534);
/// The data directory and the socket directory, as the tree sees them (the run's `/tmp`).
const DATA: &str = "/tmp/pg/data";
const SOCKET_DIR: &str = "/tmp/pgsock";
/// How long each step of the set-up may take (initdb under emulation takes a while).
const STEP_LIMIT: Duration = Duration::from_secs(900);
/// How long the server may take to say it is ready.
const READY_LIMIT: Duration = Duration::from_secs(300);

/// A running PostgreSQL with pgbench's tables filled.
pub struct Database {
    server: Option<Child>,
    /// Where the scratch disk's file system is mounted (a guest), unmounted on drop.
    mounted: Option<PathBuf>,
    /// What the server printed, for errors.
    log: Arc<Mutex<String>>,
    work: WorkDir,
}

impl Database {
    /// Make the database in `tree` and fill pgbench's tables at `scale`.
    pub fn start(tree: &Path, scale: u32) -> Result<Database, String> {
        let work = match Mode::current() {
            Mode::Guest => WorkDir::new(),
            Mode::Host => WorkDir::new_in(
                &std::env::var_os("HVBENCH_SCRATCH_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_SCRATCH_BASE)),
            ),
        }
        .map_err(|e| format!("cannot make a work directory: {e}"))?;
        let pg = work.path().join("pg");
        std::fs::create_dir(&pg).map_err(|e| format!("cannot make {}: {e}", pg.display()))?;
        let mut db = Database {
            server: None,
            mounted: None,
            log: Arc::new(Mutex::new(String::new())),
            work,
        };
        if Mode::current() == Mode::Guest {
            let disk = find_disk(Path::new("/sys/block"))
                .map_err(|e| format!("oltp has no scratch disk: {e}"))?;
            let dev = disk.dev.display().to_string();
            db.step(
                tree,
                &["/usr/sbin/mke2fs", "-q", "-F", "-t", "ext4", &dev],
                None,
            )?;
            mount_ext4(&disk.dev, &pg)?;
            db.mounted = Some(pg.clone());
        }
        let sock = db.work.path().join("pgsock");
        std::fs::create_dir(&sock).map_err(|e| format!("cannot make {}: {e}", sock.display()))?;
        for dir in [&pg, &sock] {
            chown_nobody(dir)?;
        }
        db.step(
            tree,
            &[
                &format!("{PG_BIN}/initdb"),
                "-D",
                DATA,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            Some(NOBODY),
        )?;
        db.start_server(tree)?;
        let init = PgbenchInit {
            scale,
            ..PgbenchInit::new(conn())
        };
        let mut argv = init.argv().map_err(|e| e.to_string())?;
        argv[0] = format!("{PG_BIN}/pgbench");
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        db.step(tree, &argv, None)?;
        Ok(db)
    }

    /// The run's `/tmp`, for pgbench's runs.
    pub fn work(&self) -> &WorkDir {
        &self.work
    }

    /// Run one set-up step; an error carries its exit status and the end of its output.
    fn step(&self, tree: &Path, argv: &[&str], user: Option<(u32, u32)>) -> Result<(), String> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let ran = run_in_tree_as(tree, &argv, self.work.path(), STEP_LIMIT, user)
            .map_err(|e| format!("cannot run `{}`: {e}", argv.join(" ")))?;
        if ran.code == Some(0) && !ran.timed_out {
            return Ok(());
        }
        let said = format!("{}{}", ran.stdout, ran.stderr);
        let tail: Vec<&str> = said.lines().filter(|l| !l.trim().is_empty()).collect();
        Err(format!(
            "`{}` {} after {:?}: {}",
            argv.join(" "),
            if ran.timed_out {
                "ran past its limit and was killed".to_string()
            } else {
                format!("exited with {:?}", ran.code)
            },
            ran.elapsed,
            crate::tools::clip(&tail[tail.len().saturating_sub(6)..].join(" / "), 600)
        ))
    }

    fn start_server(&mut self, tree: &Path) -> Result<(), String> {
        let argv: Vec<String> = [
            &format!("{PG_BIN}/postgres"),
            "-D",
            DATA,
            "-k",
            SOCKET_DIR,
            "-c",
            "listen_addresses=",
            "-c",
            "dynamic_shared_memory_type=mmap",
            "-c",
            "shared_buffers=64MB",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut child = spawn_in_tree_as(tree, &argv, self.work.path(), Some(NOBODY))
            .map_err(|e| format!("cannot start `{}`: {e}", argv.join(" ")))?;
        let log = Arc::clone(&self.log);
        drain_output(&mut child, move |bytes| {
            if let Ok(mut l) = log.lock() {
                l.push_str(&String::from_utf8_lossy(bytes));
                let excess = l.len().saturating_sub(16 * 1024);
                if excess > 0 {
                    let cut = (excess..l.len())
                        .find(|i| l.is_char_boundary(*i))
                        .unwrap_or(l.len());
                    l.drain(..cut);
                }
            }
        });
        self.server = Some(child);
        let pid_file = self.work.path().join("pg/data/postmaster.pid");
        let started = Instant::now();
        loop {
            // PostgreSQL writes its state as the last line of postmaster.pid: `ready` once it
            // accepts connections.
            if std::fs::read_to_string(&pid_file)
                .is_ok_and(|t| t.lines().last().is_some_and(|l| l.trim() == "ready"))
            {
                return Ok(());
            }
            let server = self.server.as_mut().expect("just set");
            if let Ok(Some(status)) = server.try_wait() {
                return Err(format!(
                    "postgres ended ({status}) before it was ready: {}",
                    self.log_tail()
                ));
            }
            if started.elapsed() > READY_LIMIT {
                return Err(format!(
                    "postgres was not ready within {} s: {}",
                    READY_LIMIT.as_secs(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_tail(&self) -> String {
        let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
        crate::tools::clip(&lines[lines.len().saturating_sub(6)..].join(" / "), 600)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            // SAFETY: kill(2) on the server's own process group (it is its leader).
            unsafe { libc::kill(-(server.id() as libc::pid_t), libc::SIGKILL) };
            let _ = server.wait();
        }
        if let Some(dir) = self.mounted.take() {
            if let Ok(c) = CString::new(dir.as_os_str().as_bytes()) {
                // SAFETY: umount2(2) on a NUL-terminated path that outlives the call.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

/// Where pgbench connects: the server's socket directory, as `postgres`, database `postgres`.
pub fn conn() -> PgConn {
    PgConn {
        host: Some(SOCKET_DIR.to_string()),
        port: None,
        user: Some("postgres".to_string()),
        dbname: "postgres".to_string(),
    }
}

fn mount_ext4(dev: &Path, at: &Path) -> Result<(), String> {
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes()).map_err(|_| "a path holds a NUL byte".to_string())
    };
    let (dev_c, at_c) = (c(dev)?, c(at)?);
    // SAFETY: mount(2) with NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::mount(
            dev_c.as_ptr(),
            at_c.as_ptr(),
            c"ext4".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(format!(
            "cannot mount the scratch disk {} (ext4) on {}: {}",
            dev.display(),
            at.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn chown_nobody(dir: &Path) -> Result<(), String> {
    std::os::unix::fs::chown(dir, Some(NOBODY.0), Some(NOBODY.1))
        .map_err(|e| format!("cannot give {} to nobody: {e}", dir.display()))
}
