//! A slow, obviously-correct evaluator of a program over any num-dual number type, and the full
//! forward-mode gradient built on it (one dual direction per parameter): the reference the fast
//! reverse sweep is tested against.

use super::scalar;
use crate::ir::LayerKind;
use crate::lower::{Instr, Part, Program};
use crate::math::Real;
use num_dual::Dual64;

/// Evaluates prior and likelihood parts over `D`, given the arena's initial values (constants
/// and data) in `init`.
pub fn eval_generic<D: Real>(p: &Program, init: &[f64], theta: &[D]) -> (D, D) {
    let mut v: Vec<D> = init.iter().map(|&x| D::from(x)).collect();
    let mut prior = D::from(0.0);
    let mut lik = D::from(0.0);
    for ins in &p.instrs {
        match ins {
            Instr::Constrain {
                theta: t0,
                out,
                constraint,
                ..
            } => {
                // θ is row-major per parameter; the slot column-major.
                let s = p.slots[*out].slot;
                for r in 0..s.rows {
                    for c in 0..s.cols {
                        let (x, lj) = scalar::constrain(*constraint, theta[t0 + r * s.cols + c]);
                        v[s.at(r, c)] = x;
                        prior += lj;
                    }
                }
            }
            Instr::Layer { kind, x, out, .. } => match kind {
                LayerKind::Dense {
                    weight,
                    bias,
                    activation,
                } => {
                    let (xs, wsl, os) =
                        (p.slots[*x].slot, p.slots[*weight].slot, p.slots[*out].slot);
                    for r in 0..xs.rows {
                        for o in 0..os.cols {
                            let mut z = match bias {
                                Some(b) => v[p.slots[*b].slot.offset + o],
                                None => D::from(0.0),
                            };
                            for i in 0..xs.cols {
                                z += v[xs.at(r, i)] * v[wsl.at(o, i)];
                            }
                            v[os.at(r, o)] = scalar::activation(*activation, z);
                        }
                    }
                }
                LayerKind::Dropout { .. } => {
                    let (xs, os) = (p.slots[*x].slot, p.slots[*out].slot);
                    for i in 0..os.len() {
                        v[os.offset + i] = v[xs.offset + i];
                    }
                }
            },
            Instr::Unary { op, x, out, .. } => {
                let (xs, os) = (p.slots[*x].slot, p.slots[*out].slot);
                for i in 0..os.len() {
                    v[os.offset + i] = scalar::unary(*op, v[xs.offset + i]);
                }
            }
            Instr::Binary { op, a, b, out, .. } => {
                let (sa, sb, os) = (p.slots[*a].slot, p.slots[*b].slot, p.slots[*out].slot);
                for i in 0..os.len() {
                    let ai = v[sa.offset + if sa.len() == 1 { 0 } else { i }];
                    let bi = v[sb.offset + if sb.len() == 1 { 0 } else { i }];
                    v[os.offset + i] = scalar::binary(*op, ai, bi);
                }
            }
            Instr::MatVec { m, v: vec, out } => {
                let (ms, vs, os) = (p.slots[*m].slot, p.slots[*vec].slot, p.slots[*out].slot);
                for r in 0..ms.rows {
                    let mut acc = D::from(0.0);
                    for c in 0..ms.cols {
                        acc += v[ms.at(r, c)] * v[vs.offset + c];
                    }
                    v[os.offset + r] = acc;
                }
            }
            Instr::Column { x, col, out } => {
                let (xs, os) = (p.slots[*x].slot, p.slots[*out].slot);
                for r in 0..xs.rows {
                    v[os.offset + r] = v[xs.at(r, *col)];
                }
            }
            Instr::Element { x, index, out } => {
                v[p.slots[*out].slot.offset] = v[p.slots[*x].slot.offset + index];
            }
            Instr::Reduce { x, out, mean } => {
                let xs = p.slots[*x].slot;
                let mut acc = D::from(0.0);
                for i in xs.range() {
                    acc += v[i];
                }
                if *mean {
                    acc /= xs.len() as f64;
                }
                v[p.slots[*out].slot.offset] = acc;
            }
            Instr::Dot { a, b, out } => {
                let (sa, sb) = (p.slots[*a].slot, p.slots[*b].slot);
                let mut acc = D::from(0.0);
                for i in 0..sa.len() {
                    acc += v[sa.offset + i] * v[sb.offset + i];
                }
                v[p.slots[*out].slot.offset] = acc;
            }
            Instr::Term {
                dist,
                target,
                args,
                part,
                norm,
                len,
                ..
            } => {
                let mut total = D::from(0.0);
                for i in 0..*len {
                    let at = |s: usize| {
                        let sl = p.slots[s].slot;
                        v[sl.offset + if sl.len() == 1 { 0 } else { i }]
                    };
                    let a: Vec<D> = args.iter().map(|&s| at(s)).collect();
                    total += scalar::lpdf(*dist, *norm, at(*target), &a);
                }
                match part {
                    Part::Prior => prior += total,
                    Part::Likelihood => lik += total,
                }
            }
            Instr::Categorical {
                target,
                logits,
                part,
                ..
            } => {
                let (ys, ls) = (p.slots[*target].slot, p.slots[*logits].slot);
                let mut total = D::from(0.0);
                for r in 0..ls.rows {
                    let y = v[ys.offset + r].re() as usize;
                    let row: Vec<D> = (0..ls.cols).map(|k| v[ls.at(r, k)]).collect();
                    total += row[y] - crate::math::special::log_sum_exp(&row);
                }
                match part {
                    Part::Prior => prior += total,
                    Part::Likelihood => lik += total,
                }
            }
            Instr::Draw { .. } => {
                panic!("internal: the reference evaluator runs density programs only")
            }
        }
    }
    (prior, lik)
}

/// log p(θ) and its gradient by forward mode: one evaluation per coordinate of θ, each seeding
/// that coordinate's dual part. Slow; for tests and `diagnose`.
pub fn forward_mode_gradient(
    p: &Program,
    init: &[f64],
    theta: &[f64],
    lik_scale: f64,
) -> (f64, Vec<f64>) {
    let mut grad = vec![0.0; theta.len()];
    let mut value = 0.0;
    let mut t: Vec<Dual64> = theta.iter().map(|&x| Dual64::from_re(x)).collect();
    for k in 0..theta.len() {
        t[k] = Dual64::new(theta[k], 1.0);
        let (prior, lik) = eval_generic(p, init, &t);
        let lp = prior + lik * lik_scale;
        grad[k] = lp.eps;
        value = lp.re;
        t[k] = Dual64::from_re(theta[k]);
    }
    if theta.is_empty() {
        let (prior, lik) = eval_generic(p, init, &t);
        value = (prior + lik * lik_scale).re;
    }
    (value, grad)
}
