//! YAML text → a tree of located nodes.
//!
//! serde stops at the first error, but `facerunner validate` must report
//! every mistake in a file at once, each at its line and column. So the file
//! is first read into this small tree (scalars keep their text and whether
//! they were quoted; every node keeps its byte range), then checked against
//! the JSON Schema of the Rust types ([`super::check`]), and only then turned
//! into the types. The parser is granit-parser (through serde-saphyr), a
//! pure-Rust YAML 1.2 parser.
//!
//! Resource limits make hostile files cheap to reject: a node budget and a
//! byte budget (scalar text) that alias expansion is charged against (a
//! "billion laughs" file, or a few long strings aliased many times, fails at
//! the alias that overflows them), and a nesting limit.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, ScanError, Span as YSpan};

/// Most nodes a file may expand to, aliases included.
pub const MAX_NODES: usize = 2_000_000;
/// Most scalar text a file may expand to, aliases included: twice the
/// largest file read, so any file without aliases fits.
pub const MAX_EXPANDED_BYTES: usize = 32 << 20;
const _: () = assert!(MAX_EXPANDED_BYTES as u64 >= super::load::MAX_FILE_BYTES);
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;

/// One YAML node with its byte range.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What it holds.
    pub value: Value,
    /// Byte offset where it starts.
    pub start: usize,
    /// Byte offset where it ends.
    pub end: usize,
    /// Nodes in this subtree, itself included.
    pub size: usize,
    /// Bytes of scalar text in this subtree.
    pub bytes: usize,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar: its text after YAML escapes, and whether it was written plain
    /// (unquoted, not a block scalar): only plain scalars may be numbers,
    /// booleans or null.
    Scalar {
        /// The text.
        text: String,
        /// Written without quotes.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<(Node, Node)>),
}

/// What a plain scalar means under the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// `~`, `null`, or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Anything else.
    Str,
}

impl Node {
    /// Resolve a scalar's type (non-scalars and quoted scalars are `Str`).
    pub fn resolve(&self) -> Resolved {
        match &self.value {
            Value::Scalar { text, plain: true } => resolve_plain(text),
            _ => Resolved::Str,
        }
    }

    /// The scalar text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// A short name of the node's type, for "expected X, found Y".
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
            Value::Scalar { .. } => match self.resolve() {
                Resolved::Null => "nothing (null)",
                Resolved::Bool(_) => "a boolean",
                Resolved::Int(_) => "an integer",
                Resolved::Float(_) => "a number",
                Resolved::Str => "a string",
            },
        }
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
pub fn resolve_plain(text: &str) -> Resolved {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = text.parse::<i64>()
    {
        return Resolved::Int(i);
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Resolved::Int(i);
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Resolved::Int(i);
    }
    let looks_numeric = digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && digits.bytes().any(|b| b.is_ascii_digit())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if looks_numeric && let Ok(f) = text.parse::<f64>() {
        return Resolved::Float(f);
    }
    match digits {
        ".inf" | ".Inf" | ".INF" => Resolved::Float(if text.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        ".nan" | ".NaN" | ".NAN" if digits == text => Resolved::Float(f64::NAN),
        _ => Resolved::Str,
    }
}

/// Why a file could not be read as YAML, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
    /// Byte range of the offending place.
    pub start: usize,
    /// End of the byte range.
    pub end: usize,
    /// A second place that matters (the first occurrence of a repeated key).
    pub related: Option<(String, usize, usize)>,
}

impl SyntaxError {
    fn at(start: usize, end: usize, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            message: message.into(),
            help: None,
            start,
            end,
            related: None,
        }
    }

    fn help(mut self, help: impl Into<String>) -> SyntaxError {
        self.help = Some(help.into());
        self
    }
}

