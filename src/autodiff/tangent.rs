//! Hessian-vector products by forward mode over reverse mode: a forward sweep on `Dual64`
//! values (θ + ε·v) that saves each local partial with its own tangent (the generic scalar
//! formulas on `HyperDual64`: one direction seeds the partial, the other carries the tangent),
//! then the one reverse sweep of [`super::backward`] run on `Dual64`, whose gradient's tangent
//! is H·v.
//!
//! The arena has the layout the f64 forward sweep gives it (values, then each instruction's
//! saved partials where the lowering put them), so the reverse sweep reads it unchanged. The
//! loops are the plain ones of the reference evaluator: second derivatives are asked for a
//! few thousand times per fit, not on the sampling path.
//!
//! With [`Curvature::GaussNewton`] the forward sweep still carries J·v (J the Jacobian of the
//! terms' inputs in θ), but before the reverse sweep every tangent is dropped except those of
//! the terms' own partials, so the reverse sweep is Jᵀ applied to ∇²ℓ·J·v: the generalized
//! Gauss-Newton matrix [S02], everything between θ and the terms (constraint transforms,
//! layers, products — whose values are the reverse sweep's partials) differentiated as its
//! linearization. It is positive semi-definite where every term is convex in its inputs (a
//! normal in its location, a Bernoulli or categorical in its logits, a normal prior of fixed
//! scale).
//!
//! - [S02] Schraudolph, Fast Curvature Matrix-Vector Products for Second-Order Gradient
//!   Descent, Neural Computation 2002.

use super::backward::sweep_over;
use super::scalar;
use crate::density::Curvature;
use crate::ir::{Constraint, LayerKind};
use crate::lower::{Instr, Program};
use crate::math::special::log_sum_exp;
use num_dual::{Dual64, DualNum, HyperDual64};

/// The value and tangent of a `HyperDual64` result, and its partial in the seeded input with
/// that partial's tangent.
fn split(h: HyperDual64) -> (Dual64, Dual64) {
    (Dual64::new(h.re, h.eps2), Dual64::new(h.eps1, h.eps1eps2))
}

/// A `HyperDual64` input: value and tangent of `x`, seeded in the partial's direction when
/// `seed`.
fn lift(x: Dual64, seed: bool) -> HyperDual64 {
    HyperDual64::new(x.re, if seed { 1.0 } else { 0.0 }, x.eps, 0.0)
}

