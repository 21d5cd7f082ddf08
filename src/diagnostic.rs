//! Located errors and warnings, the one renderer that prints them with a caret, and the
//! "did you mean" guess the parser, the checker and the CLI share.

use crate::source::{SourceFile, Span};
use std::fmt::Write as _;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The model cannot run.
    Error,
    /// Legal but suspicious.
    Warning,
}

/// One problem at one place in the user's file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A sentence in the user's words.
    pub message: String,
    /// Where the problem is.
    pub span: Span,
    /// A short note under the caret (what is there).
    pub label: Option<String>,
    /// A suggestion for the fix.
    pub help: Option<String>,
    /// Secondary places (for example the earlier declaration of a duplicate), with a note each.
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            label: None,
            help: None,
            related: Vec::new(),
        }
    }
    /// A warning at `span`.
    pub fn warning(message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message, span)
        }
    }
    /// Adds a hint line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
    /// Adds a note under the caret.
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }
    /// Adds a secondary location.
    pub fn with_related(mut self, span: Span, note: impl Into<String>) -> Diagnostic {
        self.related.push((span, note.into()));
        self
    }
    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders as `error: message`, `--> file:line:col`, the line, a caret, then the help.
    pub fn render(&self, file: &SourceFile) -> String {
        let mut out = String::new();
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{kind}: {}", self.message);
        render_snippet(&mut out, file, self.span, self.label.as_deref(), '^', true);
        for (span, note) in &self.related {
            render_snippet(&mut out, file, *span, Some(note), '-', false);
        }
        if let Some(help) = &self.help {
            let (line, _) = file.line_col(self.span.start);
            let pad = " ".repeat(line.to_string().len());
            let _ = writeln!(out, "{pad} = help: {help}");
        }
        out
    }
}

fn render_snippet(
    out: &mut String,
    file: &SourceFile,
    span: Span,
    label: Option<&str>,
    mark: char,
    primary: bool,
) {
    let (line, col) = file.line_col(span.start);
    let (end_line, end_col) = file.line_col(span.end);
    let text = file.line_text(line);
    let width = if end_line == line {
        end_col.saturating_sub(col).max(1)
    } else {
        (text.chars().count() + 1).saturating_sub(col).max(1)
    };
    let pad = " ".repeat(line.to_string().len());
    let arrow = if primary { "-->" } else { ":::" };
    let _ = writeln!(out, "{pad}{arrow} {}:{line}:{col}", file.name);
    let _ = writeln!(out, "{pad} |");
    let _ = writeln!(out, "{line} | {text}");
    let lead: String = text
        .chars()
        .take(col - 1)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let marks: String = std::iter::repeat_n(mark, width).collect();
    match label {
        Some(l) => {
            let _ = writeln!(out, "{pad} | {lead}{marks} {l}");
        }
        None => {
            let _ = writeln!(out, "{pad} | {lead}{marks}");
        }
    }
}

/// Renders a list of diagnostics, errors and warnings in source order, with a closing count.
pub fn render_all(diags: &[Diagnostic], file: &SourceFile) -> String {
    let mut sorted: Vec<&Diagnostic> = diags.iter().collect();
    sorted.sort_by_key(|d| (d.span.start, d.severity));
    let mut out = String::new();
    for d in &sorted {
        out.push_str(&d.render(file));
        out.push('\n');
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    if errors > 0 {
        let _ = writeln!(
            out,
            "{}: {} error{}{}",
            file.name,
            errors,
            if errors == 1 { "" } else { "s" },
            if warnings > 0 {
                format!(
                    ", {} warning{}",
                    warnings,
                    if warnings == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            }
        );
    }
    out
}

/// Picks the candidate closest to `name` by edit distance, when it is close enough to be a typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    // Optimal string alignment distance: insertions, deletions, substitutions and adjacent
    // transpositions ("sigam" is one slip from "sigma") each cost one.
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_sits_under_the_span() {
        let f = SourceFile::new("m.bnn", "param {\n  sigma: reel\n}\n");
        let start = f.text.find("reel").unwrap();
        let d = Diagnostic::error("unknown type 'reel'", Span::new(start, start + 4))
            .with_help("did you mean 'real'?");
        let r = d.render(&f);
        assert_eq!(
            r,
            "error: unknown type 'reel'\n --> m.bnn:2:10\n  |\n2 |   sigma: reel\n  |          ^^^^\n  = help: did you mean 'real'?\n"
        );
    }
}
