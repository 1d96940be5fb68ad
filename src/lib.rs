//! FaceRunner: run a whole local LLM stack from one declarative file.
//!
//! The library holds everything; `src/main.rs` only parses arguments and
//! maps results to exit codes. See `README.md` ("Architecture") for the loop
//! load → validate → observe → plan → execute.

#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod backup;
pub mod cli;
pub mod client;
pub mod config;
pub mod execute;
pub mod export;
pub mod gateway;
pub mod gguf;
pub mod gpu;
pub mod hf;
pub mod http;
pub mod install;
pub mod installs;
pub mod model;
pub mod names;
pub mod observe;
pub mod ollama;
pub mod paths;
pub mod pidlock;
pub mod plan;
pub mod safefs;
pub mod style;
pub mod supervisor;
pub mod sys;
pub mod watch;
pub mod web;
