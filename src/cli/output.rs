//! Printing diagnostics of the project file for a person.

use crate::config::diag::{render, shown};
use crate::config::{Diagnostic, SourceFile};

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
