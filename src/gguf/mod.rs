//! GGUF headers: the metadata a memory estimate needs, read without the
//! weights.
//!
//! Only the header is read (magic, version 2 or 3, tensor and KV counts,
//! the KV pairs), from any [`Read`], a local file ([`read_file`]) or over
//! HTTP Range requests ([`read_url`], growing ranges until the header is
//! complete). Hostile input is expected: every read is bounded
//! ([`MAX_HEADER_BYTES`] in all, [`MAX_STRING`] per string), big arrays
//! (the tokenizer vocabulary) are skipped without being kept, nesting is
//! limited, and nothing panics. The layout is ggml's `docs/gguf.md`.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::Path;

use crate::model::gguf::ModelMeta;

/// The most header bytes read (the tokenizer of a large vocabulary is a few
/// MiB; the cap leaves room and bounds what hostile input costs).
pub const MAX_HEADER_BYTES: u64 = 64 << 20;
/// The longest string read (keys and values).
pub const MAX_STRING: u64 = 1 << 20;
/// Arrays longer than this are skipped (their length kept, not their items).
pub const MAX_KEPT_ARRAY: u64 = 1024;
/// Arrays nested deeper than this are refused.
const MAX_DEPTH: u32 = 4;

/// One metadata value. Large arrays keep only their length.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Any unsigned integer type.
    U64(u64),
    /// Any signed integer type.
    I64(i64),
    /// f32 or f64.
    F64(f64),
    /// A bool.
    Bool(bool),
    /// A string (invalid UTF-8 replaced).
    Str(String),
    /// An array: its length, and its items when it is short.
    Array {
        /// Number of items in the file.
        len: u64,
        /// The items, when `len <= MAX_KEPT_ARRAY`.
        items: Vec<Value>,
    },
}

impl Value {
    /// As an unsigned number (a non-negative signed one too).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::U64(n) => Some(*n),
            Value::I64(n) => u64::try_from(*n).ok(),
            _ => None,
        }
    }
}

/// A parsed header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// 2 or 3.
    pub version: u32,
    /// Tensors the file says it holds.
    pub tensor_count: u64,
    /// The metadata.
    pub kv: BTreeMap<String, Value>,
    /// Bytes the header took.
    pub bytes: u64,
}

