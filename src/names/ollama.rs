//! Ollama model names, parsed exactly the way the Ollama server parses them.
//!
//! Why our own parser: FaceRunner decides *before* talking to a server whether
//! a name in `facerunner.yaml` is valid, whether two spellings are the same
//! model (Ollama compares names case-insensitively and re-cases them to the
//! installed copy), and where a model lives in an on-disk store it reads
//! without a server. Getting any of these subtly different from Ollama means a
//! plan that pulls a model twice or reports a present model as missing.
//!
//! Grammar (`shared/reference/ollama-api.md` §2):
//! `[scheme://][host/][namespace/]model[:tag]`, defaults `registry.ollama.ai`,
//! `library`, `latest`. The tag is what follows the last `:` when that comes
//! after the last `/`; the rest splits on `/` from the right. A trailing
//! `:local` (Ollama ≥ 0.17.6) forces the local copy and is not part of the
//! stored name.
//!
//! ```
//! use facerunner::names::ModelName;
//! let n = ModelName::parse("hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:IQ3_M")?;
//! assert_eq!(n.namespace(), "bartowski");
//! assert_eq!(n.to_string(), "hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:IQ3_M");
//! assert_eq!(ModelName::parse("Llama3.2")?, ModelName::parse("llama3.2:latest")?);
//! # Ok::<(), facerunner::names::NameError>(())
//! ```

use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

pub use super::name_error::{NameError, NameErrorReason, Part, Side};

/// Host used when a name has none.
pub const DEFAULT_HOST: &str = "registry.ollama.ai";
/// Namespace used when a name has none.
pub const DEFAULT_NAMESPACE: &str = "library";
/// Tag used when a name has none.
pub const DEFAULT_TAG: &str = "latest";
/// Directory under `$OLLAMA_MODELS` that holds the manifests.
pub const MANIFESTS_DIR: &str = "manifests";

/// A valid Ollama model name with defaults filled in.
///
/// Case is preserved (Ollama stores it as typed) but equality and hashing go
/// by [`ModelName::key`], because Ollama treats names that differ only in case
/// as the same model.
#[derive(Debug, Clone)]
pub struct ModelName {
    scheme: Option<String>,
    host: String,
    namespace: String,
    model: String,
    tag: String,
    local: bool,
}

impl ModelName {
    /// Parses a name, rejecting `http://` (see [`ModelName::parse_insecure`]).
    pub fn parse(s: &str) -> Result<ModelName, NameError> {
        Self::parse_with(s, false)
    }

    /// Parses a name, allowing `http://` as Ollama does with `insecure: true`.
    pub fn parse_insecure(s: &str) -> Result<ModelName, NameError> {
        Self::parse_with(s, true)
    }

    fn parse_with(s: &str, allow_insecure: bool) -> Result<ModelName, NameError> {
        parse_name(s, allow_insecure).map_err(|reason| NameError {
            input: s.to_owned(),
            reason,
        })
    }

    /// Builds a name from its four parts, validating each.
    pub fn from_parts(
        host: &str,
        namespace: &str,
        model: &str,
        tag: &str,
    ) -> Result<ModelName, NameError> {
        let err = |reason| NameError {
            input: format!("{host}/{namespace}/{model}:{tag}"),
            reason,
        };
        for (part, value) in [
            (Part::Host, host),
            (Part::Namespace, namespace),
            (Part::Model, model),
            (Part::Tag, tag),
        ] {
            if let Some(ch) = value.chars().find(|c| !c.is_ascii()) {
                return Err(err(NameErrorReason::NonAscii { ch }));
            }
            check_part(part, value).map_err(err)?;
        }
        Ok(ModelName {
            scheme: None,
            host: host.to_owned(),
            namespace: namespace.to_owned(),
            model: model.to_owned(),
            tag: tag.to_owned(),
            local: false,
        })
    }

