//! Wire types of the Ollama API (reference: `ollama-api.md` §1).
//!
//! Responses ignore unknown fields and accept missing or `null` values for
//! everything optional, because Go encodes a nil slice or map as `null` and
//! newer servers add fields; a model listing must not fail because a server
//! is newer or older than the one these types were written against.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Deserializes `null` (or a missing field, with `#[serde(default)]`) as `T::default()`.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `details` of a model in `/api/tags`, `/api/ps` and `/api/show`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelDetails {
    /// Model this one was created from (often empty).
    #[serde(default, deserialize_with = "null_default")]
    pub parent_model: String,
    /// Weights format, e.g. `gguf`.
    #[serde(default, deserialize_with = "null_default")]
    pub format: String,
    /// Architecture family, e.g. `llama`.
    #[serde(default, deserialize_with = "null_default")]
    pub family: String,
    /// All families (e.g. `["llama", "clip"]`).
    #[serde(default, deserialize_with = "null_default")]
    pub families: Vec<String>,
    /// e.g. `7.6B`.
    #[serde(default, deserialize_with = "null_default")]
    pub parameter_size: String,
    /// e.g. `Q4_K_M`.
    #[serde(default, deserialize_with = "null_default")]
    pub quantization_level: String,
}

/// One installed model, from `GET /api/tags`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListModel {
    /// Shortest display name, e.g. `llama3.2:latest`.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Same value as `name`.
    #[serde(default, deserialize_with = "null_default")]
    pub model: String,
    /// Manifest mtime, RFC 3339 (kept as text).
    #[serde(default, deserialize_with = "null_default")]
    pub modified_at: String,
    /// Total bytes of all layers and the config blob.
    #[serde(default, deserialize_with = "null_default")]
    pub size: u64,
    /// sha256 hex of the manifest, without the `sha256:` prefix.
    #[serde(default, deserialize_with = "null_default")]
    pub digest: String,
    /// Format, family, size, quantization.
    #[serde(default, deserialize_with = "null_default")]
    pub details: ModelDetails,
    /// e.g. `completion`, `tools`, `embedding` (newer servers only).
    #[serde(default, deserialize_with = "null_default")]
    pub capabilities: Vec<String>,
}

/// One loaded model, from `GET /api/ps`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningModel {
    /// Shortest display name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// Same value as `name`.
    #[serde(default, deserialize_with = "null_default")]
    pub model: String,
    /// Bytes used by the loaded runner.
    #[serde(default, deserialize_with = "null_default")]
    pub size: u64,
    /// Bytes of it in GPU memory (`== size` means fully on GPU).
    #[serde(default, deserialize_with = "null_default")]
    pub size_vram: u64,
    /// Manifest sha256 hex.
    #[serde(default, deserialize_with = "null_default")]
    pub digest: String,
    /// Format, family, size, quantization.
    #[serde(default, deserialize_with = "null_default")]
    pub details: ModelDetails,
    /// When it will be unloaded, RFC 3339 (far future for "forever").
    #[serde(default, deserialize_with = "null_default")]
    pub expires_at: String,
    /// Context actually allocated (servers ≥ v0.10.0).
    #[serde(default)]
    pub context_length: Option<u64>,
}

/// A chat message, as stored in a model (`messages`) or sent to `/api/create`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    #[serde(default, deserialize_with = "null_default")]
    pub role: String,
    /// The text.
    #[serde(default, deserialize_with = "null_default")]
    pub content: String,
}

