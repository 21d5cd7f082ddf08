//! Gradients of every bundled model and of bad-geometry cases: the reverse sweep against a
//! 6th-order central finite difference and against the full forward-mode num-dual gradient.

use bnnppl::api::Model;
use bnnppl::autodiff::reference::{eval_generic, forward_mode_gradient};
use bnnppl::density::Density;
use bnnppl::posterior::Posterior;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn posterior(stem: &str) -> Posterior {
    let dir = if std::path::Path::new(&format!("models/{stem}.bnn")).exists() {
        "models"
    } else {
        "tests/models"
    };
    let model = Model::from_file(format!("{dir}/{stem}.bnn")).unwrap_or_else(|e| panic!("{e}"));
    model
        .bind_file(format!("{dir}/{stem}.json"))
        .unwrap_or_else(|e| panic!("{e}"))
}

const BUNDLED: [&str; 8] = [
    "regression_1d",
    "heteroscedastic",
    "classifier",
    "hierarchical_bnn",
    "linear_regression",
    "logistic_regression",
    "eight_schools",
    "bnn_toy",
];
const GEOMETRY: [&str; 4] = ["activations", "priors", "counts", "funnel"];

/// Random points uniform(−2, 2) on the unconstrained scale, as Stan initializes.
fn points(dim: usize, n: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..dim).map(|_| rng.random_range(-2.0..2.0)).collect())
        .collect()
}

/// Central difference with the 6th-order stencil (error O(h⁶)).
fn fd_gradient(f: &mut dyn FnMut(&[f64]) -> f64, theta: &[f64]) -> Vec<f64> {
    let mut t = theta.to_vec();
    (0..theta.len())
        .map(|k| {
            let h = 1e-3 * theta[k].abs().max(1.0);
            let mut at = |d: f64| {
                t[k] = theta[k] + d * h;
                let v = f(&t);
                t[k] = theta[k];
                v
            };
            // f'(x) ≈ [−f(x−3h) + 9f(x−2h) − 45f(x−h) + 45f(x+h) − 9f(x+2h) + f(x+3h)] / 60h
            (-at(-3.0) + 9.0 * at(-2.0) - 45.0 * at(-1.0) + 45.0 * at(1.0) - 9.0 * at(2.0)
                + at(3.0))
                / (60.0 * h)
        })
        .collect()
}

fn check_against_fd(stem: &str) {
    let post = posterior(stem);
    let mut eval = post.evaluator();
    let mut value_eval = post.evaluator();
    let d = post.layout().dim();
    let mut grad = vec![0.0; d];
    let mut worst = 0.0f64;
    for (i, theta) in points(d, 25, 11).iter().enumerate() {
        let lp = eval
            .log_density_grad(theta, &mut grad)
            .unwrap_or_else(|e| panic!("{stem} point {i}: {e}"));
        let lp_value = value_eval.log_density(theta).expect("value");
        assert!(
            (lp - lp_value).abs() <= 1e-12 * lp.abs().max(1.0),
            "{stem}: value paths disagree {lp} vs {lp_value}"
        );
        let fd = fd_gradient(&mut |t| value_eval.log_density(t).expect("finite"), theta);
        for k in 0..d {
            let scale = grad[k].abs().max(fd[k].abs()).max(1.0);
            let rel = (grad[k] - fd[k]).abs() / scale;
            worst = worst.max(rel);
            assert!(
                rel < 1e-6,
                "{stem} point {i} coordinate {k}: reverse {} vs finite difference {} (rel {rel:e})",
                grad[k],
                fd[k]
            );
        }
    }
    eprintln!("{stem}: worst relative difference to finite differences {worst:e}");
}

