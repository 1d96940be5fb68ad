//! Errors as RFC 9457 `application/problem+json`, one stable `type` per kind.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The kinds of error the API answers with; each has a stable `type` URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No token, or not the right one.
    Unauthorized,
    /// The read-only token on a state-changing request.
    ReadOnly,
    /// A `Host` header that is not this server (DNS rebinding).
    BadHost,
    /// A state-changing request from another origin (CSRF).
    BadOrigin,
    /// No such route, service or model.
    NotFound,
    /// A request body or query that cannot be used.
    BadRequest,
    /// The file (or the posted text) does not validate.
    Invalid,
    /// The plan the caller saw is no longer the plan.
    StalePlan,
    /// The plan has errors.
    PlanErrors,
    /// The daemon does not run, or refused.
    Daemon,
    /// An Ollama server does not answer or refused.
    Ollama,
    /// The file writes a secret inline, so it is not sent.
    SecretInline,
    /// Anything else that failed on our side.
    Internal,
}

impl Kind {
    /// The slug of its `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            Kind::Unauthorized => "unauthorized",
            Kind::ReadOnly => "read-only-token",
            Kind::BadHost => "bad-host",
            Kind::BadOrigin => "bad-origin",
            Kind::NotFound => "not-found",
            Kind::BadRequest => "bad-request",
            Kind::Invalid => "invalid-file",
            Kind::StalePlan => "stale-plan",
            Kind::PlanErrors => "plan-has-errors",
            Kind::Daemon => "daemon",
            Kind::Ollama => "ollama",
            Kind::SecretInline => "secret-inline",
            Kind::Internal => "internal",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::ReadOnly | Kind::BadOrigin | Kind::SecretInline => StatusCode::FORBIDDEN,
            Kind::BadHost | Kind::BadRequest => StatusCode::BAD_REQUEST,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::Invalid | Kind::PlanErrors => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::StalePlan => StatusCode::CONFLICT,
            Kind::Daemon | Kind::Ollama => StatusCode::BAD_GATEWAY,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Unauthorized => "a valid dashboard token is required",
            Kind::ReadOnly => "the read-only token cannot change anything",
            Kind::BadHost => "the Host header does not name this dashboard",
            Kind::BadOrigin => "the request comes from another origin",
            Kind::NotFound => "not found",
            Kind::BadRequest => "the request cannot be used",
            Kind::Invalid => "the file does not validate",
            Kind::StalePlan => "the plan is stale",
            Kind::PlanErrors => "the plan has errors",
            Kind::Daemon => "the project's daemon refused or is not running",
            Kind::Ollama => "an Ollama server refused or does not answer",
            Kind::SecretInline => "the file holds secret values inline",
            Kind::Internal => "the dashboard failed",
        }
    }
}

/// The `type` URI prefix; the slug follows.
pub const TYPE_PREFIX: &str = "urn:facerunner:problem:";

/// One problem answer.
#[derive(Debug, Serialize)]
pub struct Problem {
    /// `urn:facerunner:problem:<slug>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The kind's summary.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What happened here, and what to do.
    pub detail: String,
    /// Located diagnostics (for `invalid-file`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<serde_json::Value>,
    #[serde(skip)]
    kind: Option<Kind>,
}

impl Problem {
    /// A problem of `kind`, saying `detail`.
    pub fn new(kind: Kind, detail: impl Into<String>) -> Problem {
        Problem {
            type_: format!("{TYPE_PREFIX}{}", kind.slug()),
            title: kind.title(),
            status: kind.status().as_u16(),
            detail: detail.into(),
            diagnostics: None,
            kind: Some(kind),
        }
    }

    /// With located diagnostics.
    pub fn with_diagnostics(mut self, d: serde_json::Value) -> Problem {
        self.diagnostics = Some(d);
        self
    }

    /// Its kind.
    pub fn kind(&self) -> Option<Kind> {
        self.kind
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut r = (status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        r
    }
}

/// An error and its causes on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    crate::style::with_causes(e)
}
