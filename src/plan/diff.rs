//! Field-level differences between two normalized service specs, so a
//! restart says *why*: `env.LOG_LEVEL: "info" → "debug"`.
//!
//! Objects are compared key by key, recursively, with dotted paths; arrays
//! and scalars are compared as whole values (an argv is one field).
//!
//! Values of env vars whose names look secret (`*TOKEN*`, `*KEY*`,
//! `*SECRET*`, `*PASSWORD*`, see [`looks_secret`]) are compared but never
//! shown: the change is reported with [`MASK`] in place of both values, so
//! neither the terminal, `plan --json` nor a saved plan holds them.

use std::collections::BTreeSet;

use serde_json::Value;

pub use crate::model::plan::FieldChange;

/// Every field that differs between `old` and `new`, in key order.
pub fn diff(old: &Value, new: &Value) -> Vec<FieldChange> {
    let mut secret: BTreeSet<String> = BTreeSet::new();
    for v in [old, new] {
        if let Some(keys) = v.get("secret_env").and_then(Value::as_array) {
            secret.extend(keys.iter().filter_map(Value::as_str).map(str::to_string));
        }
    }
    let mut out = Vec::new();
    walk("", Some(old), Some(new), &secret, &mut out);
    out
}

/// What a secret value is shown as.
pub const MASK: &str = "(secret)";

/// Whether an env var's name says its value is a secret.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL"]
        .iter()
        .any(|w| upper.contains(w))
}

fn is_secret_env(path: &str, marked: &BTreeSet<String>) -> bool {
    path.strip_prefix("env.")
        .is_some_and(|k| looks_secret(k) || marked.contains(k))
}

fn walk(
    path: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    secret: &BTreeSet<String>,
    out: &mut Vec<FieldChange>,
) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(&p, a.get(k), b.get(k), secret, out);
            }
        }
        (a, b) if a == b => {}
        (a, b) if is_secret_env(path, secret) => {
            let mask = |v: Option<&Value>| v.filter(|v| !v.is_null()).map(|_| Value::from(MASK));
            out.push(FieldChange {
                path: path.to_string(),
                old: mask(a),
                new: mask(b),
            });
        }
        (a, b) => out.push(FieldChange {
            path: path.to_string(),
            old: a.filter(|v| !v.is_null()).cloned(),
            new: b.filter(|v| !v.is_null()).cloned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_changes_are_reported_with_dotted_paths() {
        let old = json!({"env": {"LOG_LEVEL": "info", "GONE": "1"}, "argv": ["a"], "port": 1});
        let new = json!({"env": {"LOG_LEVEL": "debug", "NEW": "2"}, "argv": ["a"], "port": 1});
        let lines: Vec<String> = diff(&old, &new).iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                r#"env.GONE: "1" → (none)"#,
                r#"env.LOG_LEVEL: "info" → "debug""#,
                r#"env.NEW: (none) → "2""#,
            ]
        );
    }

    #[test]
    fn secret_values_are_masked_but_their_change_is_seen() {
        let old = json!({"env": {"HF_TOKEN": "hf_old", "api_key": "a"}});
        let new = json!({"env": {"HF_TOKEN": "hf_new", "api_key": "a"}});
        let changes = diff(&old, &new);
        assert_eq!(changes.len(), 1);
        let text = serde_json::to_string(&changes).expect("json");
        assert!(
            !text.contains("hf_old") && !text.contains("hf_new"),
            "{text}"
        );
        assert_eq!(
            changes[0].to_string(),
            r#"env.HF_TOKEN: "(secret)" → "(secret)""#
        );
        let marked = diff(
            &json!({"env": {"DSN": "pg://a"}, "secret_env": ["DSN"]}),
            &json!({"env": {"DSN": "pg://b"}, "secret_env": ["DSN"]}),
        );
        assert_eq!(marked[0].to_string(), r#"env.DSN: "(secret)" → "(secret)""#);
        let added = diff(&json!({"env": {}}), &json!({"env": {"DB_PASSWORD": "p"}}));
        assert_eq!(
            added[0].to_string(),
            r#"env.DB_PASSWORD: (none) → "(secret)""#
        );
    }

    #[test]
    fn equal_values_have_no_diff() {
        let v = json!({"a": {"b": [1, 2]}});
        assert!(diff(&v, &v).is_empty());
    }
}
