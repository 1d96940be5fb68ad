//! Model names: Ollama's grammar, and Hugging Face names converted to it.
//!
//! Why this module exists: the original FaceRunner converted ten hard-coded,
//! case-sensitive Hugging Face names and passed everything else to Ollama to
//! fail at pull time. FaceRunner validates every name when it loads
//! `facerunner.yaml`, with Ollama's exact rules ([`ollama`]), and converts any
//! Hugging Face name ([`hf`]): GGUF repositories by rule, well-known original
//! repositories from a data table (`hf_library.tsv`) that is edited without
//! touching code. Each conversion carries a human reason, which
//! `facerunner convert` shows.
//!
//! ```
//! use facerunner::names::{convert, RepoHints};
//! let c = convert("meta-llama/Llama-3.1-8B-Instruct", None, &RepoHints::default())?;
//! assert_eq!(c.ollama.to_string(), "llama3.1:8b");
//! # Ok::<(), facerunner::names::ConvertError>(())
//! ```

pub mod hf;
mod hf_table;
mod name_error;
pub mod ollama;
mod quant;

pub use hf::{
    Conversion, ConvertError, ConvertErrorKind, HfRepo, Method, RepoHints, convert, parse_hf,
};
pub use ollama::{ModelName, NameError, NameErrorReason, Part, Side};
pub use quant::{DEFAULT_QUANT, KNOWN_QUANTS, best_available, normalize_quant};
