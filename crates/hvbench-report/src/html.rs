//! The self-contained HTML report: one file, inline CSS, inline SVG charts, no script and no
//! external resource, so it opens anywhere offline and prints well.

use crate::charts::escape;
use crate::document::{Align, Block, Row, Table};

const CSS: &str = r#"
:root { --ink: #1d2330; --muted: #5b6475; --line: #d8dde6; --panel: #f6f8fb; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1160px; margin: 0 auto; padding: 24px 20px 60px; }
h1 { font-size: 26px; margin: 0 0 12px; }
h2 { font-size: 20px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 8px; }
dl.fields { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dl.fields dt { color: var(--muted); }
dl.fields dd { margin: 0; overflow-wrap: anywhere; }
.warning { background: #fff4e5; border-left: 5px solid #e08a00; padding: 10px 14px; margin: 12px 0; }
ul { padding-left: 22px; } li { margin: 4px 0; }
table { border-collapse: collapse; margin: 8px 0 4px; font-size: 13.5px; }
.table-wrap { overflow-x: auto; max-width: 100%; }
th, td { padding: 3px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; white-space: nowrap; }
td.wrap { white-space: normal; min-width: 9em; }
th { background: var(--panel); } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.v-dramatically-worse, td.v-worse { color: #b3261e; font-weight: 600; }
td.v-dramatically-better, td.v-better { color: #1e7b3c; font-weight: 600; }
td.v-too-few-samples, td.v-high-variance, td.v-invalid-data { color: #9a6700; }
td.v-dramatic, td.v-degraded, td.v-did-not-report { color: #b3261e; font-weight: 600; } td.v-improved { color: #1e7b3c; font-weight: 600; }
pre { background: var(--panel); border: 1px solid var(--line); padding: 10px 12px; overflow-x: auto; font-size: 13px; }
figure { margin: 16px 0 24px; } figcaption { color: var(--muted); font-size: 13px; }
svg.chart { max-width: 100%; height: auto; background: #fff; }
svg .grid { stroke: #e5e8ee; stroke-width: 1; } svg .ref { stroke: #333; stroke-width: 1.5; stroke-dasharray: 4 3; }
svg .tick, svg .hint { font-size: 11px; fill: var(--muted); } svg .axis { font-size: 12px; fill: var(--muted); }
svg .label { font-size: 12.5px; font-weight: 600; fill: var(--ink); } svg .platform, svg .value { font-size: 12px; fill: var(--ink); }
svg .better-zone { fill: #eef7f0; } svg .worse-zone { fill: #fbefee; }
svg .whisker { stroke-width: 2.5; } svg .cap { stroke-width: 2; } svg .curve { stroke-width: 2.5; }
svg .ci-band { opacity: 0.18; } svg .median { stroke-width: 3; } svg .sample { opacity: 0.8; }
svg .cell-label { font-size: 13px; font-weight: 600; fill: #1d2330; }
svg rect.ns { opacity: 0.45; } svg rect.blank { stroke: #d8dde6; stroke-dasharray: 3 3; }
"#;

pub(crate) fn render(title: &str, blocks: &[Block]) -> String {
    let mut body = String::new();
    for block in blocks {
        body.push_str(&match block {
            Block::Title(t) => format!("<h1>{}</h1>\n", escape(t)),
            Block::Section(t) => format!("<h2 id=\"{}\">{}</h2>\n", slug(t), escape(t)),
            Block::Subsection(t) => format!("<h3>{}</h3>\n", escape(t)),
            Block::Fields(fields) => {
                let items: String = fields
                    .iter()
                    .map(|(k, v)| format!("<dt>{}</dt><dd>{}</dd>", escape(k), escape(v)))
                    .collect();
                format!("<dl class=\"fields\">{items}</dl>\n")
            }
            Block::Paragraph(p) => format!("<p>{}</p>\n", escape(p)),
            Block::Warning(w) => format!(
                "<div class=\"warning\"><strong>Warning:</strong> {}</div>\n",
                escape(w)
            ),
            Block::List(items) => {
                let lis: String = items
                    .iter()
                    .map(|i| format!("<li>{}</li>", escape(i)))
                    .collect();
                format!("<ul>{lis}</ul>\n")
            }
            Block::Code { language, text } => format!(
                "<pre><code class=\"language-{language}\">{}</code></pre>\n",
                escape(text)
            ),
            Block::Table(t) => table(t),
            Block::Figure(f) => format!(
                "<figure><h3>{}</h3>{}<figcaption>{}</figcaption></figure>\n",
                escape(&f.title),
                f.svg,
                escape(&f.caption)
            ),
        });
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        escape(title)
    )
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Free-text cells longer than this (versions, models, reasons) may wrap; figures never do.
const WRAP_AFTER_CHARS: usize = 16;

/// Headers of columns that hold figures or short names (kept on one line).
const FIGURE_HEADERS: [&str; 13] = [
    "CI",
    "ratio",
    "median",
    "overhead",
    "B / A",
    "change",
    "verdict",
    "alone",
    "shared",
    "pinned",
    "throughput",
    "overlapped",
    "victim",
];

fn table(t: &Table) -> String {
    let verdict_col = t.columns.iter().position(|c| c.header == "verdict");
    let figures: Vec<bool> = t
        .columns
        .iter()
        .map(|c| c.align == Align::Right || FIGURE_HEADERS.iter().any(|h| c.header.contains(h)))
        .collect();
    let class = |a: Align| {
        if a == Align::Right {
            " class=\"num\""
        } else {
            ""
        }
    };
    let mut out = String::from("<div class=\"table-wrap\"><table><thead><tr>");
    for c in &t.columns {
        out.push_str(&format!("<th{}>{}</th>", class(c.align), escape(&c.header)));
    }
    out.push_str("</tr></thead><tbody>");
    for r in &t.rows {
        out.push_str("<tr>");
        match r {
            Row::Cells(cells) => {
                for (i, (cell, col)) in cells.iter().zip(&t.columns).enumerate() {
                    let cls = if Some(i) == verdict_col && !cell.is_empty() {
                        format!(" class=\"v-{}\"", slug(cell))
                    } else if !figures[i] && cell.chars().count() > WRAP_AFTER_CHARS {
                        " class=\"wrap\"".to_string()
                    } else {
                        class(col.align).to_string()
                    };
                    out.push_str(&format!("<td{cls}>{}</td>", escape(cell)));
                }
            }
            Row::Message { first, message } => out.push_str(&format!(
                "<td>{}</td><td colspan=\"{}\">{}</td>",
                escape(first),
                t.columns.len().saturating_sub(1).max(1),
                escape(message)
            )),
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_classes() {
        let mut t = Table::new(&[("platform", Align::Left), ("verdict", Align::Left)]);
        t.push(vec!["<kvm>".into(), "dramatically worse".into()]);
        let html = render("t & u", &[Block::Table(t)]);
        assert!(html.contains("<title>t &amp; u</title>"));
        assert!(html.contains("<td>&lt;kvm&gt;</td><td class=\"v-dramatically-worse\">"));
        assert!(
            !html.contains("<script") && !html.contains("http://") && !html.contains("https://")
        );
    }
}
