//! The matrix work of a dense layer over a batch, on column-major arena blocks: the product
//! Z = X·Wᵀ + b and, for the reverse sweep, dW += Gᵀ·X, dX += G·W and db += column sums of G.
//!
//! Shapes: X is rows × in, W is out × in (as the layer's weight parameter), Z and G are
//! rows × out; every block column-major (element (r, c) at c·rows + r).
//!
//! Two implementations. Direct loops, compiled for the widest vector unit (`widest!`): with the
//! batch's rows contiguous, Z and dX are axpys down columns (`Z[:, o] += W[o, i]·X[:, i]`, 32
//! rows held in registers across i) and dW is dot products down two columns (4 × 4 of them at a
//! time), so they vectorize for any layer width, need no packing and allocate nothing — the
//! right tool for BNN-sized layers. matrixmultiply's packed, register-blocked gemm (which uses
//! FMA) is about twice as fast once the product is large in every dimension, and is used from
//! [`GEMM_MIN_MACS`] multiply-adds when every dimension is at least [`GEMM_MIN_DIM`]; the
//! thresholds come from the `crossover` measurement below (numbers in BENCHMARKS.md).
//! matrixmultiply allocates its packing buffer on every call, so such large products are the
//! one place an evaluation allocates.
//!
//! The direct loops accumulate each output in a fixed order (bias first, then inputs in order;
//! dot products in [`LANES`] interleaved partial sums), so results do not depend on the vector
//! width the CPU offers.

use super::gemm::gemm;
use crate::math::kernel::widest;

/// Products with fewer multiply-adds than this run as direct loops.
pub const GEMM_MIN_MACS: usize = 1 << 18;
/// Products with a dimension smaller than this run as direct loops (gemm's tiles would be
/// mostly padding; measured: at 400 × 10 → 50 the two tie, at 500 × 13 → 100 gemm is 2× faster).
pub const GEMM_MIN_DIM: usize = 10;

/// Interleaved partial sums in a dot product: four 8-wide vectors, so additions of successive
/// elements do not wait on each other.
const LANES: usize = 32;

/// Rows per register block in the axpy-shaped loops: four 8-wide vectors of accumulators.
const BLOCK: usize = 32;

fn use_gemm(m: usize, k: usize, n: usize) -> bool {
    m >= GEMM_MIN_DIM && k >= GEMM_MIN_DIM && n >= GEMM_MIN_DIM && m * k * n >= GEMM_MIN_MACS
}

/// The sum of `LANES` partial sums by halving (a fixed tree, so vectorizable and deterministic).
#[inline(always)]
fn tree_sum(mut acc: [f64; LANES]) -> f64 {
    for h in [16, 8, 4, 2, 1] {
        for l in 0..h {
            acc[l] += acc[l + h];
        }
    }
    acc[0]
}

/// Σᵢ a[i] in [`LANES`] interleaved partial sums added in a fixed order.
#[inline(always)]
pub(super) fn sum(a: &[f64]) -> f64 {
    let mut acc = [0.0f64; LANES];
    let mut chunks = a.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            acc[l] += c[l];
        }
    }
    tree_sum(acc) + chunks.remainder().iter().sum::<f64>()
}

/// Σᵢ a[i]·b[i] in [`LANES`] interleaved partial sums added in a fixed order.
#[inline(always)]
pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; LANES];
    let mut chunks_a = a.chunks_exact(LANES);
    let mut chunks_b = b.chunks_exact(LANES);
    for (ca, cb) in (&mut chunks_a).zip(&mut chunks_b) {
        for l in 0..LANES {
            acc[l] += ca[l] * cb[l];
        }
    }
    let mut tail = 0.0;
    for (x, y) in chunks_a.remainder().iter().zip(chunks_b.remainder()) {
        tail += x * y;
    }
    tree_sum(acc) + tail
}

