//! The declared models' shapes, for `plan`'s GPU fit check.
//!
//! Only headers are read (a few MiB at most per model, see `gguf`), and
//! nothing at all when `settings.gpu_fit` is `off`. A header that cannot be
//! read leaves the model out of the check (the `file:` check in `plan`
//! reports a missing or non-GGUF file).

use std::collections::BTreeMap;

use crate::config::Loaded;
use crate::config::resolve::expand_path;
use crate::config::types::GpuFit;
use crate::model::gguf::ModelMeta;

/// `file:PATH` → the shape of each `file:` model.
pub fn observe(loaded: &Loaded) -> BTreeMap<String, ModelMeta> {
    let mut out = BTreeMap::new();
    if loaded.config.settings.gpu_fit == GpuFit::Off {
        return out;
    }
    for m in &loaded.config.models {
        let Some(file) = &m.file else { continue };
        let path = expand_path(file, &loaded.base_dir);
        let key = format!("file:{}", path.display());
        if out.contains_key(&key) {
            continue;
        }
        match crate::gguf::read_file(&path) {
            Ok(meta) => {
                out.insert(key, meta);
            }
            Err(e) => tracing::debug!("no fit check for {}: {e}", path.display()),
        }
    }
    out
}
