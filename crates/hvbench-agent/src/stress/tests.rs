//! The stressors' shared test harness (`check`, `decode`, `stopped_after_start`, used by each
//! kind's tests) and the tests of what all stressors share: parameters against the catalog,
//! windows on the report grid, the stop flag, aggressor plans.

use super::driver::drive_started;
use super::*;
use crate::frames::FrameWriter;
use hvbench_proto::catalog::Better;
use hvbench_proto::{Decoder, Event, Message, StressPlan};
use std::sync::Arc;

#[test]
fn buffers_are_cut_to_half_the_available_memory() {
    let mut logs = Vec::new();
    assert_eq!(fit(256, 2, Some(300), &mut logs), 75);
    assert!(logs[0].contains("cut to 75"), "{logs:?}");
    assert_eq!(fit(32, 1, Some(300), &mut logs), 32);
    assert_eq!(fit(256, 2, None, &mut logs), 256);
    assert_eq!(logs.len(), 1);
}

/// Run one window of `d` on `running` and check it: work was done, and the window ended
/// on time.
pub(super) fn check(running: &mut dyn Running, d: Duration) -> Work {
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let work = running.window(started + d, &stop).unwrap();
    let took = started.elapsed();
    assert!(
        took >= d && took < d + Duration::from_millis(300),
        "a {d:?} window took {took:?}"
    );
    assert!(
        work.iterations > 0 && work.amount > 0.0 && work.rate(took).is_finite(),
        "{work:?}"
    );
    work
}

fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn decode(bytes: &[u8]) -> Vec<Message> {
    let mut decoder = Decoder::new();
    let mut events = decoder.push(bytes);
    events.extend(decoder.finish());
    events
        .into_iter()
        .map(|e| match e {
            Event::Frame(m) => m,
            Event::Bad { error, .. } => panic!("bad frame: {error}"),
        })
        .collect()
}

/// The (index, unit, value, iterations, elapsed) of every sample, checking the fields
/// every stressor sample shares.
fn samples(messages: &[Message], kind: &str) -> Vec<(u32, String, f64, u64, u64)> {
    messages
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
                iterations,
                elapsed_ns,
            } => {
                assert_eq!(workload, &format!("stress-{kind}"));
                assert_eq!(metric, METRIC);
                assert_eq!((*better, *warmup), (Better::Higher, false));
                assert!(value.is_finite() && *value >= 0.0, "{m:?}");
                Some((*index, unit.clone(), *value, *iterations, *elapsed_ns))
            }
            _ => None,
        })
        .collect()
}

fn run(stressor: &Stressor, schedule: Schedule, stop: &AtomicBool) -> Vec<Message> {
    let mut out = Vec::new();
    run_and_report(stressor, &Env::default(), schedule, stop, &mut out).unwrap();
    decode(&out)
}

fn millis(duration: u64, report: Option<u64>) -> Schedule {
    Schedule {
        duration: Duration::from_millis(duration),
        report: report.map(Duration::from_millis),
    }
}

#[test]
fn kinds_and_params_are_checked() {
    for kind in KINDS {
        let s = Stressor::from_args(kind, &BTreeMap::new()).unwrap();
        assert_eq!(s.kind(), *kind);
        assert_eq!(s.label(), format!("stress-{kind}"));
    }
    assert_eq!(
        Stressor::from_args("mem-bandwidth", &BTreeMap::new()),
        Ok(Stressor::MemBandwidth { size_mib: 256 })
    );
    assert_eq!(
        Stressor::from_args("cache", &BTreeMap::new()),
        Ok(Stressor::Cache { size_mib: 32 })
    );
    assert_eq!(
        Stressor::from_args("fork-bomb", &args(&[("max_children", "8")])),
        Ok(Stressor::ForkBomb { max_children: 8 })
    );
    assert_eq!(
        Stressor::from_args("net", &BTreeMap::new()),
        Ok(Stressor::Net { streams: 1 })
    );
    let e = Stressor::from_args("network", &BTreeMap::new()).unwrap_err();
    assert!(
        e.contains("unknown stress kind `network`") && e.contains("fork-bomb, disk, net"),
        "{e}"
    );
    let e = Stressor::from_args("cpu", &args(&[("size_mib", "1")])).unwrap_err();
    assert!(
        e.contains("unknown parameter `size_mib`") && e.contains("takes: none"),
        "{e}"
    );
    let e = Stressor::from_args("disk", &args(&[("size_mib", "0")])).unwrap_err();
    assert!(e.contains("bad parameter size_mib=0"), "{e}");
    let e = Stressor::from_args("cache", &args(&[("size_mib", "lots")])).unwrap_err();
    assert!(e.contains("want an integer"), "{e}");
}

