//! Check a node tree against the JSON Schema of [`super::types::Config`].
//!
//! The schema generated from the Rust types drives this walk, so the rules
//! editors see and the rules `validate` enforces cannot drift apart. The walk
//! collects every problem (unknown keys with "did you mean", wrong types,
//! values out of range, bad durations and sizes, unset required variables)
//! instead of stopping at the first, and produces the JSON value serde then
//! reads into the types. It also records where every value and key came
//! from ([`SpanMap`]) so later, semantic checks can point at the file too.
//!
//! Scalars are lenient in the way people expect from compose files: a plain
//! `8080` is accepted where a string is expected (and kept as written), and
//! a quoted or interpolated `"8080"` where a number is expected.

use std::collections::HashMap;

use serde_json::{Map, Value as Json};

use super::diag::Diagnostic;
use super::interpolate::{Problem, Vars, interpolate};
use super::node::{Node, Resolved, Value, resolve_plain};
use super::source::{SourceFile, Span};
use crate::model::units::{DURATION_HELP, SIZE_HELP, parse_duration, parse_size};

/// Where each value and key of the file is, by JSON pointer.
#[derive(Debug, Default, Clone)]
pub struct SpanMap {
    values: HashMap<String, Span>,
    keys: HashMap<String, Span>,
}

impl SpanMap {
    /// The span of the value at `ptr`, else of its nearest located parent.
    pub fn value(&self, ptr: &str) -> Option<Span> {
        let mut p = ptr;
        loop {
            if let Some(s) = self.values.get(p) {
                return Some(*s);
            }
            p = &p[..p.rfind('/')?];
        }
    }

    /// The span of the key that holds `ptr`, else of the value.
    pub fn key(&self, ptr: &str) -> Option<Span> {
        self.keys.get(ptr).copied().or_else(|| self.value(ptr))
    }
}

/// Escape one JSON pointer segment.
pub fn seg(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The result of a check.
pub struct Checked {
    /// The value for serde (absent when anything in the file has an error).
    pub value: Option<Json>,
    /// Every problem found.
    pub diagnostics: Vec<Diagnostic>,
    /// Where things are.
    pub spans: SpanMap,
    /// For each mapping or list named in `parts` (by pointer) that has an
    /// error in some child, the children without errors: so they can still
    /// be used when a sibling has one.
    pub parts: HashMap<String, Parts>,
}

/// The children of one mapping or list, each checked on its own.
#[derive(Debug, Default, Clone)]
pub struct Parts {
    /// The children without errors: a JSON object, or an array.
    pub passed: Json,
    /// For an array, the index in the file of each of `passed`'s items.
    pub index: Vec<usize>,
    /// The keys of the children with errors (for an array: their indexes).
    pub failed: Vec<String>,
}

/// Check `root` against `schema` (a schemars root schema with `$defs`).
/// Of each mapping or list at a pointer in `parts` (e.g. `""` for the
/// top-level keys, `"/services"`) that has children with errors, the
/// children without errors are kept in [`Checked::parts`].
pub fn check(
    root: &Node,
    schema: &Json,
    file: &SourceFile,
    vars: &Vars,
    parts: &[&str],
) -> Checked {
    let mut c = Checker {
        defs: schema.get("$defs").and_then(Json::as_object),
        file,
        vars,
        diagnostics: Vec::new(),
        spans: SpanMap::default(),
        part_ptrs: parts,
        parts: HashMap::new(),
    };
    let value = c.check(root, schema, "");
    Checked {
        value,
        diagnostics: c.diagnostics,
        spans: c.spans,
        parts: c.parts,
    }
}

struct Checker<'a> {
    defs: Option<&'a Map<String, Json>>,
    file: &'a SourceFile,
    vars: &'a Vars,
    diagnostics: Vec<Diagnostic>,
    spans: SpanMap,
    part_ptrs: &'a [&'a str],
    parts: HashMap<String, Parts>,
}

/// A scalar after interpolation.
struct Scalar {
    text: String,
    resolved: Resolved,
}

impl<'a> Checker<'a> {
    fn span(&self, n: &Node) -> Span {
        self.file.span(n.start, n.end)
    }