fn check_against_forward_mode(stem: &str) {
    let post = posterior(stem);
    let mut eval = post.evaluator();
    let d = post.layout().dim();
    let mut grad = vec![0.0; d];
    let program = post.program();
    for (i, theta) in points(d, 25, 12).iter().enumerate() {
        let lp = eval.log_density_grad(theta, &mut grad).expect("finite");
        let (lp_ref, grad_ref) = forward_mode_gradient(program, &program.init, theta, 1.0);
        assert!(
            (lp - lp_ref).abs() <= 1e-10 * lp.abs().max(1.0),
            "{stem} point {i}: value {lp} vs reference {lp_ref}"
        );
        for k in 0..d {
            let scale = grad_ref[k].abs().max(1.0);
            assert!(
                (grad[k] - grad_ref[k]).abs() <= 1e-10 * scale,
                "{stem} point {i} coordinate {k}: reverse {} vs forward mode {}",
                grad[k],
                grad_ref[k]
            );
        }
    }
}

#[test]
fn bundled_models_match_finite_differences() {
    for stem in BUNDLED {
        check_against_fd(stem);
    }
}

#[test]
fn bad_geometry_cases_match_finite_differences() {
    for stem in GEOMETRY {
        check_against_fd(stem);
    }
}

#[test]
fn every_model_matches_the_forward_mode_num_dual_gradient() {
    for stem in BUNDLED.iter().chain(GEOMETRY.iter()) {
        check_against_forward_mode(stem);
    }
}

#[test]
fn value_without_partials_equals_the_generic_evaluator() {
    // The f64 fast path and the generic evaluator on plain f64 are two implementations of the
    // same program; they must agree to rounding.
    for stem in BUNDLED.iter().chain(GEOMETRY.iter()) {
        let post = posterior(stem);
        let mut eval = post.evaluator();
        let p = post.program();
        for theta in points(post.layout().dim(), 5, 13) {
            let (prior, lik) = eval_generic::<f64>(p, &p.init, &theta);
            let lp = eval.log_density(&theta).expect("finite");
            assert!(
                (lp - (prior + lik)).abs() <= 1e-10 * lp.abs().max(1.0),
                "{stem}: {lp} vs {}",
                prior + lik
            );
        }
    }
}

#[test]
fn minibatch_gradients_average_to_the_full_gradient() {
    // Over an epoch of disjoint batches covering every row, the average of the scaled minibatch
    // gradients equals the full gradient: Σ_b [∇prior + (N/B)∇lik_b] / (N/B) = ∇prior + ∇lik.
    for stem in ["regression_1d", "classifier", "linear_regression"] {
        let post = posterior(stem);
        let n = post.n_rows();
        // The largest batch size of at most N/3 that divides N, so batches tile the rows.
        let b = (1..=n / 3)
            .rev()
            .find(|b| n.is_multiple_of(*b))
            .expect("a divisor");
        let d = post.layout().dim();
        let mut eval = post.evaluator();
        let theta = &points(d, 1, 14)[0];
        let mut full = vec![0.0; d];
        eval.log_density_grad(theta, &mut full).expect("finite");
        let mut avg = vec![0.0; d];
        let mut g = vec![0.0; d];
        let batches = n / b;
        // A fixed permutation of rows, so batches are not contiguous.
        let rows: Vec<usize> = (0..n).map(|i| (i * 7 + 3) % n).collect();
        assert!(!n.is_multiple_of(7));
        for chunk in rows.chunks(b) {
            eval.minibatch_grad(theta, chunk, &mut g).expect("finite");
            for k in 0..d {
                avg[k] += g[k] / batches as f64;
            }
        }
        for k in 0..d {
            assert!(
                (avg[k] - full[k]).abs() <= 1e-10 * full[k].abs().max(1.0),
                "{stem} coordinate {k}: {} vs {}",
                avg[k],
                full[k]
            );
        }
        // With every row in order, the minibatch path is the full density.
        let all: Vec<usize> = (0..n).collect();
        let split = eval.minibatch_grad(theta, &all, &mut g).expect("finite");
        let lp = eval.log_density(theta).expect("finite");
        assert!((split.prior + split.likelihood - lp).abs() < 1e-12 * lp.abs().max(1.0));
    }
}
