//! `hvbench-executor`: the static program `hvbench` ships to a machine it reaches over SSH
//! (docs/architecture.md, "Machines over SSH"). It runs one job there with the very code the lab host
//! runs (`hvbench_platform::remote::exec_job`: the real host, qemu or xen driver) and streams
//! every frame back on stdout, which SSH carries to the controller.
//!
//! - `hvbench-executor run --cache DIR --workdir DIR` reads one line of JSON from stdin, a
//!   `Job`, and runs it. Exit status: 0 when the job completed, 1 when it failed, 2 when the
//!   arguments or the job line are unusable (after a `failed` frame saying why). Stdin stays
//!   open while the job runs: its end (the SSH connection dropped) or a failed write to stdout,
//!   like SIGHUP, SIGTERM or SIGINT, tears down every guest the job started and ends the job.
//! - `hvbench-executor check [--cache DIR]` prints facts about the machine as `key=value`
//!   lines, for `hvbench doctor`.
//! - `hvbench-executor version` prints the version.

use hvbench_platform::guest::cache::Cache;
use hvbench_platform::remote::{exec_job, ExecOptions, Job};
use hvbench_platform::trial::interrupt;
use hvbench_proto::{encode, Message};
use std::ffi::OsString;
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str =
    "usage: hvbench-executor run --cache DIR --workdir DIR  (one job as JSON on stdin)
       hvbench-executor check [--cache DIR]
       hvbench-executor version";

/// The longest job line accepted: a job is a platform, a guest shape and a plan (a few KiB).
const MAX_JOB_BYTES: u64 = 16 << 20;

/// Exit status for unusable arguments or an unusable job line.
const BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    match args.first().and_then(|a| a.to_str()) {
        Some("run") => run(rest),
        Some("check") => match options(rest, &["--cache"]) {
            Ok(opts) => {
                let cache = opts
                    .into_iter()
                    .next()
                    .map(|(_, dir)| dir)
                    .unwrap_or_else(|| Cache::from_env().root().to_path_buf());
                for (key, value) in check(&cache) {
                    println!("{key}={}", one_line(&value));
                }
                ExitCode::SUCCESS
            }
            Err(e) => usage_error(&e),
        },
        Some("version" | "--version") => {
            println!("{}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => usage_error("no command given"),
    }
}

fn usage_error(what: &str) -> ExitCode {
    eprintln!("hvbench-executor: {what}\n{USAGE}");
    ExitCode::from(BAD_INPUT)
}

/// `--name VALUE` or `--name=VALUE` pairs, each name one of `known`, at most once each.
fn options(args: &[OsString], known: &[&str]) -> Result<Vec<(String, PathBuf)>, String> {
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let text = arg.to_string_lossy();
        let (name, value) = match text.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(PathBuf::from(v))),
            _ => (text.to_string(), None),
        };
        if !known.contains(&name.as_str()) {
            return Err(format!("unknown argument `{text}`"));
        }
        if found.iter().any(|(n, _)| *n == name) {
            return Err(format!("{name} given twice"));
        }
        let value = match value {
            Some(v) => v,
            None => PathBuf::from(it.next().ok_or_else(|| format!("{name} needs a value"))?),
        };
        if value.as_os_str().is_empty() {
            return Err(format!("{name} needs a value"));
        }
        found.push((name, value));
    }
    Ok(found)
}

/// `run`: see the module documentation.
fn run(args: &[OsString]) -> ExitCode {
    let mut out = Link(std::io::stdout().lock());
    let opts = match options(args, &["--cache", "--workdir"]) {
        Ok(o) => o,
        Err(e) => return refuse(&mut out, &format!("{e}\n{USAGE}")),
    };
    let get = |name: &str| opts.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let (Some(cache), Some(workdir)) = (get("--cache"), get("--workdir")) else {
        return refuse(
            &mut out,
            &format!("run needs --cache and --workdir\n{USAGE}"),
        );
    };
    if let Err(e) = private_dir(&workdir) {
        return refuse(&mut out, &e);
    }
    let job = match read_job(&mut std::io::stdin().lock()) {
        Ok(job) => job,
        Err(e) => return refuse(&mut out, &e),
    };
    if let Err(e) = interrupt::install() {
        return refuse(
            &mut out,
            &format!("cannot install the signal handlers: {e}"),
        );
    }
    watch_stdin();
    match exec_job(
        &job,
        &Cache::at(cache),
        &workdir,
        &ExecOptions::REMOTE,
        &mut out,
    ) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("hvbench-executor: cannot write to stdout (the controller is gone?): {e}");
            ExitCode::from(1)
        }
    }
}