/// Why a header could not be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum GgufError {
    /// It does not start with `GGUF`.
    #[error("not a GGUF file (it does not start with `GGUF`)")]
    NotGguf,
    /// A version this reader does not know.
    #[error("GGUF version {0} is not supported (2 and 3 are)")]
    Version(u32),
    /// The data ended inside the header.
    #[error("the GGUF header is cut short")]
    Truncated,
    /// The header is larger than [`MAX_HEADER_BYTES`].
    #[error("the GGUF header is larger than {} MiB", MAX_HEADER_BYTES >> 20)]
    TooLarge,
    /// Something in it is malformed.
    #[error("malformed GGUF header: {0}")]
    Malformed(String),
    /// Required keys are missing.
    #[error("the GGUF header has no `{0}`")]
    Missing(String),
    /// Reading failed.
    #[error("cannot read {what}")]
    Io {
        /// The file or URL.
        what: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file could not be opened.
    #[error(transparent)]
    Open(#[from] crate::safefs::ReadError),
    /// An HTTP request failed.
    #[error("cannot fetch the GGUF header from {url}")]
    Http {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("{url} answered {status} to a range request")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
}

/// A reader that counts bytes and refuses to go past the cap.
struct Bounded<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Bounded<R> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), GgufError> {
        let n = buf.len() as u64;
        if self.read.saturating_add(n) > MAX_HEADER_BYTES {
            return Err(GgufError::TooLarge);
        }
        self.inner.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                GgufError::Truncated
            } else {
                GgufError::Io {
                    what: "the GGUF header".into(),
                    source: e,
                }
            }
        })?;
        self.read += n;
        Ok(())
    }

    fn skip(&mut self, n: u64) -> Result<(), GgufError> {
        if self.read.saturating_add(n) > MAX_HEADER_BYTES {
            return Err(GgufError::TooLarge);
        }
        // A vocabulary is tens of thousands of short strings: skip each
        // through a stack buffer (a memcpy out of the BufReader), not
        // through io::copy's per-call setup, which made reading headers
        // the bulk of a plan.
        let mut buf = [0u8; 4096];
        let mut left = n;
        while left > 0 {
            let k = left.min(buf.len() as u64) as usize;
            self.fill(&mut buf[..k])?;
            left -= k as u64;
        }
        Ok(())
    }

    fn u8(&mut self) -> Result<u8, GgufError> {
        let mut b = [0u8; 1];
        self.fill(&mut b)?;
        Ok(b[0])
    }
    fn u32(&mut self) -> Result<u32, GgufError> {
        let mut b = [0u8; 4];
        self.fill(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn u64(&mut self) -> Result<u64, GgufError> {
        let mut b = [0u8; 8];
        self.fill(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn string(&mut self) -> Result<String, GgufError> {
        let len = self.u64()?;
        if len > MAX_STRING {
            return Err(GgufError::Malformed(format!(
                "a string of {len} bytes (at most {MAX_STRING} are read)"
            )));
        }
        let mut buf = vec![0u8; len as usize];
        self.fill(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    fn skip_string(&mut self) -> Result<(), GgufError> {
        let len = self.u64()?;
        self.skip(len)
    }

    fn value(&mut self, ty: u32, depth: u32) -> Result<Value, GgufError> {
        Ok(match ty {
            0 => Value::U64(self.u8()?.into()),
            1 => Value::I64((self.u8()? as i8).into()),
            2 => {
                let mut b = [0u8; 2];
                self.fill(&mut b)?;
                Value::U64(u16::from_le_bytes(b).into())
            }
            3 => {
                let mut b = [0u8; 2];
                self.fill(&mut b)?;
                Value::I64(i16::from_le_bytes(b).into())
            }
            4 => Value::U64(self.u32()?.into()),
            5 => Value::I64((self.u32()? as i32).into()),
            6 => Value::F64(f32::from_bits(self.u32()?).into()),
            7 => Value::Bool(self.u8()? != 0),
            8 => Value::Str(self.string()?),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(GgufError::Malformed("arrays nested too deeply".into()));
                }
                let elem = self.u32()?;
                let len = self.u64()?;
                if len <= MAX_KEPT_ARRAY {
                    let mut items = Vec::with_capacity(len as usize);
                    for _ in 0..len {
                        items.push(self.value(elem, depth + 1)?);
                    }
                    Value::Array { len, items }
                } else {
                    self.skip_array(elem, len, depth + 1)?;
                    Value::Array {
                        len,
                        items: Vec::new(),
                    }
                }
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(self.u64()? as i64),
            12 => Value::F64(f64::from_bits(self.u64()?)),
            other => {
                return Err(GgufError::Malformed(format!("unknown value type {other}")));
            }
        })
    }

    fn skip_array(&mut self, elem: u32, len: u64, depth: u32) -> Result<(), GgufError> {
        let fixed = match elem {
            0 | 1 | 7 => Some(1u64),
            2 | 3 => Some(2),
            4..=6 => Some(4),
            10..=12 => Some(8),
            _ => None,
        };
        if let Some(size) = fixed {
            return self.skip(len.checked_mul(size).ok_or(GgufError::TooLarge)?);
        }
        for _ in 0..len {
            // Each item takes at least 8 bytes, so the byte cap ends this loop.
            match elem {
                8 => self.skip_string()?,
                9 => {
                    if depth >= MAX_DEPTH {
                        return Err(GgufError::Malformed("arrays nested too deeply".into()));
                    }
                    let e = self.u32()?;
                    let n = self.u64()?;
                    self.skip_array(e, n, depth + 1)?;
                }
                other => {
                    return Err(GgufError::Malformed(format!("unknown value type {other}")));
                }
            }
        }
        Ok(())
    }
}

/// Read a header from `r` (positioned at the file's start). Reads at most
/// [`MAX_HEADER_BYTES`]; never reads the tensor infos or data.
pub fn read_header(r: impl Read) -> Result<Header, GgufError> {
    let mut r = Bounded { inner: r, read: 0 };
    let mut magic = [0u8; 4];
    r.fill(&mut magic)?;
    if &magic != b"GGUF" {
        return Err(GgufError::NotGguf);
    }
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::Version(version));
    }
    let tensor_count = r.u64()?;
    let kv_count = r.u64()?;
    let mut kv = BTreeMap::new();
    // Each pair takes at least 12 bytes, so the byte cap ends this loop.
    for _ in 0..kv_count {
        let key = r.string()?;
        let ty = r.u32()?;
        let value = r.value(ty, 0)?;
        kv.insert(key, value);
    }
    Ok(Header {
        version,
        tensor_count,
        kv,
        bytes: r.read,
    })
}

impl Header {
    /// What the memory estimate needs; `file_size_bytes` is the weights.
    pub fn meta(&self, file_size_bytes: u64) -> Result<ModelMeta, GgufError> {
        meta_from(|k| self.kv.get(k).cloned(), file_size_bytes)
    }
}

/// The largest number in a value (a per-layer array gives its maximum).
fn max_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Array { items, .. } => items.iter().filter_map(Value::as_u64).max(),
        v => v.as_u64(),
    }
}

