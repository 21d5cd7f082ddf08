//! Source files and byte spans, with the line/column arithmetic every diagnostic uses.

use std::fmt;

/// A half-open byte range `[start, end)` into one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end` (bytes).
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
    /// The smallest span covering both.
    pub fn join(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// A named source text with a table of line starts.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name shown in diagnostics (usually the path as the user typed it).
    pub name: String,
    /// The whole text.
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Wraps a text under a display name.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// 1-based line and 1-based column (in characters) of a byte offset, clamped to the text.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = self.clamp(offset);
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let col = self.text[self.line_starts[line]..offset].chars().count() + 1;
        (line + 1, col)
    }

    /// The byte offset of a 1-based line and 1-based column (in characters), clamped to the
    /// line's end; the inverse of [`SourceFile::line_col`].
    pub fn offset(&self, line: usize, col: usize) -> usize {
        let start = self.line_starts[line.clamp(1, self.line_starts.len()) - 1];
        let rest = &self.text[start..];
        let in_line = rest.find('\n').unwrap_or(rest.len());
        start
            + rest[..in_line]
                .char_indices()
                .nth(col.saturating_sub(1))
                .map_or(in_line, |(i, _)| i)
    }

    /// The text of a 1-based line, without its newline.
    pub fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line - 1];
        let end = self
            .line_starts
            .get(line)
            .map(|&e| e - 1)
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches('\r')
    }

    /// Number of lines.
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// The text a span covers.
    pub fn slice(&self, span: Span) -> &str {
        &self.text[self.clamp(span.start)..self.clamp(span.end)]
    }

    fn clamp(&self, offset: usize) -> usize {
        let mut o = offset.min(self.text.len());
        while !self.text.is_char_boundary(o) {
            o -= 1;
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_and_in_characters() {
        let f = SourceFile::new("m.bnn", "ab\nc\u{e9}d\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        // 'é' is two bytes, so 'd' at byte 6 is the third character of line 2.
        assert_eq!(f.line_col(6), (2, 3));
        assert_eq!(f.line_text(2), "c\u{e9}d");
        assert_eq!(f.line_col(100), (3, 1));
        assert_eq!(f.offset(2, 3), 6);
        assert_eq!(f.offset(1, 1), 0);
        // Past the end of line 1 is its end, where the newline stands.
        assert_eq!(f.offset(1, 9), 2);
    }
}
