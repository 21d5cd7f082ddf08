//! A dense layer's reverse sweep on f64 in one pass over chunks of rows (G finished, summed and
//! multiplied into dW and dX while each chunk is in cache), on one thread or split over a
//! [`Pool`]'s threads by output or input columns, with the same bits either way.

use super::super::backward::{dense_reverse_kernels, DenseReverse};
use super::super::pool::{share, Pool, Shared64};
use super::{axpys_range, sum, tree_sum, use_gemm, widest, LANES, PARALLEL_MACS};
use std::ops::Range;

/// Rows per chunk: the chunk's G and X columns ((fan-in + width) × chunk values, about
/// 256 KiB) stay in L2 while G is finished, summed, and multiplied into dW and dX. A multiple
/// of [`LANES`].
fn chunk_rows(fan_in: usize, width: usize) -> usize {
    (32_768 / (fan_in + width).max(1)).clamp(LANES, 1024) / LANES * LANES
}

/// Scratch values [`backward`] needs for a layer's direct reverse sweep (none when its weight
/// product goes to gemm): one 8-lane accumulator per weight and one [`LANES`]-lane accumulator
/// per bias.
pub fn backward_scratch(rows: usize, fan_in: usize, width: usize) -> usize {
    if use_gemm(width, rows, fan_in) {
        0
    } else {
        width * fan_in * 8 + width * LANES
    }
}

/// G = dL/dA ⊙ act′(Z), then db += column sums of G, dW += Gᵀ·X and dX += G·W. Where every
/// product is small enough for the direct loops and `scratch` holds [`backward_scratch`]
/// values, in one pass over chunks of rows, split over `pool`'s threads when the layer is
/// large; otherwise one kernel after another. All give the same bits: every sum adds the same
/// terms in the same order.
pub(crate) fn backward(
    r: DenseReverse<'_, f64>,
    rows: usize,
    fan_in: usize,
    width: usize,
    scratch: &mut [f64],
    pool: Option<&Pool>,
) {
    let direct = !use_gemm(width, rows, fan_in)
        && (r.dx.is_none() || !use_gemm(rows, width, fan_in))
        && scratch.len() >= width * fan_in * 8 + width * LANES;
    let pool = pool.filter(|p| p.threads() > 1 && rows * fan_in * width >= PARALLEL_MACS);
    // Rows that fit in one chunk are in cache anyway: the fused pass would only add its
    // accumulators' traffic (measured: 17 % on bnn_toy's 100 rows).
    if !direct || (pool.is_none() && rows <= chunk_rows(fan_in, width)) {
        return dense_reverse_kernels(r, (rows, fan_in, width));
    }
    if rows == 0 {
        return;
    }
    // The chunked passes write dX; finishing it as the producing layer's G is a pass after.
    let mut r = r;
    let (mut dx, dx_finish) = (r.dx.take(), r.dx_finish.take());
    let r = DenseReverse {
        dx: dx.as_deref_mut(),
        ..r
    };
    let (acc_w, rest) = scratch.split_at_mut(width * fan_in * 8);
    let acc_b = &mut rest[..width * LANES];
    match pool {
        None => one_pass(r, rows, width, acc_w, acc_b),
        Some(pool) => {
            if r.dx.is_none() {
                by_outputs(r, rows, fan_in, width, acc_w, acc_b, pool)
            } else {
                by_inputs(r, rows, fan_in, width, acc_w, pool)
            }
        }
    }
    if let (Some(dx), Some(f)) = (dx, dx_finish) {
        match f.db {
            Some(db) => super::scale_and_bias_grad(dx, f.deriv, db, rows),
            None => super::scale(dx, f.deriv),
        }
    }
}

/// Where a block of weight accumulators lives: weight (o, i) has its 8 lanes at `at(o, i)` in
/// the accumulator slice a part owns.
pub(super) trait AccAt: Fn(usize, usize) -> usize + Copy {}
impl<F: Fn(usize, usize) -> usize + Copy> AccAt for F {}