/// Parse a whole file. An empty file (or one with only comments) gives `None`.
pub fn parse(text: &str) -> Result<Option<Node>, Vec<SyntaxError>> {
    let mut b = Builder {
        events: Parser::new_from_str(text),
        text,
        anchors: HashMap::new(),
        nodes: 0,
        bytes: 0,
        duplicates: Vec::new(),
    };
    let doc = b.document().map_err(|e| vec![e])?;
    if b.duplicates.is_empty() {
        Ok(doc)
    } else {
        Err(std::mem::take(&mut b.duplicates))
    }
}

struct Builder<'a> {
    events: Parser<'a, serde_saphyr::granit_parser::StrInput<'a>>,
    text: &'a str,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    bytes: usize,
    duplicates: Vec<SyntaxError>,
}

fn offsets(span: &YSpan) -> (usize, usize) {
    let s = span.start.byte_offset().unwrap_or(0);
    let e = span.end.byte_offset().unwrap_or(s);
    (s, e.max(s))
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<Option<(Event<'a>, YSpan)>, SyntaxError> {
        loop {
            match self.events.next() {
                None => return Ok(None),
                Some(Err(e)) => return Err(self.scan_error(&e)),
                #[allow(unreachable_patterns)]
                Some(Ok((Event::Comment(..), _))) => continue,
                Some(Ok(ev)) => return Ok(Some(ev)),
            }
        }
    }

    fn scan_error(&self, e: &ScanError) -> SyntaxError {
        let at = e.marker().byte_offset().unwrap_or(0).min(self.text.len());
        let line_start = self.text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[at..]
            .find('\n')
            .map_or(self.text.len(), |i| at + i);
        let line = &self.text[line_start..line_end];
        let mut err = SyntaxError::at(at, at, format!("invalid YAML: {}", e.info()));
        if line.trim_start_matches(' ').starts_with('\t') || e.info().contains("tab") {
            err = err.help("YAML indents with spaces, never tabs: replace the tabs at the start of this line with spaces");
        } else {
            err = err.help("fix the YAML syntax here; `facerunner validate` checks the file again");
        }
        err
    }

    fn document(&mut self) -> Result<Option<Node>, SyntaxError> {
        let mut doc = None;
        while let Some((ev, span)) = self.next()? {
            match ev {
                Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
                Event::DocumentStart(..) => {
                    if doc.is_some() {
                        let (s, e) = offsets(&span);
                        return Err(SyntaxError::at(s, e, "a second YAML document in the file")
                            .help("facerunner.yaml holds one document: remove the `---` and what follows, or merge it into the first"));
                    }
                    match self.next()? {
                        Some((Event::DocumentEnd, _)) => doc = Some(None),
                        Some((ev, span)) => doc = Some(Some(self.node(ev, span, 0)?)),
                        None => doc = Some(None),
                    }
                }
                other => {
                    let (s, e) = offsets(&span);
                    return Err(SyntaxError::at(
                        s,
                        e,
                        format!("unexpected YAML event {other:?}"),
                    ));
                }
            }
        }
        Ok(doc.flatten())
    }

    fn charge(
        &mut self,
        n: usize,
        bytes: usize,
        start: usize,
        end: usize,
    ) -> Result<(), SyntaxError> {
        self.nodes = self.nodes.saturating_add(n);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.nodes > MAX_NODES {
            return Err(SyntaxError::at(start, end, format!(
                "the file expands to more than {MAX_NODES} nodes (aliases included)"))
                .help("this looks like an alias bomb; write the values out instead of nesting aliases of aliases"));
        }
        if self.bytes > MAX_EXPANDED_BYTES {
            return Err(SyntaxError::at(start, end, format!(
                "the file expands to more than {} MiB of text (aliases included)", MAX_EXPANDED_BYTES >> 20))
                .help("this looks like an alias bomb; write the values out instead of aliasing long strings many times"));
        }
        Ok(())
    }

    fn node(&mut self, ev: Event<'a>, span: YSpan, depth: usize) -> Result<Node, SyntaxError> {
        let (start, end) = offsets(&span);
        if depth > MAX_DEPTH {
            return Err(SyntaxError::at(
                start,
                end,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            )
            .help("facerunner.yaml is never this deep; check the indentation"));
        }
        let (node, anchor) = match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                self.charge(1, text.len(), start, end)?;
                let plain = matches!(style, ScalarStyle::Plain);
                let bytes = text.len();
                let node = Node {
                    value: Value::Scalar {
                        text: text.into_owned(),
                        plain,
                    },
                    start,
                    end,
                    size: 1,
                    bytes,
                };
                (node, anchor)
            }
            Event::Alias(id) => {
                let Some((size, bytes)) = self.anchors.get(&id).map(|t| (t.size, t.bytes)) else {
                    return Err(SyntaxError::at(start, end, "an alias to an unknown anchor")
                        .help("define the anchor (`&name`) before using it (`*name`)"));
                };
                // Charge before copying, so a bomb fails before it allocates.
                self.charge(size, bytes, start, end)?;
                let Some(target) = self.anchors.get(&id).cloned() else {
                    return Err(SyntaxError::at(start, end, "an alias to an unknown anchor"));
                };
                return Ok(Node {
                    start,
                    end,
                    ..target
                });
            }
            Event::SequenceStart(_, anchor, _) => {
                self.charge(1, 0, start, end)?;
                let mut items = Vec::new();
                let mut size = 1;
                let mut bytes = 0;
                let mut last = end;
                loop {
                    let Some((ev, span)) = self.next()? else {
                        return Err(SyntaxError::at(start, end, "the file ends inside a list"));
                    };
                    if let Event::SequenceEnd = ev {
                        last = offsets(&span).1.max(last);
                        break;
                    }
                    let item = self.node(ev, span, depth + 1)?;
                    size += item.size;
                    bytes += item.bytes;
                    last = last.max(item.end);
                    items.push(item);
                }
                (
                    Node {
                        value: Value::Seq(items),
                        start,
                        end: last,
                        size,
                        bytes,
                    },
                    anchor,
                )
            }
            Event::MappingStart(_, anchor, _) => {
                self.charge(1, 0, start, end)?;
                let node = self.mapping(start, end, depth)?;
                (node, anchor)
            }
            other => {
                return Err(SyntaxError::at(
                    start,
                    end,
                    format!("unexpected YAML event {other:?}"),
                ));
            }
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    fn mapping(&mut self, start: usize, end: usize, depth: usize) -> Result<Node, SyntaxError> {
        let mut entries: Vec<(Node, Node)> = Vec::new();
        // key text → index in `entries`, so repeated keys are found in O(1).
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut merged: Vec<(Node, Node)> = Vec::new();
        let mut size = 1;
        let mut bytes = 0;
        let mut last = end;
        loop {
            let Some((ev, span)) = self.next()? else {
                return Err(SyntaxError::at(
                    start,
                    end,
                    "the file ends inside a mapping",
                ));
            };
            if let Event::MappingEnd = ev {
                last = offsets(&span).1.max(last);
                break;
            }
            let key = self.node(ev, span, depth + 1)?;
            let Some((ev, span)) = self.next()? else {
                return Err(SyntaxError::at(key.start, key.end, "a key without a value"));
            };
            let value = self.node(ev, span, depth + 1)?;
            size += key.size + value.size;
            bytes += key.bytes + value.bytes;
            last = last.max(value.end);
            if matches!(&key.value, Value::Scalar { text, plain: true } if text == "<<") {
                let sources = match value.value {
                    Value::Map(m) => vec![m],
                    Value::Seq(items) => items
                        .into_iter()
                        .filter_map(|n| match n.value {
                            Value::Map(m) => Some(m),
                            _ => None,
                        })
                        .collect(),
                    Value::Scalar { .. } => {
                        return Err(SyntaxError::at(
                            value.start,
                            value.end,
                            "`<<` merges a mapping, not a scalar",
                        ));
                    }
                };
                merged.extend(sources.into_iter().flatten());
                continue;
            }
            let first = key
                .as_str()
                .and_then(|k| index.get(k))
                .map(|&i| &entries[i].0);
            if let (Some(k), Some(first)) = (key.as_str(), first) {
                let mut err = SyntaxError::at(
                    key.start,
                    key.end,
                    format!("the key `{k}` appears twice in this mapping"),
                )
                .help("keep one of them: YAML mappings cannot repeat a key");
                err.related = Some(("first defined here".into(), first.start, first.end));
                self.duplicates.push(err);
                continue;
            }
            if let Some(k) = key.as_str() {
                index.insert(k.to_string(), entries.len());
            }
            entries.push((key, value));
        }
        for (k, v) in merged {
            let text = k.as_str().map(str::to_string);
            if text.as_ref().is_none_or(|t| !index.contains_key(t)) {
                if let Some(t) = text {
                    index.insert(t, entries.len());
                }
                entries.push((k, v));
            }
        }
        Ok(Node {
            value: Value::Map(entries),
            start,
            end: last,
            size,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> Vec<(Node, Node)> {
        match parse(text).unwrap().unwrap().value {
            Value::Map(m) => m,
            v => panic!("not a map: {v:?}"),
        }
    }

    #[test]
    fn scalars_keep_text_and_quoting() {
        let m = map("a: 1\nb: '1'\nc: no\n");
        assert_eq!(m[0].1.resolve(), Resolved::Int(1));
        assert_eq!(m[1].1.resolve(), Resolved::Str);
        assert_eq!(
            m[2].1.resolve(),
            Resolved::Str,
            "YAML 1.2: `no` is a string"
        );
        assert_eq!(&"a: 1\nb: '1'\n"[m[1].1.start..m[1].1.end], "'1'");
    }

    #[test]
    fn empty_and_comment_only_files_are_none() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# nothing\n").unwrap(), None);
    }

    #[test]
    fn duplicate_keys_are_all_reported() {
        let errs = parse("a: 1\nb: 2\na: 3\nb: 4\n").unwrap_err();
        assert_eq!(errs.len(), 2);
        assert!(errs[0].message.contains("`a` appears twice"));
    }

    #[test]
    fn alias_bombs_stop_at_the_budget() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let errs = parse(&text).unwrap_err();
        assert!(errs[0].message.contains("more than"), "{errs:?}");
    }

    #[test]
    fn string_alias_bombs_stop_at_the_byte_budget() {
        // A few long strings, each aliased many times: few nodes, many bytes.
        let long = "x".repeat(64 * 1024);
        let mut text = String::new();
        for i in 0..4 {
            text.push_str(&format!("s{i}: &s{i} \"{long}\"\n"));
        }
        text.push_str("l: [");
        for i in 0..50_000 {
            text.push_str(&format!("*s{}, ", i % 4));
        }
        text.push_str("]\n");
        assert!(text.len() < 1 << 20, "the file itself is small");
        let errs = parse(&text).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].message.contains("MiB of text"), "{errs:?}");
        // Located at an alias inside the list.
        let at = &text[errs[0].start..errs[0].end];
        assert!(at.starts_with("*s"), "{at:?}");
    }

    #[test]
    fn merge_keys_fill_missing_entries() {
        let m = map("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n");
        let Value::Map(c) = &m[1].1.value else {
            panic!()
        };
        let ys: Vec<_> = c.iter().filter(|(k, _)| k.as_str() == Some("y")).collect();
        assert_eq!(ys.len(), 1);
        assert_eq!(ys[0].1.as_str(), Some("3"));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn tabs_get_a_helpful_error() {
        let errs = parse("a:\n\tb: 1\n").unwrap_err();
        assert!(
            errs[0].help.as_deref().unwrap_or("").contains("tabs"),
            "{errs:?}"
        );
    }

    #[test]
    fn core_schema() {
        assert_eq!(resolve_plain("0x10"), Resolved::Int(16));
        assert_eq!(resolve_plain("1.5"), Resolved::Float(1.5));
        assert_eq!(resolve_plain("1.2.3"), Resolved::Str);
        assert_eq!(resolve_plain("llama3.2:1b"), Resolved::Str);
        assert_eq!(resolve_plain("~"), Resolved::Null);
    }
}
