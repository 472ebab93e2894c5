//! A report as a sequence of blocks of plain text, before it is rendered as a terminal page or
//! as Markdown. Text here carries no markup; each renderer escapes and decorates it.

pub(crate) enum Block {
    /// The report's title.
    Title(String),
    Section(String),
    Subsection(String),
    /// Labelled values, one per line.
    Fields(Vec<(String, String)>),
    Paragraph(String),
    /// Something the reader must not miss.
    Warning(String),
    /// Items of a bulleted list, each a paragraph.
    List(Vec<String>),
    /// Preformatted text shown verbatim (an experiment file), with its language if known.
    Code {
        language: &'static str,
        text: String,
    },
    Table(Table),
    /// A chart: an SVG document, only in the HTML report.
    Figure(Figure),
}

pub(crate) struct Figure {
    pub title: String,
    /// One sentence on how to read it.
    pub caption: String,
    /// A complete `<svg>` element.
    pub svg: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

pub(crate) struct Column {
    pub header: String,
    pub align: Align,
}

pub(crate) enum Row {
    /// One cell per column.
    Cells(Vec<String>),
    /// The first cell, then a message standing for all the others.
    Message { first: String, message: String },
}

pub(crate) struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

impl Table {
    pub(crate) fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            columns: columns
                .iter()
                .map(|&(h, align)| Column {
                    header: h.to_string(),
                    align,
                })
                .collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len());
        self.rows.push(Row::Cells(cells));
    }

    pub(crate) fn push_message(&mut self, first: String, message: String) {
        self.rows.push(Row::Message { first, message });
    }

    /// Remove the columns whose cells are all empty (headers aside) in every row.
    pub(crate) fn drop_empty_columns(&mut self, keep_first: usize) {
        let keep: Vec<bool> = (0..self.columns.len())
            .map(|c| {
                c < keep_first
                    || self
                        .rows
                        .iter()
                        .any(|r| matches!(r, Row::Cells(cells) if !cells[c].is_empty()))
            })
            .collect();
        let mut it = keep.iter();
        self.columns.retain(|_| *it.next().unwrap_or(&true));
        for row in &mut self.rows {
            if let Row::Cells(cells) = row {
                let mut it = keep.iter();
                cells.retain(|_| *it.next().unwrap_or(&true));
            }
        }
    }
}

/// One line of a free-text value: reasons copied from a failing process may span lines.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
