//! Running a child whose stdout is an agent's console: decode frames as bytes arrive, enforce
//! the trial's deadline, kill the child's whole process group when it is over, and explain a
//! failure with what the child said. A Ctrl-C or SIGTERM ([`crate::trial::interrupt`]) ends the wait
//! the same way as a timeout: the group is killed and the trial fails as interrupted.

use hvbench_proto::{Decoder, Event, Message};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// How long a child may take to exit once the agent has said `Done` (the guest powering off).
const EXIT_GRACE: Duration = Duration::from_secs(30);
/// How long a child asked to stop (SIGTERM to its group) may take before it is killed: an
/// aggressor agent cleans up (children, scratch files) and says `Done` within this.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Lines of non-frame console output kept to explain a failure.
const TAIL_LINES: usize = 12;
/// Bytes of stderr kept to explain a failure.
const STDERR_CAP: usize = 16 * 1024;
/// How long the threads that read a child's pipes may take to finish once the child is gone.
const READER_GRACE: Duration = Duration::from_secs(5);

/// `handle`'s result if its thread finishes within `limit`; None (the thread left running,
/// detached) if it does not, or if it panicked.
pub(crate) fn join_within<T>(handle: thread::JoinHandle<T>, limit: Duration) -> Option<Option<T>> {
    let until = Instant::now() + limit;
    while !handle.is_finished() {
        if Instant::now() >= until {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
    Some(handle.join().ok())
}

/// How a trial ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TrialEnd {
    /// The agent said `Done`.
    Completed,
    /// It did not; the reason says what happened and what the child printed last.
    Failed(String),
    /// The machine that ran it, or the connection to it, was lost before the agent said
    /// `Done` (an ssh session that ended on its own with ssh's failure status or by a signal
    /// hvbench did not send; a machine that cannot be reached). Nothing says the trial itself
    /// failed: it is recorded as interrupted and run again by `--resume`.
    Lost(String),
    /// The lab failed under the trial (docs/architecture.md, "The lab"): its emulated host
    /// wedged, or the emulator lost the nested guest. Not the platform's failure: the runner
    /// records it with what the lab said and runs the trial again.
    LabFault(String),
}

impl TrialEnd {
    /// The reason of a trial that did not complete.
    pub fn reason(&self) -> Option<&str> {
        match self {
            TrialEnd::Completed => None,
            TrialEnd::Failed(r) | TrialEnd::Lost(r) | TrialEnd::LabFault(r) => Some(r),
        }
    }
}

/// Start `cmd` in a process group of its own and read its stdout as an agent console until the
/// agent says `Done` and the child exits, or until `timeout` or a signal to stop hvbench, when
/// the group is killed. The child also gets SIGKILL if hvbench dies (PR_SET_PDEATHSIG), so a
/// `kill -9` of hvbench leaves no guest running.
pub fn run(
    cmd: Command,
    timeout: Duration,
    log: Option<&Path>,
    on_event: &mut dyn FnMut(Event),
) -> TrialEnd {
    run_until(cmd, timeout, log, None, on_event)
}

/// [`run_until`], and give up as on a timeout when the child has been silent for `idle`: an
/// emulated lab host whose kernel hung prints nothing more, and would otherwise hold the
/// campaign until the whole limit is over.
pub fn run_watched(
    cmd: Command,
    timeout: Duration,
    idle: Duration,
    log: Option<&Path>,
    on_event: &mut dyn FnMut(Event),
) -> TrialEnd {
    watch(
        cmd,
        Watch {
            input: None,
            timeout,
            idle: Some(idle),
            log,
            stop: None,
        },
        on_event,
    )
}

/// [`run`], and once `stop` becomes true (an isolation cell's victim is done), ask the child's
/// group to stop with SIGTERM, and kill it if it has not exited [`STOP_GRACE`] later. A child
/// stopped so completes if its agent still said `Done`.
pub fn run_until(
    cmd: Command,
    timeout: Duration,
    log: Option<&Path>,
    stop: Option<&std::sync::atomic::AtomicBool>,
    on_event: &mut dyn FnMut(Event),
) -> TrialEnd {
    watch(
        cmd,
        Watch {
            input: None,
            timeout,
            idle: None,
            log,
            stop,
        },
        on_event,
    )
}

/// [`run`] of an `ssh` session (given up as silent after `idle`, if set), with `input` written to its stdin, which then stays open until
/// the session is gone: a remote executor reads its job there, and takes the end of its stdin
/// for the end of the connection (it tears its guests down). A session that ends on its own
/// with ssh's failure status (255) or by a signal hvbench did not send lost its connection:
/// [`TrialEnd::Lost`].
pub fn run_ssh(
    cmd: Command,
    input: Vec<u8>,
    timeout: Duration,
    idle: Option<Duration>,
    log: Option<&Path>,
    on_event: &mut dyn FnMut(Event),
) -> TrialEnd {
    watch(
        cmd,
        Watch {
            input: Some(input),
            timeout,
            idle,
            log,
            stop: None,
        },
        on_event,
    )
}

/// Whether an ssh client's own exit means its connection was lost.
fn ssh_lost(status: &std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.code() == Some(255) || status.signal().is_some()
}

/// How one child is watched.
struct Watch<'a> {
    /// Written to its stdin (kept open until the child is gone); None: stdin is /dev/null.
    input: Option<Vec<u8>>,
    timeout: Duration,
    /// Give up when the child has printed nothing for this long.
    idle: Option<Duration>,
    log: Option<&'a Path>,
    stop: Option<&'a std::sync::atomic::AtomicBool>,
}