    /// Keep the children without errors of the container at `ptr`, which
    /// has some with errors, when `ptr` is one whose parts are kept.
    fn keep(&mut self, ptr: &str, parts: Parts) {
        if self.part_ptrs.contains(&ptr) {
            self.parts.insert(ptr.to_string(), parts);
        }
    }

    fn error(&mut self, n: &Node, summary: String, help: Option<String>) {
        let mut d = Diagnostic::error(summary, Some(self.span(n)));
        if let Some(h) = help {
            d = d.with_help(h);
        }
        self.diagnostics.push(d);
    }

    fn resolve_ref(&self, mut schema: &'a Json) -> &'a Json {
        for _ in 0..16 {
            let Some(r) = schema.get("$ref").and_then(Json::as_str) else {
                break;
            };
            let name = r.rsplit('/').next().unwrap_or(r);
            match self.defs.and_then(|d| d.get(name)) {
                Some(s) => schema = s,
                None => break,
            }
        }
        schema
    }

    fn scalar(&mut self, n: &Node, ptr: &str) -> Option<Scalar> {
        let Value::Scalar { text, plain } = &n.value else {
            return None;
        };
        let text = match interpolate(text, self.vars) {
            Ok((t, unset)) => {
                for var in unset {
                    self.diagnostics.push(
                        Diagnostic::warning(format!("the variable {var} is not set; using an empty string"), Some(self.span(n)))
                            .with_help(format!("set {var} in the environment or in .env beside the file, or give a default: ${{{var}:-value}}")),
                    );
                }
                t
            }
            Err(Problem::Required { var, message }) => {
                let why = if message.is_empty() {
                    format!("{var} is required")
                } else {
                    message
                };
                self.error(
                    n,
                    format!("required variable {var} is not set: {why}"),
                    Some(format!(
                        "set {var} in the environment or in .env beside the file"
                    )),
                );
                return None;
            }
            Err(Problem::Syntax(msg)) => {
                self.error(
                    n,
                    format!("bad interpolation at {ptr}: {msg}"),
                    Some("write `$$` for a literal `$`".into()),
                );
                return None;
            }
        };
        let resolved = if *plain {
            resolve_plain(&text)
        } else {
            Resolved::Str
        };
        Some(Scalar { text, resolved })
    }

    fn check(&mut self, n: &Node, schema: &'a Json, ptr: &str) -> Option<Json> {
        self.spans.values.insert(ptr.to_string(), self.span(n));
        let schema = self.resolve_ref(schema);
        if let Some(branches) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Json::as_array)
        {
            return self.check_any(n, branches, ptr);
        }
        if let Some(c) = schema.get("const") {
            return self.check_enum(n, std::slice::from_ref(c), ptr);
        }
        if let Some(e) = schema.get("enum").and_then(Json::as_array) {
            return self.check_enum(n, e, ptr);
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Json::String(t)) => vec![t.as_str()],
            Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).collect(),
            _ => return self.plain_json(n, ptr),
        };
        if types.contains(&"null")
            && matches!(n.resolve(), Resolved::Null)
            && matches!(n.value, Value::Scalar { .. })
        {
            return Some(Json::Null);
        }
        let ty = types
            .iter()
            .copied()
            .find(|t| *t != "null")
            .unwrap_or("null");
        match ty {
            "object" => self.check_object(n, schema, ptr),
            "array" => self.check_array(n, schema, ptr),
            "string" => self.check_string(n, schema, ptr),
            "integer" | "number" => self.check_number(n, schema, ptr, ty == "integer"),
            "boolean" => self.check_bool(n, ptr),
            _ => self.plain_json(n, ptr),
        }
    }

    fn type_error(&mut self, n: &Node, ptr: &str, expected: &str) {
        let found = n.type_name();
        self.error(
            n,
            format!("{} must be {expected}, found {found}", describe(ptr)),
            Some(format!("write {expected} here")),
        );
    }

    fn check_any(&mut self, n: &Node, branches: &'a [Json], ptr: &str) -> Option<Json> {
        let resolved: Vec<&'a Json> = branches.iter().map(|b| self.resolve_ref(b)).collect();
        if resolved.iter().all(|b| b.get("const").is_some()) {
            let consts: Vec<Json> = resolved
                .iter()
                .filter_map(|b| b.get("const").cloned())
                .collect();
            return self.check_enum_owned(n, &consts, ptr);
        }
        // Decide by what the value will be after interpolation.
        let peeked = match &n.value {
            Value::Scalar { text, plain: true } => match interpolate(text, self.vars) {
                Ok((t, _)) => resolve_plain(&t),
                Err(_) => Resolved::Str,
            },
            _ => n.resolve(),
        };
        let want = match (&n.value, peeked) {
            (Value::Map(_), _) => vec!["object"],
            (Value::Seq(_), _) => vec!["array"],
            (_, Resolved::Null) => vec!["null", "string", "enum"],
            (_, Resolved::Bool(_)) => vec!["boolean", "string", "enum"],
            (_, Resolved::Int(_)) => vec!["integer", "number", "string", "enum"],
            (_, Resolved::Float(_)) => vec!["number", "string", "enum"],
            (_, Resolved::Str) => vec!["string", "enum"],
        };
        for w in &want {
            if let Some(b) = resolved
                .iter()
                .zip(branches)
                .find(|(b, _)| self.shape(b).iter().any(|s| s == w))
            {
                return self.check(n, b.1, ptr);
            }
        }
        let expected: Vec<String> = resolved
            .iter()
            .flat_map(|b| self.shape(b))
            .map(|s| match s.as_str() {
                "object" => "a mapping".into(),
                "array" => "a list".into(),
                "enum" => "one of the names listed".into(),
                "null" => "nothing".into(),
                other => format!("a {other}"),
            })
            .collect();
        self.type_error(n, ptr, &expected.join(" or "));
        None
    }

    /// The kinds of node a schema accepts: JSON types, or "enum".
    fn shape(&self, b: &Json) -> Vec<String> {
        let b = self.resolve_ref(b);
        if b.get("const").is_some() || b.get("enum").is_some() {
            return vec!["enum".into()];
        }
        if let Some(inner) = b
            .get("anyOf")
            .or_else(|| b.get("oneOf"))
            .and_then(Json::as_array)
        {
            if inner
                .iter()
                .all(|x| self.resolve_ref(x).get("const").is_some())
            {
                return vec!["enum".into()];
            }
            return inner.iter().flat_map(|x| self.shape(x)).collect();
        }
        match b.get("type") {
            Some(Json::String(t)) => vec![t.clone()],
            Some(Json::Array(ts)) => ts
                .iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect(),
            _ => vec![],
        }
    }

    fn check_enum(&mut self, n: &Node, allowed: &[Json], ptr: &str) -> Option<Json> {
        let owned = allowed.to_vec();
        self.check_enum_owned(n, &owned, ptr)
    }

    fn check_enum_owned(&mut self, n: &Node, allowed: &[Json], ptr: &str) -> Option<Json> {
        let names: Vec<&str> = allowed.iter().filter_map(Json::as_str).collect();
        let Some(s) = self.scalar(n, ptr) else {
            if matches!(n.value, Value::Scalar { .. }) {
                return None;
            }
            self.type_error(n, ptr, &format!("one of {}", quoted_list(&names)));
            return None;
        };
        if names.contains(&s.text.as_str()) {
            return Some(Json::String(s.text));
        }
        let help = match did_you_mean(&s.text, names.iter().copied()) {
            Some(m) => format!("did you mean `{m}`? Allowed: {}", quoted_list(&names)),
            None => format!("allowed: {}", quoted_list(&names)),
        };
        self.error(
            n,
            format!("`{}` is not a valid value for {}", s.text, describe(ptr)),
            Some(help),
        );
        None
    }

    fn check_object(&mut self, n: &Node, schema: &'a Json, ptr: &str) -> Option<Json> {
        let Value::Map(entries) = &n.value else {
            self.type_error(n, ptr, "a mapping");
            return None;
        };
        let props = schema.get("properties").and_then(Json::as_object);
        let additional = schema.get("additionalProperties");
        let mut out = Map::new();
        let mut ok = true;
        let mut failed = Vec::new();
        for (k, v) in entries {
            let Some(key) = k
                .as_str()
                .filter(|_| matches!(k.value, Value::Scalar { .. }))
            else {
                self.error(
                    k,
                    format!("keys in {} must be plain names", describe(ptr)),
                    None,
                );
                ok = false;
                continue;
            };
            let child = format!("{ptr}/{}", seg(key));
            self.spans.keys.insert(child.clone(), self.span(k));
            let sub = match props.and_then(|p| p.get(key)) {
                Some(s) => Some(s),
                None => match additional {
                    Some(Json::Bool(false)) => None,
                    Some(s @ Json::Object(_)) => Some(s),
                    _ => {
                        let v = self.plain_json(v, &child);
                        if let Some(v) = v {
                            out.insert(key.to_string(), v);
                        }
                        continue;
                    }
                },
            };
            match sub {
                Some(s) => match self.check(v, s, &child) {
                    Some(j) => {
                        if !j.is_null() {
                            out.insert(key.to_string(), j);
                        }
                    }
                    None => {
                        ok = false;
                        failed.push(key.to_string());
                    }
                },
                None => {
                    ok = false;
                    failed.push(key.to_string());
                    let known: Vec<&str> = props
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    let help = match did_you_mean(key, known.iter().copied()) {
                        Some(m) => format!("did you mean `{m}`?"),
                        None => format!("known keys here: {}", quoted_list(&known)),
                    };
                    let d = Diagnostic::error(
                        format!("unknown key `{key}` in {}", describe(ptr)),
                        Some(self.span(k)),
                    )
                    .with_label("not a known key")
                    .with_help(help);
                    self.diagnostics.push(d);
                }
            }
        }
        if let Some(req) = schema.get("required").and_then(Json::as_array) {
            for r in req.iter().filter_map(Json::as_str) {
                if !entries.iter().any(|(k, _)| k.as_str() == Some(r)) {
                    ok = false;
                    let span = self.spans.key(ptr).or_else(|| Some(self.span(n)));
                    let d = Diagnostic::error(
                        format!("{} is missing the required key `{r}`", describe(ptr)),
                        span,
                    )
                    .with_help(format!("add `{r}:`"));
                    self.diagnostics.push(d);
                }
            }
        }
        if ok {
            return Some(Json::Object(out));
        }
        self.keep(
            ptr,
            Parts {
                passed: Json::Object(out),
                index: Vec::new(),
                failed,
            },
        );
        None
    }

    fn check_array(&mut self, n: &Node, schema: &'a Json, ptr: &str) -> Option<Json> {
        let Value::Seq(items) = &n.value else {
            self.type_error(n, ptr, "a list");
            return None;
        };
        let item_schema = schema.get("items");
        let mut out = Vec::with_capacity(items.len());
        let mut index = Vec::with_capacity(items.len());
        let mut failed = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let child = format!("{ptr}/{i}");
            let v = match item_schema {
                Some(s) => self.check(item, s, &child),
                None => self.plain_json(item, &child),
            };
            match v {
                Some(v) => {
                    out.push(v);
                    index.push(i);
                }
                None => failed.push(i.to_string()),
            }
        }
        if failed.is_empty() {
            return Some(Json::Array(out));
        }
        self.keep(
            ptr,
            Parts {
                passed: Json::Array(out),
                index,
                failed,
            },
        );
        None
    }

    fn check_string(&mut self, n: &Node, schema: &Json, ptr: &str) -> Option<Json> {
        if !matches!(n.value, Value::Scalar { .. }) || matches!(n.resolve(), Resolved::Null) {
            self.type_error(n, ptr, "a string");
            return None;
        }
        let s = self.scalar(n, ptr)?;
        let format_error = match schema.get("format").and_then(Json::as_str) {
            Some("duration") => parse_duration(&s.text).err().map(|e| (e, DURATION_HELP)),
            Some("size") => parse_size(&s.text).err().map(|e| (e, SIZE_HELP)),
            _ => None,
        };
        if let Some((e, help)) = format_error {
            self.error(
                n,
                format!("{} is not valid: {e}", describe(ptr)),
                Some(help.into()),
            );
            return None;
        }
        Some(Json::String(s.text))
    }

    fn check_number(&mut self, n: &Node, schema: &Json, ptr: &str, integer: bool) -> Option<Json> {
        let expected = if integer {
            "a whole number"
        } else {
            "a number"
        };
        if !matches!(n.value, Value::Scalar { .. }) {
            self.type_error(n, ptr, expected);
            return None;
        }
        let s = self.scalar(n, ptr)?;
        let value = match s.resolved {
            Resolved::Int(i) => i as f64,
            Resolved::Float(f) if !integer => f,
            Resolved::Str => match resolve_plain(s.text.trim()) {
                Resolved::Int(i) => i as f64,
                Resolved::Float(f) if !integer => f,
                _ => {
                    self.type_error(n, ptr, expected);
                    return None;
                }
            },
            _ => {
                self.type_error(n, ptr, expected);
                return None;
            }
        };
        let min = schema.get("minimum").and_then(Json::as_f64);
        let max = schema.get("maximum").and_then(Json::as_f64);
        if min.is_some_and(|m| value < m) || max.is_some_and(|m| value > m) {
            let range = match (min, max) {
                (Some(a), Some(b)) => format!("between {a} and {b}"),
                (Some(a), None) => format!("at least {a}"),
                (None, Some(b)) => format!("at most {b}"),
                (None, None) => String::new(),
            };
            self.error(
                n,
                format!("{} is out of range: {}", describe(ptr), s.text),
                Some(format!("use a value {range}")),
            );
            return None;
        }
        Some(if integer {
            Json::from(value as i64)
        } else {
            serde_json::Number::from_f64(value).map_or(Json::Null, Json::Number)
        })
    }

    fn check_bool(&mut self, n: &Node, ptr: &str) -> Option<Json> {
        let s = self.scalar(n, ptr);
        match s.as_ref().map(|s| (&s.resolved, s.text.as_str())) {
            Some((Resolved::Bool(b), _)) => Some(Json::Bool(*b)),
            Some((_, "true")) => Some(Json::Bool(true)),
            Some((_, "false")) => Some(Json::Bool(false)),
            _ => {
                let hint = match n.as_str() {
                    Some("yes" | "on" | "y") => {
                        " (YAML 1.2 reads `yes`/`on` as text: write `true`)"
                    }
                    Some("no" | "off" | "n") => {
                        " (YAML 1.2 reads `no`/`off` as text: write `false`)"
                    }
                    _ => "",
                };
                self.error(
                    n,
                    format!(
                        "{} must be true or false, found {}{hint}",
                        describe(ptr),
                        n.type_name()
                    ),
                    Some("write `true` or `false`".into()),
                );
                None
            }
        }
    }

    /// Any JSON value, for schema positions that accept anything.
    fn plain_json(&mut self, n: &Node, ptr: &str) -> Option<Json> {
        match &n.value {
            Value::Scalar { .. } => {
                let s = self.scalar(n, ptr)?;
                Some(match s.resolved {
                    Resolved::Null => Json::Null,
                    Resolved::Bool(b) => Json::Bool(b),
                    Resolved::Int(i) => Json::from(i),
                    Resolved::Float(f) => {
                        serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
                    }
                    Resolved::Str => Json::String(s.text),
                })
            }
            Value::Seq(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    out.push(self.plain_json(item, &format!("{ptr}/{i}"))?);
                }
                Some(Json::Array(out))
            }
            Value::Map(entries) => {
                let mut out = Map::new();
                for (k, v) in entries {
                    let key = k.as_str().unwrap_or_default().to_string();
                    let child = format!("{ptr}/{}", seg(&key));
                    out.insert(key, self.plain_json(v, &child)?);
                }
                Some(Json::Object(out))
            }
        }
    }
}

/// "`services.worker.port`" for a JSON pointer, or "the file" for the root.
pub fn describe(ptr: &str) -> String {
    if ptr.is_empty() {
        return "the file".into();
    }
    let parts: Vec<String> = ptr
        .trim_start_matches('/')
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut out = String::new();
    for p in parts {
        if p.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{p}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&p);
        }
    }
    format!("`{out}`")
}

/// The closest candidate, if close enough to be a likely typo.
pub fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::jaro_winkler(&word.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_pointers() {
        assert_eq!(describe("/services/worker/port"), "`services.worker.port`");
        assert_eq!(describe("/models/0/ollama"), "`models[0].ollama`");
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("depend_on", ["depends_on", "env"]),
            Some("depends_on")
        );
        assert_eq!(did_you_mean("zzz", ["depends_on", "env"]), None);
    }
}