/// Adds G[r, o0 + a]·X[r, i0 + c] over rows `rows8` (whole 8-row steps) into the 8-lane
/// accumulators of an OB × IB block of weights; lane l sums the rows ≡ l (mod 8), as
/// `weight_grad_direct` does. `g` holds G's columns from `g_first` on.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
// c indexes both x's columns (for the unchecked load) and acc's second axis.
#[allow(clippy::needless_range_loop)]
pub(super) fn block_dots_into<const OB: usize, const IB: usize>(
    g: &[f64],
    g_first: usize,
    x: &[f64],
    acc_all: &mut [f64],
    at: impl AccAt,
    rows: usize,
    (o0, i0): (usize, usize),
    rows8: Range<usize>,
) {
    let mut acc = [[[0.0f64; 8]; IB]; OB];
    for (a, acc_a) in acc.iter_mut().enumerate() {
        for (c, v) in acc_a.iter_mut().enumerate() {
            v.copy_from_slice(&acc_all[at(o0 + a, i0 + c)..][..8]);
        }
    }
    let acc = block_dots_acc::<OB, IB>(g, g_first, x, acc, rows, (o0, i0), rows8);
    for (a, acc_a) in acc.iter().enumerate() {
        for (c, v) in acc_a.iter().enumerate() {
            acc_all[at(o0 + a, i0 + c)..][..8].copy_from_slice(v);
        }
    }
}

/// [`block_dots_into`] on accumulators held by value: `acc[a][c]` for weight (o0 + a, i0 + c),
/// returned with the rows `rows8` added.
#[inline(always)]
// c indexes both x's columns (for the unchecked load) and acc's second axis.
#[allow(clippy::needless_range_loop)]
pub(super) fn block_dots_acc<const OB: usize, const IB: usize>(
    g: &[f64],
    g_first: usize,
    x: &[f64],
    mut acc: [[[f64; 8]; IB]; OB],
    rows: usize,
    (o0, i0): (usize, usize),
    rows8: Range<usize>,
) -> [[[f64; 8]; IB]; OB] {
    let mut r0 = rows8.start;
    // Every load of the generic loop lies inside g and x (asserted here once, not per load).
    assert!(rows8.end <= rows && rows8.len().is_multiple_of(8));
    assert!((o0 + OB - g_first) * rows <= g.len() && (i0 + IB) * rows <= x.len());
    // The 1 × 4 block (a layer's last output, or every block of a one-output layer) written
    // out with named accumulators: from the generic loop below LLVM made 2-lane vector code
    // with its accumulators spilled to the stack, a fifth of bnn_mlp50's weight gradient.
    // Same operations in the same order, so the same bits.
    if OB == 1 && IB == 4 {
        let [mut a0, mut a1, mut a2, mut a3] = [acc[0][0], acc[0][1], acc[0][2], acc[0][3]];
        let gcol = &g[(o0 - g_first) * rows..];
        let [x0, x1, x2, x3] = [0, 1, 2, 3].map(|c| &x[(i0 + c) * rows..]);
        while r0 < rows8.end {
            let gv: &[f64; 8] = gcol[r0..r0 + 8].try_into().expect("8 rows");
            let xv = [x0, x1, x2, x3]
                .map(|xc| -> &[f64; 8] { xc[r0..r0 + 8].try_into().expect("8 rows") });
            for l in 0..8 {
                a0[l] += gv[l] * xv[0][l];
                a1[l] += gv[l] * xv[1][l];
                a2[l] += gv[l] * xv[2][l];
                a3[l] += gv[l] * xv[3][l];
            }
            r0 += 8;
        }
        acc[0][0] = a0;
        acc[0][1] = a1;
        acc[0][2] = a2;
        acc[0][3] = a3;
    }
    while r0 < rows8.end {
        let mut gc = [[0.0f64; 8]; OB];
        for (a, gca) in gc.iter_mut().enumerate() {
            let at = (o0 + a - g_first) * rows + r0;
            // SAFETY: r0 + 8 ≤ rows, so at + 8 ≤ (o0 + OB − g_first)·rows ≤ g.len() (asserted).
            gca.copy_from_slice(unsafe { g.get_unchecked(at..at + 8) });
        }
        for c in 0..IB {
            let at = (i0 + c) * rows + r0;
            // SAFETY: r0 + 8 ≤ rows, so at + 8 ≤ (i0 + IB)·rows ≤ x.len() (asserted).
            let xc: &[f64] = unsafe { x.get_unchecked(at..at + 8) };
            for a in 0..OB {
                for l in 0..8 {
                    acc[a][c][l] += gc[a][l] * xc[l];
                }
            }
        }
        r0 += 8;
    }
    acc
}

