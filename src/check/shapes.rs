//! Comparing sizes and shapes: equal, different, or known only once the data binds the
//! symbols, in which case the equality is deferred and verified by [`verify_dims`].

use super::messages as msg;
use super::Checker;
use crate::diagnostic::Diagnostic;
use crate::ir::*;
use crate::source::Span;
use std::collections::BTreeMap;

impl Checker {
    /// Requires two sizes to be equal: reports `message` (with `{a}` and `{b}`) when they
    /// differ, and defers the question to data binding when only the data can tell.
    pub(super) fn same_dim(&mut self, a: &Dim, b: &Dim, span: Span, message: String) {
        match dims_equal(a, b) {
            Some(true) => {}
            Some(false) => self.err(msg::size_mismatch(&message, a, b, span)),
            None => self.model.deferred.push(DeferredDim {
                a: a.clone(),
                b: b.clone(),
                message,
                span,
            }),
        }
    }
}

/// Whether two sizes are equal: `None` when only the data can tell (a literal and a symbol).
fn dims_equal(a: &Dim, b: &Dim) -> Option<bool> {
    match (a, b) {
        (Dim::Lit(x), Dim::Lit(y)) => Some(x == y),
        (Dim::Sym(x), Dim::Sym(y)) if x == y => Some(true),
        _ => None,
    }
}

/// Whether two shapes are equal: `None` when only the data can tell.
pub(super) fn same_shape(a: &Shape, b: &Shape) -> Option<bool> {
    match (a, b) {
        (Shape::Scalar, Shape::Scalar) => Some(true),
        (Shape::Vector(x), Shape::Vector(y)) => dims_equal(x, y),
        (Shape::Matrix(r1, c1), Shape::Matrix(r2, c2)) => {
            match (dims_equal(r1, r2), dims_equal(c1, c2)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            }
        }
        _ => Some(false),
    }
}

/// Elementwise broadcasting of scalars; returns the result shape and a size equality still to
/// verify with the data.
#[allow(clippy::type_complexity)]
pub(super) fn broadcast(a: &Shape, b: &Shape) -> Option<(Shape, Option<(Dim, Dim)>)> {
    match (a, b) {
        (Shape::Scalar, s) | (s, Shape::Scalar) => Some((s.clone(), None)),
        (Shape::Vector(x), Shape::Vector(y)) => match dims_equal(x, y) {
            Some(true) => Some((a.clone(), None)),
            Some(false) => None,
            None => Some((a.clone(), Some((x.clone(), y.clone())))),
        },
        (Shape::Matrix(..), Shape::Matrix(..)) => match same_shape(a, b) {
            Some(false) => None,
            _ => Some((a.clone(), None)),
        },
        _ => None,
    }
}

/// Verifies the size equalities the checker deferred, once the data has bound every symbol.
pub fn verify_dims(model: &CheckedModel, dims: &BTreeMap<String, usize>) -> Vec<Diagnostic> {
    let value = |d: &Dim| match d {
        Dim::Lit(n) => Some(*n),
        Dim::Sym(s) => dims.get(s).copied(),
    };
    model
        .deferred
        .iter()
        .filter_map(|d| {
            let (a, b) = (value(&d.a)?, value(&d.b)?);
            (a != b).then(|| msg::size_mismatch(&d.message, a, b, d.span))
        })
        .collect()
}
