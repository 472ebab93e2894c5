//! Diagnostics: what is wrong with an experiment file, where, and how to fix it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Range;

/// A byte range into the spec text.
pub(crate) type Span = Range<usize>;

/// One problem found in an experiment file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The file name given to [`crate::parse`] (or the path given to [`crate::load`]).
    pub origin: String,
    /// 1-based line of the offending key or value; `None` when the problem has no place in the
    /// text (the file could not be read).
    pub line: Option<usize>,
    /// 1-based column, counted in characters (not bytes); `None` with `line`.
    pub column: Option<usize>,
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "{}:{line}:{column}: ", self.origin)?,
            (Some(line), None) => write!(f, "{}:{line}: ", self.origin)?,
            _ => write!(f, "{}: ", self.origin)?,
        }
        write!(f, "error: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Everything wrong with an experiment file: one or more [`Diagnostic`]s, in the order of
/// their position in the file. `Display` prints them all, one after the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecError {
    pub diagnostics: Vec<Diagnostic>,
}

impl SpecError {
    /// An error with no position in the text (for example, the file could not be read).
    pub fn unplaced(origin: &str, message: impl Into<String>, hint: Option<String>) -> SpecError {
        SpecError {
            diagnostics: vec![Diagnostic {
                origin: origin.to_string(),
                line: None,
                column: None,
                message: message.into(),
                hint,
            }],
        }
    }

    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.diagnostics.len()
    }

    /// Never true for an error returned by this crate; here for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

/// 1-based line and column (in characters) of a byte offset; offsets past the end or inside a
/// multi-byte character are clamped.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Collects diagnostics with byte spans, and turns them into a [`SpecError`] at the end.
pub(crate) struct Sink<'a> {
    origin: &'a str,
    text: &'a str,
    found: Vec<(usize, String, Option<String>)>,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(origin: &'a str, text: &'a str) -> Self {
        Sink {
            origin,
            text,
            found: Vec::new(),
        }
    }

    pub(crate) fn error(
        &mut self,
        span: &Span,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.found
            .push((span.start, message.into(), Some(hint.into())));
    }

    pub(crate) fn error_no_hint(&mut self, span: &Span, message: impl Into<String>) {
        self.found.push((span.start, message.into(), None));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    pub(crate) fn count(&self) -> usize {
        self.found.len()
    }

    /// The 1-based line of a byte offset, for messages that refer to another place.
    pub(crate) fn line_of(&self, span: &Span) -> usize {
        line_col(self.text, span.start).0
    }

    pub(crate) fn into_error(self) -> SpecError {
        let mut found = self.found;
        // Stable: problems at the same place keep the order they were found in.
        found.sort_by_key(|(offset, _, _)| *offset);
        SpecError {
            diagnostics: found
                .into_iter()
                .map(|(offset, message, hint)| {
                    let (line, column) = line_col(self.text, offset);
                    Diagnostic {
                        origin: self.origin.to_string(),
                        line: Some(line),
                        column: Some(column),
                        message,
                        hint,
                    }
                })
                .collect(),
        }
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
pub(crate) fn closest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(1);
    let lower = word.to_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
        // `memory` for `memory_mib`, `timeout` for `timeout_s`
        .or_else(|| {
            let mut prefixed = candidates
                .iter()
                .filter(|c| lower.chars().count() >= 3 && c.starts_with(lower.as_str()));
            match (prefixed.next(), prefixed.next()) {
                (Some(c), None) => Some(*c),
                _ => None,
            }
        })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "a = 1\nné = \"x\"\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 4), (1, 5));
        assert_eq!(line_col(text, 6), (2, 1));
        // `=` after "né " is the 4th character but the 5th byte of line 2.
        assert_eq!(line_col(text, 6 + 4), (2, 4));
        // inside the two-byte `é`: clamped back to its start
        assert_eq!(line_col(text, 8), (2, 2));
        assert_eq!(line_col(text, 1000), (3, 1));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            closest("repetition", &["name", "repetitions", "warmup"]),
            Some("repetitions")
        );
        assert_eq!(closest("vcpu", &["vcpus", "memory_mib"]), Some("vcpus"));
        assert_eq!(closest("zzz", &["vcpus", "memory_mib"]), None);
        assert_eq!(
            closest("memory", &["vcpus", "memory_mib"]),
            Some("memory_mib")
        );
        assert_eq!(closest("s", &["size_mib", "samples"]), None);
    }
}
