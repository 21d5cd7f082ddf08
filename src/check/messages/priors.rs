//! What the checker says about the prior block: paths, arguments, supports and truncation.

use super::suggest_or;
use crate::diagnostic::Diagnostic;
use crate::ir::{Constraint, Distribution};
use crate::source::Span;

/// A non-positive constant where a positive argument is required.
pub fn nonpositive_arg(dist: Distribution, arg: usize, value: f64, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!(
            "the argument {} of {} must be positive, found {value}",
            dist.arg_names()[arg],
            dist.name()
        ),
        span,
    )
}

/// A discrete distribution used as a prior.
pub fn discrete_prior(dist: Distribution, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!(
            "{} is a distribution over integers and cannot be a prior",
            dist.name()
        ),
        span,
    )
    .with_help("parameters are real-valued; use a continuous distribution such as normal")
}

/// A prior whose support excludes part of the parameter's constraint.
pub fn support_mismatch(
    param: &str,
    constraint: Constraint,
    dist: Distribution,
    support: &str,
    fix: &str,
    span: Span,
) -> Diagnostic {
    let range = match constraint {
        Constraint::None => "any real value".to_string(),
        c => format!("values allowed by {c}"),
    };
    Diagnostic::error(
        format!(
            "'{param}' may take {range}, but {} is defined only for {support}",
            dist.name()
        ),
        span,
    )
    .with_help(format!("declare {fix}"))
}

/// A uniform prior whose bounds are not constants, so its support cannot be checked.
pub fn uniform_bounds_not_numbers(span: Span) -> Diagnostic {
    Diagnostic::error("the bounds of a uniform prior must be numbers", span)
        .with_help("a uniform prior's support must match the parameter's constraint")
}

/// A truncated prior whose normalizing constant depends on parameters and is not available.
pub fn truncation_unnormalized(param: &str, dist: Distribution, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!(
            "the {} prior on '{param}' is cut by its constraint, and its normalizing constant depends on parameters bnnppl cannot integrate",
            dist.name()
        ),
        span,
    )
    .with_help("use a bound at the prior's location (a half distribution), a constraint matching its support, or constant arguments")
}

/// A truncated prior normalized only up to a constant.
pub fn truncation_constant(param: &str, dist: Distribution, span: Span) -> Diagnostic {
    Diagnostic::warning(
        format!(
            "the {} prior on '{param}' is cut by its constraint and is not renormalized; sampling is unaffected but lp__ is shifted by a constant",
            dist.name()
        ),
        span,
    )
}

/// Two priors of the same specificity on one parameter.
pub fn duplicate_prior(param: &str, span: Span, first: Span) -> Diagnostic {
    Diagnostic::error(format!("'{param}' is given a prior twice"), span)
        .with_related(first, "the first prior is here")
        .with_help("keep one; a more specific path (f.hidden.weight) overrides a group (f.weight)")
}

/// A prior whose arguments mention the parameter it is the prior of.
pub fn self_referential_prior(param: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("the prior of '{param}' refers to '{param}' itself"),
        span,
    )
    .with_help("a prior's arguments are constants, data or other parameters")
}

/// A prior on a data field.
pub fn prior_on_data(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(format!("'{name}' is data, so it cannot have a prior"), span).with_help(
        format!("to model '{name}' as observed, write `{name} ~ ...` in the likelihood block"),
    )
}

/// A prior on a size symbol.
pub fn prior_on_size(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("'{name}' is a size bound from the data, so it cannot have a prior"),
        span,
    )
}

/// A prior path that names no parameter.
pub fn unknown_path(path: &str, span: Span, suggestion: Option<String>) -> Diagnostic {
    suggest_or(
        Diagnostic::error(format!("'{path}' names no parameter or layer"), span),
        suggestion,
        "paths look like f.weight, f.bias, f.0.weight or f.hidden.bias (layers are numbered from 0)",
    )
}

/// A prior path to the bias of a layer declared without one.
pub fn no_bias(path: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("'{path}' names no parameter: the layer has no bias"),
        span,
    )
    .with_help("remove this prior, or drop `bias = false` from the layer")
}

/// `name = value` in the prior block.
pub fn assignment_in_prior(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error("assignments belong in the predict block", span)
        .with_help(format!("write a prior as `{name} ~ normal(0, 1)`"))
}

/// A warning for a prior so wide it is nearly flat.
pub fn flat_prior(dist: Distribution, scale: f64, span: Span) -> Diagnostic {
    Diagnostic::warning(
        format!("this {} prior has scale {scale} and is nearly flat", dist.name()),
        span,
    )
    .with_help("flat priors make sampling slow and posteriors improper-looking; a weakly informative prior such as normal(0, 10) on the data's scale is usually better")
}
