//! The built agent binary running stressors, as an isolation experiment's runner would.

use hvbench_proto::catalog::Better;
use hvbench_proto::{Decoder, Event, Message, PLAN_VERSION};
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const AGENT: &str = env!("CARGO_BIN_EXE_hvbench-agent");

fn frames(stdout: &[u8]) -> Vec<Message> {
    let mut decoder = Decoder::new();
    let mut events = decoder.push(stdout);
    events.extend(decoder.finish());
    events
        .into_iter()
        .map(|e| match e {
            Event::Frame(m) => m,
            Event::Bad { error, excerpt } => panic!("bad frame ({error}): {excerpt}"),
        })
        .collect()
}

#[test]
fn every_stressor_reports_one_sample_then_done_and_cleans_up() {
    let scratch = std::env::temp_dir().join(format!("hvbench-stress-it-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let cases: &[(&str, &[&str], &str)] = &[
        ("cpu", &[], "ops/s"),
        ("mem-bandwidth", &["size_mib=8"], "MB/s"),
        ("cache", &["size_mib=4"], "ops/s"),
        ("memory-bomb", &["max_mib=96"], "MB/s"),
        ("fork-bomb", &["max_children=8"], "forks/s"),
        ("disk", &["size_mib=4"], "MB/s"),
    ];
    for (kind, params, want_unit) in cases {
        let mut cmd = Command::new(AGENT);
        cmd.args(["--stress", kind, "--duration-ms", "200"])
            .env("HVBENCH_SCRATCH_DIR", &scratch);
        for p in params.iter() {
            cmd.args(["--param", p]);
        }
        let started = Instant::now();
        let out = cmd.output().unwrap();
        let took = started.elapsed();
        assert!(
            out.status.success(),
            "{kind}: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(took < Duration::from_secs(2), "{kind} took {took:?}");
        let messages = frames(&out.stdout);
        let samples: Vec<_> = messages
            .iter()
            .filter(|m| matches!(m, Message::Sample { .. }))
            .collect();
        assert_eq!(samples.len(), 1, "{kind}: {messages:?}");
        let Message::Sample {
            workload,
            metric,
            unit,
            better,
            warmup,
            value,
            ..
        } = samples[0]
        else {
            unreachable!()
        };
        assert_eq!(workload, &format!("stress-{kind}"));
        assert_eq!(metric, "throughput");
        assert_eq!(unit, want_unit, "{kind}");
        assert_eq!((*better, *warmup), (Better::Higher, false));
        assert!(value.is_finite() && *value > 0.0, "{kind}: {value}");
        assert!(
            messages.iter().all(|m| matches!(
                m,
                Message::Log { .. } | Message::Sample { .. } | Message::Done { .. }
            )),
            "{kind}: {messages:?}"
        );
        assert_eq!(
            messages.last(),
            Some(&Message::Done {
                samples: 1,
                failures: 0
            })
        );
    }
    let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().collect();
    assert!(left.is_empty(), "disk stressor left {left:?}");
    std::fs::remove_dir(&scratch).unwrap();
}

#[test]
fn unknown_kind_and_bad_params_exit_2() {
    for args in [
        &["--stress", "network", "--duration-ms", "10"][..],
        &[
            "--stress",
            "cpu",
            "--duration-ms",
            "10",
            "--param",
            "size_mib=1",
        ],
        &[
            "--stress",
            "cache",
            "--duration-ms",
            "10",
            "--param",
            "size_mib=-3",
        ],
        &["--stress", "cpu"],
    ] {
        let out = Command::new(AGENT).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("hvbench-agent: "), "{args:?}: {err}");
    }
}

/// Read `stdout` frame by frame on a thread of its own, each frame sent on with the moment
/// it arrived.
fn frames_as_they_come(
    mut stdout: impl Read + Send + 'static,
) -> mpsc::Receiver<(Instant, Message)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut decoder = Decoder::new();
        let mut buf = [0u8; 4096];
        let send = |events: Vec<Event>| {
            for e in events {
                match e {
                    Event::Frame(m) => {
                        let _ = tx.send((Instant::now(), m));
                    }
                    Event::Bad { error, excerpt } => panic!("bad frame ({error}): {excerpt}"),
                }
            }
        };
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => send(decoder.push(&buf[..n])),
            }
        }
        send(decoder.finish());
    });
    rx
}