/// How the wait for a child ended.
#[derive(Default)]
struct Ending {
    /// The agent said `Done`.
    done: bool,
    timed_out: bool,
    /// Silent for the idle limit.
    silent: bool,
    interrupted: Option<i32>,
    /// Asked to stop (an isolation cell was over).
    stopping: bool,
}

impl Ending {
    /// Whether the child ended on its own (hvbench did not end it).
    fn alone(&self) -> bool {
        !(self.silent || self.stopping || self.timed_out || self.interrupted.is_some())
    }
}

/// Start `cmd` in a process group of its own, to die with hvbench.
fn spawn(cmd: &mut Command, has_input: bool) -> std::io::Result<Child> {
    cmd.stdin(if has_input {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
    // SAFETY: the closure runs in the forked child before exec and calls only prctl(2), which
    // is async-signal-safe; it allocates nothing and touches no lock.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Read `stdout` on a thread of its own, each read sent as it arrives.
fn read_chunks(
    mut stdout: impl Read + Send + 'static,
) -> (mpsc::Receiver<Vec<u8>>, thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    (rx, reader)
}

fn watch(mut cmd: Command, mut w: Watch<'_>, on_event: &mut dyn FnMut(Event)) -> TrialEnd {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let has_input = w.input.is_some();
    let mut child = match spawn(&mut cmd, has_input) {
        Ok(c) => c,
        Err(e) => return TrialEnd::Failed(format!("cannot start {program}: {e}")),
    };
    let mut guard = GroupGuard {
        child: &mut child,
        reaped: false,
    };
    // The input is written by a thread (the child may read it slowly), which hands the pipe
    // back: it is closed only once the child is gone.
    let writer = guard
        .child
        .stdin
        .take()
        .zip(w.input.take())
        .map(|(mut stdin, data)| {
            thread::spawn(move || {
                let _ = stdin.write_all(&data);
                let _ = stdin.flush();
                stdin
            })
        });
    let stdout = guard.child.stdout.take().expect("stdout is piped");
    let stderr = guard.child.stderr.take().expect("stderr is piped");
    let stderr_reader = thread::spawn(move || read_capped(stderr, STDERR_CAP));
    let (rx, reader) = read_chunks(stdout);
    let mut tail = Tail::default();
    let ending = pump(&rx, &mut guard, &w, &mut tail, on_event);
    if ending.timed_out || ending.silent || ending.interrupted.is_some() {
        guard.kill_group();
    }
    let status = guard.wait();
    drop(guard);
    // The child is gone, but another process may still hold its pipes: an ssh multiplexing
    // master keeps a session's stdout and stderr while the far side holds them open. The
    // readers get a short grace, then are left behind rather than waited for forever.
    if let Some(w) = writer {
        let _ = join_within(w, READER_GRACE);
    }
    let _ = join_within(reader, READER_GRACE);
    let stderr_text = join_within(stderr_reader, READER_GRACE)
        .flatten()
        .unwrap_or_else(|| "(its stderr was still held open by another process)".to_string());
    if ending.done {
        return TrialEnd::Completed;
    }
    let mut reason = why(&ending, status.as_ref(), &program, &w);
    append_framed(&mut reason, "last console lines", &tail.text());
    append_framed(&mut reason, &format!("{program} stderr"), &stderr_text);
    if let Some(p) = w.log {
        reason.push_str(&format!("\nconsole log: {}", p.display()));
    }
    if has_input && ending.alone() && status.as_ref().is_some_and(ssh_lost) {
        return TrialEnd::Lost(reason);
    }
    TrialEnd::Failed(reason)
}

/// Decode the child's console as it arrives until it ends, its deadline passes, it is silent
/// for the idle limit, or hvbench is interrupted; a stop asks its group to end.
fn pump(
    rx: &mpsc::Receiver<Vec<u8>>,
    guard: &mut GroupGuard<'_>,
    w: &Watch<'_>,
    tail: &mut Tail,
    on_event: &mut dyn FnMut(Event),
) -> Ending {
    let mut log_file = w.log.and_then(|p| File::create(p).ok());
    let mut decoder = Decoder::new();
    let mut deadline = Instant::now() + w.timeout;
    let mut e = Ending::default();
    let mut last_output = Instant::now();
    let mut handle = |bytes: &[u8], events: Vec<Event>, done: &mut bool| {
        tail.push(bytes);
        for ev in events {
            if matches!(ev, Event::Frame(Message::Done { .. })) {
                *done = true;
            }
            on_event(ev);
        }
    };
    loop {
        if let Some(sig) = crate::trial::interrupt::requested() {
            e.interrupted = Some(sig);
            break;
        }
        if !e.stopping
            && w.stop
                .is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst))
        {
            e.stopping = true;
            guard.signal_group(libc::SIGTERM);
            deadline = deadline.min(Instant::now() + STOP_GRACE);
        }
        let now = Instant::now();
        if now >= deadline {
            e.timed_out = true;
            break;
        }
        if w.idle.is_some_and(|i| now.duration_since(last_output) >= i) {
            e.silent = true;
            break;
        }
        match rx.recv_timeout((deadline - now).min(crate::trial::interrupt::POLL)) {
            Ok(bytes) => {
                last_output = Instant::now();
                if let Some(f) = log_file.as_mut() {
                    let _ = f.write_all(&bytes);
                }
                let events = decoder.push(&bytes);
                let was_done = e.done;
                handle(&bytes, events, &mut e.done);
                if e.done && !was_done {
                    deadline = deadline.min(Instant::now() + EXIT_GRACE);
                }
            }
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let events = decoder.finish();
    handle(&[], events, &mut e.done);
    e
}

/// Why a child that did not complete ended, in words.
fn why(
    e: &Ending,
    status: Option<&std::process::ExitStatus>,
    program: &str,
    w: &Watch<'_>,
) -> String {
    if e.silent {
        format!(
            "silent for {} s (no console output) and was killed",
            w.idle.unwrap_or_default().as_secs()
        )
    } else if e.stopping {
        "stopped by hvbench (its isolation cell was over) before the agent said Done".to_string()
    } else if let Some(sig) = e.interrupted {
        format!(
            "interrupted by {} and killed",
            crate::trial::interrupt::signal_name(sig)
        )
    } else if e.timed_out {
        format!("timed out after {} s and was killed", w.timeout.as_secs())
    } else {
        match status {
            Some(s) => format!("{program} exited ({s}) before the agent finished"),
            None => format!("{program} ended before the agent finished"),
        }
    }
}

fn append_framed(out: &mut String, title: &str, body: &str) {
    let body = body.trim_end();
    if body.is_empty() {
        return;
    }
    out.push_str(&format!("\n--- {title} ---\n"));
    for line in body.lines() {
        out.push_str("| ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("---");
}

fn read_capped(mut r: impl Read, cap: usize) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf) {
        if n == 0 {
            break;
        }
        // Keep the end: the last words of a failing program are the useful ones.
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > cap {
            kept.drain(..kept.len() - cap);
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// The last lines of console output that were not frames.
#[derive(Default)]
struct Tail {
    lines: VecDeque<String>,
    partial: Vec<u8>,
}

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                let line = String::from_utf8_lossy(&self.partial)
                    .trim_end()
                    .to_string();
                self.partial.clear();
                if line.is_empty() || line.contains("HVB/") {
                    continue;
                }
                self.lines.push_back(line);
                if self.lines.len() > TAIL_LINES {
                    self.lines.pop_front();
                }
            } else if self.partial.len() < 512 {
                self.partial.push(b);
            }
        }
    }

    fn text(&self) -> String {
        let mut lines: Vec<String> = self.lines.iter().cloned().collect();
        let partial = String::from_utf8_lossy(&self.partial)
            .trim_end()
            .to_string();
        if !partial.is_empty() && !partial.contains("HVB/") {
            lines.push(partial);
        }
        lines.join("\n")
    }
}

/// Kills the child's process group if we leave early (panic, timeout), and reaps it.
struct GroupGuard<'a> {
    child: &'a mut Child,
    reaped: bool,
}

impl GroupGuard<'_> {
    fn kill_group(&mut self) {
        self.signal_group(libc::SIGKILL);
    }

    fn signal_group(&mut self, signal: libc::c_int) {
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals the process group we created for the child
        // (process_group(0) makes its pgid equal to its pid); it touches no memory of ours.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }

    fn wait(&mut self) -> Option<std::process::ExitStatus> {
        let s = self.child.wait().ok();
        self.reaped = true;
        s
    }
}

impl Drop for GroupGuard<'_> {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill_group();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hvbench_proto::encode;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        c
    }

    /// A child gone while another process still holds its stderr (as an ssh multiplexing
    /// master holds a session's): the trial ends within the readers' grace, not when that
    /// process lets go.
    #[test]
    fn a_pipe_held_by_another_process_does_not_hold_the_trial() {
        let started = Instant::now();
        let end = run(
            sh("sleep 30 >/dev/null & echo bye; exit 3"),
            Duration::from_secs(20),
            None,
            &mut |_| {},
        );
        let took = started.elapsed();
        match end {
            TrialEnd::Failed(r) => {
                assert!(r.contains("sh exited (exit status: 3)"), "{r}");
                assert!(r.contains("still held open"), "{r}");
            }
            other => panic!("{other:?}"),
        }
        assert!(took < Duration::from_secs(15), "took {took:?}");
    }

    fn frame_text(m: &Message) -> String {
        String::from_utf8(encode(m)).unwrap()
    }

    #[test]
    fn done_frame_completes_the_trial() {
        let done = frame_text(&Message::Done {
            samples: 0,
            failures: 0,
        });
        let script = format!("echo booting; printf '%s' '{}'", done.trim_end());
        let mut seen = Vec::new();
        let end = run(sh(&script), Duration::from_secs(20), None, &mut |e| {
            seen.push(e)
        });
        assert_eq!(end, TrialEnd::Completed);
        assert_eq!(
            seen,
            vec![Event::Frame(Message::Done {
                samples: 0,
                failures: 0
            })]
        );
    }

    #[test]
    fn hang_is_killed_with_its_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("grandchild-alive");
        // The grandchild would touch the marker after 3 s unless the whole group is killed.
        let script = format!(
            "(sleep 3; touch {}) & echo waiting; sleep 60",
            marker.display()
        );
        let t = Instant::now();
        let end = run(sh(&script), Duration::from_millis(500), None, &mut |_| {});
        assert!(t.elapsed() < Duration::from_secs(10));
        match end {
            TrialEnd::Failed(r) => {
                assert!(r.contains("timed out"), "{r}");
                assert!(
                    r.contains("| waiting"),
                    "the console tail explains the failure: {r}"
                );
            }
            other => panic!("{other:?}"),
        }
        thread::sleep(Duration::from_secs(4));
        assert!(!marker.exists(), "a grandchild outlived the kill");
    }

    #[test]
    fn early_exit_shows_stderr_framed() {
        let end = run(
            sh("echo 'qemu: could not load kernel' >&2; exit 1"),
            Duration::from_secs(20),
            None,
            &mut |_| {},
        );
        match end {
            TrialEnd::Failed(r) => {
                assert!(r.contains("exited"), "{r}");
                assert!(r.contains("| qemu: could not load kernel"), "{r}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_program_is_a_failure_not_a_panic() {
        let end = run(
            Command::new("/nonexistent/qemu"),
            Duration::from_secs(1),
            None,
            &mut |_| {},
        );
        assert!(matches!(end, TrialEnd::Failed(r) if r.contains("cannot start")));
    }

    #[test]
    fn a_stopped_child_gets_sigterm_then_sigkill() {
        use std::sync::atomic::AtomicBool;
        let done = frame_text(&Message::Done {
            samples: 0,
            failures: 0,
        });
        // Says Done when asked to stop: completes.
        let dir = tempfile::tempdir().unwrap();
        let frame = dir.path().join("done");
        std::fs::write(&frame, &done).unwrap();
        let polite = format!(
            "trap 'cat {}; exit 0' TERM; echo up; while :; do sleep 0.1; done",
            frame.display()
        );
        let stop = AtomicBool::new(false);
        let t = Instant::now();
        let end = thread::scope(|s| {
            s.spawn(|| {
                thread::sleep(Duration::from_millis(300));
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            run_until(
                sh(&polite),
                Duration::from_secs(60),
                None,
                Some(&stop),
                &mut |_| {},
            )
        });
        assert_eq!(end, TrialEnd::Completed);
        assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
        // Ignores SIGTERM: killed after the grace, a failure that says it was stopped.
        let stubborn = "trap '' TERM; echo up; while :; do sleep 0.1; done";
        let stop = AtomicBool::new(true);
        let t = Instant::now();
        let end = run_until(
            sh(stubborn),
            Duration::from_secs(60),
            None,
            Some(&stop),
            &mut |_| {},
        );
        assert!(
            matches!(&end, TrialEnd::Failed(r) if r.starts_with("stopped by hvbench")),
            "{end:?}"
        );
        assert!(t.elapsed() < STOP_GRACE + Duration::from_secs(3));
    }

    #[test]
    fn a_silent_child_is_killed_long_before_its_timeout() {
        let t = Instant::now();
        let end = run_watched(
            sh("echo hello; sleep 60"),
            Duration::from_secs(60),
            Duration::from_millis(700),
            None,
            &mut |_| {},
        );
        assert!(t.elapsed() < Duration::from_secs(10));
        assert!(
            matches!(&end, TrialEnd::Failed(r) if r.starts_with("silent for 0 s") && r.contains("| hello")),
            "{end:?}"
        );
    }

    #[test]
    fn console_is_logged() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("console.log");
        run(
            sh("echo hello"),
            Duration::from_secs(20),
            Some(&log),
            &mut |_| {},
        );
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "hello\n");
    }
}
