//! Problems found before anything runs.
//!
//! Errors block `apply` (nothing is changed); warnings are shown and the
//! plan goes ahead. They are data in the plan, so `plan --json` reports
//! them to tools the same way the terminal shows them to people.

use serde::{Deserialize, Serialize};

/// How bad a check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// `apply` refuses to run.
    Error,
    /// Shown; `apply` goes ahead.
    Warning,
    /// For information: a check that could not be made, and why.
    Note,
}

/// One problem, with what it is about and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Check {
    /// Error or warning.
    pub severity: Severity,
    /// What it is about: `service ollama`, `model coder`.
    pub subject: String,
    /// What is wrong.
    pub message: String,
    /// What would fix it.
    pub help: String,
    /// Where in the file it is, `path:line:col`, when it is about one entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl Check {
    /// A note: nothing is wrong, but something was not checked.
    pub fn note(
        subject: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> Check {
        Check {
            severity: Severity::Note,
            subject: subject.into(),
            message: message.into(),
            help: help.into(),
            location: None,
        }
    }

    /// The same check, located at `path:line:col`.
    pub fn at(mut self, location: Option<String>) -> Check {
        self.location = location;
        self
    }

    /// An error.
    pub fn error(
        subject: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> Check {
        Check {
            severity: Severity::Error,
            subject: subject.into(),
            message: message.into(),
            help: help.into(),
            location: None,
        }
    }

    /// A warning.
    pub fn warning(
        subject: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> Check {
        Check {
            severity: Severity::Warning,
            subject: subject.into(),
            message: message.into(),
            help: help.into(),
            location: None,
        }
    }
}
