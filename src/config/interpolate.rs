//! Compose-spec variable interpolation on values.
//!
//! `${VAR}`, `$VAR`, `${VAR:-default}` (unset or empty), `${VAR-default}`
//! (unset), `${VAR:?message}` / `${VAR?message}` (an error at the value's
//! location), `${VAR:+alt}` / `${VAR+alt}`, and `$$` for a literal `$`, with
//! defaults that may themselves interpolate — the semantics docker compose
//! users already know. Variables come from the environment, then a `.env`
//! file beside the project file (the environment wins). Keys are never
//! interpolated.

use std::collections::BTreeMap;

/// Where variables come from.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    /// Name → value; the environment already overrides `.env`.
    pub map: BTreeMap<String, String>,
}

impl Vars {
    /// The process environment over the given `.env` entries.
    pub fn from_env_over(dotenv: BTreeMap<String, String>) -> Vars {
        let mut map = dotenv;
        for (k, v) in std::env::vars_os() {
            if let (Ok(k), Ok(v)) = (k.into_string(), v.into_string()) {
                map.insert(k, v);
            }
        }
        Vars { map }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }
}

/// The outcome of interpolating one value.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// `${VAR:?msg}` with VAR unset: the whole value is an error.
    Required {
        /// The variable.
        var: String,
        /// The file's message.
        message: String,
    },
    /// A `${` without its `}`, or a bad variable name.
    Syntax(String),
}

/// Interpolate one value. Returns the new text and the names of variables
/// that were unset and had no default (compose substitutes an empty string
/// and warns).
pub fn interpolate(text: &str, vars: &Vars) -> Result<(String, Vec<String>), Problem> {
    if !text.contains('$') {
        return Ok((text.to_string(), Vec::new()));
    }
    let mut out = String::with_capacity(text.len());
    let mut unset = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(body_start) = after.strip_prefix('{') {
            let close = matching_brace(body_start).ok_or_else(|| {
                Problem::Syntax(format!("`${{` without a closing `}}` in \"{text}\""))
            })?;
            let (value, mut more) = expand(&body_start[..close], vars)?;
            out.push_str(&value);
            unset.append(&mut more);
            rest = &body_start[close + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 || after.starts_with(|c: char| c.is_ascii_digit()) {
                // A lone `$` (e.g. "cost $5") is kept as written.
                out.push('$');
                rest = after;
                continue;
            }
            let name = &after[..len];
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => unset.push(name.to_string()),
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok((out, unset))
}

fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn expand(body: &str, vars: &Vars) -> Result<(String, Vec<String>), Problem> {
    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let name = &body[..name_len];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(Problem::Syntax(format!(
            "`${{{body}}}` does not start with a variable name (letters, digits, `_`)"
        )));
    }
    let op = &body[name_len..];
    let value = vars.get(name);
    let set_nonempty = value.is_some_and(|v| !v.is_empty());
    let (use_default, arg) = match op {
        "" => {
            return Ok(match value {
                Some(v) => (v.to_string(), Vec::new()),
                None => (String::new(), vec![name.to_string()]),
            });
        }
        _ if op.starts_with(":-") => (!set_nonempty, &op[2..]),
        _ if op.starts_with('-') => (value.is_none(), &op[1..]),
        _ if op.starts_with(":?") || op.starts_with('?') => {
            let colon = op.starts_with(':');
            let missing = if colon {
                !set_nonempty
            } else {
                value.is_none()
            };
            if missing {
                let message = op[if colon { 2 } else { 1 }..].to_string();
                return Err(Problem::Required {
                    var: name.to_string(),
                    message,
                });
            }
            return Ok((value.unwrap_or_default().to_string(), Vec::new()));
        }
        _ if op.starts_with(":+") => {
            return if set_nonempty {
                interpolate(&op[2..], vars)
            } else {
                Ok((String::new(), Vec::new()))
            };
        }
        _ if op.starts_with('+') => {
            return if value.is_some() {
                interpolate(&op[1..], vars)
            } else {
                Ok((String::new(), Vec::new()))
            };
        }
        _ => {
            return Err(Problem::Syntax(format!(
                "`${{{body}}}`: unknown modifier `{op}` (use :-, -, :?, ?, :+ or +)"
            )));
        }
    };
    if use_default {
        interpolate(arg, vars)
    } else {
        Ok((value.unwrap_or_default().to_string(), Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars {
            map: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn run(text: &str, v: &Vars) -> String {
        interpolate(text, v).unwrap().0
    }

    #[test]
    fn compose_semantics() {
        let v = vars(&[("SET", "x"), ("EMPTY", "")]);
        assert_eq!(run("${SET}", &v), "x");
        assert_eq!(run("$SET-y", &v), "x-y");
        assert_eq!(run("${UNSET:-d}", &v), "d");
        assert_eq!(run("${EMPTY:-d}", &v), "d");
        assert_eq!(run("${EMPTY-d}", &v), "");
        assert_eq!(run("${UNSET-d}", &v), "d");
        assert_eq!(run("${SET:+alt}", &v), "alt");
        assert_eq!(run("${UNSET:+alt}", &v), "");
        assert_eq!(run("$${SET}", &v), "${SET}");
        assert_eq!(run("${UNSET:-${SET}}", &v), "x");
        assert_eq!(run("cost $5", &v), "cost $5");
    }

    #[test]
    fn unset_without_default_is_empty_and_reported() {
        let (out, unset) = interpolate("a${NOPE}b", &vars(&[])).unwrap();
        assert_eq!(out, "ab");
        assert_eq!(unset, vec!["NOPE".to_string()]);
    }

    #[test]
    fn required_variables() {
        let err = interpolate("${TOKEN:?set TOKEN first}", &vars(&[("TOKEN", "")])).unwrap_err();
        assert_eq!(
            err,
            Problem::Required {
                var: "TOKEN".into(),
                message: "set TOKEN first".into()
            }
        );
        assert!(interpolate("${TOKEN?x}", &vars(&[("TOKEN", "")])).is_ok());
    }

    #[test]
    fn syntax_errors() {
        assert!(matches!(
            interpolate("${OPEN", &vars(&[])),
            Err(Problem::Syntax(_))
        ));
        assert!(matches!(
            interpolate("${1A}", &vars(&[])),
            Err(Problem::Syntax(_))
        ));
    }
}
