//! What the checker says about names: undefined, declared twice, built in, or used where they
//! do not belong.

use super::suggest_or;
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::ir::Distribution;
use crate::source::Span;

/// A name that nothing declares.
pub fn undefined_name(name: &str, span: Span, suggestion: Option<String>) -> Diagnostic {
    suggest_or(
        Diagnostic::error(format!("'{name}' is not defined"), span),
        suggestion,
        "declare it in the data or param block, or bind it with `let`",
    )
}

/// A second declaration of a name.
pub fn duplicate_name(name: &str, span: Span, first: Span) -> Diagnostic {
    Diagnostic::error(format!("'{name}' is declared twice"), span)
        .with_related(first, "first declared here")
        .with_help("give each data field, parameter, network and binding its own name")
}

/// A block that appears twice.
pub fn duplicate_block(keyword: &str, span: Span, first: Span) -> Diagnostic {
    Diagnostic::error(
        format!("a model has one `{keyword}` block; this is the second"),
        span,
    )
    .with_related(first, "the first is here")
    .with_help("merge the two blocks")
}

/// A declaration (data field, parameter, network) named like a built-in function or `fan_in`.
pub fn builtin_declared(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("'{name}' is a built-in name and cannot be declared"),
        span,
    )
    .with_help("choose another name")
}

/// A `let` or predict output named like a built-in function or `fan_in`.
pub fn builtin_bound(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("'{name}' is a built-in name and cannot be bound"),
        span,
    )
}

/// A predict-block name given a second time.
pub fn already_predicted(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("'{name}' is already defined in the predict block"),
        span,
    )
}

/// A network used as a value.
pub fn network_not_called(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(format!("'{name}' is a network; call it on inputs"), span)
        .with_help(format!("write {name}(x)"))
}

/// `fan_in` outside a layer prior.
pub fn fan_in_outside(span: Span) -> Diagnostic {
    Diagnostic::error(
        "'fan_in' is only defined in a prior on network weights or biases",
        span,
    )
    .with_help("use it as in `f.weight ~ normal(0, 1 / sqrt(fan_in))`")
}

/// Observed data used outside the likelihood.
pub fn observed_outside_likelihood(name: &str, block: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("'{name}' is observed in the likelihood and cannot be used in the {block} block"),
        span,
    )
    .with_help("observed data is what the model explains; use inputs such as x here")
}

/// An unknown distribution.
pub fn unknown_distribution(name: &str, span: Span) -> Diagnostic {
    let names = Distribution::ALL.iter().map(|d| d.name());
    suggest_or(
        Diagnostic::error(format!("unknown distribution '{name}'"), span),
        did_you_mean(name, names),
        format!(
            "the distributions are {}",
            Distribution::ALL
                .iter()
                .map(|d| d.name())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}
