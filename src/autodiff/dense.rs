//! The matrix work of a dense layer over a batch, on column-major arena blocks: the product
//! Z = X·Wᵀ + b and, for the reverse sweep, dW += Gᵀ·X, dX += G·W and db += column sums of G.
//!
//! Shapes: X is rows × in, W is out × in (as the layer's weight parameter), Z and G are
//! rows × out; every block column-major (element (r, c) at c·rows + r).

use super::gemm::gemm;

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
    for (col, d) in g.chunks_exact(rows).zip(db) {
        *d += col.iter().sum::<f64>();
    }
}
