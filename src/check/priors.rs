//! The prior block: which parameters a path covers, the prior's arguments, and how the prior
//! is normalized against the parameter's constraint (truncation).

use super::messages as msg;
use super::scope::{Binding, Scope};
use super::shapes::same_shape;
use super::Checker;
use crate::diagnostic::did_you_mean;
use crate::ir::*;
use crate::source::Span;
use crate::syntax::ast;

impl Checker {
    /// Checks the prior block and gives each parameter it covers its prior.
    pub(super) fn prior_block(&mut self, stmts: &[&ast::Stmt]) {
        self.locals.clear();
        for s in stmts {
            match s {
                ast::Stmt::Let { name, value, .. } => {
                    let idx = self.model.prior_lets.len();
                    let scope = Scope::Prior { fan_in: false };
                    if let Some(l) = self.let_binding(name, value, s.span(), scope, idx) {
                        self.model.prior_lets.push(l);
                    }
                }
                ast::Stmt::Assign { name, span, .. } => {
                    self.err(msg::assignment_in_prior(&name.name, *span))
                }
                ast::Stmt::Tilde {
                    target,
                    dist,
                    args,
                    span,
                } => self.prior_stmt(target, dist, args, *span),
            }
        }
        self.locals.clear();
    }

    /// One `path ~ dist(args)` statement, applied to every parameter the path covers unless a
    /// more specific path already gave one its prior.
    fn prior_stmt(
        &mut self,
        target: &ast::Path,
        dist: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
    ) {
        let covered = self.resolve_path(target);
        let is_group = covered.as_ref().is_some_and(|(c, _)| {
            c.iter()
                .any(|&p| self.model.params[p].origin != ParamOrigin::Declared)
        });
        let d = self.distribution(dist);
        let args: Vec<Option<Expr>> = args
            .iter()
            .map(|a| self.expr(a, Scope::Prior { fan_in: is_group }))
            .collect();
        if let Some((c, _)) = &covered {
            self.attempted.extend(c.iter().copied());
        }
        let (Some((covered, spec)), Some(d)) = (covered, d) else {
            return;
        };
        if d.is_discrete() {
            self.err(msg::discrete_prior(d, dist.span));
            return;
        }
        let Some(args) = self.dist_args_complete(d, args, dist, span) else {
            return;
        };
        for (k, a) in args.iter().enumerate() {
            if let ExprKind::Const(v) = a.kind {
                if d.positive_args().contains(&k) && v <= 0.0 {
                    self.err(msg::nonpositive_arg(d, k, v, a.span));
                    return;
                }
            }
        }
        // A parameter's own prior does not count as a use of it (hierarchical uses are others).
        for a in &args {
            for p in &covered {
                if expr_mentions(a, *p) {
                    self.err(msg::self_referential_prior(
                        &self.model.params[*p].name,
                        a.span,
                    ));
                    return;
                }
            }
        }
        if let Some(w) = flat_scale(d, &args) {
            self.err(msg::flat_prior(d, w, dist.span));
        }
        for p in covered {
            let param_shape = self.model.params[p].shape.clone();
            let pname = self.model.params[p].name.clone();
            let mut ok = true;
            for (k, a) in args.iter().enumerate() {
                let fits = a.shape == Shape::Scalar
                    || (self.model.params[p].origin == ParamOrigin::Declared
                        && same_shape(&a.shape, &param_shape) != Some(false));
                if !fits {
                    self.err(msg::arg_shape(d, k, &a.shape, &pname, &param_shape, a.span));
                    ok = false;
                }
            }
            if !ok {
                return;
            }
            if let Some((old_spec, old_span)) = self.prior_spec.get(&p).copied() {
                if old_spec == spec {
                    self.err(msg::duplicate_prior(&pname, target.span, old_span));
                    continue;
                }
                if old_spec > spec {
                    continue;
                }
            }
            let Some(truncation) = self.truncation(p, d, &args, dist.span) else {
                continue;
            };
            self.prior_spec.insert(p, (spec, target.span));
            self.model.params[p].prior = Prior {
                dist: d,
                args: args.clone(),
                path: target.text(),
                truncation,
                span,
            };
        }
    }

