//! What the checker says about `~` statements of the likelihood and predict blocks, and about
//! distribution arguments wherever they appear.

use super::shape_mismatch;
use crate::diagnostic::Diagnostic;
use crate::ir::{Distribution, Shape};
use crate::source::Span;

/// Wrong number of distribution arguments.
pub fn dist_arity(dist: Distribution, found: usize, span: Span) -> Diagnostic {
    let names = dist.arg_names();
    Diagnostic::error(
        format!(
            "{} takes {} argument{} ({}) but {} {} given",
            dist.name(),
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            found,
            if found == 1 { "was" } else { "were" }
        ),
        span,
    )
    .with_help(format!("write it as {}({})", dist.name(), names.join(", ")))
}

/// A distribution argument shaped unlike its variate.
pub fn arg_shape(
    dist: Distribution,
    arg: usize,
    found: &Shape,
    target: &str,
    want: &Shape,
    span: Span,
) -> Diagnostic {
    let d = Diagnostic::error(
        format!(
            "the argument {} of {} is a {found}, but '{target}' is a {want}",
            dist.arg_names()[arg],
            dist.name()
        ),
        span,
    );
    if let (Shape::Matrix(_, _), Shape::Vector(_)) = (found, want) {
        d.with_help("take one column, e.g. out[:, 0], or end the network with a layer of width 1")
    } else {
        d.with_help("each argument is a single number or has the shape of what it describes")
    }
}

/// The message, with `{a}` and `{b}` for the two lengths, when an argument's length differs
/// from the observed vector's.
pub fn arg_length(target: &str) -> String {
    format!("this argument has length {{a}} but '{target}' has {{b}} elements")
}

/// A likelihood statement on something that is not data.
pub fn likelihood_on_param(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("'{name}' is a parameter; the likelihood block observes data"),
        span,
    )
    .with_help(format!("move `{name} ~ ...` to the prior block"))
}

/// A likelihood target that is not a plain data name.
pub fn likelihood_target(path: &str, span: Span) -> Diagnostic {
    Diagnostic::error(format!("'{path}' is not a data field"), span)
        .with_help("a likelihood statement observes a data field, e.g. `y ~ normal(f(x), sigma)`")
}

/// A discrete likelihood on real-valued data.
pub fn needs_int_data(dist: Distribution, name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!(
            "{} describes whole numbers, but '{name}' is declared real",
            dist.name()
        ),
        span,
    )
    .with_help(format!("declare '{name}' as int[N] in the data block"))
}

/// Labels declared up to `upper` while the logits have only `classes` columns.
pub fn too_many_labels(target: &str, upper: f64, classes: usize, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!(
            "'{target}' allows labels up to {upper}, but the logits have {classes} columns (labels 0 to {})",
            classes - 1
        ),
        span,
    )
    .with_help(format!(
        "end the network with dense({}), one logit per class",
        upper as usize + 1
    ))
}

/// categorical_logit given something other than a matrix of logits, one row per label.
pub fn logits_not_matrix(target: &str, found: &Shape, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("categorical_logit needs a matrix of logits with one row per label of '{target}', found a {found}"),
        span,
    )
    .with_help("end the network with dense(K), one logit per class")
}

/// The message, with `{a}` and `{b}` for the two counts, when the logits have a row count
/// other than the number of labels.
pub fn logit_rows(target: &str) -> String {
    format!("the logits have {{a}} rows but '{target}' has {{b}} labels")
}

/// `name = value` in the likelihood block.
pub fn assignment_in_likelihood(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error("assignments belong in the predict block", span)
        .with_help(format!("bind a value with `let {name} = ...`"))
}

/// A predict draw whose target is a path rather than a new name.
pub fn draw_target(path: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("'{path}' cannot be drawn here; predict draws new names"),
        span,
    )
    .with_help("write `y_rep ~ normal(mu, sigma)`")
}

/// Arguments of a predict draw whose shapes do not broadcast together.
pub fn draw_shape_mismatch(a: &Shape, b: &Shape, span: Span) -> Diagnostic {
    shape_mismatch("the arguments of this draw", a, b, span)
}
