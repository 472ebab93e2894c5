//! Fuzzing the experiment-file parser at scale: the checked-in corpus
//! (`fuzz/corpus/spec/*.toml`) is replayed every time, then proptest mutates it bytewise and
//! linewise. `HVBENCH_FUZZ_CASES` sets the number of generated cases (default 2000; CI sets
//! more). Whatever the text: no panic, and every error points inside the text. A panic found
//! here becomes a file in the corpus.

use proptest::prelude::*;
use std::path::PathBuf;

fn cases() -> u32 {
    std::env::var("HVBENCH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn corpus() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/spec");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.display().to_string(),
                String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned(),
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 10, "the spec corpus is missing");
    out
}

/// Parse; a plan must survive its JSON round trip (resume reloads it), an error must point
/// inside the text.
fn check(text: &str) -> bool {
    match hvbench_spec::parse("fuzz.toml", text) {
        Ok(plan) => {
            let json = serde_json::to_string(&plan).unwrap();
            assert_eq!(
                serde_json::from_str::<hvbench_spec::Plan>(&json).unwrap(),
                plan
            );
            let _ = plan.render();
            let _ = plan.agent_plan();
            let _ = plan.guest_boots();
            // Every platform's host is declared, never beside the lab; every address reads back.
            for p in &plan.platforms {
                if let Some(h) = &p.host {
                    assert!(plan.host(h).is_some() && !p.lab, "{p:?}");
                }
            }
            for h in &plan.hosts {
                let ssh = h.ssh.to_string();
                assert_eq!(hvbench_spec::SshTarget::parse(&ssh).as_ref(), Ok(&h.ssh));
                assert!(!h.ssh.destination().starts_with('-'));
            }
            for s in &plan.isolation {
                assert!(s.cells().len() > s.stressors.len());
                let _ = s.victim_plan(&plan);
                for x in &s.stressors {
                    let _ = x.stress_plan(1000, 100);
                }
            }
            true
        }
        Err(e) => {
            assert!(!e.is_empty());
            let lines = text.split('\n').count();
            for d in &e.diagnostics {
                if let (Some(line), Some(column)) = (d.line, d.column) {
                    assert!(line >= 1 && line <= lines, "{d}");
                    let width = text.split('\n').nth(line - 1).unwrap().chars().count();
                    assert!(column >= 1 && column <= width + 1, "{d}");
                }
            }
            let _ = e.to_string();
            false
        }
    }
}

#[test]
fn corpus_replays_without_panic() {
    for (name, text) in corpus() {
        let ok = check(&text);
        // The shipped examples are valid (a BOM, CRLF and inline tables may be too).
        let example = [
            "quick.toml",
            "battery.toml",
            "battery-host.toml",
            "xen-vs-kvm.toml",
            "isolation.toml",
            "isolation-only.toml",
            "hosts.toml",
        ]
        .iter()
        .any(|e| name.ends_with(&format!("/{e}")));
        if example {
            assert!(ok, "{name}");
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Byte(usize, u8),
    Delete(usize, usize),
    Insert(usize, String),
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Splice(usize, usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let piece = prop_oneof![
        "\\PC{0,6}",
        Just("\n".to_string()),
        Just("[[platform]]\nname = \"p\"\ndriver = \"qemu\"\n".to_string()),
        Just("[[workload]]\nname = \"syscall\"\n".to_string()),
        Just("[[isolation]]\n".to_string()),
        Just("[guest]\n".to_string()),
        Just("\"\"\"".to_string()),
        Just(" = ".to_string()),
        Just("-0".to_string()),
        Just("1e308".to_string()),
        Just("18446744073709551615".to_string()),
        Just("\u{0}".to_string()),
        Just("{ a = [ ".to_string()),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Edit::Byte(a, b)),
        (any::<usize>(), 1usize..12).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), piece).prop_map(|(a, s)| Edit::Insert(a, s)),
        any::<usize>().prop_map(Edit::DeleteLine),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (any::<usize>(), any::<usize>(), 1usize..8).prop_map(|(f, a, n)| Edit::Splice(f, a, n)),
    ]
}

/// Apply an edit on characters (so the text stays a string); `Splice` copies lines from
/// another corpus file.
fn apply(text: &str, edit: &Edit, corpus: &[(String, String)]) -> String {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let l = lines.len();
    let joined = |c: &[char]| c.iter().collect::<String>();
    match edit {
        Edit::Byte(a, b) if n > 0 => {
            let mut c = chars.clone();
            c[a % n] = char::from(*b);
            joined(&c)
        }
        Edit::Delete(a, k) if n > 0 => {
            let a = a % n;
            let mut c = chars.clone();
            c.drain(a..(a + k).min(n));
            joined(&c)
        }
        Edit::Insert(a, s) => {
            let a = a % (n + 1);
            let mut out = joined(&chars[..a]);
            out.push_str(s);
            out.push_str(&joined(&chars[a..]));
            out
        }
        Edit::DeleteLine(i) => {
            lines.remove(i % l);
            lines.join("\n")
        }
        Edit::DuplicateLine(i) => {
            let i = i % l;
            let line = lines[i].clone();
            lines.insert(i, line);
            lines.join("\n")
        }
        Edit::SwapLines(a, b) => {
            lines.swap(a % l, b % l);
            lines.join("\n")
        }
        Edit::Splice(from, at, k) => {
            let other: Vec<&str> = corpus[from % corpus.len()].1.split('\n').collect();
            let start = at % other.len();
            let piece: Vec<String> = other[start..(start + k).min(other.len())]
                .iter()
                .map(|s| s.to_string())
                .collect();
            let at = at % (l + 1);
            lines.splice(at..at, piece);
            lines.join("\n")
        }
        _ => text.to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Integration tests have no lib.rs beside them to store regressions next to: a failure
        // found here is added to fuzz/corpus/spec by hand.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_corpus(pick in any::<usize>(), edits in proptest::collection::vec(edit(), 1..8)) {
        let corpus = corpus();
        let mut text = corpus[pick % corpus.len()].1.clone();
        for e in &edits {
            text = apply(&text, e, &corpus);
        }
        check(&text);
    }
}
