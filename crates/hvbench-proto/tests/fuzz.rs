//! Fuzzing the frame decoder at scale: the checked-in corpus (`fuzz/corpus/frames/*.bin`) is
//! replayed every time, then proptest feeds it mutations of the corpus and of valid streams.
//! `HVBENCH_FUZZ_CASES` sets the number of generated cases per property (default 2000; CI sets
//! more). Whatever the input: no panic, short excerpts, and the events do not depend on how the
//! bytes were split into reads. A panic found here becomes a file in the corpus.

use hvbench_proto::{encode, Better, Decoder, Event, Message};
use proptest::prelude::*;
use std::path::PathBuf;

fn cases() -> u32 {
    std::env::var("HVBENCH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/frames");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    assert!(out.len() >= 10, "the frames corpus is missing");
    out
}

fn decode_whole(bytes: &[u8]) -> Vec<Event> {
    let mut d = Decoder::new();
    let mut ev = d.push(bytes);
    ev.extend(d.finish());
    ev
}

fn decode_split(bytes: &[u8], cuts: &[usize]) -> Vec<Event> {
    let mut d = Decoder::new();
    let mut ev = Vec::new();
    let mut at = 0;
    for &c in cuts {
        let c = c.min(bytes.len()).max(at);
        ev.extend(d.push(&bytes[at..c]));
        at = c;
    }
    ev.extend(d.push(&bytes[at..]));
    ev.extend(d.finish());
    ev
}

/// Events compared by their debug text: a NaN sample is not equal to itself.
fn shown(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| format!("{e:?}")).collect()
}

/// What must hold for any input.
fn check(bytes: &[u8], cuts: &[usize]) -> Vec<Event> {
    let whole = decode_whole(bytes);
    let mut cuts = cuts.to_vec();
    cuts.sort_unstable();
    assert_eq!(
        shown(&whole),
        shown(&decode_split(bytes, &cuts)),
        "split reads change the events"
    );
    for ev in &whole {
        if let Event::Bad { error, excerpt } = ev {
            assert!(!error.to_string().is_empty());
            assert!(excerpt.len() <= 4096, "excerpts stay short");
        }
    }
    whole
}

#[test]
fn corpus_replays_without_panic() {
    for (name, bytes) in corpus() {
        let events = check(&bytes, &[1, bytes.len() / 3, bytes.len() / 2]);
        if name.ends_with("valid-stream.bin") {
            assert_eq!(events.len(), 3, "{events:?}");
            assert!(
                events.iter().all(|e| matches!(e, Event::Frame(_))),
                "{events:?}"
            );
        }
        if name.ends_with("bad-checksum.bin") || name.ends_with("huge-length.bin") {
            assert!(
                !events.is_empty() && events.iter().all(|e| matches!(e, Event::Bad { .. })),
                "{name}: {events:?}"
            );
        }
    }
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        ("[ -~]{0,12}", "[a-z]{0,6}").prop_map(|(agent_version, mode)| Message::Hello {
            agent_version,
            mode
        }),
        (
            "[a-z@-]{0,12}",
            any::<bool>(),
            any::<u32>(),
            any::<f64>(),
            any::<u64>()
        )
            .prop_map(
                |(metric, warmup, index, value, iterations)| Message::Sample {
                    workload: "syscall".into(),
                    metric,
                    unit: "ns".into(),
                    better: Better::Lower,
                    warmup,
                    index,
                    value,
                    iterations,
                    elapsed_ns: iterations / 2,
                }
            ),
        ("\\PC{0,40}").prop_map(|message| Message::Log { message }),
        // A tool's raw output: any text, newlines and control characters included (fio's JSON,
        // pgbench's report), since the frame encoding must carry it intact.
        ("[a-z#\\[\\]=-]{1,20}", "[0-9a-z() ]{0,12}", "(?s).{0,300}").prop_map(
            |(workload, window, output)| Message::Output {
                workload,
                window,
                output,
            }
        ),
        (any::<u32>(), any::<u32>())
            .prop_map(|(samples, failures)| Message::Done { samples, failures }),
    ]
}

/// A byte-level mutation.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(a, x)| Mutation::Flip(a, x)),
        (any::<usize>(), 1usize..40).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (
            any::<usize>(),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..16),
                Just(b"\n".to_vec()),
                Just(b"HVB/1 ".to_vec()),
                Just(b"HVB/".to_vec()),
                Just(b"99999999999 ".to_vec()),
            ]
        )
            .prop_map(|(a, b)| Mutation::Insert(a, b)),
        (any::<usize>(), 1usize..200).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
    ]
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len();
    match m {
        Mutation::Flip(a, x) if n > 0 => bytes[a % n] ^= x,
        Mutation::Delete(a, k) if n > 0 => {
            let a = a % n;
            bytes.drain(a..(a + k).min(n));
        }
        Mutation::Insert(a, b) => {
            let a = a % (n + 1);
            bytes.splice(a..a, b.iter().copied());
        }
        Mutation::Duplicate(a, k) if n > 0 => {
            let a = a % n;
            let piece = bytes[a..(a + k).min(n)].to_vec();
            bytes.splice(a..a, piece);
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Integration tests have no lib.rs beside them to store regressions next to: a failure
        // found here is added to fuzz/corpus/frames by hand.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_corpus(pick in any::<usize>(), muts in proptest::collection::vec(mutation(), 1..8),
                      cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
        let corpus = corpus();
        let mut bytes = corpus[pick % corpus.len()].1.clone();
        for m in &muts {
            mutate(&mut bytes, m);
        }
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        check(&bytes, &cuts);
    }

    #[test]
    fn mutated_valid_streams(msgs in proptest::collection::vec(message(), 1..6),
                             muts in proptest::collection::vec(mutation(), 0..6),
                             cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
        let mut bytes: Vec<u8> = msgs.iter().flat_map(encode).collect();
        let untouched = muts.is_empty();
        for m in &muts {
            mutate(&mut bytes, m);
        }
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        let events = check(&bytes, &cuts);
        if untouched {
            let want: Vec<Event> = msgs.iter().cloned().map(Event::Frame).collect();
            prop_assert_eq!(shown(&events), shown(&want));
        }
    }

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..8192),
                       cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
        let cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        check(&bytes, &cuts);
    }
}
