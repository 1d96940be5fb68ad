//! The file's `gpus:` entries checked against a GPU inventory (this
//! machine's, or a `--gpus-from` file): an index or UUID the inventory does
//! not have is a mistake `validate` warns about (it runs on laptops without
//! the GPUs) and `plan` refuses. Without any inventory the check is skipped,
//! and `plan` says so.

use super::Loaded;
use super::check::seg;
use super::source::Span;
use crate::model::gpu::Inventory;

/// One `gpus:` entry and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// Its logical name (the key).
    pub name: String,
    /// `index:`, when given.
    pub index: Option<u32>,
    /// `uuid:`, when given.
    pub uuid: Option<String>,
    /// The entry's value in the file.
    pub span: Option<Span>,
    /// The same, as `path:line:col`.
    pub location: Option<String>,
}

/// Every `gpus:` entry of a loaded file, in key order.
pub fn declared(loaded: &Loaded) -> Vec<Declared> {
    loaded
        .config
        .gpus
        .iter()
        .map(|(name, g)| {
            let span = loaded.spans.value(&format!("/gpus/{}", seg(name)));
            Declared {
                name: name.clone(),
                index: g.index,
                uuid: g.uuid.clone(),
                span,
                location: span.map(|s| {
                    format!(
                        "{}:{}:{}",
                        loaded.file.path.display(),
                        s.start.line,
                        s.start.column
                    )
                }),
            }
        })
        .collect()
}

/// What checking `gpus:` against an inventory found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No inventory to check against (no driver, no `--gpus-from`): why.
    Skipped(String),
    /// The entries the inventory lacks, each with what is wrong and what
    /// to do (empty: every entry was found).
    Checked(Vec<Unmatched>),
}

/// An entry the inventory does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmatched {
    /// The entry.
    pub gpu: Declared,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub help: String,
}

/// Check each entry of `declared` against `inv`.
pub fn check(declared: &[Declared], inv: &Inventory) -> Outcome {
    if inv.gpus.is_empty() {
        let why = inv
            .unavailable
            .clone()
            .unwrap_or_else(|| format!("the inventory ({}) lists no GPU", inv.source));
        return Outcome::Skipped(why);
    }
    let have = inv
        .gpus
        .iter()
        .map(|g| format!("{} {}", g.index, g.uuid))
        .collect::<Vec<_>>()
        .join(", ");
    let from = if inv.source.is_empty() {
        "the inventory".to_string()
    } else {
        format!("the inventory ({})", inv.source)
    };
    let help = "`facerunner gpus` lists this machine's GPUs; name one by its uuid, \
                or plan for another machine with --gpus-from FILE"
        .to_string();
    let unmatched = declared
        .iter()
        .filter_map(|d| {
            let what = match (&d.uuid, d.index) {
                (Some(u), _) if inv.by_uuid(u).is_none() => format!("uuid {u}"),
                (None, Some(i)) if inv.by_index(i).is_none() => format!("index {i}"),
                _ => return None,
            };
            Some(Unmatched {
                gpu: d.clone(),
                message: format!(
                    "GPU `{}` names {what}, which {from} does not have (it has: {have})",
                    d.name
                ),
                help: help.clone(),
            })
        })
        .collect();
    Outcome::Checked(unmatched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::gpu::GpuInfo;

    fn decl(name: &str, index: Option<u32>, uuid: Option<&str>) -> Declared {
        Declared {
            name: name.into(),
            index,
            uuid: uuid.map(str::to_string),
            span: None,
            location: None,
        }
    }

    #[test]
    fn entries_the_inventory_lacks_are_found_and_none_other() {
        let inv = Inventory {
            gpus: vec![GpuInfo {
                index: 0,
                uuid: "GPU-a".into(),
                ..GpuInfo::default()
            }],
            source: "nvml".into(),
            unavailable: None,
        };
        let d = [
            decl("ok_i", Some(0), None),
            decl("ok_u", None, Some("GPU-a")),
            decl("bad_i", Some(1), None),
            decl("bad_u", None, Some("GPU-b")),
        ];
        let Outcome::Checked(bad) = check(&d, &inv) else {
            panic!("checked")
        };
        let names: Vec<_> = bad.iter().map(|u| u.gpu.name.as_str()).collect();
        assert_eq!(names, ["bad_i", "bad_u"]);
        assert!(bad[0].message.contains("index 1"), "{}", bad[0].message);
        assert!(bad[0].message.contains("0 GPU-a"), "{}", bad[0].message);
    }

    #[test]
    fn no_inventory_skips_with_the_reason() {
        let inv = Inventory {
            unavailable: Some("NVML is not available".into()),
            ..Inventory::default()
        };
        assert_eq!(
            check(&[decl("g", Some(0), None)], &inv),
            Outcome::Skipped("NVML is not available".into())
        );
    }
}
