//! Tests of the dense layer kernels: the direct loops and gemm against the definitions, and where
//! the activation is fused into the forward product.

use super::*;

/// A deterministic matrix of `n` values in (−1, 1).
fn values(n: usize, seed: usize) -> Vec<f64> {
    (0..n)
        .map(|i| (((i * 7919 + seed * 104_729) % 2001) as f64 - 1000.0) / 1000.0)
        .collect()
}

#[test]
fn the_activation_is_fused_only_into_direct_products_of_several_chunks() {
    // 45,000 × 9 → 100: direct loops (9 < GEMM_MIN_DIM), chunks of 224 rows, Z 36 MB.
    assert!(fuses_activation(45_000, 9, 100));
    // One chunk: 100 rows of 3 inputs (a chunk holds up to 512 rows).
    assert!(!fuses_activation(100, 3, 5));
    // bnn_mlp50: 397 × 10 → 50 is two chunks of 192 rows and the rest, but Z is 159 KB.
    assert!(!fuses_activation(397, 10, 50));
    // A 256-row block of the protein shape: Z 205 KB.
    assert!(!fuses_activation(256, 9, 100));
    // 500 × 13 → 100 goes to gemm, which finishes Z before any piece could be handed over.
    assert!(!fuses_activation(500, 13, 100));
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
        (1003, 9, 7),
        (301, 100, 3),
        (20_011, 9, 7),
        (12_007, 100, 1),
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
                forward_direct(
                    &x,
                    &w,
                    Some(&b),
                    &mut z,
                    rows,
                    width,
                    (0..width, 0..rows),
                    None,
                );
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
        // The direct product hands every element of Z to `post` exactly once, finished, on
        // one thread or split over several (by columns, or by rows when too few columns).
        let mut plain = vec![0.0; rows * width];
        forward_direct(
            &x,
            &w,
            Some(&b),
            &mut plain,
            rows,
            width,
            (0..width, 0..rows),
            None,
        );
        for threads in [1, 2, 3] {
            let pool = Pool::new(threads);
            let mut z = vec![0.0; rows * width];
            let seen = std::sync::Mutex::new((vec![0u32; rows * width], vec![0.0; rows * width]));
            let post = |o: usize, r0: usize, piece: &mut [f64]| {
                let mut s = seen.lock().unwrap();
                for (k, v) in piece.iter_mut().enumerate() {
                    s.0[o * rows + r0 + k] += 1;
                    s.1[o * rows + r0 + k] = 2.0 * *v;
                    *v = -*v;
                }
            };
            // Below the threshold for threads, the pool is used only when forced here.
            let big = rows * fan_in * width >= PARALLEL_MACS;
            forward_split(
                &x,
                &w,
                Some(&b),
                &mut z,
                rows,
                width,
                Some(&post),
                Some(&pool),
            );
            let (seen, doubled) = seen.into_inner().unwrap();
            let case = format!("{rows} × {fan_in} → {width}, {threads} threads ({big})");
            assert!(seen.iter().all(|&c| c == 1), "{case}");
            for k in 0..rows * width {
                assert_eq!(z[k], -plain[k], "{case}");
                assert_eq!(doubled[k], 2.0 * plain[k], "{case}");
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
        // dX = G·W written over stale values has the bits of dX += G·W on a cleared dX.
        let mut cleared = vec![0.0; rows * fan_in];
        input_grad(&g, &w, &mut cleared, rows, fan_in, width);
        let mut fresh = vec![f64::NAN; rows * fan_in];
        input_grad_fresh(&g, &w, &mut fresh, rows, fan_in, width);
        for k in 0..rows * fan_in {
            assert_eq!(fresh[k].to_bits(), cleared[k].to_bits(), "fresh dX at {k}");
        }
        // G ⊙ D with db += Σ_r (G ⊙ D)(r, o) in one pass: the bits of the two passes.
        let d = values(rows * width, 5);
        let (mut g2, mut db2) = (g.clone(), vec![1.0; width]);
        scale_and_bias_grad(&mut g2, &d, &mut db2, rows);
        let g1: Vec<f64> = g.iter().zip(&d).map(|(a, b)| a * b).collect();
        let mut db1 = vec![1.0; width];
        bias_grad(&g1, &mut db1, rows);
        assert!(g1.iter().zip(&g2).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert!(db1
            .iter()
            .zip(&db2)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        // db(o) = 1 + Σ_r G(r, o)
        let mut db = vec![1.0; width];
        bias_grad(&g, &mut db, rows);
        for o in 0..width {
            let want = 1.0 + (0..rows).map(|r| g[o * rows + r]).sum::<f64>();
            assert!((db[o] - want).abs() < tol, "db({o})");
        }
    }
}
