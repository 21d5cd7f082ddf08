//! Matrix products on arena slices through strided gemm (matrixmultiply), so layouts and
//! transposes cost nothing.

/// C (m × n) = beta·C + A·B with A m × k, B k × n and C each given by (row stride, column
/// stride); a column-major r × c block has strides (1, r).
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f64],
    a_strides: (isize, isize),
    b: &[f64],
    b_strides: (isize, isize),
    beta: f64,
    c: &mut [f64],
    c_strides: (isize, isize),
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        fits(a, m, k, a_strides) && fits(b, k, n, b_strides) && fits(c, m, n, c_strides),
        "internal: gemm operands smaller than their strides address"
    );
    // SAFETY: every element the strides address lies inside its slice (asserted above).
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            a_strides.0,
            a_strides.1,
            b.as_ptr(),
            b_strides.0,
            b_strides.1,
            beta,
            c.as_mut_ptr(),
            c_strides.0,
            c_strides.1,
        );
    }
}

/// True when an r × c block with non-negative `strides` lies inside `v`.
fn fits(v: &[f64], r: usize, c: usize, strides: (isize, isize)) -> bool {
    if r == 0 || c == 0 {
        return true;
    }
    let (rs, cs) = (strides.0 as usize, strides.1 as usize);
    strides.0 >= 0 && strides.1 >= 0 && (r - 1) * rs + (c - 1) * cs < v.len()
}
