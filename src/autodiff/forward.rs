//! The forward sweep: values for every slot and, when asked, the local partials the backward
//! sweep needs, each from the generic scalar formulas evaluated on num-dual numbers.

use super::dense;
use super::pool::Shared64;
use super::scalar;
use super::term::term;
use super::Workspace;
use crate::ir::LayerKind;
use crate::lower::{Instr, Part, Program};
use num_dual::Dual64;

/// The two parts of a log-density evaluation, and the first term that was not finite.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Eval {
    /// Prior terms plus log-Jacobians.
    pub prior: f64,
    /// Likelihood terms (unscaled).
    pub likelihood: f64,
    /// Index in [`Program::instrs`] of the first term (or constraint transform) whose value was
    /// not finite; [`term_label`] names it. The caller decides what that means.
    pub nonfinite: Option<usize>,
}

/// The words naming instruction `index` of `p` when its value is not finite: the term's label
/// ("prior of sigma"), or "a constraint transform". Only those instructions add to the
/// log-density; the others are named by what they compute.
pub fn term_label(p: &Program, index: usize) -> &str {
    match &p.instrs[index] {
        Instr::Term { label, .. } | Instr::Categorical { label, .. } => label,
        Instr::Constrain { .. } => "a constraint transform",
        Instr::Layer { .. } => "a network layer",
        Instr::Unary { .. }
        | Instr::Binary { .. }
        | Instr::MatVec { .. }
        | Instr::Column { .. }
        | Instr::Element { .. }
        | Instr::Reduce { .. }
        | Instr::Dot { .. } => "an expression",
        Instr::Draw { .. } => "a predictive draw",
    }
}