/// out[r0 + l] = start + Σⱼ coef(j)·cols[j][r0 + l] for the B-row block at r0, the accumulators
/// held in registers across j; `start` is `out` itself when `ACC`, else `init`. Only lanes
/// `keep..B` are stored: a last, partial block is computed as a full block ending at the last
/// row, and its lanes that overlap the previous block are dropped. `cols` is column-major with
/// `rows` per column.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block_axpys<const B: usize, const ACC: bool>(
    init: f64,
    coef: impl Fn(usize) -> f64,
    cols: &[f64],
    rows: usize,
    r0: usize,
    keep: usize,
    out: &mut [f64],
) {
    let mut acc = [init; B];
    if ACC {
        acc.copy_from_slice(&out[r0..r0 + B]);
    }
    for (j, col) in cols.chunks_exact(rows).enumerate() {
        let c = coef(j);
        let xs = &col[r0..r0 + B];
        for l in 0..B {
            acc[l] += c * xs[l];
        }
    }
    out[r0 + keep..r0 + B].copy_from_slice(&acc[keep..]);
}

/// out[r] = start + Σⱼ coef(j)·cols[j][r] for every row (start: out[r] itself when `ACC`, else
/// `init`), in register blocks of 32 rows, then 8, then one last 8-row block overlapping the
/// previous one (single rows only when there are fewer than 8). Each output's sum runs over j
/// in order whatever its block, so the result does not depend on the blocking.
#[inline(always)]
fn axpys<const ACC: bool>(
    init: f64,
    coef: impl Fn(usize) -> f64 + Copy,
    cols: &[f64],
    rows: usize,
    out: &mut [f64],
) {
    let mut r0 = 0;
    while r0 + BLOCK <= rows {
        block_axpys::<BLOCK, ACC>(init, coef, cols, rows, r0, 0, out);
        r0 += BLOCK;
    }
    while r0 + 8 <= rows {
        block_axpys::<8, ACC>(init, coef, cols, rows, r0, 0, out);
        r0 += 8;
    }
    if r0 < rows {
        if rows >= 8 {
            block_axpys::<8, ACC>(init, coef, cols, rows, rows - 8, 8 - (rows - r0), out);
        } else {
            for r in r0..rows {
                block_axpys::<1, ACC>(init, coef, cols, rows, r, 0, out);
            }
        }
    }
}

widest! {
    /// Z[:, o] = b[o] + Σᵢ W[o, i]·X[:, i], column by column.
    fn forward_direct(
        x: &[f64],
        w: &[f64],
        b: Option<&[f64]>,
        z: &mut [f64],
        rows: usize,
        width: usize,
    ) {
        if rows == 0 {
            return;
        }
        for (o, zcol) in z.chunks_exact_mut(rows).enumerate() {
            let bias = b.map_or(0.0, |b| b[o]);
            axpys::<false>(bias, |i| w[i * width + o], x, rows, zcol);
        }
    }
}

/// dW[o0 + a, i0 + c] += G[:, o0 + a]·X[:, i0 + c] for an OB × IB block of weights: OB·IB dot
/// products run together over 8-row chunks, each column chunk loaded once for all the dots it
/// enters, with one 8-lane accumulator per dot (reduced by halving at the end) and single rows
/// for the last rows % 8.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block_dots<const OB: usize, const IB: usize>(
    g: &[f64],
    x: &[f64],
    dw: &mut [f64],
    rows: usize,
    width: usize,
    o0: usize,
    i0: usize,
) {
    let mut acc = [[[0.0f64; 8]; IB]; OB];
    let full = rows - rows % 8;
    let mut r0 = 0;
    while r0 < full {
        let mut gc = [[0.0f64; 8]; OB];
        for (a, gca) in gc.iter_mut().enumerate() {
            gca.copy_from_slice(&g[(o0 + a) * rows + r0..][..8]);
        }
        for c in 0..IB {
            let xc: &[f64] = &x[(i0 + c) * rows + r0..][..8];
            for a in 0..OB {
                for l in 0..8 {
                    acc[a][c][l] += gc[a][l] * xc[l];
                }
            }
        }
        r0 += 8;
    }
    for a in 0..OB {
        for c in 0..IB {
            let v = &mut acc[a][c];
            for h in [4, 2, 1] {
                for l in 0..h {
                    v[l] += v[l + h];
                }
            }
            let mut total = v[0];
            for r in full..rows {
                total += g[(o0 + a) * rows + r] * x[(i0 + c) * rows + r];
            }
            dw[(i0 + c) * width + o0 + a] += total;
        }
    }
}

