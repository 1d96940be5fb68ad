//! `facerunner.yaml`: types, loading with locations, interpolation,
//! validation, and the resolved service specs.
//!
//! The flow is `load` (find and read the file) → [`node`] (YAML with byte
//! ranges) → [`check`] (the JSON Schema of [`types`], collecting every
//! problem) → serde → [`validate`] (references, cycles, ports, model names).
//! [`resolve`] then turns a valid file into what the supervisor runs.

pub mod check;
pub mod diag;
pub mod excerpt;
pub mod gpus;
pub mod interpolate;
pub mod kinds;
pub mod load;
pub mod node;
pub mod source;
pub mod types;
pub mod validate;
mod validate_hf;
pub use validate_hf::hf_entry;

pub use diag::{Diagnostic, Severity};
pub use load::{LoadError, Loaded, SCHEMA, discover, load, load_str};
pub use source::{SourceFile, Span};
pub use types::Config;
pub mod replicas;
pub mod resolve;
pub mod secrets;
