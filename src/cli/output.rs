//! Terminal output: colour decisions and diagnostic rendering.
//!
//! `--color auto|always|never` decides for every writer at once (anstream
//! for our own styled text, miette for diagnostics); `auto` means a terminal
//! and no `NO_COLOR`.

use std::io::IsTerminal;

use crate::cli::ColorChoice;
use crate::config::{Diagnostic, SourceFile};

/// Whether to colour output written to stdout/stderr.
pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stderr().is_terminal()
        }
    }
}

/// Set up every writer for the chosen colour mode. Call once, early.
pub fn init(choice: ColorChoice) {
    let color = use_color(choice);
    anstream::ColorChoice::write_global(if color {
        anstream::ColorChoice::Always
    } else {
        anstream::ColorChoice::Never
    });
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(color)
                .unicode(color)
                .terminal_links(false)
                .context_lines(1)
                .build(),
        )
    }));
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

/// The diagnostic without a source excerpt: location, summary, help.
pub fn render_plain(diag: &Diagnostic, file: &SourceFile) -> String {
    let kind = if diag.is_error() { "error" } else { "warning" };
    let at = match diag.span {
        Some(s) => format!(
            "{}:{}:{}",
            file.path.display(),
            s.start.line,
            s.start.column
        ),
        None => file.path.display().to_string(),
    };
    let mut out = format!("{at}: {kind}: {}", diag.summary);
    if let Some(h) = &diag.help {
        out.push_str(&format!("\n  help: {h}"));
    }
    out
}

/// `file:line:col: warning: summary; help` on one line.
pub fn one_line(diag: &Diagnostic, file: &SourceFile) -> String {
    let kind = if diag.is_error() { "error" } else { "warning" };
    let at = match diag.span {
        Some(s) => format!(
            "{}:{}:{}",
            file.path.display(),
            s.start.line,
            s.start.column
        ),
        None => file.path.display().to_string(),
    };
    match &diag.help {
        Some(h) => format!("{at}: {kind}: {}; {h}", diag.summary),
        None => format!("{at}: {kind}: {}", diag.summary),
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

/// Print the diagnostics to stderr (at most [`MAX_SHOWN`], errors first).
pub fn print_diagnostics(diags: &[Diagnostic], file: &SourceFile) {
    let (shown, note) = shown(diags);
    for d in shown {
        anstream::eprintln!("{}", render(d, file));
    }
    if let Some(n) = note {
        anstream::eprintln!("{n}");
    }
}

/// Bold text when colour is on.
pub fn bold(s: &str) -> String {
    let style = anstyle::Style::new().bold();
    format!("{style}{s}{style:#}")
}

/// Text in a colour when colour is on.
pub fn paint(s: &str, color: anstyle::AnsiColor) -> String {
    let style = anstyle::Style::new().fg_color(Some(color.into()));
    format!("{style}{s}{style:#}")
}
