//! Typing expressions: constants, operators with broadcasting, indexing, and calls of
//! functions and networks.

use super::messages as msg;
use super::scope::{Binding, Scope};
use super::shapes::broadcast;
use super::Checker;
use crate::diagnostic::did_you_mean;
use crate::ir::*;
use crate::source::Span;
use crate::syntax::ast::{self, IndexItem};

impl Checker {
    /// Types an expression in `scope`; `None` after an error (already reported).
    pub(super) fn expr(&mut self, e: &ast::Expr, scope: Scope) -> Option<Expr> {
        let span = e.span;
        let mk = |kind, shape| Some(Expr { kind, shape, span });
        match &e.kind {
            ast::ExprKind::Num(v) => {
                if !v.is_finite() {
                    self.err(msg::nonfinite_number(span));
                    return None;
                }
                mk(ExprKind::Const(*v), Shape::Scalar)
            }
            ast::ExprKind::Bool(_) => {
                self.err(msg::bool_outside_layer(span));
                None
            }
            ast::ExprKind::Var(name) => self.var(name, span, scope),
            ast::ExprKind::Neg(x) => {
                let x = self.expr(x, scope)?;
                if let ExprKind::Const(v) = x.kind {
                    return mk(ExprKind::Const(-v), Shape::Scalar);
                }
                let shape = x.shape.clone();
                mk(ExprKind::Neg(Box::new(x)), shape)
            }
            ast::ExprKind::Binary { op, lhs, rhs } => {
                let l = self.expr(lhs, scope);
                let r = self.expr(rhs, scope);
                let (l, r) = (l?, r?);
                let op = match op {
                    ast::BinOp::Add => BinOp::Add,
                    ast::BinOp::Sub => BinOp::Sub,
                    ast::BinOp::Mul => BinOp::Mul,
                    ast::BinOp::Div => BinOp::Div,
                    ast::BinOp::Pow => BinOp::Pow,
                };
                if let (ExprKind::Const(a), ExprKind::Const(b)) = (&l.kind, &r.kind) {
                    let v = match op {
                        BinOp::Add => a + b,
                        BinOp::Sub => a - b,
                        BinOp::Mul => a * b,
                        BinOp::Div => a / b,
                        BinOp::Pow => a.powf(*b),
                    };
                    if v.is_finite() {
                        return mk(ExprKind::Const(v), Shape::Scalar);
                    }
                }
                if op == BinOp::Mul {
                    if let (Shape::Matrix(rows, cols), Shape::Vector(n)) = (&l.shape, &r.shape) {
                        let (rows, cols, n) = (rows.clone(), cols.clone(), n.clone());
                        self.same_dim(&cols, &n, span, msg::matvec_sizes());
                        return mk(
                            ExprKind::MatVec {
                                matrix: Box::new(l),
                                vector: Box::new(r),
                            },
                            Shape::Vector(rows),
                        );
                    }
                    if let (Shape::Matrix(..), Shape::Matrix(..))
                    | (Shape::Vector(_), Shape::Matrix(..)) = (&l.shape, &r.shape)
                    {
                        self.err(msg::bad_product(&l.shape, &r.shape, span));
                        return None;
                    }
                }
                match broadcast(&l.shape, &r.shape) {
                    Some((shape, deferred)) => {
                        if let Some((a, b)) = deferred {
                            self.same_dim(&a, &b, span, msg::operand_sizes(op));
                        }
                        mk(
                            ExprKind::Binary {
                                op,
                                lhs: Box::new(l),
                                rhs: Box::new(r),
                            },
                            shape,
                        )
                    }
                    None => {
                        self.err(msg::operand_shape_mismatch(op, &l.shape, &r.shape, span));
                        None
                    }
                }
            }
            ast::ExprKind::Call { func, args } => self.call(func, args, span, scope),
            ast::ExprKind::Index { base, items } => {
                let b = self.expr(base, scope)?;
                let lit = |it: &IndexItem| -> Option<usize> {
                    match it {
                        IndexItem::At(ast::Expr {
                            kind: ast::ExprKind::Num(v),
                            ..
                        }) if *v >= 0.0 && v.fract() == 0.0 => Some(*v as usize),
                        _ => None,
                    }
                };
                let item_span = |it: &IndexItem| match it {
                    IndexItem::All(s) => *s,
                    IndexItem::At(e) => e.span,
                };
                match (&b.shape, items.as_slice()) {
                    (Shape::Matrix(rows, cols), [IndexItem::All(_), j]) if lit(j).is_some() => {
                        let jspan = item_span(j);
                        let j = lit(j).expect("checked");
                        let (rows, cols) = (rows.clone(), cols.clone());
                        if let Dim::Lit(c) = cols {
                            if j >= c {
                                self.err(msg::column_out_of_range(j, c, jspan));
                                return None;
                            }
                        }
                        mk(
                            ExprKind::Column {
                                base: Box::new(b),
                                col: j,
                            },
                            Shape::Vector(rows),
                        )
                    }
                    (Shape::Vector(n), [i]) if lit(i).is_some() => {
                        let ispan = item_span(i);
                        let i = lit(i).expect("checked");
                        if let Dim::Lit(n) = n {
                            if i >= *n {
                                self.err(msg::index_out_of_range(i, *n, ispan));
                                return None;
                            }
                        }
                        mk(
                            ExprKind::Element {
                                base: Box::new(b),
                                index: i,
                            },
                            Shape::Scalar,
                        )
                    }
                    _ => {
                        self.err(msg::bad_index(&b.shape, span));
                        None
                    }
                }
            }
        }
    }

