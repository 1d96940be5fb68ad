//! The supervisor: a per-project daemon that owns the services' processes.
//!
//! # Theory of operation
//!
//! `facerunner up` sends the project's [`crate::model::spec::ProjectSpec`] to the
//! project's daemon over a Unix socket ([`crate::client::protocol`], [`crate::model::wire`]),
//! starting the daemon first when none runs ([`crate::client::ensure_daemon`]).
//! The daemon ([`daemon`]) keeps one actor per service ([`service`]), which
//! spawns the process ([`spawn`]), pumps its output into a rotated log
//! ([`logs`]), runs its probe ([`probes`]), applies its restart policy with
//! backoff ([`restart`]) and stops it with a signal, a grace period and
//! SIGKILL to its process group. [`orchestrate`] brings services up in
//! dependency order (independent ones in parallel) and down in reverse.
//! Requests are handled one handler per request ([`handler`]).
//!
//! # Never orphan, never touch what is not ours
//!
//! Every service runs under a *shim* ([`shim`], `facerunner __shim`), a
//! small process of our own binary that dies with the daemon: it asks for
//! a parent-death signal, re-checks its parent, leads nothing itself but
//! starts the service as the leader of a new process group, and when the
//! daemon dies (even by SIGKILL) stops that whole group — signal, grace,
//! SIGKILL — grandchildren included. We chose this over adopting orphans
//! from a restarted daemon because it needs no cooperation from a next
//! daemon that may never come, and leaves nothing running that no one
//! watches; the cost is one small extra process per service. A daemon that
//! re-executes itself as a new binary ([`reexec`], after `update`) is no
//! restart: `execve` keeps its pid and its children, and the new image takes
//! the shims over from a handover.
//!
//! Signals only ever go to a recorded process group after its identity
//! (pid + start time from `/proc`) is checked ([`crate::sys::identity`]); nothing is
//! ever looked up by name.

pub mod daemon;
pub mod dashboards;
pub mod driver;
pub mod gateways;
pub mod gpu_telemetry;
pub mod handler;
pub mod logread;
pub mod logs;
pub mod metrics;
pub mod orchestrate;
pub mod probes;
pub mod reexec;
pub mod restart;
pub mod service;
pub mod shim;
pub mod spawn;
#[cfg(test)]
pub(crate) mod test_support;
pub mod watching;

pub use crate::client::SupervisorError;
pub use crate::model::spec::{
    Check, Condition, Dependency, LogSpec, Probe, ProjectSpec, RestartPolicy, RestartSpec,
    ServiceSpec, StopSpec,
};
