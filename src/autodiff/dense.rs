//! The matrix work of a dense layer over a batch, on column-major arena blocks: the product
//! Z = X·Wᵀ + b and, for the reverse sweep, dW += Gᵀ·X, dX += G·W and db += column sums of G.
//!
//! Shapes: X is rows × in, W is out × in (as the layer's weight parameter), Z and G are
//! rows × out; every block column-major (element (r, c) at c·rows + r).
//!
//! Two implementations. Direct loops, compiled for the widest vector unit (`widest!`): with the
//! batch's rows contiguous, Z and dX are axpys down columns (`Z[:, o] += W[o, i]·X[:, i]`, 32
//! rows held in registers across i; Z four output columns at a time on AVX-512, two elsewhere,
//! from the same loads of X) and dW is dot products down two columns (4 × 4 of them at a time),
//! so they vectorize for any layer width, need no packing and allocate nothing — the right tool
//! for BNN-sized layers. matrixmultiply's packed, register-blocked gemm (which uses
//! FMA) is about twice as fast once the product is large in every dimension, and is used from
//! [`GEMM_MIN_MACS`] multiply-adds when every dimension is at least [`GEMM_MIN_DIM`]; the
//! thresholds come from the `crossover` measurement below (numbers in BENCHMARKS.md).
//! matrixmultiply allocates its packing buffer on every call, so such large products are the
//! one place an evaluation allocates.
//!
//! The direct loops accumulate each output in a fixed order (bias first, then inputs in order;
//! dot products in [`LANES`] interleaved partial sums), so results do not depend on the vector
//! width the CPU offers.

use super::backward::Finish;
use super::gemm::gemm;
use super::pool::{share, Pool, Shared64};
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
/// row, and its lanes that overlap the previous block are dropped where storing them would be
/// wrong (when accumulating, or when those rows belong to another call's range). `cols` is
/// column-major with `rows` per column; `out` holds rows from `base` on. With `scale` (indexed
/// as `out`), each lane is multiplied by its row of it before the store.
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
    base: usize,
    scale: Option<&[f64]>,
) {
    let mut acc = [init; B];
    if ACC {
        acc.copy_from_slice(&out[r0 - base..r0 - base + B]);
    }
    for (j, col) in cols.chunks_exact(rows).enumerate() {
        let c = coef(j);
        let xs = &col[r0..r0 + B];
        for l in 0..B {
            acc[l] += c * xs[l];
        }
    }
    if let Some(d) = scale {
        let ds = &d[r0 - base..r0 - base + B];
        for l in 0..B {
            acc[l] *= ds[l];
        }
    }
    out[r0 - base + keep..r0 - base + B].copy_from_slice(&acc[keep..]);
}

/// out[r] = start + Σⱼ coef(j)·cols[j][r] for every row (start: out[r] itself when `ACC`, else
/// `init`): [`axpys_range`] over all rows.
#[inline(always)]
fn axpys<const ACC: bool>(
    init: f64,
    coef: impl Fn(usize) -> f64 + Copy,
    cols: &[f64],
    rows: usize,
    out: &mut [f64],
) {
    axpys_range::<ACC>(init, coef, cols, rows, 0..rows, out, 0, None);
}

/// out[r] = start + Σⱼ coef(j)·cols[j][r] for the rows r in `range` (start: out[r] itself when
/// `ACC`, else `init`; `out` holds the column's rows from `base` on), in register blocks of 32
/// rows, then 8, then one last 8-row block overlapping the previous rows (single rows only when
/// fewer than 8 rows lie between `base` and the range's end). Each output's sum runs over j in
/// order whatever its block, so the result does not depend on the blocking or on how the rows
/// are split into ranges. With `scale` (D's column, indexed as `out`), each row's sum is then
/// multiplied by D's row before it is stored: the bits of the product, then a scaling pass.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn axpys_range<const ACC: bool>(
    init: f64,
    coef: impl Fn(usize) -> f64 + Copy,
    cols: &[f64],
    rows: usize,
    range: std::ops::Range<usize>,
    out: &mut [f64],
    base: usize,
    scale: Option<&[f64]>,
) {
    let (mut r0, end) = (range.start, range.end);
    while r0 + BLOCK <= end {
        block_axpys::<BLOCK, ACC>(init, coef, cols, rows, r0, 0, out, base, scale);
        r0 += BLOCK;
    }
    while r0 + 8 <= end {
        block_axpys::<8, ACC>(init, coef, cols, rows, r0, 0, out, base, scale);
        r0 += 8;
    }
    if r0 < end {
        if end >= base + 8 {
            // Not accumulating, the overlapped rows inside the range are computed again to the
            // same bits, so the whole block is stored (a fixed-size store, not a copy of
            // variable length).
            let keep = if !ACC && end - 8 >= range.start {
                0
            } else {
                8 - (end - r0)
            };
            block_axpys::<8, ACC>(init, coef, cols, rows, end - 8, keep, out, base, scale);
        } else {
            for r in r0..end {
                block_axpys::<1, ACC>(init, coef, cols, rows, r, 0, out, base, scale);
            }
        }
    }
}

