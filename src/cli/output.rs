//! Rendering diagnostics of the project file for a person.

use crate::config::{Diagnostic, SourceFile};

/// Print every diagnostic to stderr.
pub fn print_diagnostics(diags: &[Diagnostic], file: &SourceFile) {
    for d in diags {
        anstream::eprintln!("{}", d.render(file));
    }
}
