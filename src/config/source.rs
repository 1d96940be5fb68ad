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
    /// Characters before each [`CHUNK`]-byte boundary (`marks[k]`: in
    /// `text[..k * CHUNK]`), so a column costs at most `CHUNK` bytes of
    /// counting however long its line is. Empty for ASCII text, where a
    /// column is a byte difference.
    marks: Arc<[usize]>,
}

/// Bytes between two entries of [`SourceFile`]'s character marks.
const CHUNK: usize = 64;

/// Is `b` the first byte of a UTF-8 character (not a continuation byte)?
fn starts_char(b: u8) -> bool {
    b & 0xC0 != 0x80
}

impl SourceFile {
    /// A source from a path and its text.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> SourceFile {
        let text: Arc<str> = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let marks = if text.is_ascii() {
            Arc::from([])
        } else {
            let mut seen = 0;
            std::iter::once(0)
                .chain(text.as_bytes().chunks(CHUNK).map(|c| {
                    seen += c.iter().filter(|&&b| starts_char(b)).count();
                    seen
                }))
                .collect()
        };
        SourceFile {
            path: path.into(),
            text,
            line_starts,
            marks,
        }
    }

    /// The 1-based line and column of a byte offset (columns count
    /// characters). Constant work per call beyond the line's binary search,
    /// so locating every node of a file is linear even when the file is one
    /// long line.
    pub fn position(&self, byte: usize) -> Position {
        let byte = floor_char_boundary(&self.text, byte.min(self.text.len()));
        let line = self.line_starts.partition_point(|&s| s <= byte);
        let line_start = self.line_starts[line - 1];
        let column = self.chars_before(byte) - self.chars_before(line_start) + 1;
        Position { line, column }
    }

    /// How many characters `text[..byte]` holds (`byte` at most the length).
    fn chars_before(&self, byte: usize) -> usize {
        if self.marks.is_empty() {
            return byte;
        }
        let k = byte / CHUNK;
        let tail = &self.text.as_bytes()[k * CHUNK..byte];
        self.marks[k] + tail.iter().filter(|&&b| starts_char(b)).count()
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

    /// The definition: count the line's characters up to the offset.
    fn position_by_counting(text: &str, byte: usize) -> Position {
        let byte = floor_char_boundary(text, byte.min(text.len()));
        let line_start = text[..byte].rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: text[..byte].matches('\n').count() + 1,
            column: text[line_start..byte].chars().count() + 1,
        }
    }

    #[test]
    fn long_lines_with_wide_characters_across_chunk_boundaries() {
        // Multi-byte characters straddle every 64-byte boundary.
        let text = format!("a: x\n{}\n€\n", "é€𝄞z".repeat(200));
        let f = SourceFile::new("f.yaml", text.as_str());
        for byte in 0..=text.len() + 3 {
            assert_eq!(
                f.position(byte),
                position_by_counting(&text, byte),
                "byte {byte}"
            );
        }
    }

    proptest::proptest! {
        /// Positions agree with counting characters from the line's start,
        /// for any text and any offset (inside a character, past the end).
        #[test]
        fn positions_agree_with_counting(
            text in "(\\PC|\n|[a-z ]){0,300}",
            offsets in proptest::collection::vec(0usize..1300, 1..40),
        ) {
            let f = SourceFile::new("f.yaml", text.as_str());
            for byte in offsets {
                proptest::prop_assert_eq!(f.position(byte), position_by_counting(&text, byte));
            }
        }
    }
}