/// Runs the program on θ. With `PARTIALS`, saves what [`super::backward`] needs. `rng` is needed
/// only by programs with draws (predict programs). Each term's value is checked for finiteness
/// here, once, so the first non-finite one can be named.
pub fn forward<const PARTIALS: bool>(
    p: &Program,
    ws: &mut Workspace,
    theta: &[f64],
    mut rng: Option<&mut dyn rand::Rng>,
) -> Eval {
    let mut eval = Eval::default();
    let pool = ws.pool.as_deref();
    let vals = &mut ws.vals;
    for (index, ins) in p.instrs.iter().enumerate() {
        match ins {
            Instr::Constrain {
                theta: t0,
                out,
                constraint,
                dx,
            } => {
                let s = p.slots[*out].slot;
                let n = s.len();
                let u = &theta[*t0..*t0 + n];
                if let crate::ir::Constraint::None = constraint {
                    copy_theta_to_slot(u, s, vals);
                    continue;
                }
                // θ order t = r·cols + c (row-major) to the slot's column-major place.
                let mut logj = 0.0;
                for r in 0..s.rows {
                    for c in 0..s.cols {
                        let t = r * s.cols + c;
                        if PARTIALS {
                            let (x, lj) = scalar::constrain(*constraint, Dual64::new(u[t], 1.0));
                            vals[s.at(r, c)] = x.re;
                            vals[dx + t] = x.eps;
                            vals[dx + n + t] = lj.eps;
                            logj += lj.re;
                        } else {
                            let (x, lj) = scalar::constrain(*constraint, u[t]);
                            vals[s.at(r, c)] = x;
                            logj += lj;
                        }
                    }
                }
                eval.prior += logj;
                if !logj.is_finite() && eval.nonfinite.is_none() {
                    eval.nonfinite = Some(index);
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
                    let xs = p.slots[*x].slot;
                    let wsl = p.slots[*weight].slot;
                    let os = p.slots[*out].slot;
                    let n = os.len();
                    let rows = xs.rows;
                    let (before, rest) = vals.split_at_mut(os.offset);
                    let act = *activation;
                    // The activation runs on each piece of Z as the product finishes it (maybe
                    // on several threads) where Z is large (`dense::fuses_activation`), else in
                    // one call over Z after it; with `PARTIALS`, its partials go to the same
                    // place in the area at `deriv`, after Z.
                    let (z, partials) = if act == crate::ir::Activation::Identity || !PARTIALS {
                        (&mut rest[..n], None)
                    } else {
                        assert!(
                            *deriv >= os.offset + n,
                            "internal: partials follow the layer"
                        );
                        let (z, tail) = rest.split_at_mut(*deriv - os.offset);
                        (&mut z[..n], Some(Shared64(tail[..n].as_mut_ptr())))
                    };
                    let activate = |o: usize, r0: usize, piece: &mut [f64]| match partials {
                        Some(d) => {
                            let at = o * rows + r0;
                            // SAFETY: `d` points at n values; pieces are disjoint and each is
                            // handed over once, so this range is touched by nobody else.
                            let d = unsafe { d.slice(at..at + piece.len()) };
                            scalar::activate_with_grad(act, piece, d);
                        }
                        None => scalar::activate(act, piece),
                    };
                    let fused = act != crate::ir::Activation::Identity
                        && dense::fuses_activation(rows, xs.cols, os.cols);
                    dense::forward(
                        &before[xs.range()],
                        &before[wsl.range()],
                        bias.map(|b| &before[p.slots[b].slot.range()]),
                        &mut *z,
                        rows,
                        xs.cols,
                        os.cols,
                        if fused { Some(&activate) } else { None },
                        pool,
                    );
                    if !fused && act != crate::ir::Activation::Identity {
                        activate(0, 0, z);
                    }
                }
                LayerKind::Dropout { .. } => {
                    let (xs, os) = (p.slots[*x].slot, p.slots[*out].slot);
                    vals.copy_within(xs.range(), os.offset);
                }
            },
            Instr::Unary { op, x, out, deriv } => {
                let xs = p.slots[*x].slot;
                let os = p.slots[*out].slot;
                for i in 0..os.len() {
                    let xi = vals[xs.offset + i];
                    if PARTIALS {
                        let y = scalar::unary(*op, Dual64::new(xi, 1.0));
                        vals[os.offset + i] = y.re;
                        vals[deriv + i] = y.eps;
                    } else {
                        vals[os.offset + i] = scalar::unary(*op, xi);
                    }
                }
            }
            Instr::Binary {
                op,
                a,
                b,
                out,
                deriv,
            } => {
                let sa = p.slots[*a].slot;
                let sb = p.slots[*b].slot;
                let os = p.slots[*out].slot;
                let n = os.len();
                // Partials only for operands that carry gradients, each from its own Dual64
                // evaluation seeded on that operand (the other a constant).
                let (ga, gb) = (
                    PARTIALS && p.slots[*a].needs_grad,
                    PARTIALS && p.slots[*b].needs_grad,
                );
                assert!(
                    sa.offset < os.offset && sb.offset < os.offset && os.offset + n <= *deriv,
                    "internal: operands, then the result, then its partials"
                );
                let (lo, hi) = vals.split_at_mut(os.offset);
                let (out_vals, rest) = hi.split_at_mut(*deriv - os.offset);
                let args = BinaryArgs {
                    a: &lo[sa.range()],
                    b: &lo[sb.range()],
                    out: &mut out_vals[..n],
                    deriv: &mut rest[..2 * n],
                    ga,
                    gb,
                };
                // The operation is matched once, outside the loop over elements.
                use crate::ir::BinOp as B;
                match op {
                    B::Add => binary_loop(
                        args,
                        |x, y| scalar::binary(B::Add, x, y),
                        |x, y| scalar::binary(B::Add, x, y),
                    ),
                    B::Sub => binary_loop(
                        args,
                        |x, y| scalar::binary(B::Sub, x, y),
                        |x, y| scalar::binary(B::Sub, x, y),
                    ),
                    B::Mul => binary_loop(
                        args,
                        |x, y| scalar::binary(B::Mul, x, y),
                        |x, y| scalar::binary(B::Mul, x, y),
                    ),
                    B::Div => binary_loop(
                        args,
                        |x, y| scalar::binary(B::Div, x, y),
                        |x, y| scalar::binary(B::Div, x, y),
                    ),
                    B::Pow => binary_loop(
                        args,
                        |x, y| scalar::binary(B::Pow, x, y),
                        |x, y| scalar::binary(B::Pow, x, y),
                    ),
                }
            }
            Instr::MatVec { m, v, out } => {
                let ms = p.slots[*m].slot;
                let vs = p.slots[*v].slot;
                let os = p.slots[*out].slot;
                assert!(
                    os.offset > ms.offset && os.offset > vs.offset,
                    "internal: outputs are allocated after their inputs"
                );
                let (before, rest) = vals.split_at_mut(os.offset);
                dense::matvec(
                    &before[ms.range()],
                    &before[vs.range()],
                    &mut rest[..os.len()],
                    ms.rows,
                );
            }
            Instr::Column { x, col, out } => {
                let xs = p.slots[*x].slot;
                let os = p.slots[*out].slot;
                vals.copy_within(xs.column(*col), os.offset);
            }
            Instr::Element { x, index, out } => {
                let xs = p.slots[*x].slot;
                vals[p.slots[*out].slot.offset] = vals[xs.offset + index];
            }
            Instr::Reduce { x, out, mean } => {
                let xs = p.slots[*x].slot;
                let s: f64 = vals[xs.range()].iter().sum();
                vals[p.slots[*out].slot.offset] = if *mean { s / xs.len() as f64 } else { s };
            }
            Instr::Dot { a, b, out } => {
                let (sa, sb) = (p.slots[*a].slot, p.slots[*b].slot);
                let s: f64 = vals[sa.range()]
                    .iter()
                    .zip(&vals[sb.range()])
                    .map(|(x, y)| x * y)
                    .sum();
                vals[p.slots[*out].slot.offset] = s;
            }
            Instr::Term {
                dist,
                target,
                args,
                part,
                norm,
                partials,
                len,
                label: _,
            } => {
                let total = term::<PARTIALS>(p, vals, *dist, *target, args, *norm, *partials, *len);
                if !total.is_finite() && eval.nonfinite.is_none() {
                    eval.nonfinite = Some(index);
                }
                match part {
                    Part::Prior => eval.prior += total,
                    Part::Likelihood => eval.likelihood += total,
                }
            }
            Instr::Categorical {
                target,
                logits,
                part,
                softmax,
                label: _,
            } => {
                let ys = p.slots[*target].slot;
                let ls = p.slots[*logits].slot;
                let (n, k) = (ls.rows, ls.cols);
                assert!(
                    ys.offset < *softmax && ls.offset < *softmax,
                    "internal: the softmax area follows the term's inputs"
                );
                let (lo, hi) = vals.split_at_mut(*softmax);
                let total =
                    categorical::<PARTIALS>(&lo[ys.range()], &lo[ls.range()], &mut hi[..n * k], n);
                if !total.is_finite() && eval.nonfinite.is_none() {
                    eval.nonfinite = Some(index);
                }
                match part {
                    Part::Prior => eval.prior += total,
                    Part::Likelihood => eval.likelihood += total,
                }
            }
            Instr::Draw { dist, args, out } => {
                let rng = rng
                    .as_deref_mut()
                    .expect("internal: a predict program is run with an RNG");
                let os = p.slots[*out].slot;
                for i in 0..os.len() {
                    let mut buf = [0.0; 3];
                    for (j, s) in args.iter().enumerate() {
                        let sl = p.slots[*s].slot;
                        buf[j] = if sl.len() == 1 {
                            vals[sl.offset]
                        } else if *dist == crate::ir::Distribution::CategoricalLogit {
                            0.0
                        } else {
                            vals[sl.offset + i]
                        };
                    }
                    vals[os.offset + i] = if *dist == crate::ir::Distribution::CategoricalLogit {
                        let ls = p.slots[args[0]].slot;
                        scalar::draw_categorical(ls.cols, |j| vals[ls.at(i, j)], rng)
                    } else {
                        scalar::draw(*dist, &buf[..args.len()], rng)
                    };
                }
            }
        }
    }
    eval
}

