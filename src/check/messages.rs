//! Every sentence the checker says to a user, in one place, so wording stays consistent and
//! reviewable.

use crate::diagnostic::Diagnostic;
use crate::ir::{Constraint, Distribution, Shape};
use crate::source::Span;

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

fn with_suggestion(d: Diagnostic, suggestion: Option<String>) -> Diagnostic {
    match suggestion {
        Some(s) => d.with_help(format!("did you mean '{s}'?")),
        None => d,
    }
}

/// A name that nothing declares.
pub fn undefined_name(name: &str, span: Span, suggestion: Option<String>) -> Diagnostic {
    let d = Diagnostic::error(format!("'{name}' is not defined"), span);
    match suggestion {
        Some(s) => d.with_help(format!("did you mean '{s}'?")),
        None => d.with_help("declare it in the data or param block, or bind it with `let`"),
    }
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

/// An unknown distribution.
pub fn unknown_distribution(name: &str, span: Span) -> Diagnostic {
    let names = Distribution::ALL.iter().map(|d| d.name());
    let d = Diagnostic::error(format!("unknown distribution '{name}'"), span);
    match did_you_mean(name, names) {
        Some(s) => d.with_help(format!("did you mean '{s}'?")),
        None => d.with_help(format!(
            "the distributions are {}",
            Distribution::ALL
                .iter()
                .map(|d| d.name())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

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

/// A parameter that no prior statement covers.
pub fn missing_prior(param: &str, span: Span, group_hint: Option<&str>) -> Diagnostic {
    let help = match group_hint {
        Some(g) => format!("add `{param} ~ normal(0, 1)` or a group prior such as `{g} ~ normal(0, 1)` to the prior block"),
        None => format!("add a statement such as `{param} ~ normal(0, 1)` to the prior block"),
    };
    Diagnostic::error(format!("parameter '{param}' has no prior"), span).with_help(help)
}

/// Two priors of the same specificity on one parameter.
pub fn duplicate_prior(param: &str, span: Span, first: Span) -> Diagnostic {
    Diagnostic::error(format!("'{param}' is given a prior twice"), span)
        .with_related(first, "the first prior is here")
        .with_help("keep one; a more specific path (f.hidden.weight) overrides a group (f.weight)")
}

/// A prior on a data field.
pub fn prior_on_data(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(format!("'{name}' is data, so it cannot have a prior"), span).with_help(
        format!("to model '{name}' as observed, write `{name} ~ ...` in the likelihood block"),
    )
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

/// Observed data used outside the likelihood.
pub fn observed_outside_likelihood(name: &str, block: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("'{name}' is observed in the likelihood and cannot be used in the {block} block"),
        span,
    )
    .with_help("observed data is what the model explains; use inputs such as x here")
}

/// A prior path that names no parameter.
pub fn unknown_path(path: &str, span: Span, suggestion: Option<String>) -> Diagnostic {
    let d = Diagnostic::error(format!("'{path}' names no parameter or layer"), span);
    match suggestion {
        Some(s) => d.with_help(format!("did you mean '{s}'?")),
        None => d.with_help(
            "paths look like f.weight, f.bias, f.0.weight or f.hidden.bias (layers are numbered from 0)",
        ),
    }
}

/// `fan_in` outside a layer prior.
pub fn fan_in_outside(span: Span) -> Diagnostic {
    Diagnostic::error(
        "'fan_in' is only defined in a prior on network weights or biases",
        span,
    )
    .with_help("use it as in `f.weight ~ normal(0, 1 / sqrt(fan_in))`")
}

/// Two shapes that cannot be combined.
pub fn shape_mismatch(what: &str, a: &Shape, b: &Shape, span: Span) -> Diagnostic {
    Diagnostic::error(format!("{what}: {a} and {b} do not match"), span)
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

/// A network used as a value.
pub fn network_not_called(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(format!("'{name}' is a network; call it on inputs"), span)
        .with_help(format!("write {name}(x)"))
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

/// An unknown function.
pub fn unknown_function(name: &str, span: Span, suggestion: Option<String>) -> Diagnostic {
    with_suggestion(
        Diagnostic::error(format!("unknown function '{name}'"), span),
        suggestion,
    )
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

/// A warning for a prior so wide it is nearly flat.
pub fn flat_prior(dist: Distribution, scale: f64, span: Span) -> Diagnostic {
    Diagnostic::warning(
        format!("this {} prior has scale {scale} and is nearly flat", dist.name()),
        span,
    )
    .with_help("flat priors make sampling slow and posteriors improper-looking; a weakly informative prior such as normal(0, 10) on the data's scale is usually better")
}
