//! Plain-text rendering for a terminal: aligned columns, no colour, lines wrapped at 100.

use crate::document::{Align, Block, Row, Table};

const WRAP_COLUMNS: usize = 100;

pub(crate) fn render(blocks: &[Block]) -> String {
    let mut out = String::new();
    for (i, block) in blocks.iter().enumerate() {
        if i > 0 && !matches!(blocks[i - 1], Block::Subsection(_)) {
            out.push('\n');
        }
        match block {
            Block::Title(t) => underlined(&mut out, t, '='),
            Block::Section(t) => underlined(&mut out, t, '-'),
            Block::Subsection(t) => line(&mut out, t),
            Block::Fields(fields) => {
                let width = fields.iter().map(|(k, _)| width_of(k)).max().unwrap_or(0);
                for (k, v) in fields {
                    line(&mut out, &format!("{k}:{}  {v}", pad(width - width_of(k))));
                }
            }
            Block::Paragraph(p) => wrap(p, WRAP_COLUMNS).iter().for_each(|l| line(&mut out, l)),
            Block::Warning(w) => {
                let bar = "!".repeat(WRAP_COLUMNS);
                line(&mut out, &bar);
                for l in wrap(&format!("WARNING: {w}"), WRAP_COLUMNS - 3) {
                    line(&mut out, &format!("!! {l}"));
                }
                line(&mut out, &bar);
            }
            Block::List(items) => {
                for item in items {
                    for (j, l) in wrap(item, WRAP_COLUMNS - 2).iter().enumerate() {
                        line(
                            &mut out,
                            &format!("{}{l}", if j == 0 { "- " } else { "  " }),
                        );
                    }
                }
            }
            Block::Code { text, .. } => {
                for l in text.lines() {
                    line(&mut out, &format!("    {l}"));
                }
            }
            Block::Table(t) => table(&mut out, t),
            Block::Figure(f) => line(&mut out, &format!("[chart: {}]", f.title)),
        }
    }
    out
}

fn line(out: &mut String, s: &str) {
    out.push_str(s.trim_end());
    out.push('\n');
}

fn underlined(out: &mut String, s: &str, ch: char) {
    line(out, s);
    line(out, &ch.to_string().repeat(width_of(s)));
}

fn width_of(s: &str) -> usize {
    s.chars().count()
}

fn pad(n: usize) -> String {
    " ".repeat(n)
}

fn table(out: &mut String, t: &Table) {
    let mut widths: Vec<usize> = t.columns.iter().map(|c| width_of(&c.header)).collect();
    for row in &t.rows {
        match row {
            Row::Cells(cells) => {
                for (w, c) in widths.iter_mut().zip(cells) {
                    *w = (*w).max(width_of(c));
                }
            }
            Row::Message { first, .. } => widths[0] = widths[0].max(width_of(first)),
        }
    }
    let aligns: Vec<Align> = t.columns.iter().map(|c| c.align).collect();
    let headers: Vec<&str> = t.columns.iter().map(|c| c.header.as_str()).collect();
    line(out, &joined(&headers, &widths, &aligns));
    line(
        out,
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    for row in &t.rows {
        match row {
            Row::Cells(cells) => {
                let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
                line(out, &joined(&cells, &widths, &aligns));
            }
            Row::Message { first, message } => {
                line(
                    out,
                    &format!("{first}{}  {message}", pad(widths[0] - width_of(first))),
                );
            }
        }
    }
}

fn joined(cells: &[&str], widths: &[usize], aligns: &[Align]) -> String {
    cells
        .iter()
        .zip(widths)
        .zip(aligns)
        .map(|((c, &w), a)| {
            let fill = pad(w - width_of(c));
            match a {
                Align::Left => format!("{c}{fill}"),
                Align::Right => format!("{fill}{c}"),
            }
        })
        .collect::<Vec<_>>()
        .join("  ")
}

/// Greedy word wrap; a word longer than the line stands alone.
fn wrap(text: &str, columns: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        if !current.is_empty() && width_of(&current) + 1 + width_of(word) > columns {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_messages_span() {
        let mut t = Table::new(&[("name", Align::Left), ("n", Align::Right)]);
        t.push(vec!["host".into(), "5".into()]);
        t.push(vec!["kvm-long".into(), "12".into()]);
        t.push_message("xen".into(), "no data".into());
        let out = render(&[Block::Table(t)]);
        assert_eq!(
            out,
            "name       n\n--------  --\nhost       5\nkvm-long  12\nxen       no data\n"
        );
    }

    #[test]
    fn wraps_at_word_boundaries() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap("abcdefgh x", 3), ["abcdefgh", "x"]);
        assert!(wrap("", 3).is_empty());
    }
}
