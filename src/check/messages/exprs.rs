//! What the checker says about expressions: numbers, operators, indexing, calls and sizes.

use super::{shape_mismatch, with_suggestion};
use crate::diagnostic::Diagnostic;
use crate::ir::{BinOp, Shape};
use crate::source::Span;
use std::fmt::Display;

/// A number literal that overflows to infinity.
pub fn nonfinite_number(span: Span) -> Diagnostic {
    Diagnostic::error("this number is not finite", span)
}

/// `true` or `false` in an expression.
pub fn bool_outside_layer(span: Span) -> Diagnostic {
    Diagnostic::error("true and false are only layer options", span)
}

/// `*` between shapes it does not multiply (matrix by matrix, vector by matrix).
pub fn bad_product(lhs: &Shape, rhs: &Shape, span: Span) -> Diagnostic {
    Diagnostic::error(format!("cannot multiply a {lhs} by a {rhs}"), span)
        .with_help("`*` multiplies a matrix by a vector, or anything by a number")
}

/// The message, with `{a}` and `{b}` for the two sizes, when a matrix-vector product's sizes
/// differ.
pub fn matvec_sizes() -> String {
    "the matrix has {a} columns but the vector has {b} elements".into()
}

/// Operands of `op` whose shapes do not broadcast together.
pub fn operand_shape_mismatch(op: BinOp, a: &Shape, b: &Shape, span: Span) -> Diagnostic {
    shape_mismatch(&format!("the operands of '{}'", op.symbol()), a, b, span)
}

/// The message, with `{a}` and `{b}` for the two sizes, when the operands of `op` differ in
/// length.
pub fn operand_sizes(op: BinOp) -> String {
    format!(
        "the operands of '{}' have sizes {{a}} and {{b}}",
        op.symbol()
    )
}

/// `m[:, j]` past the last column.
pub fn column_out_of_range(col: usize, cols: usize, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("column {col} is out of range for a matrix with {cols} columns"),
        span,
    )
    .with_help(format!("columns are numbered from 0 to {}", cols - 1))
}

/// `v[i]` past the last element.
pub fn index_out_of_range(index: usize, len: usize, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("index {index} is out of range for a vector of {len} elements"),
        span,
    )
    .with_help(format!("elements are numbered from 0 to {}", len - 1))
}

/// Indexing other than a matrix column or a vector element by a whole number.
pub fn bad_index(shape: &Shape, span: Span) -> Diagnostic {
    Diagnostic::error(format!("cannot index a {shape} this way"), span)
        .with_help("take a column with m[:, 0] or an element with v[0] (indexes start at 0)")
}

/// A network called with other than one argument.
pub fn network_arity(name: &str, found: usize, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("network '{name}' takes one input matrix but is given {found} arguments"),
        span,
    )
    .with_help(format!(
        "call it on one matrix of inputs, one row per observation: {name}(x)"
    ))
}

/// A network called on a number.
pub fn network_scalar_input(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!(
            "network '{name}' needs a matrix of inputs, one row per observation, found a number"
        ),
        span,
    )
    .with_help("pass a data matrix such as x: matrix[N, D]")
}

/// The message, with `{a}` and `{b}` for the two widths, when a network's call sites disagree
/// on its input width.
pub fn network_input_widths(name: &str) -> String {
    format!(
        "network '{name}' is called on inputs with {{a}} columns here but {{b}} columns elsewhere"
    )
}

/// A distribution called like a function.
pub fn distribution_as_function(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("'{name}' is a distribution; it goes after `~`"),
        span,
    )
    .with_help(format!("write `y ~ {name}(...)`"))
}

/// An unknown function.
pub fn unknown_function(name: &str, span: Span, suggestion: Option<String>) -> Diagnostic {
    with_suggestion(
        Diagnostic::error(format!("unknown function '{name}'"), span),
        suggestion,
    )
}

/// Wrong number of function arguments.
pub fn func_arity(name: &str, want: usize, found: usize, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!(
            "{name} takes {want} argument{} but {found} {} given",
            if want == 1 { "" } else { "s" },
            if found == 1 { "was" } else { "were" }
        ),
        span,
    )
}

/// `dot` on something other than two vectors.
pub fn dot_needs_vectors(a: &Shape, b: &Shape, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("dot needs two vectors, found a {a} and a {b}"),
        span,
    )
}

/// The message, with `{a}` and `{b}` for the two lengths, when `dot`'s vectors differ.
pub fn dot_lengths() -> String {
    "dot needs vectors of one length, found {a} and {b}".into()
}

/// Two sizes that must be equal and are not: `message` with `{a}` and `{b}` filled in. Said
/// by the checker when both sizes are known, and after data binding for the rest.
pub fn size_mismatch(message: &str, a: impl Display, b: impl Display, span: Span) -> Diagnostic {
    Diagnostic::error(
        message
            .replace("{a}", &a.to_string())
            .replace("{b}", &b.to_string()),
        span,
    )
}
