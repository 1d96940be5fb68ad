//! Field-level differences between two normalized service specs, so a
//! restart says *why*: `env.LOG_LEVEL: "info" → "debug"`.
//!
//! Objects are compared key by key, recursively, with dotted paths; arrays
//! and scalars are compared as whole values (an argv is one field).

use serde_json::Value;

pub use crate::model::plan::FieldChange;

/// Every field that differs between `old` and `new`, in key order.
pub fn diff(old: &Value, new: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk("", Some(old), Some(new), &mut out);
    out
}

fn walk(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(&p, a.get(k), b.get(k), out);
            }
        }
        (a, b) if a == b => {}
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
    fn equal_values_have_no_diff() {
        let v = json!({"a": {"b": [1, 2]}});
        assert!(diff(&v, &v).is_empty());
    }
}
