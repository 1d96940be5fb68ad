//! Integration files as they are on disk: for each path, absent, a regular
//! file with its content hash (and, for a JSON settings file FaceRunner
//! merges a block into, that block's hash or why the file is not plain
//! JSON), or something FaceRunner must not touch (a link, a directory, a
//! file too big to be one it wrote).
//!
//! Reads are bounded and never follow a link at the path.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::model::live::SeenFile;
use crate::safefs::{ReadError, read_private_bounded};

/// The largest integration file looked at (settings files are small).
pub const MAX_BYTES: u64 = 4 << 20;

/// SHA-256 (hex) of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The hash a JSON value is compared by: of its compact serialization
/// (object keys sorted, so the same value always hashes the same).
pub fn value_hash(value: &serde_json::Value) -> String {
    sha256_hex(value.to_string().as_bytes())
}

/// The value at `key` (object keys, outermost first) of a JSON document:
/// `Ok(None)` when it is not there, `Err` (in words) when the text is not
/// plain JSON (comments, trailing commas) or not an object where a key
/// must be looked up.
pub fn json_at(text: &str, key: &[String]) -> Result<Option<serde_json::Value>, String> {
    let doc: serde_json::Value = if text.trim().is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        serde_json::from_str(text)
            .map_err(|e| format!("it is not plain JSON ({e}); comments or trailing commas?"))?
    };
    let mut at = &doc;
    for (i, k) in key.iter().enumerate() {
        match at {
            serde_json::Value::Object(map) => match map.get(k) {
                Some(v) => at = v,
                None => return Ok(None),
            },
            _ => {
                return Err(format!(
                    "`{}` is not a JSON object",
                    if i == 0 {
                        "the top level".to_string()
                    } else {
                        key[..i].join(".")
                    }
                ));
            }
        }
    }
    Ok(Some(at.clone()))
}

/// Look at one path; `merge_key` is the key path of the block FaceRunner
/// merges into it, for a JSON settings file.
pub fn observe(path: &Path, merge_key: Option<&[String]>) -> SeenFile {
    match read_private_bounded(path, MAX_BYTES) {
        Ok(bytes) => {
            let block = merge_key.map(|key| {
                let text = String::from_utf8_lossy(&bytes);
                json_at(&text, key).map(|v| v.as_ref().map(value_hash))
            });
            SeenFile::Present {
                sha256: sha256_hex(&bytes),
                block,
            }
        }
        Err(e) if e.is_not_found() => SeenFile::Absent,
        Err(e) => SeenFile::Unusable {
            reason: match &e {
                ReadError::NotRegular { found, .. } => format!("it is a {found}"),
                _ => crate::style::with_causes(&e),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_seen_as_absent_present_or_untouchable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f.yaml");
        assert_eq!(observe(&p, None), SeenFile::Absent);
        std::fs::write(&p, "x").expect("write");
        assert_eq!(
            observe(&p, None),
            SeenFile::Present {
                sha256: sha256_hex(b"x"),
                block: None
            }
        );
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(&p, &link).expect("symlink");
        assert!(matches!(observe(&link, None), SeenFile::Unusable { .. }));
        assert!(matches!(
            observe(dir.path(), None),
            SeenFile::Unusable { .. }
        ));
    }

    #[test]
    fn a_json_block_is_found_or_the_file_is_refused_with_the_reason() {
        let key = vec!["language_models".to_string(), "ollama".to_string()];
        let v = json_at(
            r#"{"theme":"x","language_models":{"ollama":{"a":1}}}"#,
            &key,
        )
        .expect("plain json");
        assert_eq!(v, Some(serde_json::json!({"a": 1})));
        assert_eq!(json_at(r#"{"theme":"x"}"#, &key).expect("json"), None);
        assert_eq!(json_at("", &key).expect("empty"), None);
        let e = json_at("// comment\n{}", &key).expect_err("jsonc");
        assert!(e.contains("not plain JSON"), "{e}");
        let e = json_at(r#"{"language_models": 3}"#, &key).expect_err("not an object");
        assert!(e.contains("language_models"), "{e}");
    }
}