    /// The scheme as written (`http`, `https`), if one was.
    pub fn scheme(&self) -> Option<&str> {
        self.scheme.as_deref()
    }
    /// Whether the name uses `http://` and so needs `insecure: true`.
    pub fn is_insecure(&self) -> bool {
        self.scheme
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("http"))
    }
    /// The registry host.
    pub fn host(&self) -> &str {
        &self.host
    }
    /// The namespace (user or organisation).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
    /// The model.
    pub fn model(&self) -> &str {
        &self.model
    }
    /// The tag.
    pub fn tag(&self) -> &str {
        &self.tag
    }
    /// Whether the name carried a `:local` suffix (forces the local copy).
    pub fn is_local_forced(&self) -> bool {
        self.local
    }

    /// A cloud model: tag `cloud` or ending in `-cloud` (case-insensitive).
    pub fn is_cloud(&self) -> bool {
        let tag = self.tag.to_ascii_lowercase();
        tag == "cloud" || tag.ends_with("-cloud")
    }

    /// The form Ollama shows in `/api/tags` and the CLI (§2.4); the tag is always shown.
    pub fn display_shortest(&self) -> String {
        if !self.host.eq_ignore_ascii_case(DEFAULT_HOST) {
            self.display_long()
        } else if !self.namespace.eq_ignore_ascii_case(DEFAULT_NAMESPACE) {
            format!("{}/{}:{}", self.namespace, self.model, self.tag)
        } else {
            format!("{}:{}", self.model, self.tag)
        }
    }

    /// `host/namespace/model:tag`.
    pub fn display_long(&self) -> String {
        format!(
            "{}/{}/{}:{}",
            self.host, self.namespace, self.model, self.tag
        )
    }

    /// The name to send to `/api/pull`: the shortest form, with the scheme
    /// (which forces the long form) when one was written.
    pub fn pull_ref(&self) -> String {
        match &self.scheme {
            Some(scheme) => format!("{scheme}://{}", self.display_long()),
            None => self.display_shortest(),
        }
    }

    /// `manifests/<host>/<namespace>/<model>/<tag>`, relative to `$OLLAMA_MODELS`.
    pub fn manifest_rel_path(&self) -> PathBuf {
        [
            MANIFESTS_DIR,
            &self.host,
            &self.namespace,
            &self.model,
            &self.tag,
        ]
        .iter()
        .collect()
    }

    /// The inverse of [`ModelName::manifest_rel_path`]: accepts
    /// `manifests/h/n/m/t` or, relative to the manifests directory, `h/n/m/t`;
    /// `None` if it is not a valid name.
    pub fn from_manifest_rel_path(p: &Path) -> Option<ModelName> {
        let mut parts = Vec::with_capacity(5);
        for c in p.components() {
            match c {
                Component::Normal(s) => parts.push(s.to_str()?),
                Component::CurDir => {}
                _ => return None,
            }
        }
        if parts.len() == 5 && parts[0] == MANIFESTS_DIR {
            parts.remove(0);
        }
        match parts.as_slice() {
            [h, n, m, t] => ModelName::from_parts(h, n, m, t).ok(),
            _ => None,
        }
    }

    /// Case-folded long form: two names with equal keys are the same model to Ollama.
    pub fn key(&self) -> String {
        self.display_long().to_ascii_lowercase()
    }
}

impl PartialEq for ModelName {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for ModelName {}
impl Hash for ModelName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl FromStr for ModelName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelName::parse(s)
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_shortest())
    }
}

impl serde::Serialize for ModelName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.pull_ref())
    }
}

/// Deserializes strictly: `http://` names are rejected here; a config that
/// allows them keeps the string and calls [`ModelName::parse_insecure`].
impl<'de> serde::Deserialize<'de> for ModelName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ModelName::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The source suffix after the last `:` (when after the last `/`), as modelref sees it.
fn source_suffix(s: &str) -> Option<(&str, bool)> {
    let (base, suffix) = s.rsplit_once(':')?;
    if suffix.contains('/') {
        return None;
    }
    let lower = suffix.to_ascii_lowercase();
    if lower == "local" {
        Some((base, true))
    } else if lower == "cloud" || lower.ends_with("-cloud") {
        Some((base, false))
    } else {
        None
    }
}

