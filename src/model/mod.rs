//! The bottom layer: plain data and pure helpers, no I/O.
//!
//! Every stage of the loop (config → observe → plan → execute) and the
//! daemon speak these types, so they live below all of them and import
//! nothing of the crate but [`crate::names`]:
//!
//! * [`spec`]: the resolved project, what the daemon runs;
//! * [`state`]: the state file's contents (what FaceRunner owns);
//! * [`live`]: what observation found;
//! * [`plan`] and [`checks`]: the plan, as data;
//! * [`events`]: what the engine reports while it runs;
//! * [`wire`]: the daemon's requests, responses and events;
//! * [`gpu`]: GPU inventories and model memory estimates;
//! * [`gguf`]: a model's shape (from its GGUF header) for the estimate;
//! * [`hf`]: what the Hugging Face Hub says about a repo (files, quants, commit);
//! * [`ollama`]: Ollama's API bodies (the plan carries a create request);
//! * [`units`]: durations and sizes, one grammar each.

pub mod checks;
pub mod events;
pub mod gguf;
pub mod gpu;
pub mod hf;
pub mod hf_resolve;
pub mod live;
pub mod ollama;
pub mod plan;
pub mod spec;
pub mod state;
pub mod units;
pub mod wire;