/// [`block_axpys`] (not accumulating) for K outputs at once: each from the same loads of
/// `cols`, so a 32-row block keeps 4·K vector accumulators in flight instead of four and the
/// adds no longer wait on each other's latency. Each output adds the same terms in the same
/// order as [`block_axpys`], so the bits are the same.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block_axpys_k<const B: usize, const K: usize>(
    init: [f64; K],
    coef: impl Fn(usize) -> [f64; K],
    cols: &[f64],
    rows: usize,
    r0: usize,
    keep: usize,
    out: [&mut [f64]; K],
    base: usize,
) {
    let mut acc: [[f64; B]; K] = std::array::from_fn(|k| [init[k]; B]);
    for (j, col) in cols.chunks_exact(rows).enumerate() {
        let c = coef(j);
        let xs = &col[r0..r0 + B];
        for (acc_k, ck) in acc.iter_mut().zip(c) {
            for l in 0..B {
                acc_k[l] += ck * xs[l];
            }
        }
    }
    for (o, a) in out.into_iter().zip(&acc) {
        o[r0 - base + keep..r0 - base + B].copy_from_slice(&a[keep..]);
    }
}

/// [`axpys_range`] (not accumulating) for K outputs at once, in the same blocks, by
/// [`block_axpys_k`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn axpys_range_k<const K: usize>(
    init: [f64; K],
    coef: impl Fn(usize) -> [f64; K] + Copy,
    cols: &[f64],
    rows: usize,
    range: std::ops::Range<usize>,
    mut out: [&mut [f64]; K],
    base: usize,
) {
    // One B-row block at r0 keeping lanes keep..B, into every output.
    macro_rules! block {
        ($b:expr, $r0:expr, $keep:expr) => {
            block_axpys_k::<{ $b }, K>(
                init,
                coef,
                cols,
                rows,
                $r0,
                $keep,
                out.each_mut().map(|o| &mut **o),
                base,
            )
        };
    }
    let (mut r0, end) = (range.start, range.end);
    while r0 + BLOCK <= end {
        block!(BLOCK, r0, 0);
        r0 += BLOCK;
    }
    while r0 + 8 <= end {
        block!(8, r0, 0);
        r0 += 8;
    }
    if r0 < end {
        if end >= base + 8 {
            // As in [`axpys_range`]: the overlapped rows inside the range again, same bits.
            let keep = if end - 8 >= range.start {
                0
            } else {
                8 - (end - r0)
            };
            block!(8, end - 8, keep);
        } else {
            for r in r0..end {
                block!(1, r, 0);
            }
        }
    }
}

/// Bytes of Z from which a layer's activation is fused into the forward product
/// ([`fuses_activation`]): Z then no longer fits in the caches, and one more pass over it goes
/// to memory. Below, one activation call over Z measured faster than a call per piece (AMD
/// EPYC, Zen 4: bnn_mlp50's 397 × 50 gradient 61.0–61.9 → 58.6–59.4 µs; 1,000 × 100 277 → 273
/// µs; even 45,000 × 100 unblocked, 36 MB, 26.0–26.4 → 25.8–25.9 ms, so the fused pass is kept
/// only for such sizes, where it was measured to pay on an Intel Xeon; BENCHMARKS.md).
const FUSE_MIN_BYTES: usize = 16 << 20;

/// Whether a layer's activation runs on each finished piece of Z inside the forward product,
/// while the piece is in L1, rather than in one call over Z afterwards: only for the direct
/// loops in more than one chunk of rows, and for a Z of at least [`FUSE_MIN_BYTES`]. With one
/// chunk, one call over Z costs less than one per column; and gemm finishes all of Z before any
/// piece could be handed over, so per-column calls there only add calls (13-100-100-1, whose
/// products go to gemm: gradient 1.05 → 1.02 ms with one call per layer).
pub fn fuses_activation(rows: usize, fan_in: usize, width: usize) -> bool {
    !use_gemm(rows, fan_in, width)
        && rows > chunk_rows(fan_in)
        && rows * width * std::mem::size_of::<f64>() >= FUSE_MIN_BYTES
}

