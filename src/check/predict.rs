//! The predict block: outputs assigned or drawn per posterior draw, and the `let`s they use.

use super::messages as msg;
use super::scope::Scope;
use super::shapes::broadcast;
use super::Checker;
use crate::ir::*;
use crate::syntax::ast;

impl Checker {
    /// Checks the predict block: `let`s, assigned outputs and drawn outputs.
    pub(super) fn predict_block(&mut self, stmts: &[&ast::Stmt]) {
        self.locals.clear();
        for s in stmts {
            match s {
                ast::Stmt::Let { name, value, .. } => {
                    let idx = self.model.predict_lets.len();
                    if let Some(l) = self.let_binding(name, value, s.span(), Scope::Predict, idx) {
                        self.model.predict_lets.push(l);
                        self.model.predict.push(PredictStmt::Let(idx));
                    }
                }
                ast::Stmt::Assign { name, value, span } => {
                    let checked = self.expr(value, Scope::Predict);
                    if checked.is_none() {
                        self.poisoned.insert(name.name.clone());
                    }
                    if let Some(e) = checked {
                        if self.local_free(name) {
                            self.predicted.push((
                                name.name.clone(),
                                self.model.predict.len(),
                                e.shape.clone(),
                            ));
                            self.model.predict.push(PredictStmt::Assign {
                                name: name.name.clone(),
                                value: e,
                                span: *span,
                            });
                        }
                    }
                }
                ast::Stmt::Tilde {
                    target,
                    dist,
                    args,
                    span,
                } => {
                    let d = self.distribution(dist);
                    let args: Vec<Option<Expr>> =
                        args.iter().map(|a| self.expr(a, Scope::Predict)).collect();
                    if target.segments.len() != 1 {
                        self.err(msg::draw_target(&target.text(), target.span));
                        continue;
                    }
                    let name = &target.segments[0];
                    let Some(d) = d else { continue };
                    let Some(args) = self.dist_args_complete(d, args, dist, *span) else {
                        continue;
                    };
                    if !self.local_free(name) {
                        continue;
                    }
                    let mut shape = Shape::Scalar;
                    for (k, a) in args.iter().enumerate() {
                        if d == Distribution::CategoricalLogit {
                            shape = match &a.shape {
                                Shape::Matrix(r, _) => Shape::Vector(r.clone()),
                                _ => Shape::Scalar,
                            };
                        } else if d == Distribution::BinomialLogit && k == 0 {
                            continue;
                        } else {
                            match broadcast(&shape, &a.shape) {
                                Some((s, _)) => shape = s,
                                None => {
                                    self.err(msg::draw_shape_mismatch(&shape, &a.shape, a.span));
                                }
                            }
                        }
                    }
                    self.predicted.push((
                        name.name.clone(),
                        self.model.predict.len(),
                        shape.clone(),
                    ));
                    self.model.predict.push(PredictStmt::Draw {
                        name: name.name.clone(),
                        shape,
                        dist: d,
                        args,
                        span: *span,
                    });
                }
            }
        }
        self.locals.clear();
    }
}
