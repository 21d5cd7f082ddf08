//! A cache-blocked matrix transpose (of f64, or of the dual numbers a Hessian-vector product
//! sweeps), for moving matrix parameters between θ's row-major order
//! and the arena's column-major slots (and their gradients back).

/// Side of the square tiles: a 16 × 16 tile of f64 is 2 KiB read and 2 KiB written, so both
/// stay in L1 while the tile is copied, however long the rows.
const TILE: usize = 16;

/// dst = srcᵀ, where `src` is `rows` × `cols` row-major (element (r, c) at r·cols + c) and `dst`
/// is `cols` × `rows` row-major (element (c, r) at c·rows + r); equivalently, a row-major
/// matrix copied into column-major order.
pub fn transpose<T: Copy>(src: &[T], rows: usize, cols: usize, dst: &mut [T]) {
    assert!(
        src.len() == rows * cols && dst.len() == rows * cols,
        "internal: transpose of {rows} × {cols} given {} and {} values",
        src.len(),
        dst.len()
    );
    for r0 in (0..rows).step_by(TILE) {
        let r1 = (r0 + TILE).min(rows);
        for c0 in (0..cols).step_by(TILE) {
            let c1 = (c0 + TILE).min(cols);
            for r in r0..r1 {
                for (c, &v) in (c0..c1).zip(&src[r * cols + c0..r * cols + c1]) {
                    dst[c * rows + r] = v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_every_shape_around_the_tile() {
        for (rows, cols) in [
            (1, 1),
            (1, 7),
            (7, 1),
            (16, 16),
            (17, 33),
            (100, 784),
            (3, 40),
        ] {
            let src: Vec<f64> = (0..rows * cols).map(|i| i as f64).collect();
            let mut dst = vec![f64::NAN; rows * cols];
            transpose(&src, rows, cols, &mut dst);
            for r in 0..rows {
                for c in 0..cols {
                    // src(r, c) = r·cols + c lands at dst(c, r) = c·rows + r.
                    assert_eq!(dst[c * rows + r], (r * cols + c) as f64, "{rows} × {cols}");
                }
            }
            // Transposing back gives the original.
            let mut back = vec![f64::NAN; rows * cols];
            transpose(&dst, cols, rows, &mut back);
            assert_eq!(back, src);
        }
    }
}
