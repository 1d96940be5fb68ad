//! What the engine reports while it runs: one event per step transition,
//! progress for long steps, and the final outcome of each step.
//!
//! Events are plain serde data: the CLI renders them as progress bars on a
//! terminal, as lines otherwise, and as NDJSON with `--json` (one object
//! per line, `{"event": "...", ...}`); a dashboard can forward them as SSE.

use serde::{Deserialize, Serialize};

/// One thing that happened during an apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ExecEvent {
    /// Another apply holds the project's lock; this one waits.
    WaitingForLock {
        /// Pid of the holder, as written in the lock file.
        holder: String,
    },
    /// A step began.
    StepStarted {
        /// Step id.
        id: usize,
        /// What it does.
        title: String,
    },
    /// Progress of a running step.
    Progress {
        /// Step id.
        id: usize,
        /// Ollama's or the daemon's status text.
        status: String,
        /// Bytes done, summed over layers (pulls).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        completed: Option<u64>,
        /// Bytes in all, summed over the layers seen so far (pulls).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<u64>,
    },
    /// A step finished with its outcome.
    StepFinished {
        /// Step id.
        id: usize,
        /// What it did.
        title: String,
        /// How it ended.
        #[serde(flatten)]
        outcome: Outcome,
    },
}

/// How one step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Succeeded,
    /// It ran and failed.
    Failed(Failure),
    /// Not run because a step it waits for did not succeed.
    Skipped {
        /// The step that did not succeed.
        because: usize,
    },
}

/// Why a step failed, for people and for programs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What kind of failure, so a renderer can give help per kind.
    #[serde(default)]
    pub kind: FailureKind,
    /// The message with its causes (Ollama's or the daemon's own words).
    pub error: String,
    /// What to do about it, when there is something to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// The kinds of step failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The daemon or an Ollama server could not be reached.
    Unreachable,
    /// A service did not become ready (or did not stop).
    NotReady,
    /// Ollama answered with an error (unknown model, bad request, ...).
    Ollama,
    /// The step worked but the state file could not be written.
    State,
    /// The plan step itself is unusable (a bad name, a wrong service).
    BadStep,
    /// Anything else.
    #[default]
    Other,
}

impl Failure {
    /// A failure of `kind` with a message and no help.
    pub fn new(kind: FailureKind, error: impl Into<String>) -> Failure {
        Failure {
            kind,
            error: error.into(),
            help: None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error)
    }
}

impl Outcome {
    /// Whether the step succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Succeeded)
    }
}

/// Receives events; implementations must be cheap (they run inline).
pub trait Sink: Send + Sync {
    /// One event.
    fn event(&self, event: &ExecEvent);
}

impl<F: Fn(&ExecEvent) + Send + Sync> Sink for F {
    fn event(&self, event: &ExecEvent) {
        self(event)
    }
}

/// The result of executing a plan: one outcome per step, in step order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// `(step id, title, outcome)`.
    pub steps: Vec<(usize, String, Outcome)>,
}

impl Report {
    /// Whether every step succeeded.
    pub fn is_success(&self) -> bool {
        self.steps.iter().all(|(_, _, o)| o.is_success())
    }

    /// (succeeded, failed, skipped).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for (_, _, o) in &self.steps {
            match o {
                Outcome::Succeeded => c.0 += 1,
                Outcome::Failed { .. } => c.1 += 1,
                Outcome::Skipped { .. } => c.2 += 1,
            }
        }
        c
    }
}