    /// Decides how the prior is normalized against the parameter's constraint, or reports why
    /// they disagree.
    fn truncation(
        &mut self,
        p: usize,
        d: Distribution,
        args: &[Expr],
        span: Span,
    ) -> Option<Truncation> {
        let param = &self.model.params[p];
        let c = param.constraint;
        let name = param.name.clone();
        let (lo, hi) = c.bounds();
        let consts: Vec<Option<f64>> = args
            .iter()
            .map(|a| {
                if let ExprKind::Const(v) = a.kind {
                    Some(v)
                } else {
                    None
                }
            })
            .collect();
        let all_const = consts.iter().all(Option::is_some);
        let cut = |this: &mut Checker, lower: f64, upper: f64| -> Option<Truncation> {
            if d.has_cdf() {
                Some(Truncation::Cdf { lower, upper })
            } else if all_const {
                this.err(msg::truncation_constant(&name, d, span));
                Some(Truncation::ConstantOffset)
            } else {
                this.err(msg::truncation_unnormalized(&name, d, span));
                None
            }
        };
        match d.support() {
            Support::Real => {
                if c == Constraint::None {
                    return Some(Truncation::None);
                }
                let loc = d.location_arg().and_then(|i| consts[i]);
                match (c, loc) {
                    (Constraint::Lower(l), Some(m)) | (Constraint::Upper(l), Some(m)) if l == m => {
                        Some(Truncation::Half)
                    }
                    _ => cut(self, lo, hi),
                }
            }
            Support::Positive => {
                if lo < 0.0 || c == Constraint::None || matches!(c, Constraint::Upper(_)) {
                    let fix = format!("`{name}: real<lower=0>`");
                    self.err(msg::support_mismatch(
                        &name,
                        c,
                        d,
                        "positive values",
                        &fix,
                        span,
                    ));
                    return None;
                }
                if lo == 0.0 && hi.is_infinite() {
                    Some(Truncation::None)
                } else {
                    cut(self, lo, hi)
                }
            }
            Support::Unit => {
                if !(lo >= 0.0 && hi <= 1.0) {
                    let fix = format!("`{name}: real<lower=0, upper=1>`");
                    self.err(msg::support_mismatch(
                        &name,
                        c,
                        d,
                        "values between 0 and 1",
                        &fix,
                        span,
                    ));
                    return None;
                }
                if lo == 0.0 && hi == 1.0 {
                    Some(Truncation::None)
                } else {
                    cut(self, lo, hi)
                }
            }
            Support::BetweenArgs => {
                let (Some(a), Some(b)) = (consts[0], consts[1]) else {
                    self.err(msg::uniform_bounds_not_numbers(span));
                    return None;
                };
                if lo < a || hi > b {
                    let fix = format!("`{name}: real<lower={a}, upper={b}>`");
                    let support = format!("values between {a} and {b}");
                    self.err(msg::support_mismatch(&name, c, d, &support, &fix, span));
                    return None;
                }
                if lo == a && hi == b {
                    Some(Truncation::None)
                } else {
                    Some(Truncation::Cdf {
                        lower: lo,
                        upper: hi,
                    })
                }
            }
            Support::Binary | Support::Count | Support::Label | Support::UpToTrials => None,
        }
    }

