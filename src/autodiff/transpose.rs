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

/// [`transpose`] for f64: in 4 × 4 blocks of AVX register shuffles where the CPU has AVX2 (and
/// the run allows it), else [`transpose`]. A copy either way, so the same values.
pub fn transpose_f64(src: &[f64], rows: usize, cols: usize, dst: &mut [f64]) {
    assert!(
        src.len() == rows * cols && dst.len() == rows * cols,
        "internal: transpose of {rows} × {cols} given {} and {} values",
        src.len(),
        dst.len()
    );
    // An empty matrix (the AVX path's row loop could not split 0 columns into rows).
    if src.is_empty() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if crate::math::kernel::SimdPath::current() >= crate::math::kernel::SimdPath::Avx2 {
        // SAFETY: `current` never returns a path above the CPU's (`detected`).
        unsafe { transpose_avx(src, rows, cols, dst) };
        return;
    }
    transpose(src, rows, cols, dst);
}

/// [`transpose_f64`]'s AVX path: each 4 × 4 block loaded as four rows, transposed by two rounds
/// of shuffles (pairs within 128-bit halves, then halves), stored as four columns; the last
/// rows % 4 and cols % 4 element by element.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn transpose_avx(src: &[f64], rows: usize, cols: usize, dst: &mut [f64]) {
    use std::arch::x86_64::{
        _mm256_loadu_pd, _mm256_permute2f128_pd, _mm256_storeu_pd, _mm256_unpackhi_pd,
        _mm256_unpacklo_pd,
    };
    let (rows4, cols4) = (rows - rows % 4, cols - cols % 4);
    for r0 in (0..rows4).step_by(4) {
        for c0 in (0..cols4).step_by(4) {
            let at = r0 * cols + c0;
            // Rows r0..r0 + 4 and columns c0..c0 + 4 lie inside src, their transposes inside
            // dst (both rows · cols long).
            assert!(at + 3 * cols + 4 <= src.len() && (c0 + 3) * rows + r0 + 4 <= dst.len());
            // SAFETY: every load reads 4 values at at + i·cols ≤ at + 3·cols, in bounds above.
            let [x0, x1, x2, x3] =
                [0, 1, 2, 3].map(|i| unsafe { _mm256_loadu_pd(src.as_ptr().add(at + i * cols)) });
            // (x0[0] x1[0] x0[2] x1[2]), (x0[1] x1[1] x0[3] x1[3]), likewise for x2, x3.
            let (t0, t1) = (_mm256_unpacklo_pd(x0, x1), _mm256_unpackhi_pd(x0, x1));
            let (t2, t3) = (_mm256_unpacklo_pd(x2, x3), _mm256_unpackhi_pd(x2, x3));
            // Column j of the block: the low halves for j = 0, 1, the high ones for j = 2, 3.
            let cols_of_block = [
                _mm256_permute2f128_pd::<0x20>(t0, t2),
                _mm256_permute2f128_pd::<0x20>(t1, t3),
                _mm256_permute2f128_pd::<0x31>(t0, t2),
                _mm256_permute2f128_pd::<0x31>(t1, t3),
            ];
            for (j, v) in cols_of_block.into_iter().enumerate() {
                // SAFETY: writes 4 values at (c0 + j)·rows + r0, in bounds above.
                unsafe { _mm256_storeu_pd(dst.as_mut_ptr().add((c0 + j) * rows + r0), v) };
            }
        }
    }
    for (r, row) in src.chunks_exact(cols).enumerate() {
        let first = if r < rows4 { cols4 } else { 0 };
        for (c, &v) in row.iter().enumerate().skip(first) {
            dst[c * rows + r] = v;
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
            (3, 0),
            (0, 3),
        ] {
            let src: Vec<f64> = (0..rows * cols).map(|i| i as f64).collect();
            let mut dst = vec![f64::NAN; rows * cols];
            transpose(&src, rows, cols, &mut dst);
            let mut dst_f64 = vec![f64::NAN; rows * cols];
            transpose_f64(&src, rows, cols, &mut dst_f64);
            assert_eq!(dst_f64, dst, "{rows} × {cols}");
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