/// The weight accumulators of outputs `outs` × inputs `ins` over rows `rows8`, in blocks of
/// 4 × 4 weights, narrower at the edges.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dots_into(
    g: &[f64],
    g_first: usize,
    x: &[f64],
    acc: &mut [f64],
    at: impl AccAt,
    rows: usize,
    outs: Range<usize>,
    ins: Range<usize>,
    rows8: Range<usize>,
) {
    let mut o0 = outs.start;
    while o0 < outs.end {
        let ob = if outs.end - o0 >= 4 { 4 } else { 1 };
        let mut i0 = ins.start;
        while i0 < ins.end {
            let ib = if ins.end - i0 >= 4 { 4 } else { 1 };
            let (o_i, r8) = ((o0, i0), rows8.clone());
            match (ob, ib) {
                (4, 4) => block_dots_into::<4, 4>(g, g_first, x, acc, at, rows, o_i, r8),
                (4, _) => block_dots_into::<4, 1>(g, g_first, x, acc, at, rows, o_i, r8),
                (_, 4) => block_dots_into::<1, 4>(g, g_first, x, acc, at, rows, o_i, r8),
                _ => block_dots_into::<1, 1>(g, g_first, x, acc, at, rows, o_i, r8),
            }
            i0 += ib;
        }
        o0 += ob;
    }
}

/// dW[o, i] += the reduced accumulator of weight (o, i) plus the last rows % 8 products, as
/// `weight_grad_direct` ends each dot. `g` is all of G, finished.
fn reduce_weights(
    acc: &mut [f64],
    at: impl AccAt,
    g: &[f64],
    x: &[f64],
    dw: &mut [f64],
    rows: usize,
) {
    let width = g.len() / rows;
    let fan_in = x.len() / rows;
    for o in 0..width {
        for i in 0..fan_in {
            dw[i * width + o] += finish_dot(&mut acc[at(o, i)..][..8], g, x, (o, i), rows);
        }
    }
}

/// The dot G[:, o]·X[:, i] from its 8 lanes `v` (rows up to the last multiple of 8): the lanes
/// reduced by halving, then the last rows % 8 products added one by one.
#[inline(always)]
pub(super) fn finish_dot(
    v: &mut [f64],
    g: &[f64],
    x: &[f64],
    (o, i): (usize, usize),
    rows: usize,
) -> f64 {
    for h in [4, 2, 1] {
        for l in 0..h {
            v[l] += v[l + h];
        }
    }
    let mut total = v[0];
    for r in rows - rows % 8..rows {
        total += g[o * rows + r] * x[i * rows + r];
    }
    total
}

/// dX[span, i] += Σ_o W[o, i]·G[span, o], or = when `fresh` (dX not cleared: the layer is its
/// only contributor); the two give the same bits on a cleared dX.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn input_rows(
    fresh: bool,
    w: &[f64],
    g: &[f64],
    rows: usize,
    width: usize,
    i: usize,
    span: Range<usize>,
    dxcol: &mut [f64],
) {
    let coef = |o: usize| w[i * width + o];
    if fresh {
        axpys_range::<false>(0.0, coef, g, rows, span, dxcol, 0, None);
    } else {
        axpys_range::<true>(0.0, coef, g, rows, span, dxcol, 0, None);
    }
}

/// What one part of the fused pass works on: G's columns `outs` (`g`, and act′ `deriv` for the
/// same columns), the weight accumulators of those outputs (`acc_w`, weight (o, i) at
/// ((o − outs.start)·fan_in + i)·8) and their bias accumulators (`acc_b`), and, when the part
/// owns every output, dX.
struct Part<'a> {
    g: &'a mut [f64],
    deriv: Option<&'a [f64]>,
    acc_w: &'a mut [f64],
    acc_b: Option<&'a mut [f64]>,
    dx: Option<&'a mut [f64]>,
    dx_fresh: bool,
}

