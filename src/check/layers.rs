//! The layer kinds a network block may use, each with the table of arguments it takes; reading
//! a layer's arguments through that table, and building the [`LayerKind`] with its parameters.

use super::decls::placeholder_prior;
use super::messages as msg;
use super::Checker;
use crate::diagnostic::did_you_mean;
use crate::ir::*;
use crate::source::Span;
use crate::syntax::ast;

/// A layer kind as a network block writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LayerSyntax {
    /// `dense(width, activation = identity, bias = true)`.
    Dense,
    /// `dropout(p)`: drops each unit of its input with probability p; the identity in the
    /// density, and it must be followed by a dense layer (see [`Checker::dropout_places`]).
    Dropout,
}

impl LayerSyntax {
    /// Every layer kind, in the order the language lists them.
    pub(super) const ALL: [LayerSyntax; 2] = [LayerSyntax::Dense, LayerSyntax::Dropout];

    /// The kind's name as written.
    pub(super) fn name(self) -> &'static str {
        match self {
            LayerSyntax::Dense => "dense",
            LayerSyntax::Dropout => "dropout",
        }
    }

    /// Looks a kind up by name.
    pub(super) fn from_name(name: &str) -> Option<LayerSyntax> {
        LayerSyntax::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The arguments the kind takes; positional ones are read in this order.
    pub(super) fn args(self) -> &'static [ArgSpec] {
        match self {
            LayerSyntax::Dense => &DENSE_ARGS,
            LayerSyntax::Dropout => &DROPOUT_ARGS,
        }
    }
}

/// `dense(width, activation, bias)`: the width is required; all three may be positional.
const DENSE_ARGS: [ArgSpec; 3] = [
    ArgSpec {
        name: "width",
        aliases: &["units"],
        positional: true,
        ty: ArgType::Width,
        default: None,
    },
    ArgSpec {
        name: "activation",
        aliases: &[],
        positional: true,
        ty: ArgType::Activation,
        default: Some(ArgValue::Activation(Activation::Identity)),
    },
    ArgSpec {
        name: "bias",
        aliases: &[],
        positional: true,
        ty: ArgType::Bool,
        default: Some(ArgValue::Bool(true)),
    },
];

/// `dropout(p)`: the rate, required, positional or `p = 0.1`.
const DROPOUT_ARGS: [ArgSpec; 1] = [ArgSpec {
    name: "p",
    aliases: &[],
    positional: true,
    ty: ArgType::Rate,
    default: None,
}];

/// One argument a layer kind takes.
#[derive(Debug)]
pub(super) struct ArgSpec {
    /// Its name in `name = value` form.
    pub(super) name: &'static str,
    /// Other names accepted for it (`units` for `width`).
    pub(super) aliases: &'static [&'static str],
    /// Whether it may be given by position (in table order) as well as by name.
    pub(super) positional: bool,
    /// What it holds.
    pub(super) ty: ArgType,
    /// Its value when not written; `None` when it must be written.
    pub(super) default: Option<ArgValue>,
}

/// What a layer argument holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ArgType {
    /// A width: a positive whole number or a size symbol.
    Width,
    /// An activation, by name.
    Activation,
    /// `true` or `false`.
    Bool,
    /// A probability in [0, 1), written as a number.
    Rate,
}

/// A layer argument's value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ArgValue {
    /// A width.
    Width(Dim),
    /// An activation.
    Activation(Activation),
    /// A flag.
    Bool(bool),
    /// A rate.
    Rate(f64),
}

/// A layer's arguments read through its kind's table: every argument's value, in table order.
pub(super) struct LayerArgs {
    /// Whose table the values follow.
    kind: LayerSyntax,
    /// One value per table entry.
    values: Vec<ArgValue>,
}

impl LayerArgs {
    /// The value of the table entry called `name`.
    fn value(&self, name: &str) -> &ArgValue {
        let i = self
            .kind
            .args()
            .iter()
            .position(|a| a.name == name)
            .expect("internal: an argument of the kind's table");
        &self.values[i]
    }

    /// The width argument called `name`.
    fn width(&self, name: &str) -> Dim {
        match self.value(name) {
            ArgValue::Width(d) => d.clone(),
            ArgValue::Activation(_) | ArgValue::Bool(_) | ArgValue::Rate(_) => {
                panic!("internal: '{name}' is a width in the kind's table")
            }
        }
    }

