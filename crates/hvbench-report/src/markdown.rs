//! Markdown rendering (CommonMark with GitHub's pipe tables).

use crate::document::{Align, Block, Row, Table};

pub(crate) fn render(blocks: &[Block]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for block in blocks {
        parts.push(match block {
            Block::Title(t) => format!("# {}\n", escape(t)),
            Block::Section(t) => format!("## {}\n", escape(t)),
            Block::Subsection(t) => format!("### {}\n", escape(t)),
            Block::Fields(fields) => fields
                .iter()
                .map(|(k, v)| format!("- **{}:** {}\n", escape(k), escape(v)))
                .collect(),
            Block::Paragraph(p) => format!("{}\n", escape(p)),
            Block::Warning(w) => format!("> **Warning:** {}\n", escape(w)),
            Block::List(items) => items.iter().map(|i| format!("- {}\n", escape(i))).collect(),
            Block::Code { language, text } => code(language, text),
            Block::Table(t) => table(t),
            Block::Figure(f) => format!("*Chart: {}* (in the HTML report)\n", escape(&f.title)),
        });
    }
    parts.join("\n")
}

/// Backslash-escape what Markdown would read as markup (every ASCII punctuation character may
/// be escaped in CommonMark; these are the ones that matter in running text and table cells).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '<' | '>' | '|' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A fenced code block whose fence is longer than any run of backticks in the text.
fn code(language: &str, text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let mut body = text.to_string();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    format!("{fence}{language}\n{body}{fence}\n")
}

fn table(t: &Table) -> String {
    let row = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut out = row(t.columns.iter().map(|c| escape(&c.header)).collect());
    out.push_str(&row(t
        .columns
        .iter()
        .map(|c| match c.align {
            Align::Left => "---".to_string(),
            Align::Right => "---:".to_string(),
        })
        .collect()));
    for r in &t.rows {
        out.push_str(&row(match r {
            Row::Cells(cells) => cells.iter().map(|c| escape(c)).collect(),
            Row::Message { first, message } => {
                let mut cells = vec![escape(first), escape(message)];
                cells.resize(t.columns.len().max(2), String::new());
                cells
            }
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_and_escaping() {
        let mut t = Table::new(&[
            ("name", Align::Left),
            ("n", Align::Right),
            ("x", Align::Left),
        ]);
        t.push(vec!["a|b".into(), "5".into(), "mem_bw".into()]);
        t.push_message("xen".into(), "no data".into());
        let out = render(&[Block::Section("Results".into()), Block::Table(t)]);
        assert_eq!(
            out,
            "## Results\n\n| name | n | x |\n| --- | ---: | --- |\n| a\\|b | 5 | mem\\_bw |\n| xen | no data |  |\n"
        );
    }

    #[test]
    fn code_fences_outlast_the_text() {
        assert_eq!(code("toml", "a = 1"), "```toml\na = 1\n```\n");
        assert_eq!(code("", "x ```` y\n"), "`````\nx ```` y\n`````\n");
    }
}
