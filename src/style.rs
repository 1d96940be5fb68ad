//! Output styling: the colour decision and styled text.
//!
//! At the bottom so the plan renderer and the daemon's watcher style their
//! text the same way as the CLI.
//!
//! `--color auto|always|never` decides for every writer at once (anstream
//! for our own styled text, miette for diagnostics); `auto` means a terminal
//! and no `NO_COLOR`.

use std::io::IsTerminal;

/// When to use colour (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

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

/// Whether styling is off for good (`--color never`, `NO_COLOR`, no
/// terminal). Styled text written through anstream is stripped there
/// anyway, but not everything goes through it (indicatif's progress bars
/// draw their messages themselves), so styled text is never made then.
fn color_off() -> bool {
    anstream::ColorChoice::global() == anstream::ColorChoice::Never
}

/// An error and its causes on one line: `cannot write x: No space left on
/// device`. A cause whose text the message already ends with is not
/// repeated (some errors print their source themselves).
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cause = c.source();
    }
    s
}

/// Bold text when colour is on.
pub fn bold(s: &str) -> String {
    if color_off() {
        return s.to_string();
    }
    let style = anstyle::Style::new().bold();
    format!("{style}{s}{style:#}")
}

/// Text in a colour when colour is on.
pub fn paint(s: &str, color: anstyle::AnsiColor) -> String {
    if color_off() {
        return s.to_string();
    }
    let style = anstyle::Style::new().fg_color(Some(color.into()));
    format!("{style}{s}{style:#}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_never_makes_plain_text_for_writers_other_than_anstream() {
        // The check mark of a finished step goes into a progress bar,
        // which writes it without anstream's stripping.
        anstream::ColorChoice::write_global(anstream::ColorChoice::Never);
        let (check, name) = (paint("✔", anstyle::AnsiColor::Green), bold("svc"));
        anstream::ColorChoice::write_global(anstream::ColorChoice::Always);
        let coloured = paint("✔", anstyle::AnsiColor::Green);
        anstream::ColorChoice::write_global(anstream::ColorChoice::Auto);
        assert_eq!(check, "✔");
        assert_eq!(name, "svc");
        assert!(coloured.contains('\x1b'), "{coloured:?}");
    }
}