/// Say why the job cannot run, as a `failed` frame for the controller and on stderr for a
/// person, and exit with [`BAD_INPUT`].
fn refuse(out: &mut dyn Write, reason: &str) -> ExitCode {
    eprintln!("hvbench-executor: {reason}");
    let frame = encode(&Message::Failed {
        workload: format!("({})", ExecOptions::REMOTE.label),
        reason: format!("hvbench-executor: {reason}"),
    });
    let _ = out.write_all(&frame).and_then(|()| out.flush());
    ExitCode::from(BAD_INPUT)
}

/// The workdir, private to this user: created with mode 0700 when missing; an existing one
/// must be a directory that neither group nor others can write.
fn private_dir(path: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            if m.permissions().mode() & 0o022 != 0 {
                Err(format!(
                    "--workdir {} is writable by other users; give a private directory \
                     (chmod 700 it, or name one that does not exist yet)",
                    path.display()
                ))
            } else {
                Ok(())
            }
        }
        Ok(_) => Err(format!(
            "--workdir {} exists and is not a directory",
            path.display()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|e| format!("cannot create --workdir {}: {e}", path.display())),
        Err(e) => Err(format!("cannot use --workdir {}: {e}", path.display())),
    }
}

/// The first line of `input`, as a job.
fn read_job(input: &mut dyn BufRead) -> Result<Job, String> {
    let mut line = Vec::new();
    input
        .take(MAX_JOB_BYTES)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("cannot read the job from stdin: {e}"))?;
    if line.is_empty() {
        return Err("no job on stdin: it ended before the first line".into());
    }
    if line.last() != Some(&b'\n') && line.len() as u64 >= MAX_JOB_BYTES {
        return Err(format!(
            "the job line is longer than {MAX_JOB_BYTES} bytes; no job is that large"
        ));
    }
    serde_json::from_slice::<Job>(&line).map_err(|e| {
        format!(
            "the first line on stdin is not a job ({e}); the executor takes the job that \
             the hvbench it came with writes"
        )
    })
}

/// Keep reading stdin while the job runs: the controller never closes it, so its end (or an
/// error) means the SSH connection is gone, and the job must stop as on SIGHUP.
fn watch_stdin() {
    std::thread::spawn(|| {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        interrupt::request(libc::SIGHUP);
    });
}

/// Stdout, the controller's only view of the job: a failed write means it is gone, which stops
/// the job as the end of stdin does.
struct Link<W: Write>(W);

impl<W: Write> Write for Link<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).inspect_err(|_| lost())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().inspect_err(|_| lost())
    }
}

fn lost() {
    interrupt::request(libc::SIGHUP);
}

/// Facts about this machine for `hvbench doctor`, in a fixed order. A program not found on
/// PATH has an empty value.
fn check(cache: &Path) -> Vec<(&'static str, String)> {
    let (release, machine) = uname();
    let (kvm_rw, kvm_error) = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(_) => (true, String::new()),
        Err(e) => (false, e.to_string()),
    };
    let control_d = std::fs::read_to_string("/proc/xen/capabilities")
        .is_ok_and(|c| c.split_whitespace().any(|w| w == "control_d"));
    let qemu = hvbench_platform::drivers::qemu::qemu_binary();
    let qemu = if qemu.components().count() > 1 {
        executable(&qemu).then_some(qemu)
    } else {
        on_path(&qemu.to_string_lossy())
    };
    let show = |p: Option<PathBuf>| p.map(|p| p.display().to_string()).unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut facts = vec![
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        ("protocol", hvbench_proto::VERSION.to_string()),
        ("kernel.release", release),
        ("machine", machine),
        // SAFETY: geteuid(2) cannot fail and touches no memory.
        ("root", (unsafe { libc::geteuid() } == 0).to_string()),
        ("cpus", cpus.to_string()),
        (
            "host.virtual",
            hvbench_platform::drivers::host::host_is_virtual().to_string(),
        ),
        ("kvm.rw", kvm_rw.to_string()),
    ];
    if !kvm_rw {
        facts.push(("kvm.error", kvm_error));
    }
    facts.extend([
        ("xen.control_d", control_d.to_string()),
        ("xl", show(on_path("xl"))),
        ("qemu", show(qemu)),
        // Guests' networks: a tap on a bridge in a namespace per trial, vhost-net for KVM.
        (
            "net.tap",
            hvbench_platform::trial::vnet::unavailable(true).unwrap_or_else(|| "ok".into()),
        ),
        (
            "net.vhost",
            hvbench_platform::trial::vnet::vhost_unavailable().unwrap_or_else(|| "ok".into()),
        ),
        ("cache.dir", cache.display().to_string()),
    ]);
    match free_bytes(cache) {
        Ok(n) => facts.push(("cache.free_bytes", n.to_string())),
        Err(e) => facts.push(("cache.error", e)),
    }
    facts
}