widest! {
    /// The fused pass over chunks of rows for one [`Part`]: per chunk, G is finished, its
    /// column sums and its products with X go into the part's accumulators (which persist
    /// across chunks), and dX's rows are finished. Each accumulator adds the same rows in the
    /// same order as the one-kernel-at-a-time loops over whole columns, so the bits are theirs.
    fn fused(part: Part<'_>, outs: Range<usize>, x: &[f64], w: &[f64], rows: usize, width: usize) {
        let Part {
            g,
            deriv,
            acc_w,
            mut acc_b,
            mut dx,
            dx_fresh,
        } = part;
        let fan_in = x.len() / rows;
        let (first, n_out) = (outs.start, outs.len());
        let at = move |o: usize, i: usize| ((o - first) * fan_in + i) * 8;
        let (full8, full_lanes) = (rows - rows % 8, rows - rows % LANES);
        let chunk = chunk_rows(fan_in, width);
        let mut lo = 0;
        while lo < rows {
            let hi = (lo + chunk).min(rows);
            if let Some(d) = deriv {
                for o in 0..n_out {
                    let span = o * rows + lo..o * rows + hi;
                    for (gi, di) in g[span.clone()].iter_mut().zip(&d[span]) {
                        *gi *= *di;
                    }
                }
            }
            if let Some(acc_b) = acc_b.as_deref_mut() {
                for (o, acc) in acc_b.chunks_exact_mut(LANES).enumerate() {
                    let col = &g[o * rows..(o + 1) * rows];
                    for c in col[lo..hi.min(full_lanes)].chunks_exact(LANES) {
                        for l in 0..LANES {
                            acc[l] += c[l];
                        }
                    }
                }
            }
            dots_into(g, first, x, acc_w, at, rows, outs.clone(), 0..fan_in, lo..hi.min(full8));
            if let Some(dx) = dx.as_deref_mut() {
                for (i, dxcol) in dx.chunks_exact_mut(rows).enumerate() {
                    input_rows(dx_fresh, w, g, rows, width, i, lo..hi, dxcol);
                }
            }
            lo = hi;
        }
    }
}

/// db[o] += the reduced bias accumulator of output o plus its last rows % [`LANES`] values, as
/// `bias_grad_direct` sums each column.
fn reduce_bias(acc_b: &[f64], g: &[f64], db: &mut [f64], rows: usize) {
    let full_lanes = rows - rows % LANES;
    for (o, (d, acc)) in db.iter_mut().zip(acc_b.chunks_exact(LANES)).enumerate() {
        let mut lanes = [0.0f64; LANES];
        lanes.copy_from_slice(acc);
        *d += tree_sum(lanes) + g[o * rows + full_lanes..(o + 1) * rows].iter().sum::<f64>();
    }
}

/// The whole layer as one [`Part`] on the calling thread.
fn one_pass(
    r: DenseReverse<'_, f64>,
    rows: usize,
    width: usize,
    acc_w: &mut [f64],
    acc_b: &mut [f64],
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
        dx_finish: _,
    } = r;
    acc_w.fill(0.0);
    acc_b.fill(0.0);
    let with_bias = db.is_some();
    let part = Part {
        g: &mut *g,
        deriv,
        acc_w: &mut *acc_w,
        acc_b: with_bias.then_some(&mut *acc_b),
        dx,
        dx_fresh,
    };
    fused(part, 0..width, x, w, rows, width);
    reduce_by_outputs(acc_w, acc_b, g, x, dw, db, rows);
}

/// The end of [`one_pass`] and [`by_outputs`]: db and dW from accumulators laid out by output
/// (weight (o, i) at (o·fan_in + i)·8) and the finished G.
fn reduce_by_outputs(
    acc_w: &mut [f64],
    acc_b: &[f64],
    g: &[f64],
    x: &[f64],
    dw: &mut [f64],
    db: Option<&mut [f64]>,
    rows: usize,
) {
    let fan_in = x.len() / rows;
    if let Some(db) = db {
        reduce_bias(acc_b, g, db, rows);
    }
    reduce_weights(acc_w, |o, i| (o * fan_in + i) * 8, g, x, dw, rows);
}

/// No dX wanted: each thread runs the fused pass for its own share of the output columns (its
/// G columns, act′ columns and accumulators are contiguous and its own), then the calling
/// thread reduces the accumulators.
fn by_outputs(
    r: DenseReverse<'_, f64>,
    rows: usize,
    fan_in: usize,
    width: usize,
    acc_w: &mut [f64],
    acc_b: &mut [f64],
    pool: &Pool,
) {
    let DenseReverse {
        g,
        deriv,
        x,
        w,
        dw,
        db,
        dx: _,
        dx_fresh: _,
        dx_finish: _,
    } = r;
    acc_w.fill(0.0);
    acc_b.fill(0.0);
    let with_bias = db.is_some();
    let parts = pool.threads();
    let (gp, awp, abp) = (
        Shared64(g.as_mut_ptr()),
        Shared64(acc_w.as_mut_ptr()),
        Shared64(acc_b.as_mut_ptr()),
    );
    pool.run(&|p| {
        let outs = share(width, parts, p);
        if outs.is_empty() {
            return;
        }
        // SAFETY: the parts' output ranges are disjoint, so are these column blocks of G and
        // of the accumulators; nothing else touches them while the job runs.
        let (g, acc_w, acc_b) = unsafe {
            (
                gp.slice(outs.start * rows..outs.end * rows),
                awp.slice(outs.start * fan_in * 8..outs.end * fan_in * 8),
                abp.slice(outs.start * LANES..outs.end * LANES),
            )
        };
        let part = Part {
            g,
            deriv: deriv.map(|d| &d[outs.start * rows..outs.end * rows]),
            acc_w,
            acc_b: with_bias.then_some(acc_b),
            dx: None,
            dx_fresh: false,
        };
        fused(part, outs, x, w, rows, width);
    });
    reduce_by_outputs(acc_w, acc_b, g, x, dw, db, rows);
}

