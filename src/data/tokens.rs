//! CmdStan's bare JSON tokens for non-finite numbers (`NaN`, `Inf`, `Infinity`, `-Inf`, `-Infinity`) quoted so serde_json reads them, with error positions mapped back to the file as written.
//!
//! Python's `json.dump` writes `NaN` and `Infinity` bare, and CmdStan's reader (RapidJSON with
//! `kParseNanAndInfFlag`) accepts exactly the five tokens above. serde_json does not, so each
//! bare token in a value position is wrapped in quotes before parsing; the quoted forms are the
//! strings the JSON reader already takes for non-finite values. Tokens elsewhere (a key, a
//! misspelling such as `nan`) are left alone, so serde_json reports them where they stand.

use crate::source::SourceFile;
use std::borrow::Cow;

/// The bare tokens CmdStan reads as non-finite numbers, longest first so `Infinity` is not
/// taken for `Inf`.
const TOKENS: [&str; 5] = ["-Infinity", "Infinity", "-Inf", "Inf", "NaN"];

/// JSON text with its bare non-finite tokens quoted, and where each quote pair went.
pub(super) struct Quoted<'a> {
    /// The text serde_json parses.
    pub(super) text: Cow<'a, str>,
    /// Where each bare token starts in the original text (bytes, ascending) and its length.
    starts: Vec<(usize, usize)>,
}

impl Quoted<'_> {
    /// The 1-based line and character column in `original` (the text as written) of a position
    /// serde_json reports in the quoted text (1-based line, 1-based byte column; 0 at a line's
    /// start).
    pub(super) fn original_position(
        &self,
        original: &str,
        line: usize,
        column: usize,
    ) -> (usize, usize) {
        let line_start: usize = self
            .text
            .split_inclusive('\n')
            .take(line.saturating_sub(1))
            .map(str::len)
            .sum();
        let offset = self.original_offset(line_start + column.saturating_sub(1));
        SourceFile::new("", original).line_col(offset)
    }

    /// The byte offset in the original text of byte `offset` of the quoted text. A position on
    /// an inserted quote maps to the token it encloses.
    fn original_offset(&self, offset: usize) -> usize {
        let mut shift = 0;
        for &(start, len) in &self.starts {
            // In the quoted text the token's opening quote sits at start + shift.
            let open = start + shift;
            if offset <= open {
                break;
            }
            if offset <= open + len + 1 {
                // Inside the token or on its closing quote.
                return (offset - shift - 1).min(start + len);
            }
            shift += 2;
        }
        offset - shift
    }
}

/// Quotes every bare non-finite token that stands where a JSON value is expected.
pub(super) fn quote_bare_tokens(text: &str) -> Quoted<'_> {
    let bytes = text.as_bytes();
    // Containers open at this point: true for an object, false for an array.
    let mut stack: Vec<bool> = Vec::new();
    let mut expect_value = true;
    let mut starts = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i = string_end(bytes, i);
                expect_value = false;
                continue;
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'{' => {
                stack.push(true);
                expect_value = false;
            }
            b'[' => {
                stack.push(false);
                expect_value = true;
            }
            b'}' | b']' => {
                stack.pop();
                expect_value = false;
            }
            b':' => expect_value = true,
            // After a comma an object expects a key, an array a value.
            b',' => expect_value = stack.last() == Some(&false),
            _ => {
                if expect_value {
                    if let Some(len) = bare_token_at(bytes, i) {
                        starts.push((i, len));
                        i += len;
                        expect_value = false;
                        continue;
                    }
                }
                expect_value = false;
            }
        }
        i += 1;
    }
    if starts.is_empty() {
        return Quoted {
            text: Cow::Borrowed(text),
            starts,
        };
    }
    let mut out = String::with_capacity(text.len() + 2 * starts.len());
    let mut from = 0;
    for &(start, len) in &starts {
        out.push_str(&text[from..start]);
        out.push('"');
        out.push_str(&text[start..start + len]);
        out.push('"');
        from = start + len;
    }
    out.push_str(&text[from..]);
    Quoted {
        text: Cow::Owned(out),
        starts,
    }
}

/// The index just past the string that opens at `open` (or the end of the text if unclosed).
fn string_end(bytes: &[u8], open: usize) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The length of the bare token at `i`, if one stands there whole (followed by a delimiter).
fn bare_token_at(bytes: &[u8], i: usize) -> Option<usize> {
    let rest = &bytes[i..];
    TOKENS.iter().map(|t| t.as_bytes()).find_map(|t| {
        let whole = rest.starts_with(t)
            && rest
                .get(t.len())
                .is_none_or(|b| matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r'));
        whole.then_some(t.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_tokens_in_value_positions_are_quoted() {
        let q = quote_bare_tokens(r#"{"a": NaN, "b": [Infinity, -Inf,1], "NaN": [[Inf]]}"#);
        assert_eq!(
            q.text,
            r#"{"a": "NaN", "b": ["Infinity", "-Inf",1], "NaN": [["Inf"]]}"#
        );
    }

    #[test]
    fn keys_strings_and_misspellings_are_left_alone() {
        for text in [
            r#"{NaN: 1}"#,
            r#"{"x": "NaN is a string"}"#,
            r#"{"x": [nan, NaNa]}"#,
            r#"{"x": "a \" NaN"}"#,
        ] {
            assert_eq!(quote_bare_tokens(text).text, text);
        }
    }

    #[test]
    fn offsets_map_back_to_the_text_as_written() {
        // Original:  {"a": NaN, "b": x}   'x' at byte 16.
        // Quoted:    {"a": "NaN", "b": x} 'x' at byte 18.
        let q = quote_bare_tokens(r#"{"a": NaN, "b": x}"#);
        assert_eq!(&q.text[18..19], "x");
        assert_eq!(q.original_offset(18), 16);
        // Before the token nothing moves; the quotes map onto the token itself.
        assert_eq!(q.original_offset(3), 3);
        assert_eq!(q.original_offset(6), 6);
        assert_eq!(q.original_offset(7), 6);
        assert_eq!(q.original_offset(10), 9);
    }

    #[test]
    fn serde_positions_become_positions_in_the_file_as_written() {
        // Line 2 of the file is `  "y": [Inf, x]`; serde_json reads `  "y": ["Inf", x]` and
        // stops at the x, byte column 16 of the quoted line, which is column 14 as written.
        let text = "{\"x\": [NaN],\n  \"y\": [Inf, x]}";
        let q = quote_bare_tokens(text);
        let e = serde_json::from_str::<serde_json::Value>(&q.text).expect_err("x is no value");
        assert_eq!((e.line(), e.column()), (2, 16));
        assert_eq!(q.original_position(text, e.line(), e.column()), (2, 14));
        // Characters, not bytes: 'é' is two bytes but one column.
        let text = "{\"\u{e9}\": NaN,}";
        let q = quote_bare_tokens(text);
        let e = serde_json::from_str::<serde_json::Value>(&q.text).expect_err("trailing comma");
        assert_eq!(q.original_position(text, e.line(), e.column()), (1, 11));
    }
}
