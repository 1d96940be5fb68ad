//! The plan: what `apply` would change, as plain data.
//!
//! [`build::plan`] is a pure function of the desired state ([`desired`]),
//! the live state (`observe`) and what FaceRunner owns (the state file).
//! Its result, [`Plan`], is the one value that is printed ([`render`]),
//! serialized (`plan --json`, `plan --out`, documented in
//! `docs/plan-json.md`) and executed (`execute`), so what a person reviews
//! is exactly what runs. Each [`Step`] says what, why, and which steps it
//! waits for; [`Check`]s are the problems found before anything runs.

pub mod build;
#[cfg(test)]
mod build_tests;
pub mod desired;
pub mod diff;
mod fit;
pub mod hf;
pub mod hf_convert;
pub mod hf_pull;
#[cfg(test)]
mod hf_tests;
pub mod integrations;
pub mod integrations_show;
mod model_steps;
pub mod placement;
pub mod render;

pub use crate::model::plan::*;
pub use build::plan;
pub use desired::Desired;
pub use hf::import_hash;
