//! What a model leaves out: parameters no prior covers (errors), and data fields and
//! parameters nothing uses (warnings).

use super::messages as msg;
use super::Checker;
use crate::ir::*;
use std::collections::BTreeSet;

impl Checker {
    /// Reports every parameter no prior statement covers.
    pub(super) fn coverage(&mut self) {
        for p in 0..self.model.params.len() {
            if self.prior_spec.contains_key(&p) || self.attempted.contains(&p) {
                continue;
            }
            let param = &self.model.params[p];
            let hint = match param.origin {
                ParamOrigin::Declared => None,
                ParamOrigin::Weight { net, .. } => {
                    Some(format!("{}.weight", self.model.networks[net].name))
                }
                ParamOrigin::Bias { net, .. } => {
                    Some(format!("{}.bias", self.model.networks[net].name))
                }
            };
            let d = msg::missing_prior(&param.name, param.span, hint.as_deref());
            self.diags.push(d);
        }
    }

    /// Warns about data fields and declared parameters nothing uses.
    pub(super) fn unused(&mut self) {
        // A field is used when an expression reads it, the likelihood observes it, or a type or
        // layer uses it as a size.
        let mut sizes: BTreeSet<String> = BTreeSet::new();
        let shapes = self
            .model
            .params
            .iter()
            .map(|p| p.shape.clone())
            .chain(self.model.data.iter().map(|d| d.ty.shape()));
        for shape in shapes {
            match shape {
                Shape::Scalar => {}
                Shape::Vector(n) => {
                    if let Dim::Sym(s) = n {
                        sizes.insert(s);
                    }
                }
                Shape::Matrix(r, c) => {
                    for d in [r, c] {
                        if let Dim::Sym(s) = d {
                            sizes.insert(s);
                        }
                    }
                }
            }
        }
        for net in &self.model.networks {
            for l in &net.layers {
                if let Dim::Sym(s) = &l.width {
                    sizes.insert(s.clone());
                }
            }
        }
        for d in &self.model.data {
            if !self.used_data.contains(&d.name)
                && !self.observed.contains(&d.name)
                && !sizes.contains(&d.name)
            {
                self.diags.push(msg::unused_data(&d.name, d.span));
            }
        }
        for (i, p) in self.model.params.iter().enumerate() {
            if p.origin == ParamOrigin::Declared && !self.used.contains(&i) {
                self.diags.push(msg::unused_param(&p.name, p.span));
            }
        }
    }
}
