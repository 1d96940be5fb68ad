//! The part of a file a diagnostic shows, for miette.
//!
//! Handing miette the whole text costs a scan from the start of the file for
//! every diagnostic (16,000 errors took 37 s) and lets it draw a caret at any
//! column, which panics past column 65,535 (a minified one-line file). An
//! [`Excerpt`] answers miette's reads from the file's line index instead,
//! and clips a long line to a window around the span, so rendering one
//! diagnostic costs about the size of that window, wherever it is.

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

use super::source::SourceFile;

/// A line longer than this (bytes) is shown as a window around the span.
pub const LONG_LINE: usize = 240;
/// Bytes shown on each side of a span on a long line.
const SIDE: usize = 60;
/// Longest caret drawn under a span on a long line.
pub const MAX_LABEL: usize = 80;

/// The source a diagnostic renders against: its file, read by window.
#[derive(Debug, Clone)]
pub struct Excerpt {
    file: SourceFile,
    name: String,
}

impl Excerpt {
    /// An excerpt reader over `file` (cheap: the text is shared).
    pub fn new(file: &SourceFile) -> Excerpt {
        Excerpt {
            file: file.clone(),
            name: file.path.display().to_string(),
        }
    }
}

/// Where the line holding `at` starts and ends, if it is at most
/// [`LONG_LINE`] bytes (found by looking no further than that).
pub fn short_line(text: &str, at: usize) -> Option<(usize, usize)> {
    let at = floor_boundary(text, at.min(text.len()));
    let bytes = text.as_bytes();
    let back = at.saturating_sub(LONG_LINE + 1);
    let start = match bytes[back..at].iter().rposition(|&b| b == b'\n') {
        Some(i) => back + i + 1,
        None if back == 0 => 0,
        None => return None,
    };
    let fwd = (at + LONG_LINE + 1).min(bytes.len());
    let end = match bytes[at..fwd].iter().position(|&b| b == b'\n') {
        Some(i) => at + i,
        None if fwd == bytes.len() => bytes.len(),
        None => return None,
    };
    (end - start <= LONG_LINE).then_some((start, end))
}

/// The span to draw a caret under: on a long line, at most [`MAX_LABEL`]
/// bytes and never past the end of the line.
pub fn clip_label(text: &str, offset: usize, len: usize) -> (usize, usize) {
    let offset = floor_boundary(text, offset.min(text.len()));
    if short_line(text, offset).is_some() {
        return (offset, len.min(text.len() - offset));
    }
    let limit = (offset + len.min(MAX_LABEL)).min(text.len());
    let end = text.as_bytes()[offset..limit]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(limit, |i| offset + i);
    (offset, floor_boundary(text, end) - offset)
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i.min(s.len())
}

impl Excerpt {
    /// The byte range to show for `start..end` with up to `before`/`after`
    /// context lines (only short ones).
    fn window(&self, start: usize, end: usize, before: usize, after: usize) -> (usize, usize) {
        let text: &str = &self.file.text;
        let bytes = text.as_bytes();
        let start = floor_boundary(text, start.min(text.len()));
        let end = ceil_boundary(text, end.clamp(start, text.len()));
        let from = match short_line(text, start) {
            Some((mut ls, _)) => {
                for _ in 0..before {
                    if ls == 0 {
                        break;
                    }
                    match short_line(text, ls - 1) {
                        Some((prev, _)) => ls = prev,
                        None => break,
                    }
                }
                ls
            }
            None => {
                let back = start.saturating_sub(SIDE);
                let cut = bytes[back..start]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(back, |i| back + i + 1);
                floor_boundary(text, cut)
            }
        };
        let last = if end > start { end - 1 } else { end };
        let to = match short_line(text, last) {
            Some((_, mut le)) => {
                for _ in 0..after {
                    if le >= text.len() {
                        break;
                    }
                    match short_line(text, le + 1) {
                        Some((_, next)) => le = next,
                        None => break,
                    }
                }
                le
            }
            None => {
                let fwd = (end + SIDE).min(text.len());
                let cut = bytes[end..fwd]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(fwd, |i| end + i);
                ceil_boundary(text, cut)
            }
        };
        (from, to.max(from))
    }
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let text: &str = &self.file.text;
        if span.offset() > text.len() {
            return Err(MietteError::OutOfBounds);
        }
        let start = span.offset();
        let end = start.saturating_add(span.len()).min(text.len());
        // Without context, miette wants the span itself (its line and
        // column head the report), as its own `str` source gives it.
        let (from, to) = if before == 0 && after == 0 {
            let (offset, len) = clip_label(text, start, end - start);
            (offset, offset + len)
        } else {
            self.window(start, end, before, after)
        };
        let data = &text[from..to];
        let pos = self.file.position(from);
        let lines = data.bytes().filter(|&b| b == b'\n').count() + 1;
        Ok(Box::new(
            MietteSpanContents::new_named(
                self.name.clone(),
                data.as_bytes(),
                (from, to - from).into(),
                pos.line - 1,
                pos.column - 1,
                lines,
            )
            .with_language("yaml"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(e: &Excerpt, offset: usize, len: usize, ctx: usize) -> (String, usize, usize) {
        let c = e.read_span(&(offset, len).into(), ctx, ctx).unwrap();
        (
            String::from_utf8(c.data().to_vec()).unwrap(),
            c.line(),
            c.column(),
        )
    }

    #[test]
    fn short_lines_come_with_their_context() {
        let f = SourceFile::new("f.yaml", "a: 1\nb: 2\nc: 3\nd: 4\n");
        let e = Excerpt::new(&f);
        let (data, line, column) = read(&e, 10, 1, 1);
        assert_eq!(data, "b: 2\nc: 3\nd: 4");
        assert_eq!((line, column), (1, 0));
    }

    #[test]
    fn a_far_column_on_a_long_line_is_a_small_window() {
        let mut text = String::from("{a: [");
        while text.len() < 100_000 {
            text.push_str("x, ");
        }
        let at = text.len();
        text.push_str("bad]}");
        let f = SourceFile::new("f.yaml", text.as_str());
        let e = Excerpt::new(&f);
        let (data, line, column) = read(&e, at, 3, 1);
        assert!(data.len() <= 2 * SIDE + 3, "{}", data.len());
        assert!(data.contains("bad"));
        assert_eq!(line, 0);
        assert_eq!(column, at - SIDE);
        assert_eq!(clip_label(&text, 0, text.len()), (0, MAX_LABEL));
        // The span alone: where it starts, for the report's header.
        let (data, _, column) = read(&e, at, 3, 0);
        assert_eq!((data.as_str(), column), ("bad", at));
    }

    #[test]
    fn long_context_lines_are_left_out() {
        let long = "y".repeat(1000);
        let text = format!("a: {long}\nb: 2\nc: {long}\n");
        let f = SourceFile::new("f.yaml", text.as_str());
        let e = Excerpt::new(&f);
        let at = text.find("b: 2").unwrap();
        let (data, line, _) = read(&e, at, 1, 1);
        assert_eq!(data, "b: 2");
        assert_eq!(line, 1);
    }
}
