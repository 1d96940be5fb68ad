//! A loaded source file and locations inside it.
//!
//! Every diagnostic FaceRunner prints about a file points at a [`Span`]:
//! 1-based line and column for people and `--json`, byte offsets for the
//! caret that miette draws under the offending node.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

/// The text of a file and the path it was read from.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as given or discovered (shown in diagnostics).
    pub path: PathBuf,
    /// The whole text.
    pub text: Arc<str>,
    /// Byte offset of the start of each line, for O(log n) positions.
    line_starts: Arc<[usize]>,
}

impl SourceFile {
    /// A source from a path and its text.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> SourceFile {
        let text: Arc<str> = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            path: path.into(),
            text,
            line_starts,
        }
    }

    /// The 1-based line and column of a byte offset (columns count characters).
    pub fn position(&self, byte: usize) -> Position {
        let byte = floor_char_boundary(&self.text, byte.min(self.text.len()));
        let line = self.line_starts.partition_point(|&s| s <= byte);
        let line_start = self.line_starts[line - 1];
        let column = self.text[line_start..byte].chars().count() + 1;
        Position { line, column }
    }

    /// A span covering the bytes `start..end`.
    pub fn span(&self, start: usize, end: usize) -> Span {
        let end = end.max(start);
        Span {
            start: self.position(start),
            end: self.position(end),
            offset: start,
            len: end - start,
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Default)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

/// A range in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Where it starts.
    pub start: Position,
    /// Where it ends (exclusive).
    pub end: Position,
    /// Byte offset of the start.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
}

impl Span {
    /// The span as miette wants it.
    pub fn source_span(&self) -> miette::SourceSpan {
        (self.offset, self.len).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let f = SourceFile::new("f.yaml", "a: 1\nbé: 2\n");
        assert_eq!(f.position(0), Position { line: 1, column: 1 });
        assert_eq!(f.position(5), Position { line: 2, column: 1 });
        // 'é' is two bytes: ':' after it is column 3.
        assert_eq!(f.position(8), Position { line: 2, column: 3 });
    }
}
