//! A gradient split over threads (`--threads-per-chain`, issue 15) is the same bits as on one
//! thread: on a network whose layers are large enough to be split (by output columns, and by
//! input columns where the layer's input needs a gradient) and whose adjoints are cleared in
//! parallel, at many points, and a NUTS run writes the same draws for T = 1, 2 and 3.

use bnnppl::api::Model;
use bnnppl::density::Density;
use rand::{RngExt, SeedableRng};
use std::process::Command;

mod common;
use common::draws_of;

/// 9 → 110 tanh → 8 tanh → 1 on 2,600 rows: the first layer's reverse sweep (≈2.6 M
/// multiply-adds, no input gradient) splits by output columns, the second's (≈2.3 M, input
/// gradient wanted) by input columns, both forward products by output columns, and the
/// adjoints to clear (more than 2¹⁸ values) are split too.
const MODEL: &str = "\
data {
  x: matrix[N, D]
  y: vector[N]
}
network f {
  dense(110, tanh)
  dense(8, tanh)
  dense(1)
}
param {
  sigma: real<lower=0>
}
prior {
  f.weight ~ normal(0, 1)
  f.bias ~ normal(0, 1)
  sigma ~ normal(0, 1)
}
likelihood {
  y ~ normal(f(x), sigma)
}
";

/// Seeded data: 2,600 rows of 9 inputs in (−2, 2), y a smooth function plus noise.
fn data_json() -> String {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(15);
    let (n, d) = (2600, 9);
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for _ in 0..n {
        let row: Vec<f64> = (0..d).map(|_| rng.random_range(-2.0..2.0)).collect();
        ys.push(format!(
            "{}",
            row[0].sin() + 0.3 * row[1] + rng.random_range(-0.1..0.1)
        ));
        let cells: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
        xs.push(format!("[{}]", cells.join(",")));
    }
    format!("{{\"x\": [{}], \"y\": [{}]}}", xs.join(","), ys.join(","))
}

#[test]
fn the_gradient_is_the_same_bits_on_any_number_of_threads() {
    let model = Model::from_str("threads.bnn", MODEL).unwrap_or_else(|e| panic!("{e}"));
    let post = model
        .bind_json(&data_json())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut one = post.evaluator();
    let mut many: Vec<_> = [2, 3]
        .into_iter()
        .map(|t| post.with_threads_per_chain(t).evaluator())
        .collect();
    let d = one.dim();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for _ in 0..5 {
        let theta: Vec<f64> = (0..d).map(|_| rng.random_range(-2.0..2.0)).collect();
        let mut g1 = vec![0.0; d];
        let lp1 = one.log_density_grad(&theta, &mut g1).expect("finite");
        let lp1_only = one.log_density(&theta).expect("finite");
        for (k, eval) in many.iter_mut().enumerate() {
            let mut g = vec![0.0; d];
            let lp = eval.log_density_grad(&theta, &mut g).expect("finite");
            assert_eq!(lp.to_bits(), lp1.to_bits(), "{} threads", k + 2);
            let differ = g1
                .iter()
                .zip(&g)
                .filter(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(differ.count(), 0, "{} threads", k + 2);
            let lp_only = eval.log_density(&theta).expect("finite");
            assert_eq!(lp_only.to_bits(), lp1_only.to_bits(), "{} threads", k + 2);
        }
    }
}

#[test]
fn nuts_writes_the_same_draws_on_any_number_of_threads_per_chain() {
    let dir = std::env::temp_dir().join(format!("bnnppl-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (model, data) = (dir.join("threads.bnn"), dir.join("threads.json"));
    std::fs::write(&model, MODEL).expect("model");
    std::fs::write(&data, data_json()).expect("data");
    let mut first: Option<String> = None;
    for t in ["1", "2", "3"] {
        let out = dir.join(format!("run-{t}"));
        let status = Command::new(env!("CARGO_BIN_EXE_bnnppl"))
            .args(["sample", model.to_str().expect("utf-8")])
            .args(["--data", data.to_str().expect("utf-8")])
            .args([
                "--chains",
                "1",
                "--warmup",
                "20",
                "--draws",
                "10",
                "--max-depth",
                "4",
            ])
            .args(["--threads-per-chain", t, "--quiet", "--output"])
            .arg(&out)
            .output()
            .expect("run bnnppl");
        assert!(status.status.success(), "{status:?}");
        let draws = draws_of(&out.join("chain_1.csv"));
        match &first {
            None => first = Some(draws),
            Some(want) => assert!(*want == draws, "--threads-per-chain {t} wrote other draws"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
