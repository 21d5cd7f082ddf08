//! The reverse sweep: one exhaustive match over the instructions, in reverse, accumulating
//! adjoints from the partials the forward sweep saved; matrix products written out as
//! vector-Jacobian products.

use super::dense;
use super::pool::Pool;
use super::Workspace;
use crate::ir::LayerKind;
use crate::lower::{Instr, Part, Program};
use crate::math::Real;
use num_dual::Dual64;

/// Writes ∇θ (prior + `lik_scale` · likelihood) into `grad`. Requires a forward sweep with
/// partials on the same θ.
pub fn backward(p: &Program, ws: &mut Workspace, lik_scale: f64, grad: &mut [f64]) {
    backward_weighted(p, ws, 1.0, lik_scale, grad);
}

/// Writes ∇θ (`prior_w` · prior + `lik_w` · likelihood) into `grad`, the log-Jacobians of the
/// constraint transforms counted with the prior. Requires a forward sweep with partials on the
/// same θ.
pub fn backward_weighted(
    p: &Program,
    ws: &mut Workspace,
    prior_w: f64,
    lik_w: f64,
    grad: &mut [f64],
) {
    ws.clear_adjoints();
    grad.fill(0.0);
    sweep(p, ws, prior_w, lik_w, grad);
}

/// The reverse sweep on f64: adds into the adjoints as they stand (cleared by [`backward`];
/// the per-instruction tests seed an output's adjoint instead) and writes ∇θ into `grad`.
#[inline]
fn sweep(p: &Program, ws: &mut Workspace, prior_w: f64, lik_scale: f64, grad: &mut [f64]) {
    sweep_over(
        p,
        &ws.vals,
        &mut ws.adj,
        prior_w,
        lik_scale,
        grad,
        Room {
            scratch: &mut ws.scratch,
            pool: ws.pool.as_deref(),
            fresh: &ws.fresh,
            finish: &ws.finish,
            finished: &ws.finished,
        },
    );
}

