//! Diagnostics: what is wrong in a file, where, and what to do.
//!
//! One type for every problem the loader and validator find. It renders
//! through miette (file:line:col, the offending line with a caret under the
//! node, a help line) and serializes for `facerunner validate --json`.

use std::fmt;

use miette::{LabeledSpan, NamedSource};
use serde::Serialize;

use super::source::{Position, SourceFile, Span};

/// Error or warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file cannot be used.
    Error,
    /// Worth knowing; does not fail validation.
    Warning,
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// One line: what is wrong.
    pub summary: String,
    /// What to do about it.
    pub help: Option<String>,
    /// Where (absent for problems with the file as a whole).
    pub span: Option<Span>,
    /// Text under the caret.
    pub label: Option<String>,
    /// Other places that matter, with their labels.
    pub related: Vec<(String, Span)>,
}

impl Diagnostic {
    /// An error at a place.
    pub fn error(summary: impl Into<String>, span: Option<Span>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            summary: summary.into(),
            help: None,
            span,
            label: None,
            related: Vec::new(),
        }
    }

    /// A warning at a place.
    pub fn warning(summary: impl Into<String>, span: Option<Span>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(summary, span)
        }
    }

    /// Add the help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Add the caret's label.
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    /// Point at a second place.
    pub fn with_related(mut self, label: impl Into<String>, span: Span) -> Diagnostic {
        self.related.push((label.into(), span));
        self
    }

    /// Is this an error?
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The `--json` form.
    pub fn to_json(&self, file: &SourceFile) -> JsonDiagnostic {
        let range = self.span.map(|s| JsonRange {
            file: file.path.display().to_string(),
            start: s.start,
            end: s.end,
        });
        JsonDiagnostic {
            severity: self.severity,
            summary: self.summary.clone(),
            detail: self.help.clone(),
            range: range.or_else(|| {
                Some(JsonRange {
                    file: file.path.display().to_string(),
                    start: Position { line: 1, column: 1 },
                    end: Position { line: 1, column: 1 },
                })
            }),
        }
    }

    /// Rendered for a person: file:line:col, the line, a caret, help.
    pub fn render(&self, file: &SourceFile) -> String {
        format!("{:?}", self.report(file))
    }

    /// A miette report of this diagnostic in its file.
    pub fn report(&self, file: &SourceFile) -> miette::Report {
        let src = NamedSource::new(file.path.display().to_string(), file.text.to_string())
            .with_language("yaml");
        miette::Report::new(Rendered(self.clone())).with_source_code(src)
    }
}

/// A diagnostic as `validate --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct JsonDiagnostic {
    /// `error` or `warning`.
    pub severity: Severity,
    /// What is wrong.
    pub summary: String,
    /// What to do.
    pub detail: Option<String>,
    /// Where.
    pub range: Option<JsonRange>,
}

/// A range in `--json` output.
#[derive(Debug, Clone, Serialize)]
pub struct JsonRange {
    /// The file.
    pub file: String,
    /// First character (1-based line and column).
    pub start: Position,
    /// End (exclusive).
    pub end: Position,
}

#[derive(Debug)]
struct Rendered(Diagnostic);

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.summary)
    }
}

impl std::error::Error for Rendered {}

impl miette::Diagnostic for Rendered {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.0.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.0
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let d = &self.0;
        let main = d.span.map(|s| {
            LabeledSpan::new_primary_with_span(
                Some(d.label.clone().unwrap_or_else(|| "here".into())),
                s.source_span(),
            )
        });
        let related = d
            .related
            .iter()
            .map(|(l, s)| LabeledSpan::new_with_span(Some(l.clone()), s.source_span()));
        Some(Box::new(main.into_iter().chain(related)))
    }
}