fn parse_name(input: &str, allow_insecure: bool) -> Result<ModelName, NameErrorReason> {
    use NameErrorReason as R;
    if input.is_empty() {
        return Err(R::Empty);
    }
    if let Some(ch) = input.chars().find(|c| !c.is_ascii()) {
        return Err(R::NonAscii { ch });
    }
    if input.contains('@') {
        return Err(R::Digest);
    }
    let mut s = input;
    let mut local = false;
    if let Some((base, is_local)) = source_suffix(s) {
        if source_suffix(base).is_some() {
            return Err(R::LocalAndCloud);
        }
        if is_local {
            s = base;
            local = true;
        }
    }
    let mut scheme = None;
    if let Some((sch, rest)) = s.split_once("://") {
        if sch.eq_ignore_ascii_case("http") {
            if !allow_insecure {
                return Err(R::InsecureScheme);
            }
        } else if !sch.eq_ignore_ascii_case("https") {
            return Err(R::UnsupportedScheme {
                scheme: sch.to_owned(),
            });
        }
        scheme = Some(sch.to_owned());
        s = rest;
    }
    let (path, tag) = match (s.rfind(':'), s.rfind('/')) {
        (Some(c), slash) if slash.is_none_or(|sl| c > sl) => (&s[..c], Some(&s[c + 1..])),
        _ => (s, None),
    };
    if tag == Some("") {
        return Err(R::EmptySide {
            separator: ':',
            side: Side::After,
        });
    }
    if path.is_empty() {
        let separator = if tag.is_some() { ':' } else { '/' };
        return Err(R::EmptySide {
            separator,
            side: Side::Before,
        });
    }
    let segments: Vec<&str> = path.split('/').collect();
    if let Some(i) = segments.iter().position(|seg| seg.is_empty()) {
        let side = if i + 1 == segments.len() {
            Side::After
        } else {
            Side::Before
        };
        return Err(R::EmptySide {
            separator: '/',
            side,
        });
    }
    if scheme.is_some() && segments.len() < 3 {
        return Err(R::SchemeWithoutHost);
    }
    let (host, namespace, model) = match segments.as_slice() {
        [m] => (DEFAULT_HOST, DEFAULT_NAMESPACE, *m),
        [n, m] => (DEFAULT_HOST, *n, *m),
        [h, n, m] => (*h, *n, *m),
        _ => {
            return Err(R::TooManySegments {
                count: segments.len(),
            });
        }
    };
    let tag = tag.unwrap_or(DEFAULT_TAG);
    check_part(Part::Host, host)?;
    check_part(Part::Namespace, namespace)?;
    check_part(Part::Model, model)?;
    check_part(Part::Tag, tag)?;
    Ok(ModelName {
        scheme,
        host: host.to_owned(),
        namespace: namespace.to_owned(),
        model: model.to_owned(),
        tag: tag.to_owned(),
        local,
    })
}

fn check_part(part: Part, value: &str) -> Result<(), NameErrorReason> {
    let mut chars = value.chars();
    let Some(first) = chars.next() else {
        return Err(NameErrorReason::EmptySide {
            separator: if part == Part::Tag { ':' } else { '/' },
            side: Side::After,
        });
    };
    if !(first.is_ascii_alphanumeric() || first == '_') {
        return Err(NameErrorReason::BadFirstChar { part, ch: first });
    }
    if let Some(ch) = chars.find(|&c| !part.allows(c)) {
        return Err(NameErrorReason::BadChar { part, ch });
    }
    if value.len() > part.max_len() {
        return Err(NameErrorReason::TooLong {
            part,
            len: value.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "ollama_tests.rs"]
mod tests;
