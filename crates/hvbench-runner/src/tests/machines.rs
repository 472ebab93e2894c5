//! Several machines at once: each machine's platforms take turns, machines overlap, rounds
//! stay in step, and one machine keeps the run's own schedule.

use super::*;

/// When each trial of a platform ran: (platform, start, end).
type Spans =
    std::sync::Arc<std::sync::Mutex<Vec<(&'static str, std::time::Instant, std::time::Instant)>>>;

/// A platform on a named machine whose trials take `ms` and note when they ran.
struct Timed {
    name: &'static str,
    machine: Option<&'static str>,
    ms: u64,
    spans: Spans,
}

impl Platform for Timed {
    fn name(&self) -> &str {
        self.name
    }
    fn driver(&self) -> &'static str {
        "host"
    }
    fn machine(&self) -> Option<&str> {
        self.machine
    }
    fn facts(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
    fn run_trial(&mut self, _: &TrialRequest<'_>, on_event: &mut dyn FnMut(Event)) -> TrialEnd {
        let start = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(self.ms));
        on_event(Event::Frame(Message::Sample {
            workload: "syscall".into(),
            metric: "latency".into(),
            unit: "ns".into(),
            better: hvbench_proto::Better::Lower,
            warmup: false,
            index: 0,
            value: 1.0,
            iterations: 1,
            elapsed_ns: 1,
        }));
        self.spans
            .lock()
            .unwrap()
            .push((self.name, start, std::time::Instant::now()));
        TrialEnd::Completed
    }
}

#[test]
fn machines_run_at_once_and_one_machines_platforms_take_turns() {
    let spans = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let timed = |name, machine| -> Box<dyn Platform> {
        Box::new(Timed {
            name,
            machine,
            ms: 300,
            spans: spans.clone(),
        })
    };
    let mut platforms = vec![
        timed("local", None),
        timed("m1-a", Some("m1")),
        timed("m1-b", Some("m1")),
        timed("m2", Some("m2")),
    ];
    let mut plan = Plan::default_plan();
    plan.repetitions = 2;
    plan.seed = Some(3);
    let store = Store::open_in_memory().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        logs_dir: dir.path().into(),
        hvbench_version: "test".into(),
        stop: None,
    };
    let out = run(&plan, &mut platforms, &store, &opts, &mut Quiet).unwrap();
    assert_eq!((out.trials_ok, out.rounds), (8, 2));
    let spans = spans.lock().unwrap().clone();
    let overlap = |a: &str, b: &str| {
        spans.iter().filter(|s| s.0 == a).any(|x| {
            spans
                .iter()
                .filter(|s| s.0 == b)
                .any(|y| x.1 < y.2 && y.1 < x.2)
        })
    };
    // Different machines overlap (each machine's first trial of a round starts with the round;
    // which of m1's two goes first is the schedule's choice); one machine's platforms never do.
    assert!(
        overlap("local", "m2") && (overlap("m1-a", "m2") || overlap("m1-b", "m2")),
        "{spans:?}"
    );
    assert!(!overlap("m1-a", "m1-b"), "{spans:?}");
    // Rounds stay in step: no trial of round 2 starts before every round-1 trial ended.
    let trials = store.trials(out.run).unwrap();
    let end_r0 = trials
        .iter()
        .filter(|t| t.round == 0)
        .filter_map(|t| t.finished_ms)
        .max();
    let start_r1 = trials
        .iter()
        .filter(|t| t.round == 1)
        .map(|t| t.started_ms)
        .min();
    assert!(start_r1 >= end_r0, "{trials:?}");
}

#[test]
fn one_machine_keeps_the_runs_own_schedule() {
    // Runs on one machine (every run before machines over SSH) visit alternatives in the
    // order drawn from the run's own seed, so that their resume draws it again: the trials'
    // order in the store is `schedule(platforms, rounds, seed)`.
    let names = ["a", "b", "c"];
    let mut platforms: Vec<Box<dyn Platform>> = names.iter().map(|n| scripted(n)).collect();
    let mut plan = Plan::default_plan();
    plan.repetitions = 2;
    plan.seed = Some(11);
    let store = Store::open_in_memory().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        logs_dir: dir.path().into(),
        hvbench_version: "test".into(),
        stop: None,
    };
    let out = run(&plan, &mut platforms, &store, &opts, &mut Quiet).unwrap();
    let visited: Vec<String> = store
        .trials(out.run)
        .unwrap()
        .into_iter()
        .map(|t| t.platform)
        .collect();
    let expected: Vec<String> = schedule(3, 2, 11)
        .into_iter()
        .flatten()
        .map(|i| names[i].to_string())
        .collect();
    assert_eq!(visited, expected);
    assert_eq!(crate::campaign::group_seed(11, 0, 1), 11);
    assert_ne!(crate::campaign::group_seed(11, 0, 2), 11);
}
