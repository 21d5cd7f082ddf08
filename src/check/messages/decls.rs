//! What the checker says about the data and param blocks: types, sizes and bounds.

use super::suggest_or;
use crate::diagnostic::Diagnostic;
use crate::ir::DataType;
use crate::source::Span;
use crate::syntax::ast::BaseType;

/// A literal size of zero (or one too large to be a size).
pub fn nonpositive_size(span: Span) -> Diagnostic {
    Diagnostic::error("a size must be a positive whole number", span)
}

/// `<lower=.., lower=..>`: one bound written twice.
pub fn bound_twice(span: Span) -> Diagnostic {
    Diagnostic::error("this bound is given twice", span)
}

/// A bound that is infinite or not a number.
pub fn nonfinite_bound(span: Span) -> Diagnostic {
    Diagnostic::error("a bound must be a finite number", span)
}

/// `<lower=L, upper=U>` with L ≥ U.
pub fn bounds_out_of_order(lower: f64, upper: f64, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("the lower bound {lower} is not below the upper bound {upper}"),
        span,
    )
    .with_help("swap the bounds or fix one of them")
}

/// A data field used as a size somewhere but declared with a type other than `int`.
pub fn size_declared_non_int(name: &str, ty: &DataType, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("'{name}' is used as a size but declared as {ty}"),
        span,
    )
    .with_help(format!(
        "declare it as `{name}: int`, or leave it out: sizes are bound from the data"
    ))
}

/// A size symbol in a parameter's type that no data field binds.
pub fn unbound_size(name: &str, span: Span, suggestion: Option<String>) -> Diagnostic {
    suggest_or(
        Diagnostic::error(
            format!("the size '{name}' is not bound by any data field"),
            span,
        ),
        suggestion,
        "sizes are bound by the shapes of data fields, such as x: matrix[N, D]",
    )
}

/// A parameter declared `int`.
pub fn int_param(span: Span) -> Diagnostic {
    Diagnostic::error("parameters are real-valued; 'int' is only for data", span)
        .with_help("declare it as real, vector[K] or matrix[R, C]")
}

/// A type given the wrong number of sizes (`vector[N, D]`, `matrix[N]`).
pub fn type_dims(base: BaseType, given: usize, span: Span) -> Diagnostic {
    let (what, want) = match base {
        BaseType::Real => (
            "real",
            "none (a number) or one (real[N], the same as vector[N])",
        ),
        BaseType::Int => ("int", "none (one integer) or one (int[N])"),
        BaseType::Vector => ("vector", "one, as in vector[N]"),
        BaseType::Matrix => ("matrix", "two, as in matrix[N, D]"),
    };
    Diagnostic::error(
        format!(
            "{what} takes {want} sizes, but {given} {} given",
            if given == 1 { "was" } else { "were" }
        ),
        span,
    )
}