#[test]
fn an_aggressor_plan_beats_until_sigterm_then_cleans_up_and_says_done() {
    let plan = std::env::temp_dir().join(format!(
        "hvbench-agent-{}-aggressor.json",
        std::process::id()
    ));
    std::fs::write(
        &plan,
        format!(
            r#"{{"version":{PLAN_VERSION},"warmup":0,"samples":0,"min_window_ms":1,"workloads":[],
                "stress":{{"kind":"cpu","duration_ms":60000,"report_ms":200}}}}"#
        ),
    )
    .unwrap();
    let mut child = Command::new(AGENT)
        .arg("--plan")
        .arg(&plan)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let frames = frames_as_they_come(child.stdout.take().unwrap());

    // About a second of heartbeats.
    let started = Instant::now();
    let mut before = Vec::new();
    while let Some(left) = Duration::from_millis(1000).checked_sub(started.elapsed()) {
        match frames.recv_timeout(left) {
            Ok((_, m)) => before.push(m),
            Err(mpsc::RecvTimeoutError::Timeout) => break,
            Err(e) => panic!("the agent ended early: {e}; frames: {before:?}"),
        }
    }
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill with our own child's pid and a valid signal number.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let signalled = Instant::now();

    // Then `Done` within 2 s, and a clean exit.
    let mut after = Vec::new();
    let done_at = loop {
        let left = Duration::from_secs(2).saturating_sub(signalled.elapsed());
        match frames.recv_timeout(left) {
            Ok((at, m)) => {
                let done = matches!(m, Message::Done { .. });
                after.push(m);
                if done {
                    break at;
                }
            }
            Err(e) => {
                let _ = child.kill();
                panic!("no Done within 2 s of SIGTERM ({e}); after it: {after:?}");
            }
        }
    };
    assert!(done_at - signalled < Duration::from_secs(2));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(3) {
            let _ = child.kill();
            panic!("the agent did not exit after Done");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = std::fs::remove_file(&plan);
    assert!(status.success(), "{status:?}");

    assert!(matches!(&before[0], Message::Hello { mode, .. } if mode == "host"));
    assert!(matches!(&before[1], Message::Facts { .. }));
    let heartbeats = before
        .iter()
        .filter(|m| matches!(m, Message::Sample { .. }))
        .count();
    assert!(
        heartbeats >= 3,
        "{heartbeats} samples in the first second: {before:?}"
    );
    let all: Vec<&Message> = before.iter().chain(&after).collect();
    let samples: Vec<_> = all
        .iter()
        .filter_map(|m| match m {
            Message::Sample {
                workload,
                metric,
                unit,
                better,
                warmup,
                index,
                value,
                elapsed_ns,
                ..
            } => {
                assert_eq!(
                    (workload.as_str(), metric.as_str(), unit.as_str()),
                    ("stress-cpu", "throughput", "ops/s")
                );
                assert_eq!((*better, *warmup), (Better::Higher, false));
                assert!(value.is_finite() && *value > 0.0, "{m:?}");
                // One window each, not the run so far.
                assert!(*elapsed_ns < 1_000_000_000, "{m:?}");
                Some(*index)
            }
            _ => None,
        })
        .collect();
    assert!(
        samples
            .iter()
            .enumerate()
            .all(|(i, &index)| index as usize == i),
        "{samples:?}"
    );
    assert!(
        !all.iter().any(|m| matches!(m, Message::Failed { .. })),
        "{all:?}"
    );
    assert_eq!(
        all.last(),
        Some(&&Message::Done {
            samples: samples.len() as u32,
            failures: 0
        })
    );
}

#[test]
fn the_net_stressor_sends_to_a_peer_process_window_by_window() {
    let mut peer = Command::new(AGENT)
        .args(["--peer", "127.0.0.1:0", "--peer-lifetime-s", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(peer.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line
        .trim()
        .strip_prefix(hvbench_proto::PEER_READY)
        .unwrap_or_else(|| panic!("not a ready line: {line:?}"))
        .to_string();
    let out = Command::new(AGENT)
        .args([
            "--stress",
            "net",
            "--duration-ms",
            "500",
            "--report-ms",
            "100",
        ])
        .args(["--param", "streams=2", "--peer-addr", &addr])
        .output()
        .unwrap();
    let _ = peer.kill();
    let _ = peer.wait();
    assert!(
        out.status.success(),
        "{:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let messages = frames(&out.stdout);
    let rates: Vec<f64> = messages
        .iter()
        .filter_map(|m| match m {
            Message::Sample { unit, value, .. } if unit == "Mbit/s" => Some(*value),
            _ => None,
        })
        .collect();
    assert!((3..=6).contains(&rates.len()), "{messages:?}");
    assert!(rates.iter().sum::<f64>() > 0.0, "{rates:?}");
    assert_eq!(
        messages.last(),
        Some(&Message::Done {
            samples: rates.len() as u32,
            failures: 0
        })
    );
}