#[test]
fn kinds_and_params_match_the_catalog() {
    let catalog_kinds: Vec<&str> = catalog::STRESSORS.iter().map(|s| s.kind).collect();
    assert_eq!(KINDS, catalog_kinds.as_slice());
    for def in catalog::STRESSORS {
        let s = Stressor::from_args(def.kind, &BTreeMap::new())
            .unwrap_or_else(|e| panic!("{}: {e}", def.kind));
        assert_eq!(s.kind(), def.kind);
        for &(name, min, max) in def.params {
            for ok in [min, max] {
                let given = args(&[(name, &ok.to_string())]);
                assert!(
                    Stressor::from_args(def.kind, &given).is_ok(),
                    "{} {name}={ok}",
                    def.kind
                );
            }
            let mut beyond = vec![max + 1];
            if min > 0 {
                beyond.push(min - 1);
            }
            for bad in beyond {
                let given = args(&[(name, &bad.to_string())]);
                let e = Stressor::from_args(def.kind, &given).unwrap_err();
                assert!(e.contains(&format!("{min} to {max}")), "{e}");
            }
        }
    }
}

#[test]
fn one_window_without_a_report_period() {
    let stop = AtomicBool::new(false);
    let messages = run(&Stressor::Cpu, millis(50, None), &stop);
    assert_eq!(messages.len(), 2, "{messages:?}");
    let s = samples(&messages, "cpu");
    assert_eq!(s.len(), 1);
    let (index, unit, value, iterations, elapsed_ns) = &s[0];
    assert_eq!((*index, unit.as_str()), (0, "ops/s"));
    assert!(*value > 0.0 && *iterations > 0 && *elapsed_ns > 0);
    assert_eq!(
        messages[1],
        Message::Done {
            samples: 1,
            failures: 0
        }
    );
}

#[test]
fn periodic_windows_each_report_their_own_rate() {
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let messages = run(&Stressor::Cpu, millis(1200, Some(300)), &stop);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1200) && took < Duration::from_millis(1600),
        "{took:?}"
    );
    let s = samples(&messages, "cpu");
    assert!((3..=5).contains(&s.len()), "{messages:?}");
    for (i, (index, _, value, iterations, elapsed_ns)) in s.iter().enumerate() {
        assert_eq!(*index as usize, i);
        assert!(*value > 0.0 && *iterations > 0);
        // Each sample is one window, not the run so far.
        assert!(*elapsed_ns < 500_000_000, "window {i}: {elapsed_ns} ns");
    }
    assert_eq!(
        messages.last(),
        Some(&Message::Done {
            samples: s.len() as u32,
            failures: 0
        })
    );
}

#[test]
fn windows_end_on_the_report_grid() {
    let schedule = millis(1000, Some(300));
    let first = Instant::now();
    let end = first + schedule.duration;
    let at = |ms| first + Duration::from_millis(ms);
    assert_eq!(schedule.window_end(first, first, end), at(300));
    // A window that ran late ends on the next grid line, not 300 ms after its start.
    assert_eq!(schedule.window_end(first, at(310), end), at(600));
    assert_eq!(schedule.window_end(first, at(650), end), at(900));
    assert_eq!(schedule.window_end(first, at(950), end), end);
    assert_eq!(millis(1000, None).window_end(first, at(10), end), end);
}

/// Stop `stressor`, running on a long schedule, `after` into its run; returns its frames
/// and how long it took to stop.
fn stopped_after(
    stressor: &Stressor,
    report: Option<u64>,
    after: Duration,
) -> (Vec<Message>, Duration) {
    stopped_after_start(stressor, || stressor.start(&Env::default()), report, after)
}

/// [`stopped_after`], set up by `start`.
pub(super) fn stopped_after_start(
    stressor: &Stressor,
    start: impl FnOnce() -> Result<Box<dyn Running>, String>,
    report: Option<u64>,
    after: Duration,
) -> (Vec<Message>, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let setter = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(after);
            stop.store(true, Ordering::Relaxed);
            Instant::now()
        })
    };
    let mut out = Vec::new();
    let mut frames = FrameWriter::new(&mut out);
    drive_started(stressor, start, millis(60_000, report), &stop, &mut frames).unwrap();
    frames.done().unwrap();
    let returned = Instant::now();
    let set_at = setter.join().unwrap();
    (decode(&out), returned.saturating_duration_since(set_at))
}

