//! Network blocks: each layer's arguments, the weight and bias parameters it creates, and the
//! input widths fixed from where the network is called.

use super::decls::placeholder_prior;
use super::messages as msg;
use super::scope::Binding;
use super::Checker;
use crate::diagnostic::did_you_mean;
use crate::ir::*;
use crate::source::Span;
use crate::syntax::ast;
use std::collections::HashMap;

impl Checker {
    /// Checks a network block: its layers, and the weight and bias parameters they create.
    pub(super) fn network(&mut self, n: &ast::Network, span: Span) {
        let net_idx = self.model.networks.len();
        if !self.declare(&n.name, Binding::Network(net_idx)) {
            return;
        }
        if n.layers.is_empty() {
            self.err(msg::empty_network(&n.name.name, n.name.span));
        }
        let mut layers: Vec<Layer> = Vec::new();
        let mut layer_names: HashMap<String, Span> = HashMap::new();
        let mut fan_in = Dim::Sym(format!("{}.input", n.name.name));
        for (index, l) in n.layers.iter().enumerate() {
            if l.kind.name != "dense" {
                let sugg = did_you_mean(&l.kind.name, ["dense"]);
                self.err(msg::unknown_layer(&l.kind.name, l.kind.span, sugg));
                continue;
            }
            if let Some(name) = &l.name {
                if let Some(first) = layer_names.get(&name.name) {
                    self.err(msg::duplicate_name(&name.name, name.span, *first));
                } else if name.name == "weight" || name.name == "bias" {
                    self.err(msg::reserved_layer_name(&name.name, name.span));
                } else {
                    layer_names.insert(name.name.clone(), name.span);
                }
            }
            let mut width = None;
            let mut activation = Activation::Identity;
            let mut bias = true;
            let mut positional = 0;
            for a in &l.args {
                let slot = match &a.name {
                    Some(n) => match n.name.as_str() {
                        "width" | "units" => 0,
                        "activation" => 1,
                        "bias" => 2,
                        other => {
                            let sugg = did_you_mean(other, ["width", "activation", "bias"]);
                            self.err(msg::unknown_layer_option(other, n.span, sugg));
                            continue;
                        }
                    },
                    None => {
                        positional += 1;
                        positional - 1
                    }
                };
                match slot {
                    0 => width = self.layer_width(&a.value),
                    1 => {
                        if let Some(act) = self.activation(&a.value) {
                            activation = act;
                        }
                    }
                    2 => match a.value.kind {
                        ast::ExprKind::Bool(b) => bias = b,
                        _ => self.err(msg::bias_not_bool(a.value.span)),
                    },
                    _ => self.err(msg::too_many_layer_args(a.span)),
                }
            }
            let Some(width) = width else {
                if l.args
                    .iter()
                    .all(|a| a.name.as_ref().is_some_and(|n| n.name != "width"))
                {
                    self.err(msg::missing_width(l.span));
                }
                continue;
            };
            let label = l
                .name
                .as_ref()
                .map(|n| n.name.clone())
                .unwrap_or_else(|| index.to_string());
            let weight_param = self.model.params.len();
            self.model.params.push(Param {
                name: format!("{}.{label}.weight", n.name.name),
                shape: Shape::Matrix(width.clone(), fan_in.clone()),
                constraint: Constraint::None,
                origin: ParamOrigin::Weight {
                    net: net_idx,
                    layer: layers.len(),
                },
                prior: placeholder_prior(),
                span: l.span,
            });
            let bias_param = bias.then(|| {
                self.model.params.push(Param {
                    name: format!("{}.{label}.bias", n.name.name),
                    shape: Shape::Vector(width.clone()),
                    constraint: Constraint::None,
                    origin: ParamOrigin::Bias {
                        net: net_idx,
                        layer: layers.len(),
                    },
                    prior: placeholder_prior(),
                    span: l.span,
                });
                self.model.params.len() - 1
            });
            layers.push(Layer {
                index: layers.len(),
                name: l.name.as_ref().map(|n| n.name.clone()),
                width: width.clone(),
                fan_in: fan_in.clone(),
                activation,
                bias,
                weight_param,
                bias_param,
                span: l.span,
            });
            fan_in = width;
        }
        self.model.networks.push(Network {
            name: n.name.name.clone(),
            input_width: Dim::Sym(format!("{}.input", n.name.name)),
            layers,
            span,
        });
    }

    /// A layer width: a positive whole number or a size symbol.
    fn layer_width(&mut self, e: &ast::Expr) -> Option<Dim> {
        match &e.kind {
            ast::ExprKind::Num(v) if *v >= 1.0 && v.fract() == 0.0 && *v < 1e9 => {
                Some(Dim::Lit(*v as usize))
            }
            ast::ExprKind::Var(s) if self.dims.contains(s) => Some(Dim::Sym(s.clone())),
            ast::ExprKind::Var(s) if Activation::from_name(s).is_some() => {
                self.err(msg::width_before_activation(s, e.span));
                None
            }
            _ => {
                self.err(msg::bad_width(e.span));
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

    /// Sets each network's input width from its call sites; weights of layer 0 get their
    /// fan-in from there.
    pub(super) fn fix_network_inputs(&mut self) {
        for i in 0..self.model.networks.len() {
            let placeholder = Dim::Sym(format!("{}.input", self.model.networks[i].name));
            let Some((width, _)) = self.net_inputs.get(&i).cloned() else {
                let n = &self.model.networks[i];
                // A network without layers, or one whose use already failed, was reported.
                if n.layers.is_empty() || self.nets_mentioned.contains(&i) {
                    continue;
                }
                self.diags.push(msg::uncalled_network(&n.name, n.span));
                continue;
            };
            let net = &mut self.model.networks[i];
            net.input_width = width.clone();
            for l in &mut net.layers {
                if l.fan_in == placeholder {
                    l.fan_in = width.clone();
                    let p = &mut self.model.params[l.weight_param];
                    p.shape = Shape::Matrix(l.width.clone(), width.clone());
                }
            }
        }
    }
}
