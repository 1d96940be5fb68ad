//! Executing a plan: the apply entry point, the graph engine, the state
//! file and the apply lock.
//!
//! * [`apply::apply_project`] is what the daemon runs for `apply`, `up` and
//!   its watch mode (and `facerunner watch` in its own process): lock,
//!   observe, plan, review, execute.
//! * [`engine`] runs a plan as a dependency graph; [`services`] turns the
//!   service steps into one daemon request, [`models`] runs model steps
//!   against Ollama.
//! * [`store`] reads and writes the state file (what FaceRunner owns);
//!   [`lock`] keeps applies one at a time.

pub mod apply;
pub mod driver;
pub mod engine;
pub mod error;
mod files;
pub mod hf_import;
pub mod lock;
mod models;
pub mod prepare;
mod services;
pub mod store;

pub use crate::model::events::{ExecEvent, Outcome, Report, Sink};
pub use apply::{Applied, ApplyError, ApplyOptions, apply_project, check_saved, run_actions};
pub use driver::{Remote, ServiceDriver};
pub use error::StepError;
pub use store::StateError;
