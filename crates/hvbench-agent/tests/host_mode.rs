//! The built agent binary in host mode, as the host driver runs it.

use hvbench_proto::{catalog, Decoder, Event, Message, PLAN_VERSION};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const AGENT: &str = env!("CARGO_BIN_EXE_hvbench-agent");

/// A plan file in the temp directory, removed when dropped.
struct PlanFile(PathBuf);

impl PlanFile {
    fn new(name: &str, json: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("hvbench-agent-{}-{name}.json", std::process::id()));
        std::fs::write(&path, json).unwrap();
        PlanFile(path)
    }
}

impl Drop for PlanFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn run_agent(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(AGENT)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("agent starts");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// Decode stdout, failing the test on any frame that is not intact.
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

fn plan_json(warmup: u32, samples: u32, workloads: &str) -> String {
    format!(
        r#"{{"version":{PLAN_VERSION},"warmup":{warmup},"samples":{samples},"min_window_ms":20,"workloads":[{workloads}]}}"#
    )
}

fn samples_of<'a>(messages: &'a [Message], name: &'a str) -> impl Iterator<Item = &'a Message> {
    messages
        .iter()
        .filter(move |m| matches!(m, Message::Sample { workload, .. } if workload == name))
}

#[test]
fn runs_all_workloads_and_reports_in_order() {
    let (warmup, samples) = (1, 2);
    let plan = PlanFile::new(
        "all",
        &plan_json(
            warmup,
            samples,
            r#"{"name":"cpu-int"},{"name":"syscall"},
               {"name":"mem-bandwidth","params":{"kernel":"copy","size_mib":2}}"#,
        ),
    );
    let out = run_agent(&["--plan", plan.0.to_str().unwrap()], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let messages = frames(&out.stdout);

    assert!(
        matches!(&messages[0], Message::Hello { agent_version, mode }
            if agent_version == env!("CARGO_PKG_VERSION") && mode == "host"),
        "{:?}",
        messages[0]
    );
    let Message::Facts { facts } = &messages[1] else {
        panic!("second frame is not Facts: {:?}", messages[1]);
    };
    assert!(facts.contains_key("kernel.release"));
    assert_eq!(facts["agent.mode"], "host");

    for name in ["cpu-int", "syscall", "mem-bandwidth"] {
        let def = catalog::workload(name).unwrap();
        let windows: Vec<_> = samples_of(&messages, name).collect();
        assert_eq!(windows.len(), (warmup + samples) as usize, "{name}");
        let warmups = windows
            .iter()
            .filter(|m| matches!(m, Message::Sample { warmup: true, .. }))
            .count();
        assert_eq!(warmups, warmup as usize, "{name}");
        for (i, m) in windows.iter().enumerate() {
            let Message::Sample {
                unit,
                better,
                index,
                value,
                iterations,
                ..
            } = m
            else {
                unreachable!()
            };
            assert_eq!((unit.as_str(), *better), (def.unit, def.better), "{name}");
            assert_eq!(*index as usize, i, "{name}");
            assert!(value.is_finite() && *value > 0.0, "{name}: {value}");
            assert!(*iterations > 0);
        }
    }
    assert!(!messages.iter().any(|m| matches!(m, Message::Failed { .. })));
    assert_eq!(
        messages.last(),
        Some(&Message::Done {
            samples: 3 * (warmup + samples),
            failures: 0
        })
    );
}

#[test]
fn unknown_workload_fails_alone() {
    let plan = plan_json(0, 1, r#"{"name":"no-such-workload"},{"name":"syscall"}"#);
    let out = run_agent(&["--plan", "-"], Some(&plan));
    assert_eq!(out.status.code(), Some(0));
    let messages = frames(&out.stdout);
    assert!(messages.iter().any(|m| matches!(m,
        Message::Failed { workload, reason }
            if workload == "no-such-workload" && reason.contains("unknown workload"))));
    assert_eq!(samples_of(&messages, "syscall").count(), 1);
    assert_eq!(
        messages.last(),
        Some(&Message::Done {
            samples: 1,
            failures: 1
        })
    );
}

#[test]
fn unknown_plan_version_exits_2_with_a_message() {
    let plan = PlanFile::new(
        "v99",
        r#"{"version":99,"warmup":0,"samples":1,"min_window_ms":20,"workloads":[]}"#,
    );
    let out = run_agent(&["--plan", plan.0.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("plan version 99"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_usage_and_unreadable_plans_exit_2() {
    for args in [
        &[][..],
        &["--frobnicate"],
        &["--plan", "/nonexistent/plan.json"],
    ] {
        let out = run_agent(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    let out = run_agent(&["--plan", "-"], Some("{not json"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("malformed plan"));
}

#[test]
fn version_flag() {
    let out = run_agent(&["--version"], None);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("hvbench-agent {}", env!("CARGO_PKG_VERSION"))
    );
}

/// `fork-exec` execs the agent itself (`/proc/self/exe --exit-now`), so it can only be tested
/// through the real binary.
#[test]
fn fork_exec_runs_the_agent_itself() {
    let plan = plan_json(0, 2, r#"{"name":"fork-exec"}"#);
    let out = run_agent(&["--plan", "-"], Some(&plan));
    assert_eq!(out.status.code(), Some(0));
    let messages = frames(&out.stdout);
    let def = catalog::workload("fork-exec").unwrap();
    let samples: Vec<_> = samples_of(&messages, "fork-exec").collect();
    assert_eq!(samples.len(), 2, "{messages:?}");
    for m in samples {
        let Message::Sample {
            unit,
            better,
            value,
            ..
        } = m
        else {
            unreachable!()
        };
        assert_eq!((unit.as_str(), *better), (def.unit, def.better));
        assert!(value.is_finite() && *value > 0.0);
    }
    let out = run_agent(&["--exit-now"], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
}
