//! A small TOML tree in which every key and value carries its byte span.
//!
//! `toml_edit` keeps spans, but spreads a document over several shapes (standard and inline
//! tables, arrays of tables, dotted keys with implicit tables). Validation works on this one
//! normalized shape instead; a node whose own span is unknown (an implicit table made by a
//! dotted key) takes the span of the key that names it.

use crate::diag::Span;
use toml_edit::{Item, Value};

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub span: Span,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(Table),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    /// In document order.
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

impl Table {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

impl Kind {
    /// "a string", "an integer", ... for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Str(_) => "a string",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a float",
            Kind::Bool(_) => "a boolean",
            Kind::Datetime(_) => "a date-time",
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
        }
    }

    /// The value as it might be written, shortened, for messages: `"two"`, `3.5`, `an array`.
    pub fn describe(&self) -> String {
        match self {
            Kind::Str(s) => format!("{:?}", shorten(s)),
            Kind::Int(i) => i.to_string(),
            Kind::Float(x) => format!("{x:?}"),
            Kind::Bool(b) => b.to_string(),
            Kind::Datetime(d) => d.clone(),
            Kind::Array(_) | Kind::Table(_) => self.type_name().to_string(),
        }
    }

    /// The value as JSON (workload parameters are handed on as JSON).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Kind::Str(s) => serde_json::Value::from(s.as_str()),
            Kind::Int(i) => serde_json::Value::from(*i),
            Kind::Float(x) => serde_json::Value::from(*x),
            Kind::Bool(b) => serde_json::Value::from(*b),
            Kind::Datetime(d) => serde_json::Value::from(d.as_str()),
            Kind::Array(items) => items.iter().map(|n| n.kind.to_json()).collect(),
            Kind::Table(t) => serde_json::Value::Object(
                t.entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.kind.to_json()))
                    .collect(),
            ),
        }
    }
}

fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

/// The document root as a table.
pub(crate) fn from_root(root: &toml_edit::Table) -> Table {
    table(root, &(0..0))
}

fn table(t: &toml_edit::Table, fallback: &Span) -> Table {
    let entries = t
        .iter()
        .filter_map(|(key, item)| {
            let key_span = t
                .key(key)
                .and_then(toml_edit::Key::span)
                .unwrap_or_else(|| fallback.clone());
            let value = item_node(item, &key_span)?;
            Some(Entry {
                key: key.to_string(),
                key_span,
                value,
            })
        })
        .collect();
    Table { entries }
}

fn inline_table(t: &toml_edit::InlineTable, fallback: &Span) -> Table {
    let entries = t
        .iter()
        .map(|(key, value)| {
            let key_span = t
                .key(key)
                .and_then(toml_edit::Key::span)
                .unwrap_or_else(|| fallback.clone());
            let value = value_node(value, &key_span);
            Entry {
                key: key.to_string(),
                key_span,
                value,
            }
        })
        .collect();
    Table { entries }
}

fn item_node(item: &Item, fallback: &Span) -> Option<Node> {
    match item {
        Item::None => None,
        Item::Value(v) => Some(value_node(v, fallback)),
        Item::Table(t) => {
            let span = t.span().unwrap_or_else(|| fallback.clone());
            Some(Node {
                kind: Kind::Table(table(t, &span)),
                span,
            })
        }
        Item::ArrayOfTables(a) => {
            let span = a.span().unwrap_or_else(|| fallback.clone());
            let items = a
                .iter()
                .map(|t| {
                    let span = t.span().unwrap_or_else(|| span.clone());
                    Node {
                        kind: Kind::Table(table(t, &span)),
                        span,
                    }
                })
                .collect();
            Some(Node {
                kind: Kind::Array(items),
                span,
            })
        }
    }
}

fn value_node(v: &Value, fallback: &Span) -> Node {
    let span = v.span().unwrap_or_else(|| fallback.clone());
    let kind = match v {
        Value::String(s) => Kind::Str(s.value().clone()),
        Value::Integer(i) => Kind::Int(*i.value()),
        Value::Float(x) => Kind::Float(*x.value()),
        Value::Boolean(b) => Kind::Bool(*b.value()),
        Value::Datetime(d) => Kind::Datetime(d.value().to_string()),
        Value::Array(a) => Kind::Array(a.iter().map(|v| value_node(v, &span)).collect()),
        Value::InlineTable(t) => Kind::Table(inline_table(t, &span)),
    };
    Node { span, kind }
}