/// dX wanted: first each thread finishes G and sums it for its share of the output columns;
/// then each thread, for its share of the input columns, accumulates the products with G and
/// finishes those columns of dX over chunks of rows (weight (o, i) at (i·width + o)·8, so a
/// share's accumulators are contiguous); then the calling thread reduces them.
fn by_inputs(
    r: DenseReverse<'_, f64>,
    rows: usize,
    fan_in: usize,
    width: usize,
    acc_w: &mut [f64],
    pool: &Pool,
) {
    let DenseReverse {
        g,
        deriv,
        x,
        w,
        dw,
        mut db,
        dx,
        dx_fresh,
        dx_finish: _,
    } = r;
    let dx = dx.expect("internal: by_inputs computes dX");
    let parts = pool.threads();
    let (gp, dbp) = (
        Shared64(g.as_mut_ptr()),
        db.as_mut().map(|d| Shared64(d.as_mut_ptr())),
    );
    pool.run(&|p| {
        let outs = share(width, parts, p);
        // SAFETY: disjoint output ranges give disjoint columns of G and entries of db.
        let g = unsafe { gp.slice(outs.start * rows..outs.end * rows) };
        if let Some(d) = deriv {
            for (gi, di) in g.iter_mut().zip(&d[outs.start * rows..outs.end * rows]) {
                *gi *= *di;
            }
        }
        if let Some(dbp) = dbp {
            // SAFETY: as above.
            let db = unsafe { dbp.slice(outs.clone()) };
            for (d, col) in db.iter_mut().zip(g.chunks_exact(rows)) {
                *d += sum(col);
            }
        }
    });
    acc_w.fill(0.0);
    let (awp, dxp) = (Shared64(acc_w.as_mut_ptr()), Shared64(dx.as_mut_ptr()));
    let g: &[f64] = g;
    pool.run(&|p| {
        let ins = share(fan_in, parts, p);
        if ins.is_empty() {
            return;
        }
        // SAFETY: disjoint input ranges give disjoint blocks of accumulators and columns of dX.
        let (acc, dx) = unsafe {
            (
                awp.slice(ins.start * width * 8..ins.end * width * 8),
                dxp.slice(ins.start * rows..ins.end * rows),
            )
        };
        by_inputs_part(g, x, w, acc, dx, ins, (rows, width), dx_fresh);
    });
    reduce_weights(acc_w, |o, i| (i * width + o) * 8, g, x, dw, rows);
}

widest! {
    /// One thread's share of [`by_inputs`]: input columns `ins`, their accumulators `acc`
    /// (weight (o, i) at ((i − ins.start)·width + o)·8) and their columns of dX.
    #[allow(clippy::too_many_arguments)]
    fn by_inputs_part(
        g: &[f64],
        x: &[f64],
        w: &[f64],
        acc: &mut [f64],
        dx: &mut [f64],
        ins: Range<usize>,
        shape: (usize, usize),
        dx_fresh: bool,
    ) {
        let (rows, width) = shape;
        let fan_in = x.len() / rows;
        let first = ins.start;
        let at = move |o: usize, i: usize| ((i - first) * width + o) * 8;
        let full8 = rows - rows % 8;
        let chunk = chunk_rows(fan_in, width);
        let mut lo = 0;
        while lo < rows {
            let hi = (lo + chunk).min(rows);
            dots_into(g, 0, x, acc, at, rows, 0..width, ins.clone(), lo..hi.min(full8));
            for (k, dxcol) in dx.chunks_exact_mut(rows).enumerate() {
                input_rows(dx_fresh, w, g, rows, width, first + k, lo..hi, dxcol);
            }
            lo = hi;
        }
    }
}
#[cfg(test)]
mod tests {
    use super::super::{bias_grad, input_grad, weight_grad};
    use super::*;