/// Answer of `POST /api/show` for an installed model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShowResponse {
    /// Modelfile text reconstructed by the server.
    #[serde(default, deserialize_with = "null_default")]
    pub modelfile: String,
    /// Parameters as Modelfile text (`name value` lines).
    #[serde(default, deserialize_with = "null_default")]
    pub parameters: String,
    /// Prompt template.
    #[serde(default, deserialize_with = "null_default")]
    pub template: String,
    /// System prompt.
    #[serde(default, deserialize_with = "null_default")]
    pub system: String,
    /// License text.
    #[serde(default, deserialize_with = "null_default")]
    pub license: String,
    /// Format, family, size, quantization.
    #[serde(default, deserialize_with = "null_default")]
    pub details: ModelDetails,
    /// Seed messages.
    #[serde(default, deserialize_with = "null_default")]
    pub messages: Vec<Message>,
    /// GGUF key/value metadata (`general.architecture`, …).
    #[serde(default, deserialize_with = "null_default")]
    pub model_info: serde_json::Map<String, serde_json::Value>,
    /// e.g. `completion`, `tools`, `vision`.
    #[serde(default, deserialize_with = "null_default")]
    pub capabilities: Vec<String>,
    /// Manifest mtime, RFC 3339.
    #[serde(default)]
    pub modified_at: Option<String>,
}

/// Request of `POST /api/create` (the `from`/`files` form of Ollama ≥ v0.5.5).
///
/// Either `from` or `files` must be set; the server answers 400 otherwise.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreateRequest {
    /// Name of the model to create, e.g. `mine/assistant:latest`.
    pub model: String,
    /// An existing model to build on (pulled first if missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// File name → `sha256:<hex>` of blobs already uploaded with `push_blob`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
    /// LoRA adapters, file name → digest (one supported).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub adapters: BTreeMap<String, String>,
    /// Prompt template override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// System prompt override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// License text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Runtime parameters, e.g. `{"num_ctx": 8192, "stop": ["<|eot|>"]}`.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// Seed messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Message>,
    /// Quantize an F16/BF16/F32 source, e.g. `q4_K_M`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantize: Option<String>,
}

/// How long a loaded model stays in memory (`keep_alive` of `/api/generate`).
///
/// Serializes as integer seconds or as a Go duration string (`"10m"`,
/// `"24h"`); a negative value means "forever", zero means "unload now".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeepAlive {
    /// Whole seconds; negative = forever, 0 = unload.
    Seconds(i64),
    /// A Go duration string such as `5m` or `1h30m` (validated by [`FromStr`]).
    Duration(String),
}

impl KeepAlive {
    /// Keep the model loaded until the server stops.
    pub const FOREVER: KeepAlive = KeepAlive::Seconds(-1);
    /// Unload right after the request.
    pub const UNLOAD: KeepAlive = KeepAlive::Seconds(0);
}

impl fmt::Display for KeepAlive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Seconds(s) => write!(f, "{s}"),
            Self::Duration(d) => f.write_str(d),
        }
    }
}

impl Serialize for KeepAlive {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Seconds(n) => s.serialize_i64(*n),
            Self::Duration(d) => s.serialize_str(d),
        }
    }
}

impl<'de> Deserialize<'de> for KeepAlive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(Self::Seconds(n)),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A `keep_alive` value that is neither an integer nor a Go duration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid keep_alive `{0}`: use integer seconds (-1 = forever, 0 = unload) or a duration like `30s`, `10m`, `1h30m`"
)]
pub struct InvalidKeepAlive(pub String);

impl FromStr for KeepAlive {
    type Err = InvalidKeepAlive;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if let Ok(n) = t.parse::<i64>() {
            return Ok(Self::Seconds(n));
        }
        if is_go_duration(t) {
            Ok(Self::Duration(t.to_owned()))
        } else {
            Err(InvalidKeepAlive(s.to_owned()))
        }
    }
}

/// Go's `time.ParseDuration` grammar: `[-+]?(\d*(\.\d*)?(ns|us|µs|ms|s|m|h))+`.
fn is_go_duration(s: &str) -> bool {
    let mut rest = s.strip_prefix(['-', '+']).unwrap_or(s);
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return false;
        }
        rest = &rest[num_len..];
        // "ms" is listed before "m" so that it wins.
        let Some(unit) = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .into_iter()
            .find(|u| rest.starts_with(u))
        else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}
