//! The built agent binary running stressors, as an isolation experiment's runner would.

use hvbench_proto::catalog::Better;
use hvbench_proto::{Decoder, Event, Message};
use std::process::Command;
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