/// The scalar a reverse sweep runs on: f64 for gradients, and `Dual64` for Hessian-vector
/// products, where values, saved partials and adjoints carry a tangent and the sweep is
/// forward mode over reverse mode. The matrix kernels default to plain loops; f64 keeps its
/// fast ones.
pub(crate) trait SweepScalar: Real {
    /// Σ aᵢ·bᵢ.
    fn dot(a: &[Self], b: &[Self]) -> Self {
        a.iter()
            .zip(b)
            .fold(Self::from(0.0), |s, (x, y)| s + *x * *y)
    }
    /// Σ aᵢ.
    fn total(a: &[Self]) -> Self {
        a.iter().fold(Self::from(0.0), |s, x| s + *x)
    }
    /// dst = srcᵀ for `src` rows × cols row-major ([`super::transpose::transpose`]).
    fn transpose(src: &[Self], rows: usize, cols: usize, dst: &mut [Self]) {
        super::transpose::transpose(src, rows, cols, dst);
    }
    /// adj[i] += d[i]·seed.
    fn add_scaled(adj: &mut [Self], d: &[Self], seed: f64) {
        for (a, x) in adj.iter_mut().zip(d) {
            *a += *x * seed;
        }
    }
    /// db (out) += column sums of G (rows × out, column-major).
    fn bias_grad(g: &[Self], db: &mut [Self], rows: usize) {
        for (o, b) in db.iter_mut().enumerate() {
            *b += Self::total(&g[o * rows..(o + 1) * rows]);
        }
    }
    /// G ← G ⊙ act′(Z) when `deriv` is given, then db += column sums of G when `db` is.
    fn finish_g(g: &mut [Self], deriv: Option<&[Self]>, db: Option<&mut [Self]>, rows: usize) {
        finish_g_in_two_passes(g, deriv, db, rows);
    }
    /// dW (out × in, column-major) += Gᵀ·X.
    fn weight_grad(
        g: &[Self],
        x: &[Self],
        dw: &mut [Self],
        rows: usize,
        fan_in: usize,
        width: usize,
    ) {
        for i in 0..fan_in {
            for o in 0..width {
                dw[i * width + o] +=
                    Self::dot(&g[o * rows..(o + 1) * rows], &x[i * rows..(i + 1) * rows]);
            }
        }
    }
    /// dX (rows × in, column-major) += G·W.
    fn input_grad(
        g: &[Self],
        w: &[Self],
        dx: &mut [Self],
        rows: usize,
        fan_in: usize,
        width: usize,
    ) {
        for i in 0..fan_in {
            for o in 0..width {
                let wo = w[i * width + o];
                for r in 0..rows {
                    dx[i * rows + r] += g[o * rows + r] * wo;
                }
            }
        }
    }
    /// dX (rows × in, column-major) = G·W, over whatever dX held: the same bits as
    /// [`SweepScalar::input_grad`] on a cleared dX.
    fn input_grad_fresh(
        g: &[Self],
        w: &[Self],
        dx: &mut [Self],
        rows: usize,
        fan_in: usize,
        width: usize,
    ) {
        dx.fill(Self::from(0.0));
        Self::input_grad(g, w, dx, rows, fan_in, width);
    }
    /// [`SweepScalar::input_grad_fresh`], then dX finished as the producing layer's G (see
    /// [`Finish`]): dX ⊙= act′, then db += its column sums. The f64 kernels do both per column
    /// of dX while it is in L1; the bits are those of the two steps one after the other.
    #[allow(clippy::too_many_arguments)]
    fn input_grad_fresh_finished(
        g: &[Self],
        w: &[Self],
        dx: &mut [Self],
        finish: Finish<'_, Self>,
        rows: usize,
        fan_in: usize,
        width: usize,
    ) {
        Self::input_grad_fresh(g, w, dx, rows, fan_in, width);
        Self::finish_g(dx, Some(finish.deriv), finish.db, rows);
    }
    /// A dense layer's reverse sweep: G = dL/dA ⊙ act′(Z) in place, then db += column sums of
    /// G, dW += Gᵀ·X and dX += G·W (`shape` is rows, fan-in, width). `scratch` is room the f64
    /// kernels may use, and `pool` threads they may split the work over.
    fn dense_reverse(
        r: DenseReverse<'_, Self>,
        shape: (usize, usize, usize),
        scratch: &mut [f64],
        pool: Option<&Pool>,
    ) {
        let _ = (scratch, pool);
        dense_reverse_kernels(r, shape);
    }
}

/// [`SweepScalar::finish_g`] as a pass for the product and one for the sums.
fn finish_g_in_two_passes<T: SweepScalar>(
    g: &mut [T],
    deriv: Option<&[T]>,
    db: Option<&mut [T]>,
    rows: usize,
) {
    if let Some(d) = deriv {
        for (gi, di) in g.iter_mut().zip(d) {
            *gi *= *di;
        }
    }
    if let Some(db) = db {
        T::bias_grad(g, db, rows);
    }
}

/// [`SweepScalar::dense_reverse`] as one kernel after another: G = dL/dA ⊙ act′(Z) in place,
/// then db, dW and dX from T's own kernels.
pub(crate) fn dense_reverse_kernels<T: SweepScalar>(
    r: DenseReverse<'_, T>,
    (rows, fan_in, width): (usize, usize, usize),
) {
    let DenseReverse {
        g,
        deriv,
        x,
        w,
        dw,
        db,
        dx,
        dx_fresh,
        dx_finish,
    } = r;
    T::finish_g(g, deriv, db, rows);
    T::weight_grad(g, x, dw, rows, fan_in, width);
    match (dx, dx_fresh, dx_finish) {
        (Some(dx), true, Some(f)) => T::input_grad_fresh_finished(g, w, dx, f, rows, fan_in, width),
        (Some(dx), true, None) => T::input_grad_fresh(g, w, dx, rows, fan_in, width),
        (Some(dx), false, None) => T::input_grad(g, w, dx, rows, fan_in, width),
        (_, _, Some(_)) => unreachable!("internal: dX is finished only where it is written fresh"),
        (None, _, None) => {}
    }
}

