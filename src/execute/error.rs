//! Why a step failed, typed: the engine's own error, turned into the plain
//! [`Failure`] data that travels in events (kind, message with its causes,
//! help), so the CLI and the daemon can say what to do per kind.

use crate::client::SupervisorError;
use crate::execute::store::StateError;
use crate::model::events::{Failure, FailureKind};
use crate::ollama::OllamaError;
use crate::style::with_causes;

/// A step that did not work.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Ollama refused or could not be reached.
    #[error(transparent)]
    Ollama(#[from] OllamaError),
    /// The daemon could not be reached or refused.
    #[error("cannot reach the daemon")]
    Daemon(#[from] SupervisorError),
    /// A service did not reach the state its step asked for.
    #[error("{reason}")]
    NotReady {
        /// The daemon's reason, probe and last log lines.
        reason: String,
    },
    /// The step was done but the state file was not written.
    #[error("{done}, but the state file was not written")]
    State {
        /// What was done ("installed", "removed", ...).
        done: &'static str,
        /// Why not.
        #[source]
        source: StateError,
    },
    /// Ollama's progress stream ended without its final `success`.
    #[error(
        "Ollama's stream ended before `success` (last status: {last_status:?}); run apply again"
    )]
    Incomplete {
        /// The last status seen.
        last_status: String,
    },
    /// A file for another tool could not be written or deleted.
    #[error("cannot {action} {path}")]
    File {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: String,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
    /// A file for another tool is not as the plan saw it; it was left alone.
    #[error("{0}")]
    FileChanged(String),
    /// The Hugging Face Hub, its cache or the download failed (an `hf:` import).
    #[error(transparent)]
    Hf(#[from] crate::hf::HfError),
    /// The step cannot run as written (plans are checked, so a hand-made
    /// or stale one).
    #[error("{0}")]
    BadStep(String),
}

impl StepError {
    /// The failure as data: kind, the message with every cause, and help.
    pub fn failure(&self) -> Failure {
        let (kind, help) = match self {
            StepError::Ollama(e) if e.is_connect() => (
                FailureKind::Unreachable,
                Some("is the Ollama service running? `facerunner status` shows it".to_string()),
            ),
            StepError::Ollama(e) if e.is_not_found() => (
                FailureKind::Ollama,
                Some("check the model's name and tag (ollama.com/library lists them)".to_string()),
            ),
            StepError::Ollama(_) | StepError::Incomplete { .. } => (FailureKind::Ollama, None),
            StepError::Daemon(_) => (
                FailureKind::Unreachable,
                Some("`facerunner status` shows whether the daemon runs; its log is state/daemon.log".to_string()),
            ),
            StepError::NotReady { .. } => (
                FailureKind::NotReady,
                Some("`facerunner logs SERVICE` shows what it printed".to_string()),
            ),
            StepError::State { .. } => (
                FailureKind::State,
                Some("the next `plan` shows what is still to do once the disk is writable".to_string()),
            ),
            StepError::File { .. } => (
                FailureKind::Other,
                Some("check the directory's owner and permissions; the next `plan` shows what is still to do".to_string()),
            ),
            StepError::FileChanged(_) => (
                FailureKind::Other,
                Some("run `facerunner plan` to see the file as it is now".to_string()),
            ),
            StepError::Hf(_) => (
                FailureKind::Other,
                Some("`facerunner hf info REPO` shows what the Hub says; apply again to resume the download".to_string()),
            ),
            StepError::BadStep(_) => (
                FailureKind::BadStep,
                Some("make a fresh plan with `facerunner plan`".to_string()),
            ),
        };
        Failure {
            kind,
            error: with_causes(self),
            help,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_keeps_the_cause_and_gives_help_per_kind() {
        let io = std::io::Error::other("No space left on device");
        let e = StepError::State {
            done: "installed",
            source: StateError::Io {
                action: "write",
                path: "/s/state.json".into(),
                source: io,
            },
        };
        let f = e.failure();
        assert_eq!(f.kind, FailureKind::State);
        assert!(
            f.error
                .starts_with("installed, but the state file was not written"),
            "{}",
            f.error
        );
        assert!(f.error.contains("No space left on device"), "{}", f.error);
        assert!(f.help.is_some());
        let bad = StepError::BadStep("service x is not an ollama service".into()).failure();
        assert_eq!(bad.kind, FailureKind::BadStep);
    }

    #[test]
    fn failures_round_trip_and_old_events_still_parse() {
        use crate::model::events::Outcome;
        let o = Outcome::Failed(Failure::new(FailureKind::NotReady, "did not become ready"));
        let json = serde_json::to_string(&o).expect("json");
        assert_eq!(serde_json::from_str::<Outcome>(&json).expect("back"), o);
        let old: Outcome =
            serde_json::from_str(r#"{"outcome":"failed","error":"boom"}"#).expect("old form");
        assert_eq!(
            old,
            Outcome::Failed(Failure::new(FailureKind::Other, "boom"))
        );
    }
}
