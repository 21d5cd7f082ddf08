//! The data and param blocks: types, sizes and bounds of each declaration.

use super::messages as msg;
use super::scope::Binding;
use super::Checker;
use crate::diagnostic::did_you_mean;
use crate::ir::*;
use crate::source::Span;
use crate::syntax::ast;

impl Checker {
    /// A written size: a literal (positive) or a symbol.
    fn dim_of(&mut self, d: &ast::DimExpr) -> Dim {
        match d {
            ast::DimExpr::Lit(n, span) => {
                if *n == 0 || *n == usize::MAX {
                    self.err(msg::nonpositive_size(*span));
                }
                Dim::Lit(*n)
            }
            ast::DimExpr::Sym(i) => Dim::Sym(i.name.clone()),
        }
    }

    /// The constraint written as `<lower=.., upper=..>`.
    fn constraint_of(&mut self, ty: &ast::TypeExpr) -> Constraint {
        let mut lower = None;
        let mut upper = None;
        for b in &ty.bounds {
            let slot = match b.kind {
                ast::BoundKind::Lower => &mut lower,
                ast::BoundKind::Upper => &mut upper,
            };
            if slot.is_some() {
                self.err(msg::bound_twice(b.span));
            }
            *slot = Some((b.value, b.span));
            if !b.value.is_finite() {
                self.err(msg::nonfinite_bound(b.span));
            }
        }
        match (lower, upper) {
            (None, None) => Constraint::None,
            (Some((l, _)), None) => Constraint::Lower(l),
            (None, Some((u, _))) => Constraint::Upper(u),
            (Some((l, ls)), Some((u, us))) => {
                if l >= u {
                    self.err(msg::bounds_out_of_order(l, u, ls.join(us)));
                }
                Constraint::Interval(l, u)
            }
        }
    }

    /// Declares the data fields; their shapes bind the size symbols.
    pub(super) fn data_block(&mut self, decls: &[&ast::Decl]) {
        // Scalar int fields may serve as dimension symbols (K: int).
        for d in decls {
            let dims: Vec<Dim> = d.ty.dims.iter().map(|x| self.dim_of(x)).collect();
            let ty = match (d.ty.base, dims.len()) {
                (ast::BaseType::Int, 0) => Some(DataType::Int),
                (ast::BaseType::Real, 0) => Some(DataType::Real),
                (ast::BaseType::Int, 1) => Some(DataType::IntArray(dims[0].clone())),
                (ast::BaseType::Real | ast::BaseType::Vector, 1) => {
                    Some(DataType::Vector(dims[0].clone()))
                }
                (ast::BaseType::Matrix, 2) => {
                    Some(DataType::Matrix(dims[0].clone(), dims[1].clone()))
                }
                _ => None,
            };
            let Some(ty) = ty else {
                self.err(msg::type_dims(d.ty.base, d.ty.dims.len(), d.ty.dims_span));
                continue;
            };
            let c = self.constraint_of(&d.ty);
            let (lower, upper) = match c {
                Constraint::None => (None, None),
                Constraint::Lower(l) => (Some(l), None),
                Constraint::Upper(u) => (None, Some(u)),
                Constraint::Interval(l, u) => (Some(l), Some(u)),
            };
            for dim in &dims {
                if let Dim::Sym(s) = dim {
                    self.dims.insert(s.clone());
                }
            }
            // An int field (K: int) may serve as a size: dense(K), vector[K].
            if ty == DataType::Int {
                self.dims.insert(d.name.name.clone());
            }
            let idx = self.model.data.len();
            if self.declare(&d.name, Binding::Data(idx)) {
                self.model.data.push(DataDecl {
                    name: d.name.name.clone(),
                    ty,
                    lower,
                    upper,
                    int_range: None,
                    span: d.span,
                });
            }
        }
        // A symbol bound by shapes and also declared as a non-int field is a conflict.
        let syms: Vec<String> = self.dims.iter().cloned().collect();
        for s in syms {
            if let Some((Binding::Data(i), span)) = self.names.get(&s).cloned() {
                if self.model.data[i].ty != DataType::Int {
                    self.err(msg::size_declared_non_int(&s, &self.model.data[i].ty, span));
                }
            } else if !self.names.contains_key(&s) {
                self.names
                    .insert(s.clone(), (Binding::Dim, Span::default()));
            }
        }
    }

    /// Reports a size symbol no data field binds.
    fn sized(&mut self, d: &Dim, span: Span) {
        if let Dim::Sym(s) = d {
            if !self.dims.contains(s) {
                let sugg = did_you_mean(s, self.dims.iter().map(String::as_str));
                self.err(msg::unbound_size(s, span, sugg));
            }
        }
    }

    /// Declares the parameters of the param block, each with a placeholder prior.
    pub(super) fn param_block(&mut self, decls: &[&ast::Decl]) {
        for d in decls {
            let dims: Vec<Dim> = d.ty.dims.iter().map(|x| self.dim_of(x)).collect();
            for (dim, dx) in dims.iter().zip(&d.ty.dims) {
                self.sized(dim, dx.span());
            }
            let shape = match (d.ty.base, dims.len()) {
                (ast::BaseType::Int, _) => {
                    self.err(msg::int_param(d.ty.base_span));
                    continue;
                }
                (ast::BaseType::Real, 0) => Shape::Scalar,
                (ast::BaseType::Real | ast::BaseType::Vector, 1) => Shape::Vector(dims[0].clone()),
                (ast::BaseType::Matrix, 2) => Shape::Matrix(dims[0].clone(), dims[1].clone()),
                _ => {
                    self.err(msg::type_dims(d.ty.base, d.ty.dims.len(), d.ty.dims_span));
                    continue;
                }
            };
            let constraint = self.constraint_of(&d.ty);
            let idx = self.model.params.len();
            if self.declare(&d.name, Binding::Param(idx)) {
                self.model.params.push(Param {
                    name: d.name.name.clone(),
                    shape,
                    constraint,
                    origin: ParamOrigin::Declared,
                    prior: placeholder_prior(),
                    span: d.span,
                });
            }
        }
    }
}

/// The prior a parameter holds until a prior statement covers it.
pub(super) fn placeholder_prior() -> Prior {
    Prior {
        dist: Distribution::Normal,
        args: Vec::new(),
        path: String::new(),
        truncation: Truncation::None,
        span: Span::default(),
    }
}
