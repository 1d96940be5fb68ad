//! Diagnostics: what is wrong in a file, where, and what to do.
//!
//! One type for every problem the loader and validator find. It renders
//! through miette (file:line:col, the offending line with a caret under the
//! node, a help line) and serializes for `facerunner validate --json`.

use std::fmt;

use miette::LabeledSpan;
use serde::Serialize;

use super::excerpt::{Excerpt, clip_label, short_line};
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
    /// Rendered as one line (`file:line:col: warning: summary; help`),
    /// without the source excerpt: for notes repeated per service.
    pub one_line: bool,
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
            one_line: false,
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

    /// Render it as one line, without the source excerpt.
    pub fn on_one_line(mut self) -> Diagnostic {
        self.one_line = true;
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
        render(self, file)
    }

    /// A miette report of this diagnostic in its file. Spans on long lines
    /// (a minified file) are clipped to a window, and a second place on such
    /// a line is named in the help text instead of drawn, so rendering costs
    /// the same wherever the span is.
    pub fn report(&self, file: &SourceFile) -> miette::Report {
        let text: &str = &file.text;
        let mut labels = Vec::new();
        let mut notes = Vec::new();
        if let Some(s) = self.span {
            let (offset, len) = clip_label(text, s.offset, s.len);
            labels.push(LabeledSpan::new_primary_with_span(
                Some(self.label.clone().unwrap_or_else(|| "here".into())),
                (offset, len),
            ));
        }
        let primary_short = self
            .span
            .is_none_or(|s| short_line(text, s.offset).is_some());
        for (label, s) in &self.related {
            if primary_short && short_line(text, s.offset).is_some() {
                labels.push(LabeledSpan::new_with_span(
                    Some(label.clone()),
                    (s.offset, s.len),
                ));
            } else {
                notes.push(format!(
                    "{label}: line {}, column {}",
                    s.start.line, s.start.column
                ));
            }
        }
        let help = match (&self.help, notes.is_empty()) {
            (h, true) => h.clone(),
            (Some(h), false) => Some(format!("{h} ({})", notes.join("; "))),
            (None, false) => Some(notes.join("; ")),
        };
        miette::Report::new(Rendered {
            severity: self.severity,
            summary: self.summary.clone(),
            help,
            labels,
        })
        .with_source_code(Excerpt::new(file))
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
struct Rendered {
    severity: Severity,
    summary: String,
    help: Option<String>,
    labels: Vec<LabeledSpan>,
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary)
    }
}

impl std::error::Error for Rendered {}

impl miette::Diagnostic for Rendered {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}
/// A diagnostic rendered for a person (file:line:col, the line, a caret, help).
///
/// The report reads the file through a clipped excerpt (long lines become a
/// window around the span). Should the renderer still fail on some input,
/// the diagnostic is printed as plain `file:line:col: summary` lines rather
/// than taking the command (or the daemon's watcher) down.
pub fn render(diag: &Diagnostic, file: &SourceFile) -> String {
    if diag.one_line {
        return one_line(diag, file);
    }
    let report = diag.report(file);
    // The panic hook is left alone (it is process-wide; swapping it races
    // with other threads): a panic here would still print its message once.
    let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| format!("{report:?}")));
    rendered.unwrap_or_else(|_| render_plain(diag, file))
}

/// `file:line:col: error` (or `warning`), the start of a plain rendering.
fn located(diag: &Diagnostic, file: &SourceFile) -> String {
    let kind = if diag.is_error() { "error" } else { "warning" };
    match diag.span {
        Some(s) => format!(
            "{}:{}:{}: {kind}",
            file.path.display(),
            s.start.line,
            s.start.column
        ),
        None => format!("{}: {kind}", file.path.display()),
    }
}

/// The diagnostic without a source excerpt: location, summary, help.
pub fn render_plain(diag: &Diagnostic, file: &SourceFile) -> String {
    let at = located(diag, file);
    let mut out = format!("{at}: {}", diag.summary);
    if let Some(h) = &diag.help {
        out.push_str(&format!("\n  help: {h}"));
    }
    out
}

/// `file:line:col: warning: summary; help` on one line.
pub fn one_line(diag: &Diagnostic, file: &SourceFile) -> String {
    let at = located(diag, file);
    match &diag.help {
        Some(h) => format!("{at}: {}; {h}", diag.summary),
        None => format!("{at}: {}", diag.summary),
    }
}

/// Most diagnostics the human output shows; `validate --json` lists all.
pub const MAX_SHOWN: usize = 50;

/// The diagnostics worth printing, errors first, at most [`MAX_SHOWN`], and
/// the line that says how many were left out.
pub fn shown(diags: &[Diagnostic]) -> (Vec<&Diagnostic>, Option<String>) {
    let mut ordered: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
    ordered.extend(diags.iter().filter(|d| !d.is_error()));
    let more = ordered.len().saturating_sub(MAX_SHOWN);
    ordered.truncate(MAX_SHOWN);
    let note =
        (more > 0).then(|| format!("… and {more} more (`facerunner validate --json` shows all)"));
    (ordered, note)
}