/// The forward sweep on θ + ε·v: every slot's value with its tangent and every saved partial
/// with its tangent, in the f64 sweep's arena layout. `init` holds the constants and data.
pub(crate) fn forward_tangent(
    p: &Program,
    init: &[f64],
    theta: &[f64],
    v: &[f64],
    curvature: Curvature,
) -> Vec<Dual64> {
    // The arena ranges holding the terms' partials (the loss's curvature).
    let mut loss: Vec<std::ops::Range<usize>> = Vec::new();
    let mut vals: Vec<Dual64> = init.iter().map(|&x| Dual64::from_re(x)).collect();
    let zero = Dual64::from_re(0.0);
    for ins in &p.instrs {
        match ins {
            Instr::Constrain {
                theta: t0,
                out,
                constraint,
                dx,
            } => {
                let s = p.slots[*out].slot;
                let n = s.len();
                for r in 0..s.rows {
                    for c in 0..s.cols {
                        let t = r * s.cols + c;
                        let u = Dual64::new(theta[t0 + t], v[t0 + t]);
                        if let Constraint::None = constraint {
                            vals[s.at(r, c)] = u;
                            continue;
                        }
                        let (x, lj) = scalar::constrain(*constraint, lift(u, true));
                        let (value, dxdu) = split(x);
                        vals[s.at(r, c)] = value;
                        vals[dx + t] = dxdu;
                        vals[dx + n + t] = split(lj).1;
                    }
                }
            }
            Instr::Layer {
                kind,
                x,
                out,
                deriv,
            } => match kind {
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
                                Some(b) => vals[p.slots[*b].slot.offset + o],
                                None => zero,
                            };
                            for i in 0..xs.cols {
                                z += vals[xs.at(r, i)] * vals[wsl.at(o, i)];
                            }
                            let k = os.at(r, o);
                            if *activation == crate::ir::Activation::Identity {
                                vals[k] = z;
                            } else {
                                let a = scalar::activation(*activation, lift(z, true));
                                let (value, d) = split(a);
                                vals[k] = value;
                                vals[deriv + (k - os.offset)] = d;
                            }
                        }
                    }
                }
                LayerKind::Dropout { .. } => {
                    let (xs, os) = (p.slots[*x].slot, p.slots[*out].slot);
                    vals.copy_within(xs.range(), os.offset);
                }
            },
            Instr::Unary { op, x, out, deriv } => {
                let (xs, os) = (p.slots[*x].slot, p.slots[*out].slot);
                for i in 0..os.len() {
                    let y = scalar::unary(*op, lift(vals[xs.offset + i], true));
                    let (value, d) = split(y);
                    vals[os.offset + i] = value;
                    vals[deriv + i] = d;
                }
            }
            Instr::Binary {
                op,
                a,
                b,
                out,
                deriv,
            } => {
                let (sa, sb, os) = (p.slots[*a].slot, p.slots[*b].slot, p.slots[*out].slot);
                let n = os.len();
                for i in 0..n {
                    let ai = vals[sa.offset + if sa.len() == 1 { 0 } else { i }];
                    let bi = vals[sb.offset + if sb.len() == 1 { 0 } else { i }];
                    let mut value = None;
                    for (k, operand) in [*a, *b].into_iter().enumerate() {
                        if p.slots[operand].needs_grad {
                            let y = scalar::binary(*op, lift(ai, k == 0), lift(bi, k == 1));
                            let (y, d) = split(y);
                            vals[deriv + k * n + i] = d;
                            value = Some(y);
                        }
                    }
                    vals[os.offset + i] = value.unwrap_or_else(|| scalar::binary(*op, ai, bi));
                }
            }
            Instr::MatVec { m, v: vec, out } => {
                let (ms, vs, os) = (p.slots[*m].slot, p.slots[*vec].slot, p.slots[*out].slot);
                for r in 0..ms.rows {
                    let mut acc = zero;
                    for c in 0..ms.cols {
                        acc += vals[ms.at(r, c)] * vals[vs.offset + c];
                    }
                    vals[os.offset + r] = acc;
                }
            }
            Instr::Column { x, col, out } => {
                let xs = p.slots[*x].slot;
                vals.copy_within(xs.column(*col), p.slots[*out].slot.offset);
            }
            Instr::Element { x, index, out } => {
                vals[p.slots[*out].slot.offset] = vals[p.slots[*x].slot.offset + index];
            }
            Instr::Reduce { x, out, mean } => {
                let xs = p.slots[*x].slot;
                let mut acc: Dual64 = vals[xs.range()].iter().copied().sum();
                if *mean {
                    acc /= xs.len() as f64;
                }
                vals[p.slots[*out].slot.offset] = acc;
            }
            Instr::Dot { a, b, out } => {
                let (sa, sb) = (p.slots[*a].slot, p.slots[*b].slot);
                let mut acc = zero;
                for i in 0..sa.len() {
                    acc += vals[sa.offset + i] * vals[sb.offset + i];
                }
                vals[p.slots[*out].slot.offset] = acc;
            }
            Instr::Term {
                dist,
                target,
                args,
                norm,
                partials,
                len,
                ..
            } => {
                let inputs: Vec<usize> = std::iter::once(*target)
                    .chain(args.iter().copied())
                    .collect();
                loss.push(*partials..*partials + inputs.len() * len);
                let mut h = [HyperDual64::from_re(0.0); 4];
                let mut x = [zero; 4];
                for i in 0..*len {
                    for (k, &s) in inputs.iter().enumerate() {
                        let sl = p.slots[s].slot;
                        x[k] = vals[sl.offset + if sl.len() == 1 { 0 } else { i }];
                    }
                    for (j, &input) in inputs.iter().enumerate() {
                        if !p.slots[input].needs_grad {
                            continue;
                        }
                        for k in 0..inputs.len() {
                            h[k] = lift(x[k], k == j);
                        }
                        let y = scalar::lpdf(*dist, *norm, h[0], &h[1..inputs.len()]);
                        vals[partials + j * len + i] = split(y).1;
                    }
                }
            }
            Instr::Categorical {
                logits, softmax, ..
            } => {
                // softmax(z) with its tangent, the categorical term's curvature.
                let ls = p.slots[*logits].slot;
                loss.push(*softmax..*softmax + ls.len());
                if ls.cols < 2 {
                    vals[*softmax..*softmax + ls.len()].fill(Dual64::from_re(1.0));
                    continue;
                }
                for r in 0..ls.rows {
                    let row: Vec<Dual64> = (0..ls.cols).map(|j| vals[ls.at(r, j)]).collect();
                    let lse = log_sum_exp(&row);
                    for (j, z) in row.iter().enumerate() {
                        vals[softmax + j * ls.rows + r] = (*z - lse).exp();
                    }
                }
            }
            Instr::Draw { .. } => {
                panic!("internal: Hessian-vector products are for density programs only")
            }
        }
    }
    if let Curvature::GaussNewton = curvature {
        let mut kept: Vec<Dual64> = vals.iter().map(|x| Dual64::from_re(x.re)).collect();
        for r in loss {
            kept[r.clone()].copy_from_slice(&vals[r]);
        }
        return kept;
    }
    vals
}

