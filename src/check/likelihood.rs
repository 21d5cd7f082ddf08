//! The likelihood block: what each `~` statement observes, its distribution's arguments
//! against the observed shape, and the integer ranges the data must respect.

use super::messages as msg;
use super::scope::{Binding, Scope};
use super::shapes::same_shape;
use super::Checker;
use crate::diagnostic::did_you_mean;
use crate::ir::*;
use crate::source::Span;
use crate::syntax::ast;

impl Checker {
    /// Checks the likelihood block: `let`s and the observations of data fields.
    pub(super) fn likelihood_block(&mut self, stmts: &[&ast::Stmt]) {
        self.locals.clear();
        for s in stmts {
            match s {
                ast::Stmt::Let { name, value, .. } => {
                    let idx = self.model.likelihood_lets.len();
                    if let Some(l) = self.let_binding(name, value, s.span(), Scope::Likelihood, idx)
                    {
                        self.model.likelihood_lets.push(l);
                        self.model.likelihood.push(LikelihoodStmt::Let(idx));
                    }
                }
                ast::Stmt::Assign { name, span, .. } => {
                    self.err(msg::assignment_in_likelihood(&name.name, *span))
                }
                ast::Stmt::Tilde {
                    target,
                    dist,
                    args,
                    span,
                } => {
                    let tname = target.text();
                    let data_idx = match (
                        target.segments.len(),
                        self.names.get(&target.segments[0].name),
                    ) {
                        (1, Some((Binding::Data(i), _))) => Some(*i),
                        (1, Some((Binding::Param(_), _))) => {
                            self.err(msg::likelihood_on_param(&tname, target.span));
                            None
                        }
                        (1, None) => {
                            let cands: Vec<String> = self.data_names();
                            let sugg = did_you_mean(&tname, cands.iter().map(String::as_str));
                            self.err(msg::undefined_name(&tname, target.span, sugg));
                            None
                        }
                        _ => {
                            self.err(msg::likelihood_target(&tname, target.span));
                            None
                        }
                    };
                    let d = self.distribution(dist);
                    let args: Vec<Option<Expr>> = args
                        .iter()
                        .map(|a| self.expr(a, Scope::Likelihood))
                        .collect();
                    let (Some(i), Some(d)) = (data_idx, d) else {
                        continue;
                    };
                    let Some(args) = self.dist_args_complete(d, args, dist, *span) else {
                        continue;
                    };
                    let decl = self.model.data[i].clone();
                    let shape = decl.ty.shape();
                    let is_int = matches!(decl.ty, DataType::Int | DataType::IntArray(_));
                    if d.is_discrete() && !is_int {
                        self.err(msg::needs_int_data(d, &tname, target.span));
                        continue;
                    }
                    if !self.dist_args(d, &args, &tname, &shape, span) {
                        continue;
                    }
                    if d == Distribution::CategoricalLogit {
                        if let (Some(u), Shape::Matrix(_, Dim::Lit(k))) =
                            (decl.upper, &args[0].shape)
                        {
                            if u > (*k as f64) - 1.0 {
                                self.err(msg::too_many_labels(&tname, u, *k, args[0].span));
                                continue;
                            }
                        }
                    }
                    if let Some(range) = self.int_range(d, &args) {
                        self.model.data[i].int_range = Some(range);
                    }
                    self.model
                        .likelihood
                        .push(LikelihoodStmt::Term(LikelihoodTerm {
                            observed: tname,
                            shape,
                            dist: d,
                            args,
                            span: *span,
                        }));
                }
            }
        }
        self.locals.clear();
    }

    fn dist_args(
        &mut self,
        d: Distribution,
        args: &[Expr],
        target: &str,
        shape: &Shape,
        span: &Span,
    ) -> bool {
        let mut ok = true;
        for (k, a) in args.iter().enumerate() {
            if d == Distribution::CategoricalLogit {
                let rows = match shape {
                    Shape::Vector(n) => Some(n.clone()),
                    _ => None,
                };
                match (&a.shape, rows) {
                    (Shape::Matrix(r, _), Some(n)) => {
                        self.same_dim(r, &n, a.span, msg::logit_rows(target));
                    }
                    (Shape::Vector(_), Some(_)) | (Shape::Scalar, _) | (_, None) => {
                        self.err(msg::logits_not_matrix(target, &a.shape, a.span));
                        ok = false;
                    }
                }
                continue;
            }
            match same_shape(&a.shape, shape) {
                _ if a.shape == Shape::Scalar => {}
                Some(false) => {
                    self.err(msg::arg_shape(d, k, &a.shape, target, shape, a.span));
                    ok = false;
                }
                None => {
                    // Literal against symbol: decided at binding time.
                    if let (Shape::Vector(x), Shape::Vector(y)) = (&a.shape, shape) {
                        self.same_dim(x, y, a.span, msg::arg_length(target));
                    } else {
                        self.err(msg::arg_shape(d, k, &a.shape, target, shape, a.span));
                        ok = false;
                    }
                }
                Some(true) => {}
            }
        }
        let _ = span;
        ok
    }

    /// The range of integers a discrete likelihood allows its observed data.
    fn int_range(&mut self, d: Distribution, args: &[Expr]) -> Option<IntRange> {
        match d {
            Distribution::BernoulliLogit => Some(IntRange {
                min: 0,
                max: Some(RangeMax::Lit(1)),
                reason: "outcomes of bernoulli_logit".into(),
            }),
            Distribution::PoissonLog => Some(IntRange {
                min: 0,
                max: None,
                reason: "counts of poisson_log".into(),
            }),
            Distribution::CategoricalLogit => {
                let k = match &args[0].shape {
                    Shape::Matrix(_, k) => k.clone(),
                    _ => return None,
                };
                let (max, reason) = match &k {
                    Dim::Lit(k) => (
                        RangeMax::Lit(*k as i64 - 1),
                        format!("labels of categorical_logit with {k} classes"),
                    ),
                    Dim::Sym(s) => (
                        RangeMax::BelowDim(s.clone()),
                        format!("labels of categorical_logit with {s} classes"),
                    ),
                };
                Some(IntRange {
                    min: 0,
                    max: Some(max),
                    reason,
                })
            }
            Distribution::BinomialLogit => {
                let max = match &args[0].kind {
                    ExprKind::Data(n) => Some(RangeMax::AtMostField(n.clone())),
                    ExprKind::Const(v) => Some(RangeMax::Lit(*v as i64)),
                    _ => None,
                };
                Some(IntRange {
                    min: 0,
                    max,
                    reason: "successes of binomial_logit".into(),
                })
            }
            _ => None,
        }
    }
}