    /// A deterministic matrix of `n` values in (−1, 1), different from `tests::values`.
    fn values(n: usize, seed: usize) -> Vec<f64> {
        (0..n)
            .map(|i| ((i * 6007 + seed * 7919) % 1999) as f64 / 999.5 - 1.0)
            .collect()
    }

    #[test]
    fn the_chunked_reverse_sweep_gives_the_bits_of_the_kernels_one_after_another() {
        // Rows spanning several chunks, with remainders mod 8 and mod 32; with and without
        // activation partials, bias and input gradient.
        // The last three are large enough to be split over a pool's threads (by outputs
        // without dX, by inputs with it; 12,007 × 100 → 1 is a network's output layer); the one
        // before them goes to gemm.
        let pools = [None, Some(Pool::new(2)), Some(Pool::new(3))];
        let shapes = [
            (1003, 9, 7),
            (45, 3, 5),
            (45, 3, 6),
            (2100, 2, 6),
            (7, 4, 4),
            (4001, 17, 16),
            (20_003, 9, 7),
            (8003, 9, 16),
            (12_007, 100, 1),
        ];
        for ((rows, fan_in, width), pool) in shapes
            .into_iter()
            .flat_map(|s| pools.iter().map(move |p| (s, p)))
        {
            // `fresh`: dX not cleared (NaN here) and written, against the kernels adding to 0.
            for (with_deriv, with_bias, with_dx, fresh) in [
                (true, true, true, false),
                (true, true, true, true),
                (false, false, false, false),
                (true, true, false, false),
            ] {
                let g0 = values(rows * width, 1);
                let d = values(rows * width, 2);
                let x = values(rows * fan_in, 3);
                let w = values(width * fan_in, 4);
                let start = |n: usize, seed: usize| values(n, seed + 10);
                // The kernels one after another, as the generic sweep runs them.
                let mut g_ref = g0.clone();
                if with_deriv {
                    g_ref.iter_mut().zip(&d).for_each(|(gi, di)| *gi *= *di);
                }
                let dx_start = |garbage: f64| {
                    if fresh {
                        vec![garbage; rows * fan_in]
                    } else {
                        start(rows * fan_in, 3)
                    }
                };
                let (mut dw_ref, mut db_ref, mut dx_ref) =
                    (start(width * fan_in, 1), start(width, 2), dx_start(0.0));
                bias_grad(&g_ref, &mut db_ref, rows);
                weight_grad(&g_ref, &x, &mut dw_ref, rows, fan_in, width);
                input_grad(&g_ref, &w, &mut dx_ref, rows, fan_in, width);
                // The chunked pass.
                let mut g = g0.clone();
                let (mut dw, mut db, mut dx) = (
                    start(width * fan_in, 1),
                    start(width, 2),
                    dx_start(f64::NAN),
                );
                let mut scratch = vec![f64::NAN; backward_scratch(rows, fan_in, width)];
                backward(
                    DenseReverse {
                        g: &mut g,
                        deriv: with_deriv.then_some(&d[..]),
                        x: &x,
                        w: &w,
                        dw: &mut dw,
                        db: with_bias.then_some(&mut db[..]),
                        dx: with_dx.then_some(&mut dx[..]),
                        dx_fresh: fresh,
                        dx_finish: None,
                    },
                    rows,
                    fan_in,
                    width,
                    &mut scratch,
                    pool.as_ref(),
                );
                let threads = pool.as_ref().map_or(1, Pool::threads);
                let case = format!(
                    "{rows} × {fan_in} → {width}, {with_deriv} {with_bias} {with_dx} {fresh}, {threads} threads"
                );
                assert_eq!(g, g_ref, "G, {case}");
                assert_eq!(dw, dw_ref, "dW, {case}");
                if with_bias {
                    assert_eq!(db, db_ref, "db, {case}");
                } else {
                    assert_eq!(db, start(width, 2), "db untouched, {case}");
                }
                if with_dx {
                    assert_eq!(dx, dx_ref, "dX, {case}");
                } else {
                    assert_eq!(dx, start(rows * fan_in, 3), "dX untouched, {case}");
                }
            }
        }
    }
}