widest! {
    /// dW[o, i] += G[:, o]·X[:, i], in 4 × 4 blocks of weights, then narrower blocks at the edges.
    fn weight_grad_direct(g: &[f64], x: &[f64], dw: &mut [f64], rows: usize, width: usize) {
        if rows == 0 {
            return;
        }
        let fan_in = x.len() / rows;
        let mut o0 = 0;
        while o0 < width {
            let ob = if width - o0 >= 4 { 4 } else { 1 };
            let mut i0 = 0;
            while i0 < fan_in {
                let ib = if fan_in - i0 >= 4 { 4 } else { 1 };
                match (ob, ib) {
                    (4, 4) => block_dots::<4, 4>(g, x, dw, rows, width, o0, i0),
                    (4, _) => block_dots::<4, 1>(g, x, dw, rows, width, o0, i0),
                    (_, 4) => block_dots::<1, 4>(g, x, dw, rows, width, o0, i0),
                    _ => block_dots::<1, 1>(g, x, dw, rows, width, o0, i0),
                }
                i0 += ib;
            }
            o0 += ob;
        }
    }
}

widest! {
    /// dX[:, i] += Σ_o W[o, i]·G[:, o].
    fn input_grad_direct(g: &[f64], w: &[f64], dx: &mut [f64], rows: usize, width: usize) {
        if rows == 0 {
            return;
        }
        for (i, dxcol) in dx.chunks_exact_mut(rows).enumerate() {
            axpys::<true>(0.0, |o| w[i * width + o], g, rows, dxcol);
        }
    }
}

widest! {
    /// db[o] += Σ_r G[r, o].
    fn bias_grad_direct(g: &[f64], db: &mut [f64], rows: usize) {
        if rows == 0 {
            return;
        }
        for (gcol, d) in g.chunks_exact(rows).zip(db.iter_mut()) {
            *d += sum(gcol);
        }
    }
}

widest! {
    /// out = M·v for M rows × cols column-major: the axpys Σ_c v[c]·M[:, c].
    pub fn matvec(m: &[f64], v: &[f64], out: &mut [f64], rows: usize) {
        if rows == 0 {
            return;
        }
        axpys::<false>(0.0, |c| v[c], m, rows, out);
    }
}

/// Z = X·Wᵀ + b (b broadcast over rows when given).
pub fn forward(
    x: &[f64],
    w: &[f64],
    b: Option<&[f64]>,
    z: &mut [f64],
    rows: usize,
    fan_in: usize,
    width: usize,
) {
    debug_assert!(x.len() == rows * fan_in && w.len() == width * fan_in);
    debug_assert!(z.len() == rows * width);
    if !use_gemm(rows, fan_in, width) {
        forward_direct(x, w, b, z, rows, width);
        return;
    }
    let r = rows as isize;
    // Wᵀ (in × out): element (i, o) = W(o, i) at i·out + o.
    gemm(
        rows,
        fan_in,
        width,
        x,
        (1, r),
        w,
        (width as isize, 1),
        0.0,
        z,
        (1, r),
    );
    if let Some(b) = b {
        for (col, bo) in z.chunks_exact_mut(rows).zip(b) {
            for zi in col {
                *zi += bo;
            }
        }
    }
}

