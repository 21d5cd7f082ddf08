//! What the checker says about networks and their layers.

use super::suggest_or;
use crate::check::layers::LayerSyntax;
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::ir::Activation;
use crate::source::Span;

/// How a layer of this kind is typically written, for help lines.
fn example(kind: LayerSyntax) -> &'static str {
    match kind {
        LayerSyntax::Dense => "dense(50, tanh)",
        LayerSyntax::Dropout => "dropout(0.1)",
    }
}

/// A network block with no layers.
pub fn empty_network(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(format!("network '{name}' has no layers"), span)
        .with_help("add a layer such as dense(1)")
}

/// A layer kind that does not exist.
pub fn unknown_layer(name: &str, span: Span, suggestion: Option<String>) -> Diagnostic {
    let kinds = match LayerSyntax::ALL.as_slice() {
        [only] => format!(
            "the layer kind is {}, as in {}",
            only.name(),
            example(*only)
        ),
        all => format!(
            "the layer kinds are {}",
            all.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
        ),
    };
    suggest_or(
        Diagnostic::error(format!("unknown layer '{name}'"), span),
        suggestion,
        kinds,
    )
}

/// A layer named like the parameters every layer has.
pub fn reserved_layer_name(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(format!("a layer cannot be named '{name}'"), span)
        .with_help("'weight' and 'bias' name the parameters of every layer")
}

/// A named layer argument the layer does not take.
pub fn unknown_layer_option(
    kind: LayerSyntax,
    option: &str,
    span: Span,
    suggestion: Option<String>,
) -> Diagnostic {
    let takes = match kind {
        LayerSyntax::Dense => "dense takes a width, an activation and `bias = false`",
        LayerSyntax::Dropout => "dropout takes one argument, its rate p",
    };
    suggest_or(
        Diagnostic::error(format!("{} has no option '{option}'", kind.name()), span),
        suggestion,
        takes,
    )
}

/// A flag argument (`bias = `) given something other than true or false.
pub fn flag_not_bool(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(format!("{name} takes true or false"), span)
}

/// More positional layer arguments than the layer takes.
pub fn too_many_layer_args(kind: LayerSyntax, span: Span) -> Diagnostic {
    let (message, help) = match kind {
        LayerSyntax::Dense => (
            "dense takes at most a width and an activation before its options",
            "write dense(50, tanh) or dense(50, tanh, bias = false)",
        ),
        LayerSyntax::Dropout => (
            "dropout takes one argument, its rate p",
            "write dropout(0.1) or dropout(p = 0.1)",
        ),
    };
    Diagnostic::error(message, span).with_help(help)
}

/// A layer without an argument it requires (`dense` without its width).
pub fn missing_layer_arg(kind: LayerSyntax, arg: &str, span: Span) -> Diagnostic {
    let message = match kind {
        LayerSyntax::Dense => format!("dense needs a {arg}"),
        LayerSyntax::Dropout => {
            format!("dropout needs its rate {arg}, the probability of dropping a unit")
        }
    };
    Diagnostic::error(message, span).with_help(format!("write {}", example(kind)))
}

/// An activation written where the width belongs, as in `dense(tanh)`.
pub fn width_before_activation(kind: LayerSyntax, activation: &str, span: Span) -> Diagnostic {
    let help = match kind {
        LayerSyntax::Dense => format!("write dense(50, {activation})"),
        LayerSyntax::Dropout => format!("write {}", example(kind)),
    };
    Diagnostic::error(
        format!("expected the layer's width before the activation '{activation}'"),
        span,
    )
    .with_help(help)
}

/// A layer width that is neither a positive whole number nor a size symbol.
pub fn bad_width(kind: LayerSyntax, span: Span) -> Diagnostic {
    Diagnostic::error(
        "a layer width must be a positive whole number or a size such as K",
        span,
    )
    .with_help(format!("write {}", example(kind)))
}

/// A dropout rate outside [0, 1).
pub fn rate_out_of_range(p: f64, span: Span) -> Diagnostic {
    Diagnostic::error(format!("the dropout rate {p} is outside [0, 1)"), span).with_help(
        "p is the probability of dropping each unit: 0 keeps every unit, and a rate of 1 \
         would drop them all; write e.g. dropout(0.1)",
    )
}

/// A dropout rate that is not a number written in the model.
pub fn rate_not_a_number(span: Span) -> Diagnostic {
    Diagnostic::error("a dropout rate must be a number such as 0.1", span)
        .with_help("write the rate itself, in [0, 1): it is a setting, not a parameter or data")
}

/// A dropout layer that ends its network.
pub fn dropout_last(span: Span) -> Diagnostic {
    Diagnostic::error("a dropout layer cannot end a network", span).with_help(
        "dropout drops units of the next dense layer's input: put a dense layer after it, or \
         remove it",
    )
}

/// A dropout layer right after another.
pub fn dropout_twice(span: Span, first: Span) -> Diagnostic {
    Diagnostic::error("two dropout layers in a row", span)
        .with_related(first, "the first is here")
        .with_help(
            "a dropout layer must be followed by a dense layer; to drop more units, raise the \
             first one's rate",
        )
}

/// A prior on a dropout layer, which has no parameters.
pub fn prior_on_dropout(path: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("'{path}' names no parameter: a dropout layer has none"),
        span,
    )
    .with_help("priors go on the weights and biases of the dense layers")
}

/// A name in the activation's place that is no activation.
pub fn unknown_activation(name: &str, span: Span) -> Diagnostic {
    let names = Activation::ALL.map(|a| a.name());
    suggest_or(
        Diagnostic::error(format!("unknown activation '{name}'"), span),
        did_you_mean(name, names),
        format!("the activations are {}", names.join(", ")),
    )
}

/// Something other than a name in the activation's place.
pub fn not_an_activation(span: Span) -> Diagnostic {
    Diagnostic::error("expected an activation such as tanh or relu", span)
}

/// A network nothing calls, so its input width cannot be known.
pub fn uncalled_network(name: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        format!("network '{name}' is never called, so its input width is unknown"),
        span,
    )
    .with_help(format!(
        "use it in the likelihood, e.g. y ~ normal({name}(x), sigma)"
    ))
}
