//! A large data set's log-density and gradient, evaluated in blocks of rows
//! (`src/posterior/blocked.rs`), equal the whole program's and the forward-mode reference, are
//! the same bits on any number of threads, and a model whose rows are not independent is not
//! blocked.

use bnnppl::api::Model;
use bnnppl::density::{Density, Target, Weights};
use bnnppl::posterior::Posterior;
use rand::{RngExt, SeedableRng};

/// 4 → 16 tanh → 1 on `n` rows of seeded data.
fn network(n: usize) -> Posterior {
    let src = "\
data { x: matrix[N, D]  y: vector[N] }
network f { dense(16, tanh) dense(1) }
param { sigma: real<lower=0> }
prior { f.weight ~ normal(0, 1)  f.bias ~ normal(0, 1)  sigma ~ normal(0, 1) }
likelihood { y ~ normal(f(x), sigma) }
";
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(41);
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for _ in 0..n {
        let row: Vec<f64> = (0..4).map(|_| rng.random_range(-2.0..2.0)).collect();
        ys.push((row[0] * row[1]).tanh() + 0.1 * rng.random_range(-1.0..1.0));
        xs.push(row);
    }
    let json = serde_json::json!({ "x": xs, "y": ys }).to_string();
    Model::from_str("blocked.bnn", src)
        .unwrap_or_else(|e| panic!("{e}"))
        .bind_json(&json)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Seeded points θ in (−1, 1).
fn points(dim: usize) -> Vec<Vec<f64>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    (0..3)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect()
}

#[test]
fn blocks_give_the_whole_programs_density_and_the_reference_gradient() {
    // 5,000 rows: 19 blocks of 256 and a tail of 136, in 16 groups.
    let post = network(5000);
    assert_eq!(post.row_blocks(), Some(256));
    let mut eval = post.evaluator();
    let in_order: Vec<usize> = (0..5000).collect();
    // Every row, last first: a minibatch of all 5,000 rows, which the minibatch program of
    // that size evaluates whole (no blocks), its reverse sweep included.
    let reversed: Vec<usize> = (0..5000).rev().collect();
    let d = post.dim();
    let likelihood_only = Weights {
        prior: 0.0,
        likelihood: 1.0,
    };
    for theta in points(d) {
        let mut grad = vec![0.0; d];
        let lp = eval.log_density_grad(&theta, &mut grad).expect("finite");
        assert_eq!(lp, eval.log_density(&theta).expect("finite"));
        // The whole program's value; only the order of the sums differs: 1e-12 relative.
        let e = eval.split(&theta).expect("finite");
        let lp_whole = e.prior + e.likelihood;
        assert!(
            (lp - lp_whole).abs() <= 1e-12 * lp_whole.abs(),
            "{lp} vs {lp_whole}"
        );
        let mut whole = vec![0.0; d];
        eval.minibatch_grad(&theta, &reversed, &mut whole)
            .expect("finite");
        // All rows in order (what full-batch optimizers ask for) are blocked: the same bits.
        let mut all_rows = vec![0.0; d];
        let split = eval
            .minibatch_grad(&theta, &in_order, &mut all_rows)
            .expect("finite");
        assert_eq!(split.prior + split.likelihood, lp);
        assert_eq!(all_rows, grad);
        // The likelihood alone (the prior weighted 0), blocked and whole.
        let (mut lik_blocked, mut lik_whole) = (vec![0.0; d], vec![0.0; d]);
        eval.minibatch_grad_weighted(&theta, &in_order, likelihood_only, &mut lik_blocked)
            .expect("finite");
        eval.minibatch_grad_weighted(&theta, &reversed, likelihood_only, &mut lik_whole)
            .expect("finite");
        let (lp_ref, grad_ref) = eval.reference_gradient(&theta);
        assert!((lp - lp_ref).abs() <= 1e-10 * lp_ref.abs());
        for i in 0..d {
            let scale = 1.0 + grad_ref[i].abs();
            for (what, got, want) in [
                ("whole", grad[i], whole[i]),
                ("forward mode", grad[i], grad_ref[i]),
                ("likelihood alone", lik_blocked[i], lik_whole[i]),
            ] {
                assert!(
                    (got - want).abs() <= 1e-10 * scale,
                    "component {i}: {got} blocked vs {want} {what}"
                );
            }
        }
    }
}

#[test]
fn blocks_are_the_same_bits_on_any_number_of_threads() {
    let post = network(5000);
    let d = post.dim();
    let run = |threads: usize| {
        let mut eval = post.with_threads_per_chain(threads).evaluator();
        points(d)
            .iter()
            .map(|theta| {
                let mut grad = vec![0.0; d];
                let lp = eval.log_density_grad(theta, &mut grad).expect("finite");
                (
                    lp.to_bits(),
                    grad.iter().map(|g| g.to_bits()).collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>()
    };
    let one = run(1);
    assert_eq!(run(2), one);
    assert_eq!(run(3), one);
}

#[test]
fn small_data_and_rows_that_are_not_independent_are_not_blocked() {
    assert_eq!(network(4095).row_blocks(), None);
    // mean(x) mixes every row into each row's mean: blocks would each use their own mean.
    let mixed = "\
data { x: vector[N]  y: vector[N] }
param { mu: real  sigma: real<lower=0> }
prior { mu ~ normal(0, 1)  sigma ~ normal(0, 1) }
likelihood { y ~ normal(mu + x - mean(x), sigma) }
";
    let n = 5000;
    let xs: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
    let ys: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos()).collect();
    let json = serde_json::json!({ "x": xs, "y": ys }).to_string();
    let post = Model::from_str("mixed.bnn", mixed)
        .unwrap_or_else(|e| panic!("{e}"))
        .bind_json(&json)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(post.row_blocks(), None);
    // Without mean(x) the same model is blocked.
    let apart = mixed.replace(" - mean(x)", "");
    let post = Model::from_str("apart.bnn", &apart)
        .unwrap_or_else(|e| panic!("{e}"))
        .bind_json(&json)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(post.row_blocks(), Some(256));
    // A likelihood term that is not over the rows would be counted once per block.
    let scalar = "\
data { x: vector[N]  y: vector[N]  s: real }
param { mu: real  sigma: real<lower=0> }
prior { mu ~ normal(0, 1)  sigma ~ normal(0, 1) }
likelihood { y ~ normal(mu + x, sigma)  s ~ normal(mu, 1) }
";
    let json = serde_json::json!({ "x": xs, "y": ys, "s": 0.5 }).to_string();
    let post = Model::from_str("scalar.bnn", scalar)
        .unwrap_or_else(|e| panic!("{e}"))
        .bind_json(&json)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(post.row_blocks(), None);
}