/// dW (out × in) += Gᵀ·X.
pub fn weight_grad(g: &[f64], x: &[f64], dw: &mut [f64], rows: usize, fan_in: usize, width: usize) {
    if !use_gemm(width, rows, fan_in) {
        weight_grad_direct(g, x, dw, rows, width);
        return;
    }
    let r = rows as isize;
    // Gᵀ (out × rows): element (o, r) = G(r, o) at o·rows + r.
    gemm(
        width,
        rows,
        fan_in,
        g,
        (r, 1),
        x,
        (1, r),
        1.0,
        dw,
        (1, width as isize),
    );
}

/// dX (rows × in) += G·W.
pub fn input_grad(g: &[f64], w: &[f64], dx: &mut [f64], rows: usize, fan_in: usize, width: usize) {
    if !use_gemm(rows, width, fan_in) {
        input_grad_direct(g, w, dx, rows, width);
        return;
    }
    let r = rows as isize;
    gemm(
        rows,
        width,
        fan_in,
        g,
        (1, r),
        w,
        (1, width as isize),
        1.0,
        dx,
        (1, r),
    );
}

/// db (out) += column sums of G.
pub fn bias_grad(g: &[f64], db: &mut [f64], rows: usize) {
    bias_grad_direct(g, db, rows);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic matrix of `n` values in (−1, 1).
    fn values(n: usize, seed: usize) -> Vec<f64> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104_729) % 2001) as f64 - 1000.0) / 1000.0)
            .collect()
    }

    #[test]
    fn direct_loops_and_gemm_agree_with_the_definitions() {
        // Column-major: X(r, i) = x[i·rows + r], W(o, i) = w[i·out + o], G(r, o) = g[o·rows + r].
        for (rows, fan_in, width) in [
            (1, 1, 1),
            (7, 3, 5),
            (100, 5, 5),
            (37, 20, 16),
            (130, 70, 120),
        ] {
            let x = values(rows * fan_in, 1);
            let w = values(width * fan_in, 2);
            let b = values(width, 3);
            let g = values(rows * width, 4);
            let tol = 1e-13 * fan_in.max(rows).max(width) as f64;
            // Z(r, o) = b(o) + Σᵢ X(r, i)·W(o, i)
            for direct in [true, false] {
                let mut z = vec![0.0; rows * width];
                if direct {
                    forward_direct(&x, &w, Some(&b), &mut z, rows, width);
                } else {
                    gemm(
                        rows,
                        fan_in,
                        width,
                        &x,
                        (1, rows as isize),
                        &w,
                        (width as isize, 1),
                        0.0,
                        &mut z,
                        (1, rows as isize),
                    );
                    for (col, bo) in z.chunks_exact_mut(rows).zip(&b) {
                        col.iter_mut().for_each(|v| *v += bo);
                    }
                }
                for r in 0..rows {
                    for o in 0..width {
                        let want: f64 = b[o]
                            + (0..fan_in)
                                .map(|i| x[i * rows + r] * w[i * width + o])
                                .sum::<f64>();
                        assert!((z[o * rows + r] - want).abs() < tol, "Z({r}, {o})");
                    }
                }
            }
            // dW(o, i) = 1 + Σ_r G(r, o)·X(r, i), starting from 1 to check accumulation
            let mut dw = vec![1.0; width * fan_in];
            weight_grad(&g, &x, &mut dw, rows, fan_in, width);
            let mut dw_direct = vec![1.0; width * fan_in];
            weight_grad_direct(&g, &x, &mut dw_direct, rows, width);
            for o in 0..width {
                for i in 0..fan_in {
                    let want = 1.0
                        + (0..rows)
                            .map(|r| g[o * rows + r] * x[i * rows + r])
                            .sum::<f64>();
                    assert!((dw[i * width + o] - want).abs() < tol, "dW({o}, {i})");
                    assert!(
                        (dw_direct[i * width + o] - want).abs() < tol,
                        "dW({o}, {i})"
                    );
                }
            }
            // dX(r, i) = 1 + Σ_o G(r, o)·W(o, i)
            let mut dx = vec![1.0; rows * fan_in];
            input_grad(&g, &w, &mut dx, rows, fan_in, width);
            let mut dx_direct = vec![1.0; rows * fan_in];
            input_grad_direct(&g, &w, &mut dx_direct, rows, width);
            for r in 0..rows {
                for i in 0..fan_in {
                    let want = 1.0
                        + (0..width)
                            .map(|o| g[o * rows + r] * w[i * width + o])
                            .sum::<f64>();
                    assert!((dx[i * rows + r] - want).abs() < tol, "dX({r}, {i})");
                    assert!((dx_direct[i * rows + r] - want).abs() < tol, "dX({r}, {i})");
                }
            }
            // db(o) = 1 + Σ_r G(r, o)
            let mut db = vec![1.0; width];
            bias_grad(&g, &mut db, rows);
            for o in 0..width {
                let want = 1.0 + (0..rows).map(|r| g[o * rows + r]).sum::<f64>();
                assert!((db[o] - want).abs() < tol, "db({o})");
            }
        }
    }
}