/// Rows per chunk of [`forward_direct`]: the chunk's inputs (fan-in × chunk values, about
/// 16 KiB) stay in L1 while every output column is computed over them, and each output's
/// segment is still in L1 when a fused activation runs on it. A multiple of [`BLOCK`].
fn chunk_rows(fan_in: usize) -> usize {
    (2048 / fan_in.max(1)).clamp(BLOCK, 512) / BLOCK * BLOCK
}

/// What the forward product does to each finished piece of Z: nothing, or the layer's
/// activation (`post(o, r0, segment)` for rows r0.. of column o, segment in place). Pieces may
/// be handed over from several threads at once, never the same piece twice.
pub type Post<'a> = Option<&'a (dyn Fn(usize, usize, &mut [f64]) + Sync)>;

widest! {
    /// Z[span, o] = b[o] + Σᵢ W[o, i]·X[span, i] for the outputs o in `outs`, in chunks of rows
    /// ([`chunk_rows`]): for each chunk, every output column over it, each column's segment
    /// handed to `post` while in L1 (so an activation costs no separate pass over Z). `z` holds
    /// just that block, column-major (outs.len() columns of span.len() rows).
    #[allow(clippy::too_many_arguments)]
    fn forward_direct(
        x: &[f64],
        w: &[f64],
        b: Option<&[f64]>,
        z: &mut [f64],
        rows: usize,
        width: usize,
        region: (std::ops::Range<usize>, std::ops::Range<usize>),
        post: Post<'_>,
    ) {
        let (outs, span) = region;
        if rows == 0 || span.is_empty() {
            return;
        }
        let chunk = chunk_rows(x.len() / rows);
        let wide = crate::math::kernel::SimdPath::current() == crate::math::kernel::SimdPath::Avx512;
        let (base, n) = (span.start, span.len());
        let mut lo = span.start;
        while lo < span.end {
            let hi = (lo + chunk).min(span.end);
            // Outputs four at a time where the vector unit has registers for their 16
            // accumulators (AVX-512's 32), else in pairs ([`axpys_range_k`]); then pairs, then
            // the last one alone.
            let group = if wide { 4 } else { 2 };
            let mut groups = z.chunks_exact_mut(group * n);
            let mut o = outs.start;
            for piece in &mut groups {
                if group == 4 {
                    let bias = b.map_or([0.0; 4], |b| [b[o], b[o + 1], b[o + 2], b[o + 3]]);
                    let coef = |i: usize| -> [f64; 4] {
                        let at = i * width + o;
                        w[at..at + 4].try_into().expect("4 weights")
                    };
                    let zs: [&mut [f64]; 4] = {
                        let (z01, z23) = piece.split_at_mut(2 * n);
                        let (z0, z1) = z01.split_at_mut(n);
                        let (z2, z3) = z23.split_at_mut(n);
                        [z0, z1, z2, z3]
                    };
                    axpys_range_k(bias, coef, x, rows, lo..hi, zs, base);
                } else {
                    let bias = b.map_or([0.0; 2], |b| [b[o], b[o + 1]]);
                    let (z0, z1) = piece.split_at_mut(n);
                    let coef = |i: usize| [w[i * width + o], w[i * width + o + 1]];
                    axpys_range_k(bias, coef, x, rows, lo..hi, [z0, z1], base);
                }
                if let Some(f) = post {
                    for (k, zk) in piece.chunks_exact_mut(n).enumerate() {
                        f(o + k, lo, &mut zk[lo - base..hi - base]);
                    }
                }
                o += group;
            }
            let mut pairs = groups.into_remainder().chunks_exact_mut(2 * n);
            for pair in &mut pairs {
                let bias = b.map_or([0.0; 2], |b| [b[o], b[o + 1]]);
                let (z0, z1) = pair.split_at_mut(n);
                let coef = |i: usize| [w[i * width + o], w[i * width + o + 1]];
                axpys_range_k(bias, coef, x, rows, lo..hi, [&mut *z0, &mut *z1], base);
                if let Some(f) = post {
                    f(o, lo, &mut z0[lo - base..hi - base]);
                    f(o + 1, lo, &mut z1[lo - base..hi - base]);
                }
                o += 2;
            }
            let zcol = pairs.into_remainder();
            if !zcol.is_empty() {
                let o = outs.end - 1;
                let bias = b.map_or(0.0, |b| b[o]);
                let coef = |i| w[i * width + o];
                axpys_range::<false>(bias, coef, x, rows, lo..hi, zcol, base, None);
                if let Some(f) = post {
                    f(o, lo, &mut zcol[lo - base..hi - base]);
                }
            }
            lo = hi;
        }
    }
}

