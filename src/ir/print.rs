//! Prints a checked model (`bnnppl print --stage ir`): data, networks, every parameter with its
//! shape, constraint and prior, then the likelihood and predict statements.

use super::model::*;
use std::fmt::{self, Write as _};

impl CheckedModel {
    /// An expression in the model's names; `lets` resolves [`ExprKind::Local`].
    pub fn expr_text(&self, e: &Expr, lets: &[Let]) -> String {
        match &e.kind {
            ExprKind::Const(v) => format!("{v}"),
            ExprKind::Data(n) | ExprKind::DimValue(n) => n.clone(),
            ExprKind::Param(p) => self.params[*p].name.clone(),
            ExprKind::Local(i) => lets
                .get(*i)
                .map(|l| l.name.clone())
                .unwrap_or_else(|| format!("let#{i}")),
            ExprKind::Predicted(i) => match self.predict.get(*i).and_then(|p| p.output()) {
                Some((name, _)) => name.to_string(),
                None => format!("predict#{i}"),
            },
            ExprKind::FanIn => "fan_in".into(),
            ExprKind::Neg(x) => format!("(-{})", self.expr_text(x, lets)),
            ExprKind::Binary { op, lhs, rhs } => {
                format!(
                    "({} {} {})",
                    self.expr_text(lhs, lets),
                    op.symbol(),
                    self.expr_text(rhs, lets)
                )
            }
            ExprKind::MatVec { matrix, vector } => {
                format!(
                    "({} * {})",
                    self.expr_text(matrix, lets),
                    self.expr_text(vector, lets)
                )
            }
            ExprKind::Call { func, args } => {
                let a: Vec<String> = args.iter().map(|x| self.expr_text(x, lets)).collect();
                format!("{}({})", func.name(), a.join(", "))
            }
            ExprKind::Net { net, input } => {
                format!(
                    "{}({})",
                    self.networks[*net].name,
                    self.expr_text(input, lets)
                )
            }
            ExprKind::Column { base, col } => format!("{}[:, {col}]", self.expr_text(base, lets)),
            ExprKind::Element { base, index } => format!("{}[{index}]", self.expr_text(base, lets)),
        }
    }

    fn args_text(&self, args: &[Expr], lets: &[Let]) -> String {
        args.iter()
            .map(|a| self.expr_text(a, lets))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Number of scalar parameters for given sizes; `None` while a size is unbound.
    pub fn param_count(&self, dims: &dyn Fn(&super::Dim) -> Option<usize>) -> Option<usize> {
        self.params.iter().map(|p| shape_len(&p.shape, dims)).sum()
    }
}

/// Number of elements in a shape for given sizes.
pub fn shape_len(shape: &Shape, dims: &dyn Fn(&super::Dim) -> Option<usize>) -> Option<usize> {
    match shape {
        Shape::Scalar => Some(1),
        Shape::Vector(n) => dims(n),
        Shape::Matrix(r, c) => Some(dims(r)? * dims(c)?),
    }
}

impl fmt::Display for Truncation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Truncation::None => Ok(()),
            Truncation::Half => write!(f, " (half)"),
            Truncation::Cdf { lower, upper } => write!(f, " (truncated to [{lower}, {upper}])"),
            Truncation::ConstantOffset => write!(f, " (truncated, unnormalized)"),
        }
    }
}

impl fmt::Display for CheckedModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        out.push_str("data\n");
        for d in &self.data {
            let mut bounds = String::new();
            if let Some(l) = d.lower {
                let _ = write!(bounds, " lower={l}");
            }
            if let Some(u) = d.upper {
                let _ = write!(bounds, " upper={u}");
            }
            if let Some(r) = &d.int_range {
                let max = match &r.max {
                    Some(super::RangeMax::Lit(m)) => m.to_string(),
                    Some(super::RangeMax::BelowDim(s)) => format!("{s}-1"),
                    Some(super::RangeMax::AtMostField(n)) => n.clone(),
                    None => "inf".into(),
                };
                let _ = write!(bounds, " in {}..={max} ({})", r.min, r.reason);
            }
            let _ = writeln!(out, "  {}: {}{bounds}", d.name, d.ty);
        }
        for n in &self.networks {
            let _ = writeln!(out, "network {} (input width {})", n.name, n.input_width);
            for l in &n.layers {
                match &l.kind {
                    LayerKind::Dense {
                        bias, activation, ..
                    } => {
                        let _ = writeln!(
                            out,
                            "  {}: dense {} -> {}, {}{}",
                            l.label(),
                            l.fan_in,
                            l.width,
                            activation.name(),
                            if bias.is_some() { "" } else { ", no bias" }
                        );
                    }
                    LayerKind::Dropout { p } => {
                        let _ = writeln!(
                            out,
                            "  {}: dropout {} -> {}, p = {p}",
                            l.label(),
                            l.fan_in,
                            l.width
                        );
                    }
                }
            }
        }
        out.push_str("param\n");
        for p in &self.params {
            let c = match p.constraint {
                Constraint::None => String::new(),
                c => format!(" {c}"),
            };
            let from = if p.prior.path != p.name {
                format!("  [from {}]", p.prior.path)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "  {}: {}{c} ~ {}({}){}{from}",
                p.name,
                p.shape,
                p.prior.dist.name(),
                self.args_text(&p.prior.args, &self.prior_lets),
                p.prior.truncation
            );
        }
        if !self.prior_lets.is_empty() {
            out.push_str("prior lets\n");
            for l in &self.prior_lets {
                let _ = writeln!(
                    out,
                    "  let {} = {}",
                    l.name,
                    self.expr_text(&l.value, &self.prior_lets)
                );
            }
        }
        out.push_str("likelihood\n");
        for s in &self.likelihood {
            match s {
                LikelihoodStmt::Let(i) => {
                    let l = &self.likelihood_lets[*i];
                    let _ = writeln!(
                        out,
                        "  let {}: {} = {}",
                        l.name,
                        l.value.shape,
                        self.expr_text(&l.value, &self.likelihood_lets)
                    );
                }
                LikelihoodStmt::Term(t) => {
                    let _ = writeln!(
                        out,
                        "  {}: {} ~ {}({})",
                        t.observed,
                        t.shape,
                        t.dist.name(),
                        self.args_text(&t.args, &self.likelihood_lets)
                    );
                }
            }
        }
        if !self.predict.is_empty() {
            out.push_str("predict\n");
            for s in &self.predict {
                match s {
                    PredictStmt::Let(i) => {
                        let l = &self.predict_lets[*i];
                        let _ = writeln!(
                            out,
                            "  let {}: {} = {}",
                            l.name,
                            l.value.shape,
                            self.expr_text(&l.value, &self.predict_lets)
                        );
                    }
                    PredictStmt::Assign { name, value, .. } => {
                        let _ = writeln!(
                            out,
                            "  {name}: {} = {}",
                            value.shape,
                            self.expr_text(value, &self.predict_lets)
                        );
                    }
                    PredictStmt::Draw {
                        name,
                        shape,
                        dist,
                        args,
                        ..
                    } => {
                        let _ = writeln!(
                            out,
                            "  {name}: {shape} ~ {}({})",
                            dist.name(),
                            self.args_text(args, &self.predict_lets)
                        );
                    }
                }
            }
        }
        f.write_str(&out)
    }
}
