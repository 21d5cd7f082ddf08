//! Every sentence the checker says to a user, in one place, so wording stays consistent and
//! reviewable; one file per topic, named like the checker module that says it.

mod coverage;
mod decls;
mod exprs;
mod likelihood;
mod networks;
mod priors;
mod scope;

pub use coverage::*;
pub use decls::*;
pub use exprs::*;
pub use likelihood::*;
pub use networks::*;
pub use priors::*;
pub use scope::*;

use crate::diagnostic::Diagnostic;
use crate::ir::Shape;
use crate::source::Span;

/// Adds "did you mean" when there is a close candidate.
fn with_suggestion(d: Diagnostic, suggestion: Option<String>) -> Diagnostic {
    match suggestion {
        Some(s) => d.with_help(format!("did you mean '{s}'?")),
        None => d,
    }
}

/// Adds "did you mean" when there is a close candidate, else the `fallback` help.
fn suggest_or(
    d: Diagnostic,
    suggestion: Option<String>,
    fallback: impl Into<String>,
) -> Diagnostic {
    match suggestion {
        Some(s) => d.with_help(format!("did you mean '{s}'?")),
        None => d.with_help(fallback),
    }
}

/// Two shapes that cannot be combined.
fn shape_mismatch(what: &str, a: &Shape, b: &Shape, span: Span) -> Diagnostic {
    Diagnostic::error(format!("{what}: {a} and {b} do not match"), span)
}