/// Copies an unconstrained parameter from θ (row-major) into its column-major slot.
fn copy_theta_to_slot(u: &[f64], s: crate::lower::Slot, vals: &mut [f64]) {
    if s.cols == 1 || s.rows == 1 {
        vals[s.range()].copy_from_slice(u);
        return;
    }
    // θ order is row-major, the slot column-major.
    super::transpose::transpose_f64(u, s.rows, s.cols, &mut vals[s.range()]);
}

/// The operands, result and partials of one elementwise binary instruction.
struct BinaryArgs<'a> {
    /// Left operand: n elements, or 1 broadcast.
    a: &'a [f64],
    /// Right operand: n elements, or 1 broadcast.
    b: &'a [f64],
    /// Result, n elements.
    out: &'a mut [f64],
    /// ∂out/∂a then ∂out/∂b, n each.
    deriv: &'a mut [f64],
    /// Whether ∂out/∂a is needed.
    ga: bool,
    /// Whether ∂out/∂b is needed.
    gb: bool,
}

/// out = f(a, b) elementwise with scalar broadcasting; the partials wanted come from `fd` on
/// Dual64 seeded on that operand.
#[inline(always)]
fn binary_loop(
    args: BinaryArgs,
    fd: impl Fn(Dual64, Dual64) -> Dual64,
    f: impl Fn(f64, f64) -> f64,
) {
    let BinaryArgs {
        a,
        b,
        out,
        deriv,
        ga,
        gb,
    } = args;
    let n = out.len();
    let (da, db) = deriv.split_at_mut(n);
    let at = |s: &[f64], i: usize| if s.len() == 1 { s[0] } else { s[i] };
    for i in 0..n {
        let (ai, bi) = (at(a, i), at(b, i));
        out[i] = if ga || gb {
            let mut value = 0.0;
            if ga {
                let y = fd(Dual64::new(ai, 1.0), Dual64::from_re(bi));
                da[i] = y.eps;
                value = y.re;
            }
            if gb {
                let y = fd(Dual64::from_re(ai), Dual64::new(bi, 1.0));
                db[i] = y.eps;
                value = y.re;
            }
            value
        } else {
            f(ai, bi)
        };
    }
}