/// ∇θ and H·v of (`prior_w` · prior + `lik_w` · likelihood) at θ, H the Hessian or the
/// Gauss-Newton matrix as `curvature` says; `init` holds the program's constants and data.
pub fn hessian_vector(
    p: &Program,
    init: &[f64],
    theta: &[f64],
    v: &[f64],
    curvature: Curvature,
    prior_w: f64,
    lik_w: f64,
) -> (Vec<f64>, Vec<f64>) {
    let vals = forward_tangent(p, init, theta, v, curvature);
    let zero = Dual64::from_re(0.0);
    let mut adj = vec![zero; vals.len()];
    let mut grad = vec![zero; theta.len()];
    let room = super::backward::Room {
        scratch: &mut [],
        pool: None,
        fresh: &[],
        finish: &[],
        finished: &[],
    };
    sweep_over(p, &vals, &mut adj, prior_w, lik_w, &mut grad, room);
    (
        grad.iter().map(|g| g.re).collect(),
        grad.iter().map(|g| g.eps).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Model;
    use crate::autodiff::reference::eval_generic;

    /// eᵢᵀ·H·eⱼ of prior + likelihood by the reference evaluator on `HyperDual64`: forward mode
    /// twice, independent of the reverse sweep.
    fn reference_entry(p: &Program, theta: &[f64], i: usize, j: usize) -> f64 {
        let t: Vec<HyperDual64> = theta
            .iter()
            .enumerate()
            .map(|(k, &x)| HyperDual64::new(x, f64::from(k == i), f64::from(k == j), 0.0))
            .collect();
        let (prior, lik) = eval_generic(p, &p.init, &t);
        (prior + lik).eps1eps2
    }

    /// Every bundled model's posterior.
    fn bundled() -> Vec<(String, crate::posterior::Posterior)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir("models").expect("models/") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "bnn") {
                let model = Model::from_file(&path).expect("model");
                let post = model.bind_file(path.with_extension("json")).expect("data");
                out.push((path.display().to_string(), post));
            }
        }
        assert!(out.len() >= 8);
        out
    }

    /// Forward over reverse equals the reference evaluator's exact second derivatives on every
    /// bundled model (both exact, so to rounding) and central differences of the gradient, at a
    /// point away from the origin; the gradient it returns is the f64 sweep's.
    #[test]
    fn hessian_columns_match_the_reference_on_every_bundled_model() {
        for (name, post) in bundled() {
            let p = post.program();
            let d = p.layout.dim();
            let theta: Vec<f64> = (0..d)
                .map(|k| 0.6 * ((k * 7 % 11) as f64 / 11.0 - 0.5))
                .collect();
            let mut eval = post.evaluator();
            let mut want_grad = vec![0.0; d];
            crate::density::Density::log_density_grad(&mut eval, &theta, &mut want_grad)
                .expect("finite");
            // Some columns each (a BNN has hundreds), spread over every block of θ.
            for j in (0..d).step_by((d / 5).max(1)) {
                let e: Vec<f64> = (0..d).map(|k| f64::from(k == j)).collect();
                let (grad, hv) =
                    hessian_vector(p, &p.init, &theta, &e, Curvature::Hessian, 1.0, 1.0);
                for (g, w) in grad.iter().zip(&want_grad) {
                    assert!((g - w).abs() <= 1e-10 * (1.0 + w.abs()), "{name}: gradient");
                }
                for i in (0..d).step_by((d / 15).max(1)) {
                    let want = reference_entry(p, &theta, i, j);
                    assert!(
                        (hv[i] - want).abs() <= 1e-9 * (1.0 + want.abs()),
                        "{name}: H[{i}, {j}] = {} vs reference {want}",
                        hv[i]
                    );
                }
                // Central differences of the gradient, h = 1e-5: error O(h²·∂⁴ log p) plus
                // rounding O(ε·|∇|/h), well under 1e-4 here — unless a kink (ReLU) lies
                // between the two points, where a difference does not estimate the derivative.
                let h = 1e-5 * theta[j].abs().max(1.0);
                let mut at = |t: f64| {
                    let mut th = theta.clone();
                    th[j] += t;
                    let mut g = vec![0.0; d];
                    crate::density::Density::log_density_grad(&mut eval, &th, &mut g)
                        .expect("finite");
                    (g, eval.kink_sides(&th))
                };
                let ((up, kinks_up), (down, kinks_down)) = (at(h), at(-h));
                if kinks_up != kinks_down {
                    continue;
                }
                for i in 0..d {
                    let fd = (up[i] - down[i]) / (2.0 * h);
                    assert!(
                        (hv[i] - fd).abs() <= 1e-4 * (1.0 + hv[i].abs()),
                        "{name}: H[{i}, {j}] = {} vs finite difference {fd}",
                        hv[i]
                    );
                }
            }
        }
    }
}