/// Times the direct loops against matrixmultiply at the benchmark networks' shapes, to place
/// [`GEMM_MIN_MACS`] and [`GEMM_MIN_DIM`]. Run with
/// `cargo test --release --lib crossover -- --ignored --nocapture`.
#[cfg(test)]
mod crossover {
    use super::*;
    use std::time::Instant;

    fn best_of(reps: usize, mut f: impl FnMut()) -> f64 {
        let mut best = f64::INFINITY;
        for _ in 0..reps {
            let t = Instant::now();
            f();
            best = best.min(t.elapsed().as_secs_f64());
        }
        best
    }

    #[test]
    #[ignore = "a measurement, not a check"]
    fn measure_gemm_crossover() {
        let shapes = [
            (100, 5, 5),
            (400, 10, 50),
            (400, 50, 1),
            (500, 13, 100),
            (500, 100, 100),
            (1000, 100, 10),
            (1000, 784, 100),
            (100, 64, 64),
            (200, 32, 32),
        ];
        println!("rows × in → out: forward, dW, dX in µs, direct / gemm");
        for (rows, fan_in, width) in shapes {
            let x: Vec<f64> = (0..rows * fan_in).map(|i| (i % 7) as f64 * 0.1).collect();
            let w: Vec<f64> = (0..width * fan_in).map(|i| (i % 5) as f64 * 0.1).collect();
            let g: Vec<f64> = (0..rows * width).map(|i| (i % 3) as f64 * 0.1).collect();
            let mut z = vec![0.0; rows * width];
            let mut dw = vec![0.0; width * fan_in];
            let mut dx = vec![0.0; rows * fan_in];
            let reps = (2e8 as usize / (rows * fan_in * width)).clamp(5, 2000);
            let r = rows as isize;
            let t = [
                best_of(reps, || forward_direct(&x, &w, None, &mut z, rows, width)),
                best_of(reps, || {
                    gemm(
                        rows,
                        fan_in,
                        width,
                        &x,
                        (1, r),
                        &w,
                        (width as isize, 1),
                        0.0,
                        &mut z,
                        (1, r),
                    )
                }),
                best_of(reps, || weight_grad_direct(&g, &x, &mut dw, rows, width)),
                best_of(reps, || {
                    gemm(
                        width,
                        rows,
                        fan_in,
                        &g,
                        (r, 1),
                        &x,
                        (1, r),
                        1.0,
                        &mut dw,
                        (1, width as isize),
                    )
                }),
                best_of(reps, || input_grad_direct(&g, &w, &mut dx, rows, width)),
                best_of(reps, || {
                    gemm(
                        rows,
                        width,
                        fan_in,
                        &g,
                        (1, r),
                        &w,
                        (1, width as isize),
                        1.0,
                        &mut dx,
                        (1, r),
                    )
                }),
            ];
            let us: Vec<String> = t.iter().map(|s| format!("{:.1}", s * 1e6)).collect();
            println!(
                "{rows} × {fan_in} → {width}: forward {} / {}, dW {} / {}, dX {} / {}",
                us[0], us[1], us[2], us[3], us[4], us[5]
            );
        }
    }
}
