//! Which side of its kink every non-smooth operation's argument lies on after a forward sweep: how a finite difference that straddles a kink is told apart from a wrong gradient.
//!
//! The density is smooth except where an argument crosses one of these points: a ReLU or ELU
//! argument at 0 (ReLU's derivative jumps there, ELU's second derivative does), `abs` at 0,
//! and the laplace variate at its location. Two points on either side of such a kink give
//! different patterns, so a finite difference whose stencil points do not all share one
//! pattern measures across a kink, where it does not estimate the derivative.

use crate::ir::{Activation, Distribution, Func, LayerKind};
use crate::lower::{Instr, Program, UnaryOp};

/// One bit per element of every non-smooth operation in `p`, in program order: true when its
/// argument lies above the kink. `vals` is the arena after a forward sweep of `p`.
pub fn kink_sides(p: &Program, vals: &[f64]) -> Vec<bool> {
    let mut sides = Vec::new();
    for ins in &p.instrs {
        match ins {
            Instr::Layer { kind, out, .. } => match kind {
                LayerKind::Dense { activation, .. } => {
                    // The activation ran in place: its output is positive exactly when its
                    // argument is, for ReLU and ELU alike.
                    if has_kink(*activation) {
                        let os = p.slots[*out].slot;
                        sides.extend(vals[os.range()].iter().map(|&y| y > 0.0));
                    }
                }
                // The identity in the density: no kink.
                LayerKind::Dropout { .. } => {}
            },
            Instr::Unary { op, x, out, .. } => {
                let (xs, os) = (p.slots[*x].slot, p.slots[*out].slot);
                let kinked = match op {
                    UnaryOp::Neg => None,
                    UnaryOp::Act(a) => has_kink(*a).then_some(os),
                    UnaryOp::Func(f) => match f {
                        Func::Relu => Some(os),
                        Func::Abs => Some(xs),
                        Func::Exp
                        | Func::Log
                        | Func::Log1p
                        | Func::Sqrt
                        | Func::Square
                        | Func::Tanh
                        | Func::Sigmoid
                        | Func::Softplus
                        | Func::Sum
                        | Func::Mean
                        | Func::Dot => None,
                    },
                };
                if let Some(s) = kinked {
                    sides.extend(vals[s.range()].iter().map(|&v| v > 0.0));
                }
            }
            Instr::Term {
                dist,
                target,
                args,
                len,
                ..
            } => {
                if laplace_kink(*dist) {
                    // log laplace(y | mu, b) has |y − mu|: the kink is at y = mu.
                    let at = |s: usize, i: usize| {
                        let sl = p.slots[s].slot;
                        vals[sl.offset + if sl.len() == 1 { 0 } else { i }]
                    };
                    sides.extend((0..*len).map(|i| at(*target, i) > at(args[0], i)));
                }
            }
            Instr::Constrain { .. }
            | Instr::Binary { .. }
            | Instr::MatVec { .. }
            | Instr::Column { .. }
            | Instr::Element { .. }
            | Instr::Reduce { .. }
            | Instr::Dot { .. }
            | Instr::Categorical { .. }
            | Instr::Draw { .. } => {}
        }
    }
    sides
}

/// Whether an activation has a kink (at 0).
fn has_kink(a: Activation) -> bool {
    match a {
        Activation::Relu | Activation::Elu => true,
        Activation::Identity
        | Activation::Tanh
        | Activation::Sigmoid
        | Activation::Softplus
        | Activation::Gelu
        | Activation::Swish => false,
    }
}

/// Whether a distribution's log-density has a kink in its variate (laplace, at its location).
fn laplace_kink(d: Distribution) -> bool {
    match d {
        Distribution::Laplace => true,
        Distribution::Normal
        | Distribution::StudentT
        | Distribution::Cauchy
        | Distribution::Logistic
        | Distribution::Gamma
        | Distribution::InvGamma
        | Distribution::Exponential
        | Distribution::LogNormal
        | Distribution::Beta
        | Distribution::Uniform
        | Distribution::BernoulliLogit
        | Distribution::CategoricalLogit
        | Distribution::PoissonLog
        | Distribution::BinomialLogit => false,
    }
}
