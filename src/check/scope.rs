//! What names refer to: declaring them, binding `let`s and predict outputs, and resolving a
//! name or a distribution where an expression or statement uses it.

use super::messages as msg;
use super::Checker;
use crate::diagnostic::did_you_mean;
use crate::ir::*;
use crate::source::Span;
use crate::syntax::ast;

/// What a name refers to.
#[derive(Debug, Clone)]
pub(super) enum Binding {
    /// A data field, by index into the model's data.
    Data(usize),
    /// A declared parameter, by index into the model's parameters.
    Param(usize),
    /// A network, by index into the model's networks.
    Network(usize),
    /// A size symbol bound from the data.
    Dim,
}

/// Which block an expression is in, deciding what it may refer to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Scope {
    /// The prior block; `fan_in` is defined in a prior on network weights or biases.
    Prior {
        /// Whether `fan_in` may be used.
        fan_in: bool,
    },
    /// The likelihood block.
    Likelihood,
    /// The predict block.
    Predict,
}

impl Scope {
    /// The block's keyword.
    pub(super) fn block(self) -> &'static str {
        match self {
            Scope::Prior { .. } => "prior",
            Scope::Likelihood => "likelihood",
            Scope::Predict => "predict",
        }
    }
}

impl Checker {
    /// Declares a global name; false (reported) when it is taken or built in.
    pub(super) fn declare(&mut self, name: &ast::Ident, binding: Binding) -> bool {
        if let Some((_, first)) = self.names.get(&name.name) {
            let first = *first;
            self.err(msg::duplicate_name(&name.name, name.span, first));
            return false;
        }
        if Func::from_name(&name.name).is_some() || name.name == "fan_in" {
            self.err(msg::builtin_declared(&name.name, name.span));
            return false;
        }
        self.names.insert(name.name.clone(), (binding, name.span));
        true
    }

    /// Whether a `let` or predict output may take this name; reports why not.
    pub(super) fn local_free(&mut self, name: &ast::Ident) -> bool {
        if let Some((_, first)) = self.names.get(&name.name) {
            let first = *first;
            self.err(msg::duplicate_name(&name.name, name.span, first));
            return false;
        }
        if let Some((_, _, first, _)) = self.locals.iter().find(|l| l.0 == name.name) {
            let first = *first;
            self.err(msg::duplicate_name(&name.name, name.span, first));
            return false;
        }
        if self.predicted.iter().any(|p| p.0 == name.name) {
            self.err(msg::already_predicted(&name.name, name.span));
            return false;
        }
        if Func::from_name(&name.name).is_some() || name.name == "fan_in" {
            self.err(msg::builtin_bound(&name.name, name.span));
            return false;
        }
        true
    }

    /// The names of the data fields.
    pub(super) fn data_names(&self) -> Vec<String> {
        self.model.data.iter().map(|d| d.name.clone()).collect()
    }

    /// Looks a distribution up by name; reports an unknown one.
    pub(super) fn distribution(&mut self, id: &ast::Ident) -> Option<Distribution> {
        let d = Distribution::from_name(&id.name);
        if d.is_none() {
            self.err(msg::unknown_distribution(&id.name, id.span));
        }
        d
    }

    /// The checked arguments of `dist(args)` in a `~` statement ending at `stmt`, when there
    /// are as many as the distribution takes (reported otherwise) and each checked.
    pub(super) fn dist_args_complete(
        &mut self,
        d: Distribution,
        args: Vec<Option<Expr>>,
        dist: &ast::Ident,
        stmt: Span,
    ) -> Option<Vec<Expr>> {
        if args.len() != d.arg_names().len() {
            self.err(msg::dist_arity(
                d,
                args.len(),
                Span::new(dist.span.start, stmt.end),
            ));
            return None;
        }
        args.into_iter().collect()
    }

    /// Checks `let name = value` in a block, binds the name for the rest of the block and
    /// returns the checked binding (None after an error, which poisons the name).
    pub(super) fn let_binding(
        &mut self,
        name: &ast::Ident,
        value: &ast::Expr,
        span: Span,
        scope: Scope,
        index: usize,
    ) -> Option<Let> {
        let checked = self.expr(value, scope);
        let Some(e) = checked else {
            self.poisoned.insert(name.name.clone());
            return None;
        };
        if !self.local_free(name) {
            return None;
        }
        self.locals
            .push((name.name.clone(), index, name.span, e.shape.clone()));
        Some(Let {
            name: name.name.clone(),
            value: e,
            span,
        })
    }

    /// Resolves a name used in an expression of `scope`.
    pub(super) fn var(&mut self, name: &str, span: Span, scope: Scope) -> Option<Expr> {
        let mk = |kind, shape| Some(Expr { kind, shape, span });
        if let Some((_, idx, _, shape)) = self.locals.iter().rev().find(|l| l.0 == name) {
            return mk(ExprKind::Local(*idx), shape.clone());
        }
        if scope == Scope::Predict {
            if let Some((_, idx, shape)) = self.predicted.iter().find(|p| p.0 == name) {
                return mk(ExprKind::Predicted(*idx), shape.clone());
            }
        }
        if self.poisoned.contains(name) {
            return None;
        }
        if name == "fan_in" {
            if scope == (Scope::Prior { fan_in: true }) {
                return mk(ExprKind::FanIn, Shape::Scalar);
            }
            self.err(msg::fan_in_outside(span));
            return None;
        }
        match self.names.get(name).cloned() {
            Some((Binding::Data(i), _)) => {
                self.used_data.insert(name.to_string());
                if self.observed.contains(name) && scope != Scope::Likelihood {
                    self.err(msg::observed_outside_likelihood(name, scope.block(), span));
                    return None;
                }
                let shape = self.model.data[i].ty.shape();
                mk(ExprKind::Data(name.to_string()), shape)
            }
            Some((Binding::Param(p), _)) => {
                self.used.insert(p);
                mk(ExprKind::Param(p), self.model.params[p].shape.clone())
            }
            Some((Binding::Network(n), _)) => {
                self.nets_mentioned.insert(n);
                self.err(msg::network_not_called(name, span));
                None
            }
            Some((Binding::Dim, _)) => mk(ExprKind::DimValue(name.to_string()), Shape::Scalar),
            None => {
                let mut cands: Vec<String> = self.names.keys().cloned().collect();
                cands.extend(self.locals.iter().map(|l| l.0.clone()));
                cands.extend(self.predicted.iter().map(|p| p.0.clone()));
                cands.sort();
                let sugg = did_you_mean(name, cands.iter().map(String::as_str));
                self.err(msg::undefined_name(name, span, sugg));
                None
            }
        }
    }
}
