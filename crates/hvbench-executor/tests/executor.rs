//! `hvbench-executor run` end to end, with the host driver (the agent as a plain process on
//! this machine): the frames it writes, its exit status, and its teardown when the controller's
//! end of stdin goes away (an SSH connection that dropped).

use hvbench_proto::{Decoder, Event, Message};
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const EXECUTOR: &str = env!("CARGO_BIN_EXE_hvbench-executor");

/// A host-driver job with one workload (written as the controller writes it: one JSON line).
fn host_job(workload: &str, samples: u32, min_window_ms: u64) -> String {
    let job = serde_json::json!({
        "platform": {"name": "bare", "driver": "host"},
        "guest": {"vcpus": 1, "memory_mib": 512, "timeout_s": 300},
        "plan": {
            "version": hvbench_proto::PLAN_VERSION,
            "warmup": 0,
            "samples": samples,
            "min_window_ms": min_window_ms,
            "workloads": [{"name": workload}],
        },
    });
    format!("{job}\n")
}

struct Run {
    _dir: tempfile::TempDir,
    child: Child,
    stdin: Option<ChildStdin>,
    /// The executor's stdout, in chunks, until it ends.
    chunks: mpsc::Receiver<Vec<u8>>,
}

/// Start `hvbench-executor run` with a private cache and workdir and write `input` on its stdin,
/// which stays open.
fn start(input: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(EXECUTOR)
        .arg("run")
        .arg("--cache")
        .arg(dir.path().join("cache"))
        .arg("--workdir")
        .arg(dir.path().join("work"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    stdin.flush().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, chunks) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    Run {
        _dir: dir,
        child,
        stdin: Some(stdin),
        chunks,
    }
}

impl Run {
    /// Every frame until stdout ends (within `limit`), then the exit status.
    fn finish(mut self, decoder: &mut Decoder, limit: Duration) -> (Vec<Message>, i32) {
        let deadline = Instant::now() + limit;
        let mut frames = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(bytes) => frames.extend(messages(decoder.push(&bytes))),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("the executor did not finish within {limit:?}; frames: {frames:?}");
                }
            }
        }
        let status = self.child.wait().unwrap();
        drop(self.stdin.take());
        (frames, status.code().expect("exited, not killed"))
    }
}

fn messages(events: Vec<Event>) -> Vec<Message> {
    events
        .into_iter()
        .map(|e| match e {
            Event::Frame(m) => m,
            Event::Bad { error, excerpt } => panic!("bad frame: {error}: {excerpt}"),
        })
        .collect()
}

#[test]
fn a_host_job_streams_its_frames_and_exits_0() {
    let run = start(&host_job("syscall", 1, 50));
    let (frames, code) = run.finish(&mut Decoder::new(), Duration::from_secs(120));
    assert_eq!(code, 0, "{frames:?}");
    let has = |f: &dyn Fn(&Message) -> bool| frames.iter().any(f);
    assert!(
        has(&|m| matches!(m, Message::Hello { mode, .. } if mode == "host")),
        "{frames:?}"
    );
    assert!(
        has(&|m| matches!(m, Message::Facts { facts } if facts.contains_key("remote.ready_s"))),
        "the driver's facts come first: {frames:?}"
    );
    assert!(
        has(&|m| matches!(m, Message::Sample { workload, .. } if workload == "syscall")),
        "{frames:?}"
    );
    assert!(
        has(&|m| matches!(m, Message::Done { samples, .. } if *samples >= 1)),
        "{frames:?}"
    );
    assert!(!has(&|m| matches!(m, Message::Failed { .. })), "{frames:?}");
}

#[test]
fn a_bad_job_line_exits_2_with_a_failed_frame() {
    let run = start("{\"platform\": 42}\n");
    let (frames, code) = run.finish(&mut Decoder::new(), Duration::from_secs(30));
    assert_eq!(code, 2, "{frames:?}");
    assert!(
        matches!(frames.as_slice(), [Message::Failed { reason, .. }] if reason.contains("not a job")),
        "{frames:?}"
    );
}

#[test]
fn missing_arguments_exit_2_with_a_failed_frame() {
    let out = Command::new(EXECUTOR)
        .args(["run", "--cache", "/tmp"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let frames = messages(Decoder::new().push(&out.stdout));
    assert!(
        matches!(frames.as_slice(), [Message::Failed { reason, .. }] if reason.contains("--workdir")),
        "{frames:?}"
    );
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces and parentheses; it ends at the last `)`.
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        let ppid = after.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if ppid == Some(pid) {
            found.push(child);
        }
    }
    found
}

/// Whether `pid` still runs (a zombie has finished running).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        after.split_whitespace().next() != Some("Z")
    })
}

#[test]
fn closing_stdin_tears_the_job_down_within_10_s() {
    // 50 one-second windows: the job would run for about a minute.
    let mut run = start(&host_job("cpu-int", 50, 1000));
    let mut decoder = Decoder::new();
    let mut frames = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !frames.iter().any(|m| matches!(m, Message::Sample { .. })) {
        let left = deadline.saturating_duration_since(Instant::now());
        let bytes = run
            .chunks
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no sample before {e:?}: {frames:?}"));
        frames.extend(messages(decoder.push(&bytes)));
    }
    let agents = children(run.child.id());
    assert!(!agents.is_empty(), "the agent runs as the executor's child");
    let closed = Instant::now();
    drop(run.stdin.take());
    let limit = Duration::from_secs(10);
    while run.child.try_wait().unwrap().is_none() {
        assert!(
            closed.elapsed() < limit,
            "the executor still runs {limit:?} after stdin closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    while let Some(pid) = agents.iter().find(|&&p| alive(p)) {
        assert!(
            closed.elapsed() < limit,
            "process {pid} the executor started outlived it"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (rest, code) = run.finish(&mut decoder, Duration::from_secs(10));
    assert_eq!(code, 1, "an interrupted job failed: {rest:?}");
    assert!(
        rest.iter().any(|m| matches!(m, Message::Failed { reason, .. } if reason.contains("interrupted by SIGHUP"))),
        "the executor says why it stopped: {rest:?}"
    );
    assert!(
        !rest.iter().any(|m| matches!(m, Message::Done { .. })),
        "{rest:?}"
    );
}