/// The kernel release and machine (`uname -r`, `uname -m`).
fn uname() -> (String, String) {
    // SAFETY: utsname is plain bytes, valid when zeroed; uname(2) fills it with NUL-terminated
    // fields (or fails and leaves them empty), and each field is read only up to its NUL, within
    // the array.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return ("unknown".into(), "unknown".into());
        }
        let field = |f: &[libc::c_char]| {
            let bytes: Vec<u8> = f
                .iter()
                .take_while(|&&c| c != 0)
                .map(|&c| c as u8)
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        (field(&u.release), field(&u.machine))
    }
}

/// Free bytes for an unprivileged writer on the file system that holds `dir`, or that would
/// hold it (its nearest existing ancestor).
fn free_bytes(dir: &Path) -> Result<u64, String> {
    use std::os::unix::ffi::OsStrExt;
    let existing = dir
        .ancestors()
        .find(|p| !p.as_os_str().is_empty() && p.exists())
        .unwrap_or(Path::new("."));
    let c = std::ffi::CString::new(existing.as_os_str().as_bytes())
        .map_err(|_| format!("{} contains a NUL byte", dir.display()))?;
    // SAFETY: statvfs(2) reads the NUL-terminated path `c` and writes only into `st`, a zeroed
    // statvfs of our own.
    let (rc, st) = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(c.as_ptr(), &mut st), st)
    };
    if rc != 0 {
        return Err(format!(
            "cannot statvfs {}: {}",
            existing.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// `name` as PATH finds it, if it does.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| executable(p))
}

fn executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A value on one line: newlines would split a `key=value` line.
fn one_line(v: &str) -> String {
    v.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn options_take_both_spellings_and_refuse_the_rest() {
        let got = options(
            &args(&["--cache", "/c", "--workdir=/w"]),
            &["--cache", "--workdir"],
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                ("--cache".to_string(), PathBuf::from("/c")),
                ("--workdir".to_string(), PathBuf::from("/w"))
            ]
        );
        assert!(options(&args(&["--cache"]), &["--cache"])
            .unwrap_err()
            .contains("needs a value"));
        assert!(options(&args(&["--cache", "a", "--cache=b"]), &["--cache"])
            .unwrap_err()
            .contains("twice"));
        assert!(options(&args(&["--bogus", "x"]), &["--cache"])
            .unwrap_err()
            .contains("unknown argument `--bogus`"));
    }

    #[test]
    fn the_workdir_is_made_private_and_a_shared_one_refused() {
        let d = tempfile::tempdir().unwrap();
        let w = d.path().join("a/b");
        private_dir(&w).unwrap();
        let mode = std::fs::metadata(&w).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        private_dir(&w).unwrap();
        std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(private_dir(&w)
            .unwrap_err()
            .contains("writable by other users"));
        let f = d.path().join("file");
        std::fs::write(&f, b"").unwrap();
        assert!(private_dir(&f).unwrap_err().contains("not a directory"));
    }

    #[test]
    fn a_job_line_is_read_and_junk_refused() {
        let job = r#"{"platform":{"name":"bare","driver":"host"},"guest":{"vcpus":1,"memory_mib":512,"timeout_s":60},"plan":{"version":1,"warmup":0,"samples":1,"min_window_ms":50,"workloads":[]}}"#;
        let mut input = std::io::Cursor::new(format!("{job}\nmore"));
        let got = read_job(&mut input).unwrap();
        assert_eq!(got.platform.name, "bare");
        assert!(read_job(&mut std::io::Cursor::new(""))
            .unwrap_err()
            .contains("no job on stdin"));
        assert!(read_job(&mut std::io::Cursor::new("{}\n"))
            .unwrap_err()
            .contains("not a job"));
    }

    #[test]
    fn check_reports_every_key_once() {
        let d = tempfile::tempdir().unwrap();
        let facts = check(&d.path().join("not/yet"));
        let keys: Vec<&str> = facts.iter().map(|(k, _)| *k).collect();
        for k in [
            "version",
            "kernel.release",
            "root",
            "kvm.rw",
            "xen.control_d",
            "xl",
            "qemu",
            "net.tap",
            "net.vhost",
            "cache.dir",
            "cache.free_bytes",
        ] {
            assert_eq!(keys.iter().filter(|&&x| x == k).count(), 1, "{k}: {keys:?}");
        }
        let free: u64 = facts
            .iter()
            .find(|(k, _)| *k == "cache.free_bytes")
            .unwrap()
            .1
            .parse()
            .unwrap();
        assert!(free > 0);
    }
}