/// Multiply-adds from which a layer's forward product or reverse sweep is split over the pool's
/// threads (below, waking the threads costs more than it saves).
const PARALLEL_MACS: usize = 1 << 20;

/// [`forward_direct`] over all of Z, split over `pool`'s threads when it is large: by output
/// columns when there are at least as many as threads, else by rows in multiples of 8 (each
/// part ≥ 8 rows, so no register block reaches into another part's rows). Every element is
/// computed as on one thread.
#[allow(clippy::too_many_arguments)]
fn forward_split(
    x: &[f64],
    w: &[f64],
    b: Option<&[f64]>,
    z: &mut [f64],
    rows: usize,
    width: usize,
    post: Post<'_>,
    pool: Option<&Pool>,
) {
    let fan_in = x.len().checked_div(rows).unwrap_or(0);
    let pool = pool.filter(|p| {
        p.threads() > 1 && rows * fan_in * width >= PARALLEL_MACS && rows >= 64 * p.threads()
    });
    let Some(pool) = pool else {
        return forward_direct(x, w, b, z, rows, width, (0..width, 0..rows), post);
    };
    let parts = pool.threads();
    let zp = Shared64(z.as_mut_ptr());
    if width >= parts {
        pool.run(&|p| {
            let outs = share(width, parts, p);
            // SAFETY: the parts' output ranges are disjoint, so are these blocks of columns.
            let z = unsafe { zp.slice(outs.start * rows..outs.end * rows) };
            forward_direct(x, w, b, z, rows, width, (outs, 0..rows), post);
        });
    } else {
        pool.run(&|p| {
            let eights = share(rows / 8, parts, p);
            let end = if p + 1 == parts { rows } else { eights.end * 8 };
            let span = eights.start * 8..end;
            for o in 0..width {
                // SAFETY: the parts' row spans are disjoint, so are these column segments.
                let z = unsafe { zp.slice(o * rows + span.start..o * rows + span.end) };
                forward_direct(x, w, b, z, rows, width, (o..o + 1, span.clone()), post);
            }
        });
    }
}

/// dW[o0 + a, i0 + c] += G[:, o0 + a]·X[:, i0 + c] for an OB × IB block of weights: OB·IB dot
/// products run together over 8-row chunks, each column chunk loaded once for all the dots it
/// enters, with one 8-lane accumulator per dot (reduced by halving at the end) and single rows
/// for the last rows % 8. The block's dots are finished together: for each input c the OB dots
/// are reduced and their tails added side by side (no bounds check per row), each in
/// [`reverse::finish_dot`]'s order, so the same bits.
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
    let tail = rows % 8;
    let full = rows - tail;
    let zero = [[[0.0f64; 8]; IB]; OB];
    let acc = reverse::block_dots_acc::<OB, IB>(g, 0, x, zero, rows, (o0, i0), 0..full);
    // Through memory, as before this finish: with the accumulators left to LLVM, the finish's
    // reads across a made its SLP vectorizer carry the 4 × 2 block's dot loop as 4-lane
    // vectors over a, with shuffles and spills (bnn_mlp50 58.9 → 65–72 µs).
    let acc = std::hint::black_box(acc);
    let gt: [&[f64]; OB] = std::array::from_fn(|a| &g[(o0 + a) * rows + full..][..tail]);
    for (c, xi) in (i0..i0 + IB).enumerate() {
        let mut s = [0.0f64; OB];
        for (a, s) in s.iter_mut().enumerate() {
            let v = &acc[a][c];
            let h = [v[0] + v[4], v[1] + v[5], v[2] + v[6], v[3] + v[7]];
            *s = (h[0] + h[2]) + (h[1] + h[3]);
        }
        for (r, &xv) in x[xi * rows + full..][..tail].iter().enumerate() {
            for (s, gc) in s.iter_mut().zip(&gt) {
                *s += gc[r] * xv;
            }
        }
        for (d, s) in dw[xi * width + o0..][..OB].iter_mut().zip(s) {
            *d += s;
        }
    }
}