    /// The activation argument called `name`.
    fn activation(&self, name: &str) -> Activation {
        match self.value(name) {
            ArgValue::Activation(a) => *a,
            ArgValue::Width(_) | ArgValue::Bool(_) | ArgValue::Rate(_) => {
                panic!("internal: '{name}' is an activation in the kind's table")
            }
        }
    }

    /// The flag argument called `name`.
    fn flag(&self, name: &str) -> bool {
        match self.value(name) {
            ArgValue::Bool(b) => *b,
            ArgValue::Width(_) | ArgValue::Activation(_) | ArgValue::Rate(_) => {
                panic!("internal: '{name}' is a flag in the kind's table")
            }
        }
    }

    /// The rate argument called `name`.
    fn rate(&self, name: &str) -> f64 {
        match self.value(name) {
            ArgValue::Rate(p) => *p,
            ArgValue::Width(_) | ArgValue::Activation(_) | ArgValue::Bool(_) => {
                panic!("internal: '{name}' is a rate in the kind's table")
            }
        }
    }
}

/// Where a layer being built sits: its network, its place, and its input width.
pub(super) struct LayerPlace<'a> {
    /// The network's name.
    pub(super) net_name: &'a str,
    /// The network's index.
    pub(super) net: usize,
    /// The layer's index among the network's layers.
    pub(super) layer: usize,
    /// `hidden` for a named layer, else its position as written.
    pub(super) label: String,
    /// Its input width.
    pub(super) fan_in: Dim,
    /// Where it is declared.
    pub(super) span: Span,
}

impl Checker {
    /// Reads a layer's arguments through the table of `kind`. Unknown names, values of the
    /// wrong type and surplus positional arguments are reported; unwritten arguments take
    /// their defaults. `None` when a required argument is missing (reported unless it was
    /// written and failed to read, which was reported then).
    pub(super) fn layer_args(&mut self, kind: LayerSyntax, l: &ast::Layer) -> Option<LayerArgs> {
        let specs = kind.args();
        let mut values: Vec<Option<ArgValue>> = vec![None; specs.len()];
        let mut written = vec![false; specs.len()];
        let mut positional = specs.iter().enumerate().filter(|(_, s)| s.positional);
        for a in &l.args {
            let slot = match &a.name {
                Some(n) => {
                    let found = specs
                        .iter()
                        .position(|s| s.name == n.name || s.aliases.contains(&n.name.as_str()));
                    let Some(i) = found else {
                        let sugg = did_you_mean(&n.name, specs.iter().map(|s| s.name));
                        self.err(msg::unknown_layer_option(kind, &n.name, n.span, sugg));
                        continue;
                    };
                    i
                }
                None => {
                    let Some((i, _)) = positional.next() else {
                        self.err(msg::too_many_layer_args(kind, a.span));
                        continue;
                    };
                    i
                }
            };
            written[slot] = true;
            values[slot] = self.layer_arg(kind, &specs[slot], &a.value);
        }
        let mut complete = true;
        for ((spec, value), written) in specs.iter().zip(&mut values).zip(written) {
            if value.is_none() {
                *value = spec.default.clone();
            }
            if value.is_none() {
                complete = false;
                if !written {
                    self.err(msg::missing_layer_arg(kind, spec.name, l.span));
                }
            }
        }
        complete.then(|| LayerArgs {
            kind,
            values: values.into_iter().flatten().collect(),
        })
    }

    /// Reads one argument's value as its table entry's type; `None` after an error.
    fn layer_arg(&mut self, kind: LayerSyntax, spec: &ArgSpec, e: &ast::Expr) -> Option<ArgValue> {
        match spec.ty {
            ArgType::Width => self.layer_width(kind, e).map(ArgValue::Width),
            ArgType::Activation => self.activation(e).map(ArgValue::Activation),
            ArgType::Bool => match e.kind {
                ast::ExprKind::Bool(b) => Some(ArgValue::Bool(b)),
                _ => {
                    self.err(msg::flag_not_bool(spec.name, e.span));
                    None
                }
            },
            ArgType::Rate => self.rate(e).map(ArgValue::Rate),
        }
    }

