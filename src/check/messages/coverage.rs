//! What the checker says about what a model leaves out: parameters without a prior, and data
//! or parameters nothing uses.

use crate::diagnostic::Diagnostic;
use crate::source::Span;

/// A parameter that no prior statement covers.
pub fn missing_prior(param: &str, span: Span, group_hint: Option<&str>) -> Diagnostic {
    let help = match group_hint {
        Some(g) => format!("add `{param} ~ normal(0, 1)` or a group prior such as `{g} ~ normal(0, 1)` to the prior block"),
        None => format!("add a statement such as `{param} ~ normal(0, 1)` to the prior block"),
    };
    Diagnostic::error(format!("parameter '{param}' has no prior"), span).with_help(help)
}

/// A warning for a declared parameter that nothing uses.
pub fn unused_param(name: &str, span: Span) -> Diagnostic {
    Diagnostic::warning(
        format!("parameter '{name}' is not used outside its own prior; its posterior is its prior"),
        span,
    )
    .with_help("remove it, or use it in the likelihood")
}

/// A warning for a data field nothing uses.
pub fn unused_data(name: &str, span: Span) -> Diagnostic {
    Diagnostic::warning(
        format!("data field '{name}' is declared but never used"),
        span,
    )
    .with_help("remove it from the data block, or use it in the model")
}