/// What a dense layer that alone reads another dense layer's activation A (and writes dA
/// fresh) finishes for that layer: G = dA ⊙ act′(Z) and its bias sums, done on dA as it is
/// written, while in cache, instead of in a pass of the producing layer's own sweep, which then
/// skips both.
pub(crate) struct Finish<'a, T> {
    /// act′(Z) of the producing layer (rows × its width, as dA).
    pub deriv: &'a [T],
    /// The producing layer's db, added to, when it has a bias.
    pub db: Option<&'a mut [T]>,
}

/// The arrays of one dense layer's reverse sweep, on any [`SweepScalar`].
pub(crate) struct DenseReverse<'a, T> {
    /// dL/dA on entry (rows × out), left holding G = dL/dZ.
    pub g: &'a mut [T],
    /// act′(Z), when the layer has an activation.
    pub deriv: Option<&'a [T]>,
    /// The inputs X (rows × in).
    pub x: &'a [T],
    /// The weights W (out × in).
    pub w: &'a [T],
    /// dW, added to.
    pub dw: &'a mut [T],
    /// db, added to, when the layer has a bias.
    pub db: Option<&'a mut [T]>,
    /// dX, added to, when the inputs need a gradient.
    pub dx: Option<&'a mut [T]>,
    /// dX holds no contributions yet and was not cleared: written, not added to.
    pub dx_fresh: bool,
    /// With `dx_fresh`: dX is also finished as the G of the layer that produced X.
    pub dx_finish: Option<Finish<'a, T>>,
}

/// What a reverse sweep may use besides the arena: room for the f64 kernels, threads to split
/// large layers over, and which dense layers write their input's adjoint rather than add to it
/// (see `Workspace`; empty: every layer adds).
pub(crate) struct Room<'a> {
    /// Scratch values for the f64 kernels.
    pub scratch: &'a mut [f64],
    /// Threads for large layers.
    pub pool: Option<&'a Pool>,
    /// Per instruction, whether a dense layer writes dX.
    pub fresh: &'a [bool],
    /// Per instruction, for a dense layer that writes dX: the index of the dense layer whose
    /// activation X is, when dX is finished as that layer's G ([`Finish`]); empty: none is.
    pub finish: &'a [Option<usize>],
    /// Per instruction, whether a dense layer's G and bias sums were finished by the layer
    /// that reads its activation (empty: none were).
    pub finished: &'a [bool],
}

impl SweepScalar for f64 {
    fn dense_reverse(
        r: DenseReverse<'_, f64>,
        shape: (usize, usize, usize),
        scratch: &mut [f64],
        pool: Option<&Pool>,
    ) {
        let (rows, fan_in, width) = shape;
        dense::backward(r, rows, fan_in, width, scratch, pool);
    }
    fn dot(a: &[f64], b: &[f64]) -> f64 {
        dense::dot(a, b)
    }
    fn total(a: &[f64]) -> f64 {
        dense::sum(a)
    }
    fn add_scaled(adj: &mut [f64], d: &[f64], seed: f64) {
        dense::add_scaled(adj, d, seed);
    }
    fn transpose(src: &[f64], rows: usize, cols: usize, dst: &mut [f64]) {
        super::transpose::transpose_f64(src, rows, cols, dst);
    }
    fn bias_grad(g: &[f64], db: &mut [f64], rows: usize) {
        dense::bias_grad(g, db, rows);
    }
    fn finish_g(g: &mut [f64], deriv: Option<&[f64]>, db: Option<&mut [f64]>, rows: usize) {
        match (deriv, db) {
            (Some(d), Some(db)) => dense::scale_and_bias_grad(g, d, db, rows),
            (Some(d), None) => dense::scale(g, d),
            (None, db) => finish_g_in_two_passes(g, None, db, rows),
        }
    }
    fn input_grad_fresh_finished(
        g: &[f64],
        w: &[f64],
        dx: &mut [f64],
        finish: Finish<'_, f64>,
        rows: usize,
        fan_in: usize,
        width: usize,
    ) {
        dense::input_grad_fresh_finished(g, w, dx, finish, rows, fan_in, width);
    }
    fn weight_grad(g: &[f64], x: &[f64], dw: &mut [f64], rows: usize, fan_in: usize, width: usize) {
        dense::weight_grad(g, x, dw, rows, fan_in, width);
    }
    fn input_grad(g: &[f64], w: &[f64], dx: &mut [f64], rows: usize, fan_in: usize, width: usize) {
        dense::input_grad(g, w, dx, rows, fan_in, width);
    }
    fn input_grad_fresh(
        g: &[f64],
        w: &[f64],
        dx: &mut [f64],
        rows: usize,
        fan_in: usize,
        width: usize,
    ) {
        dense::input_grad_fresh(g, w, dx, rows, fan_in, width);
    }
}