    /// A call of a network on a batch of inputs, or of a built-in function.
    fn call(
        &mut self,
        func: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        scope: Scope,
    ) -> Option<Expr> {
        let mk = |kind, shape| Some(Expr { kind, shape, span });
        if let Some((Binding::Network(n), _)) = self.names.get(&func.name).cloned() {
            self.nets_mentioned.insert(n);
            if args.len() != 1 {
                let at = args
                    .get(1)
                    .map(|a| a.span.join(args[args.len() - 1].span))
                    .unwrap_or(span);
                self.err(msg::network_arity(&func.name, args.len(), at));
                // Record the call so the network does not also look uncalled.
                if let Some(first) = args.first().and_then(|a| self.expr(a, scope)) {
                    if let Shape::Matrix(_, c) = &first.shape {
                        self.net_inputs.entry(n).or_insert((c.clone(), first.span));
                    }
                }
                return None;
            }
            let input = self.expr(&args[0], scope)?;
            let (rows, width) = match &input.shape {
                Shape::Matrix(r, c) => (r.clone(), c.clone()),
                Shape::Vector(r) => (r.clone(), Dim::Lit(1)),
                Shape::Scalar => {
                    self.err(msg::network_scalar_input(&func.name, input.span));
                    return None;
                }
            };
            match self.net_inputs.get(&n).cloned() {
                Some((w, _)) => {
                    let message = msg::network_input_widths(&func.name);
                    self.same_dim(&width, &w, input.span, message);
                }
                None => {
                    self.net_inputs.insert(n, (width, input.span));
                }
            }
            let out = self.model.networks[n].output_width();
            let shape = if out == Dim::Lit(1) {
                Shape::Vector(rows)
            } else {
                Shape::Matrix(rows, out)
            };
            return mk(
                ExprKind::Net {
                    net: n,
                    input: Box::new(input),
                },
                shape,
            );
        }
        let Some(f) = Func::from_name(&func.name) else {
            if Distribution::from_name(&func.name).is_some() {
                self.err(msg::distribution_as_function(&func.name, func.span));
                return None;
            }
            let mut cands: Vec<&str> = Func::ALL.iter().map(|f| f.name()).collect();
            let nets: Vec<String> = self.model.networks.iter().map(|n| n.name.clone()).collect();
            cands.extend(nets.iter().map(String::as_str));
            let sugg = did_you_mean(&func.name, cands);
            self.err(msg::unknown_function(&func.name, func.span, sugg));
            return None;
        };
        let checked: Vec<Option<Expr>> = args.iter().map(|a| self.expr(a, scope)).collect();
        if args.len() != f.arity() {
            self.err(msg::func_arity(f.name(), f.arity(), args.len(), span));
            return None;
        }
        let args: Vec<Expr> = checked.into_iter().collect::<Option<_>>()?;
        let shape = match f {
            Func::Sum | Func::Mean => Shape::Scalar,
            Func::Dot => {
                match (&args[0].shape, &args[1].shape) {
                    (Shape::Vector(a), Shape::Vector(b)) => {
                        let (a, b) = (a.clone(), b.clone());
                        self.same_dim(&a, &b, span, msg::dot_lengths());
                    }
                    (a, b) => {
                        self.err(msg::dot_needs_vectors(a, b, span));
                        return None;
                    }
                }
                Shape::Scalar
            }
            _ => args[0].shape.clone(),
        };
        mk(ExprKind::Call { func: f, args }, shape)
    }
}
