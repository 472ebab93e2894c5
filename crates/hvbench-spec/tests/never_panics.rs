//! `parse` never panics, whatever it is given, and every position it reports is in the text.

use proptest::prelude::*;

const QUICK: &str = include_str!("../../../examples/quick.toml");

fn check(text: &str) {
    match hvbench_spec::parse("p.toml", text) {
        Ok(plan) => {
            assert_eq!(plan.source, text);
            assert!(
                !plan.platforms.is_empty()
                    && (!plan.workloads.is_empty() || !plan.isolation.is_empty())
            );
            let json = serde_json::to_string(&plan).unwrap();
            assert_eq!(
                serde_json::from_str::<hvbench_spec::Plan>(&json).unwrap(),
                plan
            );
            let _ = plan.render();
            let _ = plan.agent_plan();
        }
        Err(e) => {
            assert!(!e.is_empty());
            let lines = text.split('\n').count();
            for d in &e.diagnostics {
                let (line, column) = (d.line.unwrap(), d.column.unwrap());
                assert!(line >= 1 && line <= lines, "{d}");
                let width = text.split('\n').nth(line - 1).unwrap().chars().count();
                assert!(column >= 1 && column <= width + 1, "{d}");
            }
            let _ = e.to_string();
        }
    }
}

/// One edit of a text: at a character position, delete, insert or replace; or work on lines.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    Replace(usize, String),
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let piece = prop_oneof![
        "[ -~]{0,8}",
        Just("\n".to_string()),
        Just("[[platform]]\n".to_string()),
        Just("[[workload]]\n".to_string()),
        Just("[[host]]\nname = \"box\"\nssh = \"root@box:22\"\n".to_string()),
        Just("host = \"box\"\n".to_string()),
        Just("[guest]\n".to_string()),
        Just("\"".to_string()),
        Just("=".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("99999999999999999999".to_string()),
        Just("é".to_string()),
        Just("{".to_string()),
        Just("[".to_string()),
    ];
    prop_oneof![
        (any::<usize>(), 1usize..6).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), piece.clone()).prop_map(|(at, s)| Edit::Insert(at, s)),
        (any::<usize>(), piece).prop_map(|(at, s)| Edit::Replace(at, s)),
        any::<usize>().prop_map(Edit::DeleteLine),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut lines: Vec<&str> = text.split('\n').collect();
    let n = chars.len().max(1);
    let l = lines.len();
    match edit {
        Edit::Delete(at, k) => {
            let at = at % n;
            let end = (at + k).min(chars.len());
            chars[..at.min(chars.len())]
                .iter()
                .chain(&chars[end..])
                .collect()
        }
        Edit::Insert(at, s) => {
            let at = (at % (chars.len() + 1)).min(chars.len());
            let mut out: String = chars[..at].iter().collect();
            out.push_str(s);
            out.extend(&chars[at..]);
            out
        }
        Edit::Replace(at, s) => {
            let at = (at % n).min(chars.len());
            let end = (at + s.chars().count().max(1)).min(chars.len());
            let mut out: String = chars[..at].iter().collect();
            out.push_str(s);
            out.extend(&chars[end..]);
            out
        }
        Edit::DeleteLine(i) => {
            lines.remove(i % l);
            lines.join("\n")
        }
        Edit::DuplicateLine(i) => {
            let i = i % l;
            lines.insert(i, lines[i]);
            lines.join("\n")
        }
        Edit::SwapLines(a, b) => {
            lines.swap(a % l, b % l);
            lines.join("\n")
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        // Integration tests have no lib.rs beside them to store regressions next to.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_text(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn toml_like_text(text in "([a-z_]{1,10} = (\"[a-z -]{0,10}\"|-?[0-9]{1,4}|true|\\[\\]|\\{\\})\n|\\[\\[(platform|workload|host)\\]\\]\n|\\[guest\\]\n|name = \"(host|qemu|syscall|mem-bandwidth|box)\"\n|driver = \"(host|qemu)\"\n|host = \"(box|local)\"\n|ssh = \"(root@[a-z0-9.:\\[\\]-]{0,12}|box)\"\n){0,20}") {
        check(&text);
    }

    #[test]
    fn mutations_of_quick_example(edits in proptest::collection::vec(edit(), 1..6)) {
        let mut text = QUICK.to_string();
        for e in &edits {
            text = apply(&text, e);
        }
        check(&text);
    }
}

#[test]
fn quick_example_itself() {
    check(QUICK);
    assert!(hvbench_spec::parse("quick.toml", QUICK).is_ok());
}