impl SweepScalar for Dual64 {}

/// The reverse sweep proper over any [`SweepScalar`]: the values and saved partials in `vals`,
/// the adjoints in `adj` (same layout), ∇θ written into `grad`.
#[inline]
pub(crate) fn sweep_over<T: SweepScalar>(
    p: &Program,
    vals: &[T],
    adj: &mut [T],
    prior_w: f64,
    lik_scale: f64,
    grad: &mut [T],
    room: Room<'_>,
) {
    let Room {
        scratch,
        pool,
        fresh,
        finish,
        finished,
    } = room;
    for (index, ins) in p.instrs.iter().enumerate().rev() {
        match ins {
            Instr::Constrain {
                theta,
                out,
                constraint,
                dx,
            } => {
                let s = p.slots[*out].slot;
                let n = s.len();
                let g = &mut grad[*theta..*theta + n];
                // θ order t = r·cols + c (row-major); the slot is column-major.
                let matrix = s.rows > 1 && s.cols > 1;
                if let crate::ir::Constraint::None = constraint {
                    if matrix {
                        // The slot's column-major cols × rows back to θ's row-major order.
                        T::transpose(&adj[s.range()], s.cols, s.rows, g);
                    } else {
                        g.copy_from_slice(&adj[s.range()]);
                    }
                    continue;
                }
                // dlp/du = dlp/dx · dx/du + d log|dx/du| / du, the Jacobian weighted as the prior.
                for r in 0..s.rows {
                    for c in 0..s.cols {
                        let t = r * s.cols + c;
                        g[t] = adj[s.at(r, c)] * vals[dx + t] + vals[dx + n + t] * prior_w;
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
                    let xs = p.slots[*x].slot;
                    let wsl = p.slots[*weight].slot;
                    let os = p.slots[*out].slot;
                    let (rows, fan_in, width) = (xs.rows, xs.cols, os.cols);
                    // Absent operands are empty ranges at the end, disjoint from everything.
                    let none = adj.len()..adj.len();
                    let bias_range = bias.map_or(none.clone(), |b| p.slots[b].slot.range());
                    let x_range = if p.slots[*x].needs_grad {
                        xs.range()
                    } else {
                        none
                    };
                    // The layer producing X, when dX is finished here as its G: its act′
                    // and its bias.
                    let producer =
                        finish
                            .get(index)
                            .copied()
                            .flatten()
                            .map(|j| match &p.instrs[j] {
                                Instr::Layer {
                                    kind: LayerKind::Dense { bias, .. },
                                    deriv,
                                    ..
                                } => (*deriv, bias.map(|b| p.slots[b].slot.range())),
                                _ => {
                                    unreachable!("internal: dX is finished only for a dense layer")
                                }
                            });
                    let producer_bias = producer
                        .as_ref()
                        .and_then(|(_, b)| b.clone())
                        .unwrap_or(adj.len()..adj.len());
                    let [g, dw, db, dx, dbx] = adj
                        .get_disjoint_mut([
                            os.range(),
                            wsl.range(),
                            bias_range,
                            x_range,
                            producer_bias,
                        ])
                        .expect("internal: a layer's slots overlap");
                    // Finished already (by the layer reading the activation): G and db.
                    let done = finished.get(index).copied().unwrap_or(false);
                    let act = *activation != crate::ir::Activation::Identity && !done;
                    T::dense_reverse(
                        DenseReverse {
                            g,
                            deriv: act.then(|| &vals[*deriv..*deriv + os.len()]),
                            x: &vals[xs.range()],
                            w: &vals[wsl.range()],
                            dw,
                            db: bias.filter(|_| !done).map(|_| db),
                            dx: p.slots[*x].needs_grad.then_some(dx),
                            dx_fresh: fresh.get(index).copied().unwrap_or(false),
                            dx_finish: producer.map(|(d, b)| Finish {
                                deriv: &vals[d..d + xs.len()],
                                db: b.map(|_| dbx),
                            }),
                        },
                        (rows, fan_in, width),
                        scratch,
                        pool,
                    );
                }
                // dL/dx += dL/dy: the layer is the identity in the density.
                LayerKind::Dropout { .. } => {
                    if p.slots[*x].needs_grad {
                        let xs = p.slots[*x].slot;
                        let os = p.slots[*out].slot;
                        let (dx, g) = split_two(adj, xs.range(), os.range());
                        for (a, b) in dx.iter_mut().zip(g.iter()) {
                            *a += *b;
                        }
                    }
                }
            },
            Instr::Unary { x, out, deriv, .. } => {
                if !p.slots[*x].needs_grad {
                    continue;
                }
                let xs = p.slots[*x].slot;
                let os = p.slots[*out].slot;
                for i in 0..os.len() {
                    adj[xs.offset + i] += adj[os.offset + i] * vals[deriv + i];
                }
            }
            Instr::Binary {
                a, b, out, deriv, ..
            } => {
                let os = p.slots[*out].slot;
                let n = os.len();
                for (k, operand) in [*a, *b].into_iter().enumerate() {
                    if !p.slots[operand].needs_grad {
                        continue;
                    }
                    let s = p.slots[operand].slot;
                    let d = &vals[deriv + k * n..deriv + (k + 1) * n];
                    if s.len() == 1 && n > 1 {
                        // A scalar operand collects every element's share, summed in lanes.
                        let (g, a) = split_two(adj, os.range(), s.range());
                        a[0] += T::dot(g, d);
                    } else {
                        // d out_i / d operand_i.
                        let (g, a) = split_two(adj, os.range(), s.range());
                        for ((ai, gi), di) in a.iter_mut().zip(g.iter()).zip(d) {
                            *ai += *gi * *di;
                        }
                    }
                }
            }
            Instr::MatVec { m, v, out } => {
                let ms = p.slots[*m].slot;
                let vs = p.slots[*v].slot;
                let os = p.slots[*out].slot;
                // out = M·v: dM[r, c] += g[r]·v[c]; dv[c] += Σ_r M[r, c]·g[r]; M column-major,
                // so both run down contiguous columns.
                for c in 0..ms.cols {
                    if p.slots[*m].needs_grad {
                        let vc = vals[vs.offset + c];
                        for r in 0..ms.rows {
                            adj[ms.at(r, c)] += adj[os.offset + r] * vc;
                        }
                    }
                    if p.slots[*v].needs_grad {
                        let mut acc = T::from(0.0);
                        for r in 0..ms.rows {
                            acc += vals[ms.at(r, c)] * adj[os.offset + r];
                        }
                        adj[vs.offset + c] += acc;
                    }
                }
            }
            Instr::Column { x, col, out } => {
                if !p.slots[*x].needs_grad {
                    continue;
                }
                let xs = p.slots[*x].slot;
                let os = p.slots[*out].slot;
                for r in 0..xs.rows {
                    adj[xs.at(r, *col)] += adj[os.offset + r];
                }
            }
            Instr::Element { x, index, out } => {
                if p.slots[*x].needs_grad {
                    let g = adj[p.slots[*out].slot.offset];
                    adj[p.slots[*x].slot.offset + index] += g;
                }
            }
            Instr::Reduce { x, out, mean } => {
                if !p.slots[*x].needs_grad {
                    continue;
                }
                let xs = p.slots[*x].slot;
                let mut g = adj[p.slots[*out].slot.offset];
                if *mean {
                    g /= xs.len() as f64;
                }
                for a in &mut adj[xs.range()] {
                    *a += g;
                }
            }
            Instr::Dot { a, b, out } => {
                let g = adj[p.slots[*out].slot.offset];
                let (sa, sb) = (p.slots[*a].slot, p.slots[*b].slot);
                // d(a·b)/da = b, d(a·b)/db = a.
                if p.slots[*a].needs_grad {
                    for i in 0..sa.len() {
                        adj[sa.offset + i] += g * vals[sb.offset + i];
                    }
                }
                if p.slots[*b].needs_grad {
                    for i in 0..sb.len() {
                        adj[sb.offset + i] += g * vals[sa.offset + i];
                    }
                }
            }
            Instr::Term {
                target,
                args,
                part,
                partials,
                len,
                ..
            } => {
                let seed = match part {
                    Part::Prior => prior_w,
                    Part::Likelihood => lik_scale,
                };
                for (j, input) in std::iter::once(target).chain(args.iter()).enumerate() {
                    if !p.slots[*input].needs_grad {
                        continue;
                    }
                    let s = p.slots[*input].slot;
                    let part = &vals[partials + j * len..partials + (j + 1) * len];
                    if s.len() == 1 && *len > 1 {
                        // A broadcast input collects every element's partial, summed in lanes.
                        adj[s.offset] += T::total(part) * seed;
                    } else {
                        T::add_scaled(&mut adj[s.range()], part, seed);
                    }
                }
            }
            Instr::Categorical {
                target,
                logits,
                part,
                softmax,
                ..
            } => {
                if !p.slots[*logits].needs_grad {
                    continue;
                }
                let seed = match part {
                    Part::Prior => prior_w,
                    Part::Likelihood => lik_scale,
                };
                let ls = p.slots[*logits].slot;
                let ys = p.slots[*target].slot;
                let k = ls.cols;
                // d/dz_j [z_y − log Σ exp z] = 1{j = y} − softmax(z)_j; logits and softmax are
                // column-major (n × K).
                for r in 0..ls.rows {
                    let y = vals[ys.offset + r].re() as usize;
                    for j in 0..k {
                        let onehot = if j == y { 1.0 } else { 0.0 };
                        adj[ls.at(r, j)] +=
                            (T::from(onehot) - vals[softmax + j * ls.rows + r]) * seed;
                    }
                }
            }
            // Draws belong to predict programs, which are never differentiated.
            Instr::Draw { .. } => {}
        }
    }
}

/// Two disjoint mutable ranges of one slice, the first returned first.
fn split_two<T>(
    v: &mut [T],
    first: std::ops::Range<usize>,
    second: std::ops::Range<usize>,
) -> (&mut [T], &mut [T]) {
    if first.start < second.start {
        assert!(first.end <= second.start, "internal: overlapping slots");
        let (lo, hi) = v.split_at_mut(second.start);
        (&mut lo[first], &mut hi[..second.end - second.start])
    } else {
        assert!(second.end <= first.start, "internal: overlapping slots");
        let (lo, hi) = v.split_at_mut(first.start);
        (&mut hi[..first.end - first.start], &mut lo[second])
    }
}

#[cfg(test)]
#[path = "backward_tests.rs"]
mod tests;