    /// The parameters a prior path covers, and how specific the path is.
    fn resolve_path(&mut self, path: &ast::Path) -> Option<(Vec<usize>, u8)> {
        let segs = &path.segments;
        let head = &segs[0].name;
        match self.names.get(head).cloned() {
            Some((Binding::Data(_), _)) => {
                self.err(msg::prior_on_data(head, path.span));
                None
            }
            Some((Binding::Dim, _)) => {
                self.err(msg::prior_on_size(head, path.span));
                None
            }
            Some((Binding::Param(p), _)) => {
                if segs.len() > 1 {
                    self.err(msg::unknown_path(
                        &path.text(),
                        path.span,
                        Some(head.clone()),
                    ));
                    return None;
                }
                Some((vec![p], 5))
            }
            Some((Binding::Network(n), _)) => {
                let net = self.model.networks[n].clone();
                // A layer's parameters, all of them or those in one role (weight, bias).
                let of_layer = |l: &Layer, role: Option<&str>| -> Vec<usize> {
                    l.kind
                        .params()
                        .into_iter()
                        .filter(|(r, _)| role.is_none_or(|role| role == *r))
                        .map(|(_, p)| p)
                        .collect()
                };
                let all: Vec<usize> = net.layers.iter().flat_map(|l| of_layer(l, None)).collect();
                let layer_of = |s: &str| -> Option<&Layer> {
                    net.layers.iter().find(|l| {
                        l.name.as_deref() == Some(s)
                            || (l.name.is_none() && l.index.to_string() == s)
                            || l.index.to_string() == s
                    })
                };
                let mut candidates: Vec<String> =
                    vec![format!("{}.weight", net.name), format!("{}.bias", net.name)];
                for l in &net.layers {
                    if let LayerKind::Dropout { .. } = l.kind {
                        continue;
                    }
                    candidates.push(format!("{}.{}", net.name, l.label()));
                    candidates.push(format!("{}.{}.weight", net.name, l.label()));
                    candidates.push(format!("{}.{}.bias", net.name, l.label()));
                }
                let text = path.text();
                let result = match segs.len() {
                    1 => Some((all, 1)),
                    2 if segs[1].name == "weight" || segs[1].name == "bias" => {
                        let v: Vec<usize> = net
                            .layers
                            .iter()
                            .flat_map(|l| of_layer(l, Some(&segs[1].name)))
                            .collect();
                        Some((v, 2))
                    }
                    2 => layer_of(&segs[1].name).map(|l| (of_layer(l, None), 3)),
                    3 if segs[2].name == "weight" || segs[2].name == "bias" => {
                        layer_of(&segs[1].name).map(|l| (of_layer(l, Some(&segs[2].name)), 4))
                    }
                    _ => None,
                };
                // Point at the first segment that names nothing.
                let is_kind = |s: &str| s == "weight" || s == "bias";
                let bad_seg = if segs.len() >= 2
                    && !is_kind(&segs[1].name)
                    && layer_of(&segs[1].name).is_none()
                {
                    segs[1].span
                } else if segs.len() >= 3 && (is_kind(&segs[1].name) || !is_kind(&segs[2].name)) {
                    segs[2].span
                } else if segs.len() > 3 {
                    segs[3].span
                } else {
                    segs[segs.len() - 1].span
                };
                let dropout = segs.len() >= 2
                    && layer_of(&segs[1].name)
                        .is_some_and(|l| matches!(l.kind, LayerKind::Dropout { .. }));
                match result {
                    Some((v, _)) if v.is_empty() && dropout => {
                        self.err(msg::prior_on_dropout(&text, segs[1].span));
                        None
                    }
                    Some((v, _)) if v.is_empty() => {
                        self.err(msg::no_bias(&text, bad_seg));
                        None
                    }
                    Some(r) => Some(r),
                    None => {
                        let sugg = did_you_mean(&text, candidates.iter().map(String::as_str));
                        self.err(msg::unknown_path(&text, bad_seg, sugg));
                        None
                    }
                }
            }
            None => {
                let cands: Vec<String> = self
                    .model
                    .params
                    .iter()
                    .filter(|p| p.origin == ParamOrigin::Declared)
                    .map(|p| p.name.clone())
                    .chain(self.model.networks.iter().map(|n| n.name.clone()))
                    .collect();
                let sugg = did_you_mean(head, cands.iter().map(String::as_str));
                self.err(msg::undefined_name(head, segs[0].span, sugg));
                None
            }
        }
    }
}

/// Whether the expression mentions parameter `p`.
fn expr_mentions(e: &Expr, p: usize) -> bool {
    match &e.kind {
        ExprKind::Param(q) => *q == p,
        ExprKind::Const(_)
        | ExprKind::Data(_)
        | ExprKind::DimValue(_)
        | ExprKind::Local(_)
        | ExprKind::Predicted(_)
        | ExprKind::FanIn => false,
        ExprKind::Neg(x) | ExprKind::Column { base: x, .. } | ExprKind::Element { base: x, .. } => {
            expr_mentions(x, p)
        }
        ExprKind::Binary { lhs, rhs, .. } => expr_mentions(lhs, p) || expr_mentions(rhs, p),
        ExprKind::MatVec { matrix, vector } => expr_mentions(matrix, p) || expr_mentions(vector, p),
        ExprKind::Call { args, .. } => args.iter().any(|a| expr_mentions(a, p)),
        ExprKind::Net { input, .. } => expr_mentions(input, p),
    }
}

/// The scale of a prior so wide it is nearly flat, if it is one.
fn flat_scale(d: Distribution, args: &[Expr]) -> Option<f64> {
    const WIDE: f64 = 1e3;
    let c = |i: usize| match args.get(i).map(|a| &a.kind) {
        Some(ExprKind::Const(v)) => Some(*v),
        _ => None,
    };
    let scale = match d {
        Distribution::Normal
        | Distribution::Cauchy
        | Distribution::Laplace
        | Distribution::Logistic => c(1),
        Distribution::StudentT => c(2),
        Distribution::Uniform => c(0).zip(c(1)).map(|(a, b)| b - a),
        _ => None,
    }?;
    (scale >= WIDE).then_some(scale)
}
