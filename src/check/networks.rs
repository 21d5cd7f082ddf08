//! Network blocks: their layers in order (each read and built by [`super::layers`]), layer
//! names, and the input widths fixed from where the network is called.

use super::layers::{LayerPlace, LayerSyntax};
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
        self.dropout_places(&n.layers);
        for (index, l) in n.layers.iter().enumerate() {
            let Some(syntax) = LayerSyntax::from_name(&l.kind.name) else {
                let kinds = LayerSyntax::ALL.map(LayerSyntax::name);
                let sugg = did_you_mean(&l.kind.name, kinds);
                self.err(msg::unknown_layer(&l.kind.name, l.kind.span, sugg));
                continue;
            };
            if let Some(name) = &l.name {
                if let Some(first) = layer_names.get(&name.name) {
                    self.err(msg::duplicate_name(&name.name, name.span, *first));
                } else if name.name == "weight" || name.name == "bias" {
                    self.err(msg::reserved_layer_name(&name.name, name.span));
                } else {
                    layer_names.insert(name.name.clone(), name.span);
                }
            }
            let Some(args) = self.layer_args(syntax, l) else {
                continue;
            };
            let place = LayerPlace {
                net_name: &n.name.name,
                net: net_idx,
                layer: layers.len(),
                label: l
                    .name
                    .as_ref()
                    .map(|n| n.name.clone())
                    .unwrap_or_else(|| index.to_string()),
                fan_in: fan_in.clone(),
                span: l.span,
            };
            let (kind, width) = self.build_layer(&args, &place);
            layers.push(Layer {
                index: layers.len(),
                name: l.name.as_ref().map(|n| n.name.clone()),
                width: width.clone(),
                fan_in,
                kind,
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

    /// Checks where the dropout layers of a network stand, on the layers as written: each must
    /// be followed by a dense layer, whose weight columns MC dropout masks (so not last, and
    /// not followed by another dropout). A layer of an unknown kind after a dropout was
    /// reported as such and is not judged here.
    fn dropout_places(&mut self, layers: &[ast::Layer]) {
        let kinds: Vec<Option<LayerSyntax>> = layers
            .iter()
            .map(|l| LayerSyntax::from_name(&l.kind.name))
            .collect();
        for (i, l) in layers.iter().enumerate() {
            if kinds[i] != Some(LayerSyntax::Dropout) {
                continue;
            }
            match kinds.get(i + 1) {
                None => self.err(msg::dropout_last(l.span)),
                Some(Some(LayerSyntax::Dropout)) => {
                    self.err(msg::dropout_twice(layers[i + 1].span, l.span));
                }
                Some(Some(LayerSyntax::Dense)) | Some(None) => {}
            }
        }
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
                    match l.kind {
                        // The weights are out × in, so they take the input width.
                        LayerKind::Dense { weight, .. } => {
                            self.model.params[weight].shape =
                                Shape::Matrix(l.width.clone(), width.clone());
                        }
                        // Its output is its input: the width too.
                        LayerKind::Dropout { .. } => l.width = width.clone(),
                    }
                }
            }
        }
    }
}