/// [`ModelMeta`] from GGUF keys, looked up by `get` (a header's KV pairs,
/// or `/api/show`'s `model_info`, which uses the same keys).
pub fn meta_from(
    get: impl Fn(&str) -> Option<Value>,
    file_size_bytes: u64,
) -> Result<ModelMeta, GgufError> {
    let arch = match get("general.architecture") {
        Some(Value::Str(s)) if !s.is_empty() => s,
        _ => return Err(GgufError::Missing("general.architecture".into())),
    };
    let num = |k: &str| {
        get(&format!("{arch}.{k}"))
            .as_ref()
            .and_then(max_u64)
            .unwrap_or(0)
    };
    let block_count = num("block_count");
    if block_count == 0 {
        return Err(GgufError::Missing(format!("{arch}.block_count")));
    }
    let vocab_size = match get("tokenizer.ggml.tokens") {
        // `/api/show` empties long arrays: an empty list says nothing.
        Some(Value::Array { len, .. }) if len > 0 => len,
        _ => num("vocab_size"),
    };
    Ok(ModelMeta {
        block_count,
        context_length: num("context_length"),
        embedding_length: num("embedding_length"),
        head_count: num("attention.head_count"),
        head_count_kv: num("attention.head_count_kv"),
        key_length: num("attention.key_length"),
        value_length: num("attention.value_length"),
        vocab_size,
        file_type: get("general.file_type")
            .as_ref()
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok()),
        embedding_model: get(&format!("{arch}.pooling_type")).is_some(),
        file_size_bytes,
        architecture: arch,
    }
    .with_defaults())
}

/// A JSON value of `/api/show`'s `model_info` as a GGUF [`Value`]; `None`
/// for `null` and objects (GGUF has neither).
pub fn value_from_json(v: &serde_json::Value) -> Option<Value> {
    Some(match v {
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Value::U64(u),
            (None, Some(i)) => Value::I64(i),
            _ => Value::F64(n.as_f64()?),
        },
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(a) => Value::Array {
            len: a.len() as u64,
            items: if a.len() as u64 <= MAX_KEPT_ARRAY {
                a.iter().filter_map(value_from_json).collect()
            } else {
                Vec::new()
            },
        },
        serde_json::Value::Null | serde_json::Value::Object(_) => return None,
    })
}

/// [`ModelMeta`] from `/api/show`'s `model_info` (GGUF keys; arrays longer
/// than 5 come empty, so the vocabulary falls back to `{arch}.vocab_size`),
/// with `file_size_bytes` as the weights.
pub fn meta_from_model_info(
    info: &serde_json::Map<String, serde_json::Value>,
    file_size_bytes: u64,
) -> Result<ModelMeta, GgufError> {
    meta_from(|k| info.get(k).and_then(value_from_json), file_size_bytes)
}

/// The header of a local GGUF file, and its size as the weights. Links are
/// followed; a FIFO or device is refused without reading it.
pub fn read_file(path: &Path) -> Result<ModelMeta, GgufError> {
    let (file, meta) = crate::safefs::open_regular_read(path)?;
    let header =
        read_header(io::BufReader::with_capacity(256 << 10, file)).map_err(|e| match e {
            GgufError::Io { source, .. } => GgufError::Io {
                what: path.display().to_string(),
                source,
            },
            e => e,
        })?;
    header.meta(meta.len())
}

/// The first range requested over HTTP; each further one doubles it, up to
/// [`MAX_HEADER_BYTES`].
pub const FIRST_RANGE: u64 = 2 << 20;

/// The header of the GGUF file at `url`, read with HTTP Range requests
/// (`bytes=0-N`, N growing until the header parses), and the file's size
/// from `Content-Range`. A server that ignores Range answers 200: at most
/// [`MAX_HEADER_BYTES`] of that body are read.
pub async fn read_url(client: &reqwest::Client, url: &str) -> Result<ModelMeta, GgufError> {
    let http = |source| GgufError::Http {
        url: url.to_string(),
        source,
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut want = FIRST_RANGE;
    loop {
        let from = buf.len() as u64;
        let resp = client
            .get(url)
            .header(reqwest::header::RANGE, format!("bytes={from}-{}", want - 1))
            .send()
            .await
            .map_err(http)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(GgufError::Status {
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        let partial = status == reqwest::StatusCode::PARTIAL_CONTENT;
        let total = if partial {
            resp.headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit('/').next())
                .and_then(|t| t.trim().parse::<u64>().ok())
        } else {
            resp.content_length()
        };
        let mut body = resp;
        if !partial {
            // The whole file from byte 0: start over with what comes.
            buf.clear();
        }
        let limit = if partial { want } else { MAX_HEADER_BYTES };
        while let Some(chunk) = body.chunk().await.map_err(http)? {
            let room = limit.saturating_sub(buf.len() as u64) as usize;
            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if buf.len() as u64 >= limit {
                break;
            }
        }
        let got_all = total.is_some_and(|t| buf.len() as u64 >= t);
        match read_header(buf.as_slice()) {
            Ok(h) => return h.meta(total.unwrap_or(buf.len() as u64)),
            Err(GgufError::Truncated)
                if partial && !got_all && (buf.len() as u64) >= want && want < MAX_HEADER_BYTES =>
            {
                want = (want * 2).min(MAX_HEADER_BYTES);
            }
            Err(GgufError::Truncated) if !got_all && buf.len() as u64 >= MAX_HEADER_BYTES => {
                return Err(GgufError::TooLarge);
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
pub mod tests;
