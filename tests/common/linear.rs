//! Bayesian linear regression with known noise, whose posterior is an exact Gaussian: the
//! reference model of the SVI, MAP and ensemble tests.

use bnnppl::api::Model;
use bnnppl::engine::rng::chain_rng;
use bnnppl::posterior::Posterior;
use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use rand_distr::StandardNormal;

/// Linear regression with known noise: y ~ normal(x β, σ), β ~ normal(0, τ).
pub const LINEAR: &str = r#"
data { x: matrix[N, D]  y: vector[N]  sigma: vector[N] }
param { beta: vector[D] }
prior { beta ~ normal(0, 2) }
likelihood { y ~ normal(x * beta, sigma) }
predict { mu = x * beta }
"#;
pub const TAU: f64 = 2.0;
pub const SIGMA: f64 = 0.5;
pub const N: usize = 40;

/// Data with correlated columns (x1 = 0.8 z0 + 0.6 z1), so the mean-field variances
/// 1/Λ_ii differ clearly from the exact marginal variances (Λ⁻¹)_ii.
pub fn linear_data() -> (DMatrix<f64>, DVector<f64>, String) {
    let mut rng = chain_rng(11, 0);
    let mut x = DMatrix::zeros(N, 3);
    let mut y = DVector::zeros(N);
    for i in 0..N {
        let z: [f64; 3] = [
            rng.sample(StandardNormal),
            rng.sample(StandardNormal),
            rng.sample(StandardNormal),
        ];
        x[(i, 0)] = z[0];
        x[(i, 1)] = 0.8 * z[0] + 0.6 * z[1];
        x[(i, 2)] = z[2];
        let e: f64 = rng.sample(StandardNormal);
        y[i] = 1.0 * x[(i, 0)] - 0.5 * x[(i, 1)] + 0.3 * x[(i, 2)] + SIGMA * e;
    }
    let rows: Vec<String> = (0..N)
        .map(|i| format!("[{:?}, {:?}, {:?}]", x[(i, 0)], x[(i, 1)], x[(i, 2)]))
        .collect();
    let ys: Vec<String> = y.iter().map(|v| format!("{v:?}")).collect();
    let json = format!(
        r#"{{"N": {N}, "D": 3, "x": [{}], "y": [{}], "sigma": [{}]}}"#,
        rows.join(", "),
        ys.join(", "),
        vec![format!("{SIGMA:?}"); N].join(", ")
    );
    (x, y, json)
}

pub fn linear_posterior() -> (Posterior, DVector<f64>, DMatrix<f64>) {
    let (x, y, json) = linear_data();
    let model = Model::from_str("linear.bnn", LINEAR).unwrap_or_else(|e| panic!("{e}"));
    let post = model.bind_json(&json).unwrap_or_else(|e| panic!("{e}"));
    // Conjugate posterior: Λ = XᵀX/σ² + I/τ², μ = Λ⁻¹ Xᵀy/σ².
    let precision = x.transpose() * &x / (SIGMA * SIGMA) + DMatrix::identity(3, 3) / (TAU * TAU);
    let cov = precision.clone().try_inverse().expect("invertible");
    let mean = &cov * x.transpose() * y / (SIGMA * SIGMA);
    (post, mean, precision)
}