    /// A dropout rate: a number written in the model (`0.1`, `-0.1` read as such to be
    /// reported), in [0, 1). A rate of 1 would drop every unit; the inverted-dropout scale
    /// 1/(1 − p) is then infinite.
    fn rate(&mut self, e: &ast::Expr) -> Option<f64> {
        let value = match &e.kind {
            ast::ExprKind::Num(v) => Some(*v),
            ast::ExprKind::Neg(inner) => match inner.kind {
                ast::ExprKind::Num(v) => Some(-v),
                _ => None,
            },
            _ => None,
        };
        match value {
            Some(p) if (0.0..1.0).contains(&p) => Some(p),
            Some(p) => {
                self.err(msg::rate_out_of_range(p, e.span));
                None
            }
            None => {
                self.err(msg::rate_not_a_number(e.span));
                None
            }
        }
    }

    /// A layer width: a positive whole number or a size symbol.
    fn layer_width(&mut self, kind: LayerSyntax, e: &ast::Expr) -> Option<Dim> {
        match &e.kind {
            ast::ExprKind::Num(v) if *v >= 1.0 && v.fract() == 0.0 && *v < 1e9 => {
                Some(Dim::Lit(*v as usize))
            }
            ast::ExprKind::Var(s) if self.dims.contains(s) => Some(Dim::Sym(s.clone())),
            ast::ExprKind::Var(s) if Activation::from_name(s).is_some() => {
                self.err(msg::width_before_activation(kind, s, e.span));
                None
            }
            _ => {
                self.err(msg::bad_width(kind, e.span));
                None
            }
        }
    }

    /// An activation named by the layer.
    fn activation(&mut self, e: &ast::Expr) -> Option<Activation> {
        if let ast::ExprKind::Var(s) = &e.kind {
            if let Some(a) = Activation::from_name(s) {
                return Some(a);
            }
            self.err(msg::unknown_activation(s, e.span));
            return None;
        }
        self.err(msg::not_an_activation(e.span));
        None
    }

    /// Builds the layer `args` describe at `place`, creating its parameters; returns what it
    /// computes and its output width.
    pub(super) fn build_layer(&mut self, args: &LayerArgs, place: &LayerPlace) -> (LayerKind, Dim) {
        match args.kind {
            LayerSyntax::Dense => {
                let width = args.width("width");
                let weight = self.layer_param(
                    place,
                    "weight",
                    Shape::Matrix(width.clone(), place.fan_in.clone()),
                    ParamOrigin::Weight {
                        net: place.net,
                        layer: place.layer,
                    },
                );
                let bias = args.flag("bias").then(|| {
                    self.layer_param(
                        place,
                        "bias",
                        Shape::Vector(width.clone()),
                        ParamOrigin::Bias {
                            net: place.net,
                            layer: place.layer,
                        },
                    )
                });
                let activation = args.activation("activation");
                (
                    LayerKind::Dense {
                        weight,
                        bias,
                        activation,
                    },
                    width,
                )
            }
            // The identity on its input's width: no parameters of its own.
            LayerSyntax::Dropout => (
                LayerKind::Dropout { p: args.rate("p") },
                place.fan_in.clone(),
            ),
        }
    }

    /// Adds the parameter `role` (`weight`, `bias`) of the layer at `place`; returns its index.
    fn layer_param(
        &mut self,
        place: &LayerPlace,
        role: &str,
        shape: Shape,
        origin: ParamOrigin,
    ) -> usize {
        self.model.params.push(Param {
            name: format!("{}.{}.{role}", place.net_name, place.label),
            shape,
            constraint: Constraint::None,
            origin,
            prior: placeholder_prior(),
            span: place.span,
        });
        self.model.params.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The type a value has, to compare with the table entry it defaults.
    fn type_of(v: &ArgValue) -> ArgType {
        match v {
            ArgValue::Width(_) => ArgType::Width,
            ArgValue::Activation(_) => ArgType::Activation,
            ArgValue::Bool(_) => ArgType::Bool,
            ArgValue::Rate(_) => ArgType::Rate,
        }
    }

    #[test]
    fn every_table_names_each_argument_once_and_defaults_it_with_its_own_type() {
        for kind in LayerSyntax::ALL {
            let args = kind.args();
            let mut names: Vec<&str> = args
                .iter()
                .flat_map(|a| std::iter::once(a.name).chain(a.aliases.iter().copied()))
                .collect();
            let written = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(
                names.len(),
                written,
                "{}: a name or alias twice",
                kind.name()
            );
            for a in args {
                if let Some(d) = &a.default {
                    assert_eq!(type_of(d), a.ty, "{}: default of {}", kind.name(), a.name);
                }
            }
            assert_eq!(LayerSyntax::from_name(kind.name()), Some(kind));
        }
    }
}