/// Σ_r z[r, y_r] − ln Σ_j exp z[r, j] over the rows of column-major logits z (n × K), and with
/// `PARTIALS` softmax(z) into `soft` (n × K, column-major), which also serves as scratch.
fn categorical<const PARTIALS: bool>(y: &[f64], z: &[f64], soft: &mut [f64], n: usize) -> f64 {
    let k = z.len().checked_div(n).unwrap_or(0);
    if k < 2 {
        // One class: log-softmax is 0 and softmax 1 (or no rows at all).
        soft.fill(1.0);
        return 0.0;
    }
    categorical_rows(z, soft, n, k);
    // soft[n..2n] now holds each row's ln Σ exp; the label terms use it before it is replaced.
    let mut total = 0.0;
    for r in 0..n {
        total += z[y[r] as usize * n + r] - soft[n + r];
    }
    if PARTIALS {
        softmax_columns(z, soft, n);
    }
    total
}

crate::math::kernel::widest! {
    /// Per row of column-major logits (n × K, K ≥ 2), ln Σ_j exp z[r, j] into soft[n..2n], the
    /// maximum subtracted first as `math::special::log_sum_exp` does; down columns, so the loops
    /// run over contiguous rows and vectorize (exp is the kernel's; ln stays libm, one a row).
    fn categorical_rows(z: &[f64], soft: &mut [f64], n: usize, k: usize) {
        let (m, rest) = soft.split_at_mut(n);
        let s = &mut rest[..n];
        m.copy_from_slice(&z[..n]);
        for col in z.chunks_exact(n).take(k).skip(1) {
            for (mr, &zr) in m.iter_mut().zip(col) {
                if zr > *mr {
                    *mr = zr;
                }
            }
        }
        s.fill(0.0);
        for col in z.chunks_exact(n).take(k) {
            for ((sr, &zr), &mr) in s.iter_mut().zip(col).zip(m.iter()) {
                *sr += crate::math::kernel::exp(zr - mr);
            }
        }
        for (sr, &mr) in s.iter_mut().zip(m.iter()) {
            // All −∞ gives −∞ and any +∞ gives +∞, as log_sum_exp (subtracting it is NaN).
            *sr = if mr.is_infinite() { mr } else { mr + sr.ln() };
        }
    }
}