#[test]
fn the_stop_flag_ends_a_long_run_soon() {
    for stressor in [
        Stressor::Cpu,
        Stressor::Cache { size_mib: 2 },
        Stressor::MemBandwidth { size_mib: 4 },
        Stressor::MemoryBomb { max_mib: Some(64) },
        Stressor::ForkBomb { max_children: 4 },
    ] {
        let (messages, lag) = stopped_after(&stressor, Some(100), Duration::from_millis(250));
        assert!(lag < Duration::from_millis(300), "{stressor:?}: {lag:?}");
        let s = samples(&messages, stressor.kind());
        assert!(!s.is_empty(), "{stressor:?}: {messages:?}");
        assert!(s.iter().all(|(_, unit, ..)| unit == stressor.unit()));
        assert_eq!(
            messages.last(),
            Some(&Message::Done {
                samples: s.len() as u32,
                failures: 0
            }),
            "{stressor:?}"
        );
    }
}

/// A stressor whose every window does no work once the stop flag is up, as a stress-ng run
/// stopped before it could report.
struct IdleWhenStopped;

impl Running for IdleWhenStopped {
    fn window(&mut self, until: Instant, stop: &AtomicBool) -> Result<Work, String> {
        while !super::over(until, stop) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let iterations = if stop.load(Ordering::Relaxed) { 0 } else { 5 };
        Ok(Work {
            iterations,
            amount: iterations as f64,
        })
    }
}

#[test]
fn a_window_cut_short_by_the_stop_flag_with_no_work_sends_no_sample() {
    let stressor = Stressor::Cpu;
    let (messages, _) = stopped_after_start(
        &stressor,
        || Ok(Box::new(IdleWhenStopped)),
        Some(50),
        Duration::from_millis(275),
    );
    let s = samples(&messages, stressor.kind());
    assert!(s.len() >= 3, "{messages:?}");
    assert!(s.iter().all(|(_, _, value, ..)| *value > 0.0), "{s:?}");
    assert_eq!(
        messages.last(),
        Some(&Message::Done {
            samples: s.len() as u32,
            failures: 0
        })
    );
}

fn aggressor(plan: &StressPlan, peer: Option<&str>) -> Vec<Message> {
    let mut out = Vec::new();
    let mut frames = FrameWriter::new(&mut out);
    let env = Env {
        peer,
        ..Env::default()
    };
    run_aggressor(plan, &env, &AtomicBool::new(false), &mut frames).unwrap();
    frames.done().unwrap();
    decode(&out)
}

fn stress_plan(kind: &str, params: &[(&str, &str)], duration_ms: u64) -> StressPlan {
    StressPlan {
        kind: kind.into(),
        params: args(params),
        duration_ms,
        report_ms: 50,
    }
}

#[test]
fn a_bad_aggressor_plan_is_one_failure() {
    let bad = [
        (stress_plan("network", &[], 100), "unknown stress kind"),
        (stress_plan("cpu", &[("x", "1")], 100), "unknown parameter"),
        (
            stress_plan("cache", &[("size_mib", "0")], 100),
            "bad parameter",
        ),
        (stress_plan("cpu", &[], 0), "bad duration_ms 0"),
        (
            StressPlan {
                report_ms: 0,
                ..stress_plan("cpu", &[], 100)
            },
            "bad report_ms 0",
        ),
        (stress_plan("net", &[], 100), "no network peer"),
    ];
    for (plan, want) in bad {
        let messages = aggressor(&plan, None);
        assert_eq!(messages.len(), 2, "{messages:?}");
        match &messages[0] {
            Message::Failed { workload, reason } => {
                assert_eq!(workload, &format!("stress-{}", plan.kind));
                assert!(reason.contains(want), "{reason}");
            }
            m => panic!("not a failure: {m:?}"),
        }
        assert_eq!(
            messages[1],
            Message::Done {
                samples: 0,
                failures: 1
            }
        );
    }
}

#[test]
fn an_aggressor_plan_sends_periodic_samples() {
    let messages = aggressor(&stress_plan("cache", &[("size_mib", "1")], 230), None);
    let s = samples(&messages, "cache");
    assert!((3..=6).contains(&s.len()), "{messages:?}");
    assert!(s.iter().enumerate().all(|(i, w)| w.0 as usize == i));
}