widest! {
    /// dW[o, i] += G[:, o]·X[:, i], in 4 × 4 blocks of weights, then narrower blocks at the edges;
    /// 4 × 5 where that leaves fewer or no narrow blocks (10 inputs: 5 + 5, not 4 + 4 + 2; 20
    /// accumulators and 9 loads fit AVX-512's 32 registers), and the last two or three outputs
    /// in blocks two outputs tall rather than one dot chain each. Each dot's sum is the same in
    /// any block, so the same bits.
    fn weight_grad_direct(g: &[f64], x: &[f64], dw: &mut [f64], rows: usize, width: usize) {
        if rows == 0 {
            return;
        }
        let fan_in = x.len() / rows;
        let mut o0 = 0;
        while o0 < width {
            let ob = match width - o0 {
                4.. => 4,
                2 | 3 => 2,
                _ => 1,
            };
            let mut i0 = 0;
            while i0 < fan_in {
                let ib = match fan_in - i0 {
                    r @ 5.. if ob > 1 && matches!(r % 4, 1 | 2) => 5,
                    4.. => 4,
                    2 | 3 if ob > 1 => 2,
                    _ => 1,
                };
                match (ob, ib) {
                    (4, 5) => block_dots::<4, 5>(g, x, dw, rows, width, o0, i0),
                    (4, 4) => block_dots::<4, 4>(g, x, dw, rows, width, o0, i0),
                    (4, 2) => block_dots::<4, 2>(g, x, dw, rows, width, o0, i0),
                    (4, _) => block_dots::<4, 1>(g, x, dw, rows, width, o0, i0),
                    (2, 5) => block_dots::<2, 5>(g, x, dw, rows, width, o0, i0),
                    (2, 4) => block_dots::<2, 4>(g, x, dw, rows, width, o0, i0),
                    (2, 2) => block_dots::<2, 2>(g, x, dw, rows, width, o0, i0),
                    (2, _) => block_dots::<2, 1>(g, x, dw, rows, width, o0, i0),
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
    /// dX[:, i] = Σ_o W[o, i]·G[:, o], dX not read.
    fn input_grad_fresh_direct(g: &[f64], w: &[f64], dx: &mut [f64], rows: usize, width: usize) {
        if rows == 0 {
            return;
        }
        for (i, dxcol) in dx.chunks_exact_mut(rows).enumerate() {
            axpys::<false>(0.0, |o| w[i * width + o], g, rows, dxcol);
        }
    }
}

/// g ← g ⊙ d for one column, returning Σ g as [`sum`] adds it (the product and the sum in one
/// pass).
#[inline(always)]
fn scale_and_sum(gcol: &mut [f64], dcol: &[f64]) -> f64 {
    let mut acc = [0.0f64; LANES];
    let mut gc = gcol.chunks_exact_mut(LANES);
    let mut dc = dcol.chunks_exact(LANES);
    for (gl, dl) in (&mut gc).zip(&mut dc) {
        for l in 0..LANES {
            gl[l] *= dl[l];
            acc[l] += gl[l];
        }
    }
    let tail = gc.into_remainder();
    for (gi, di) in tail.iter_mut().zip(dc.remainder()) {
        *gi *= *di;
    }
    tree_sum(acc) + tail.iter().sum::<f64>()
}

widest! {
    /// G[r, o] ← G[r, o]·D[r, o] and db[o] += Σ_r G[r, o], a column at a time, each sum as
    /// [`sum`] adds it.
    fn scale_and_bias_grad_direct(g: &mut [f64], d: &[f64], db: &mut [f64], rows: usize) {
        if rows == 0 {
            return;
        }
        for ((gcol, dcol), b) in g.chunks_exact_mut(rows).zip(d.chunks_exact(rows)).zip(db) {
            *b += scale_and_sum(gcol, dcol);
        }
    }
}

widest! {
    /// adj[i] += d[i]·seed (a term's partials into its input's adjoint).
    pub fn add_scaled(adj: &mut [f64], d: &[f64], seed: f64) {
        assert_eq!(adj.len(), d.len(), "add_scaled: lengths differ");
        for (a, x) in adj.iter_mut().zip(d) {
            *a += *x * seed;
        }
    }
}

widest! {
    /// G ← G ⊙ D elementwise.
    pub fn scale(g: &mut [f64], d: &[f64]) {
        assert_eq!(g.len(), d.len(), "scale: lengths differ");
        for (gi, di) in g.iter_mut().zip(d) {
            *gi *= *di;
        }
    }
}

widest! {
    /// dX[:, i] = (Σ_o W[o, i]·G[:, o]) ⊙ D[:, i], and db[i] += Σ_r dX[r, i] when `db` is
    /// given, a column of dX at a time: the column is finished while in L1. The bits of
    /// [`input_grad_fresh_direct`] followed by [`scale_and_bias_grad_direct`] (or [`scale`]).
    #[allow(clippy::too_many_arguments)]
    fn input_grad_fresh_finished_direct(
        g: &[f64],
        w: &[f64],
        dx: &mut [f64],
        d: &[f64],
        db: Option<&mut [f64]>,
        rows: usize,
        width: usize,
    ) {
        if rows == 0 {
            return;
        }
        let mut db = db;
        for (i, (dxcol, dcol)) in dx.chunks_exact_mut(rows).zip(d.chunks_exact(rows)).enumerate() {
            let coef = |o| w[i * width + o];
            // Each block is scaled in registers before it is stored, then the column summed:
            // the product, the scaling, then [`scale_and_sum`]'s sum, so the same bits.
            axpys_range::<false>(0.0, coef, g, rows, 0..rows, dxcol, 0, Some(dcol));
            if let Some(db) = db.as_deref_mut() {
                db[i] += sum(dxcol);
            }
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

#[path = "dense_reverse.rs"]
mod reverse;
pub(crate) use reverse::{backward, backward_scratch};

/// Z = X·Wᵀ + b (b broadcast over rows when given), then `post` on every piece of Z (see
/// [`Post`]; the pieces cover Z once); the direct loops split over `pool`'s threads when large.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    x: &[f64],
    w: &[f64],
    b: Option<&[f64]>,
    z: &mut [f64],
    rows: usize,
    fan_in: usize,
    width: usize,
    post: Post<'_>,
    pool: Option<&Pool>,
) {
    debug_assert!(x.len() == rows * fan_in && w.len() == width * fan_in);
    debug_assert!(z.len() == rows * width);
    if !use_gemm(rows, fan_in, width) {
        forward_split(x, w, b, z, rows, width, post, pool);
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
    if let Some(f) = post {
        for (o, col) in z.chunks_exact_mut(rows).enumerate() {
            f(o, 0, col);
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

/// dX (rows × in) = G·W, over whatever dX held: the bits of [`input_grad`] on a cleared dX
/// (each sum starts from 0 and adds the same terms in the same order), without clearing it
/// and reading it back.
pub fn input_grad_fresh(
    g: &[f64],
    w: &[f64],
    dx: &mut [f64],
    rows: usize,
    fan_in: usize,
    width: usize,
) {
    if use_gemm(rows, width, fan_in) {
        dx.fill(0.0);
        input_grad(g, w, dx, rows, fan_in, width);
    } else {
        input_grad_fresh_direct(g, w, dx, rows, width);
    }
}

/// [`input_grad_fresh`], then dX finished as the producing layer's G ([`Finish`]): dX ⊙= act′
/// and its column sums added to that layer's db, per column while in L1 on the direct loops
/// (after gemm, in a pass of their own). The bits of the steps one after the other.
pub fn input_grad_fresh_finished(
    g: &[f64],
    w: &[f64],
    dx: &mut [f64],
    finish: Finish<'_, f64>,
    rows: usize,
    fan_in: usize,
    width: usize,
) {
    let Finish { deriv, db } = finish;
    if use_gemm(rows, width, fan_in) {
        input_grad_fresh(g, w, dx, rows, fan_in, width);
        match db {
            Some(db) => scale_and_bias_grad(dx, deriv, db, rows),
            None => scale(dx, deriv),
        }
    } else {
        input_grad_fresh_finished_direct(g, w, dx, deriv, db, rows, width);
    }
}

/// G ← G ⊙ D, then db (out) += column sums of G, in one pass over G: the bits of the product
/// followed by [`bias_grad`].
pub fn scale_and_bias_grad(g: &mut [f64], d: &[f64], db: &mut [f64], rows: usize) {
    scale_and_bias_grad_direct(g, d, db, rows);
}

/// db (out) += column sums of G.
pub fn bias_grad(g: &[f64], db: &mut [f64], rows: usize) {
    bias_grad_direct(g, db, rows);
}

#[cfg(test)]
#[path = "dense_tests.rs"]
mod tests;

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
                best_of(reps, || {
                    forward_direct(&x, &w, None, &mut z, rows, width, (0..width, 0..rows), None)
                }),
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
