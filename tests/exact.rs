//! Samplers against exact posteriors: conjugate models whose posterior mean, sd and quantiles
//! are known in closed form, and prior-only runs of every constraint type (which catch a missing
//! log-Jacobian). Judged by Monte Carlo error, |z| < 4.5, with fixed seeds.

mod common;

use bnnppl::api::Model;
use bnnppl::draws::Draws;
use bnnppl::engine::{Hmc, Nuts};
use common::exact::{beta, check, gamma, normal, Exact};
use statrs::distribution::{ContinuousCDF, Normal};

fn sample(src: &str, data: &str, seed: u64) -> Draws {
    let model = Model::from_str("exact.bnn", src).unwrap_or_else(|e| panic!("{e}"));
    let post = model.bind_json(data).unwrap_or_else(|e| panic!("{e}"));
    let nuts = Nuts {
        chains: 4,
        warmup: 1000,
        draws: 1000,
        seed,
        ..Nuts::default()
    };
    post.sample(&nuts).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn normal_mean_with_known_variance() {
    // y_i ~ normal(mu, 2), mu ~ normal(1, 3): posterior precision 1/9 + n/4, mean
    // (1/9 · 1 + Σy/4) / precision.
    let y = [2.1, 3.4, 1.9, 2.8, 4.0, 2.5, 3.1, 1.2];
    let n = y.len() as f64;
    let prec = 1.0 / 9.0 + n / 4.0;
    let mean = (1.0 / 9.0 + y.iter().sum::<f64>() / 4.0) / prec;
    let src = "data { y: vector[N] } param { mu: real } prior { mu ~ normal(1, 3) } likelihood { y ~ normal(mu, 2) }";
    let draws = sample(src, &format!("{{\"y\": {y:?}}}"), 1);
    check(&draws, "mu", &normal(mean, prec.sqrt().recip()));
}

#[test]
fn linear_regression_with_known_noise() {
    // beta ~ normal(0, 2) (2 coefficients), y ~ normal(x·beta, 0.5): posterior precision
    // P = I/4 + XᵀX/0.25, mean P⁻¹ Xᵀy / 0.25.
    let x = [
        [1.0, 0.3],
        [1.0, -1.2],
        [1.0, 0.8],
        [1.0, 2.0],
        [1.0, -0.5],
        [1.0, 1.1],
    ];
    let y = [0.9, -1.5, 1.6, 3.2, -0.2, 1.7];
    let mut p = [[0.25, 0.0], [0.0, 0.25]];
    let mut b = [0.0, 0.0];
    for (row, yi) in x.iter().zip(y) {
        for i in 0..2 {
            b[i] += row[i] * yi / 0.25;
            for j in 0..2 {
                p[i][j] += row[i] * row[j] / 0.25;
            }
        }
    }
    let det = p[0][0] * p[1][1] - p[0][1] * p[1][0];
    let cov = [
        [p[1][1] / det, -p[0][1] / det],
        [-p[1][0] / det, p[0][0] / det],
    ];
    let mean = [
        cov[0][0] * b[0] + cov[0][1] * b[1],
        cov[1][0] * b[0] + cov[1][1] * b[1],
    ];
    let src = "data { x: matrix[N, 2] y: vector[N] } param { beta: vector[2] } prior { beta ~ normal(0, 2) } likelihood { y ~ normal(x * beta, 0.5) }";
    let data = format!("{{\"x\": {x:?}, \"y\": {y:?}}}");
    let draws = sample(src, &data, 2);
    check(&draws, "beta.1", &normal(mean[0], cov[0][0].sqrt()));
    check(&draws, "beta.2", &normal(mean[1], cov[1][1].sqrt()));
}

#[test]
fn beta_binomial_through_a_logit() {
    // p ~ beta(2, 3), k ~ binomial(n, p) written with the logit of p: posterior beta(2 + k, 3 + n − k).
    let src = "data { n: int[M] k: int[M] } param { p: real<lower=0, upper=1> } prior { p ~ beta(2, 3) } likelihood { k ~ binomial_logit(n, log(p) - log1p(-p)) }";
    let draws = sample(src, r#"{"n": [10, 7], "k": [6, 2]}"#, 3);
    check(&draws, "p", &beta(2.0 + 8.0, 3.0 + 9.0));
}

#[test]
fn poisson_rate_with_a_gamma_prior() {
    // lambda ~ gamma(3, 2), y ~ poisson(lambda): posterior gamma(3 + Σy, 2 + n).
    let y = [3, 1, 4, 2, 0, 5, 2];
    let src = "data { y: int[N] } param { lambda: real<lower=0> } prior { lambda ~ gamma(3, 2) } likelihood { y ~ poisson_log(log(lambda)) }";
    let draws = sample(src, &format!("{{\"y\": {y:?}}}"), 4);
    check(&draws, "lambda", &gamma(3.0 + 17.0, 2.0 + 7.0));
}

#[test]
fn normal_precision_with_a_gamma_prior() {
    // tau ~ gamma(2, 1), y ~ normal(0, 1/sqrt(tau)): posterior gamma(2 + n/2, 1 + Σy²/2).
    let y: [f64; 6] = [0.5, -1.2, 0.3, 2.0, -0.7, 1.1];
    let ss: f64 = y.iter().map(|v| v * v).sum();
    let src = "data { y: vector[N] } param { tau: real<lower=0> } prior { tau ~ gamma(2, 1) } likelihood { y ~ normal(0, 1 / sqrt(tau)) }";
    let draws = sample(src, &format!("{{\"y\": {y:?}}}"), 5);
    check(&draws, "tau", &gamma(2.0 + 3.0, 1.0 + ss / 2.0));
}

#[test]
fn exponential_rate_with_a_gamma_prior() {
    // lambda ~ gamma(2, 3), y ~ exponential(lambda): posterior gamma(2 + n, 3 + Σy).
    let y: [f64; 5] = [0.4, 1.3, 0.2, 2.2, 0.9];
    let src = "data { y: vector[N] } param { lambda: real<lower=0> } prior { lambda ~ gamma(2, 3) } likelihood { y ~ exponential(lambda) }";
    let draws = sample(src, &format!("{{\"y\": {y:?}}}"), 6);
    check(
        &draws,
        "lambda",
        &gamma(2.0 + 5.0, 3.0 + y.iter().sum::<f64>()),
    );
}

/// Mean, sd and quantile function of a density on [lo, hi] by quadrature (for truncated priors).
fn numeric(pdf: impl Fn(f64) -> f64, lo: f64, hi: f64) -> Exact {
    let n = 200_000;
    let h = (hi - lo) / n as f64;
    let xs: Vec<f64> = (0..n).map(|i| lo + (i as f64 + 0.5) * h).collect();
    let w: Vec<f64> = xs.iter().map(|&x| pdf(x) * h).collect();
    let z: f64 = w.iter().sum();
    let mean = xs.iter().zip(&w).map(|(x, w)| x * w).sum::<f64>() / z;
    let var = xs
        .iter()
        .zip(&w)
        .map(|(x, w)| (x - mean).powi(2) * w)
        .sum::<f64>()
        / z;
    let cdf: Vec<f64> = w
        .iter()
        .scan(0.0, |acc, wi| {
            *acc += wi / z;
            Some(*acc)
        })
        .collect();
    Exact {
        mean,
        sd: var.sqrt(),
        quantile: Box::new(move |p| {
            let i = cdf.partition_point(|&c| c < p).min(n - 1);
            xs[i]
        }),
    }
}

#[test]
fn prior_only_sampling_recovers_every_constraint_type() {
    // No likelihood: the draws follow the priors through each transform. A missing or wrong
    // log-Jacobian shifts these moments by far more than the Monte Carlo error.
    let src = "param {
      s: real<lower=0>
      t: real<lower=1>
      u: real<lower=-1, upper=3>
      v: real<upper=2>
      p: real<lower=0, upper=1>
      g: real<lower=0>
    }
    prior {
      s ~ normal(0, 1)
      t ~ normal(0, 2)
      u ~ uniform(-1, 3)
      v ~ logistic(1, 0.5)
      p ~ beta(2, 3)
      g ~ gamma(2, 1)
    }";
    let model = Model::from_str("prior.bnn", src).unwrap_or_else(|e| panic!("{e}"));
    let post = model.bind_json("{}").unwrap_or_else(|e| panic!("{e}"));
    let nuts = Nuts {
        chains: 4,
        warmup: 1000,
        draws: 1000,
        seed: 7,
        ..Nuts::default()
    };
    let draws = post.sample(&nuts).unwrap_or_else(|e| panic!("{e}"));
    // Half-normal: mean sqrt(2/pi), sd sqrt(1 − 2/pi).
    let half = Normal::new(0.0, 1.0).expect("normal");
    let s = Exact {
        mean: (2.0 / std::f64::consts::PI).sqrt(),
        sd: (1.0 - 2.0 / std::f64::consts::PI).sqrt(),
        quantile: Box::new(move |q| half.inverse_cdf(0.5 + q / 2.0)),
    };
    check(&draws, "s", &s);
    check(&draws, "t", &numeric(|x| (-x * x / 8.0).exp(), 1.0, 30.0));
    check(&draws, "u", &numeric(|_| 1.0, -1.0, 3.0));
    check(
        &draws,
        "v",
        &numeric(
            |x| {
                let e = (-(x - 1.0) / 0.5).exp();
                e / (1.0 + e).powi(2)
            },
            -40.0,
            2.0,
        ),
    );
    check(&draws, "p", &beta(2.0, 3.0));
    check(&draws, "g", &gamma(2.0, 1.0));
}

#[test]
fn static_hmc_recovers_a_normal_posterior() {
    let src = "data { y: vector[N] } param { mu: real } prior { mu ~ normal(0, 10) } likelihood { y ~ normal(mu, 1) }";
    let y = [0.3, -0.4, 1.2, 0.8, 0.1];
    let model = Model::from_str("hmc.bnn", src).unwrap_or_else(|e| panic!("{e}"));
    let post = model
        .bind_json(&format!("{{\"y\": {y:?}}}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let hmc = Hmc {
        chains: 4,
        warmup: 1000,
        draws: 1000,
        n_leapfrog: 8,
        seed: 8,
        ..Hmc::default()
    };
    let draws = post.sample_with(&hmc, 8).unwrap_or_else(|e| panic!("{e}"));
    let prec = 1.0 / 100.0 + 5.0;
    check(
        &draws,
        "mu",
        &normal(y.iter().sum::<f64>() / prec, prec.sqrt().recip()),
    );
}