crate::math::kernel::widest! {
    /// softmax(z)[r, j] = exp(z[r, j] − lse[r]) with lse in soft[n..2n]: column 1, which holds
    /// lse, is written last and in place.
    fn softmax_columns(z: &[f64], soft: &mut [f64], n: usize) {
        let (head, tail) = soft.split_at_mut(2 * n);
        let (col0, lse) = head.split_at_mut(n);
        for (j, out) in std::iter::once(&mut *col0)
            .chain(tail.chunks_exact_mut(n))
            .enumerate()
        {
            // j = 0 is column 0; j ≥ 1 is column j + 1.
            let zj = if j == 0 { &z[..n] } else { &z[(j + 1) * n..(j + 2) * n] };
            for ((o, &zr), &l) in out.iter_mut().zip(zj).zip(lse.iter()) {
                *o = crate::math::kernel::exp(zr - l);
            }
        }
        for (l, &zr) in lse.iter_mut().zip(&z[n..2 * n]) {
            *l = crate::math::kernel::exp(zr - *l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::categorical;
    use crate::math::special::log_sum_exp;

    #[test]
    fn categorical_matches_log_sum_exp_row_by_row() {
        // n rows of K logits, column-major; row 4 has a −∞ logit (a class ruled out).
        for (n, k) in [(13, 3), (9, 10), (1, 2), (40, 2)] {
            let mut z: Vec<f64> = (0..n * k)
                .map(|i| ((i * 37 % 23) as f64 - 11.0) * 0.7)
                .collect();
            if n > 4 {
                z[4] = f64::NEG_INFINITY;
            }
            let y: Vec<f64> = (0..n).map(|r| ((r + 1) % k) as f64).collect();
            let mut soft = vec![0.0; n * k];
            let total = categorical::<true>(&y, &z, &mut soft, n);
            let mut want = 0.0;
            for r in 0..n {
                let row: Vec<f64> = (0..k).map(|j| z[j * n + r]).collect();
                let lse = log_sum_exp(&row);
                want += row[y[r] as usize] - lse;
                for j in 0..k {
                    // softmax = exp(z − lse); the kernel's exp is within an ulp of libm's
                    let s = (row[j] - lse).exp();
                    assert!(
                        (soft[j * n + r] - s).abs() <= 4e-16 * s.max(1e-300),
                        "{n}×{k} row {r}"
                    );
                }
            }
            assert!(
                (total - want).abs() <= 1e-13 * want.abs(),
                "{n}×{k}: {total} vs {want}"
            );
            let value_only = categorical::<false>(&y, &z, &mut soft, n);
            assert_eq!(value_only, total);
        }
        // One class: every log-softmax is 0.
        let mut soft = vec![0.0; 3];
        assert_eq!(
            categorical::<true>(&[0.0; 3], &[1.0, 2.0, 3.0], &mut soft, 3),
            0.0
        );
        assert_eq!(soft, vec![1.0; 3]);
    }
}
