//! The Laplace approximation against closed forms: Bayesian linear regression with known noise
//! (an exact Gaussian posterior and evidence), the draws' covariance, the structures against
//! each other, and the refusal at a point whose curvature is not positive definite.

use super::*;
use crate::api::Model;
use crate::engine::map::Optimizer;
use crate::engine::{Init, RunControl, TraceFactory};
use crate::posterior::Posterior;

/// y ~ normal(alpha + x·beta, 0.5) with the noise known, normal(0, 10) priors: a Gaussian
/// posterior, on models/linear_regression.json (N = 50, D = 3).
fn known_noise() -> Posterior {
    let src = "data {\n  x: matrix[N, D]\n  y: vector[N]\n}\nparam {\n  alpha: real\n  \
               beta: vector[D]\n}\nprior {\n  alpha ~ normal(0, 10)\n  beta ~ normal(0, 10)\n}\n\
               likelihood {\n  y ~ normal(alpha + x * beta, 0.5)\n}\n";
    let model = Model::from_str("known_noise", src).expect("model");
    model
        .bind_file("models/linear_regression.json")
        .expect("data")
}

/// The data as X̃ = [1, x] (N × 4) and y.
fn design() -> (DMatrix<f64>, DVector<f64>) {
    let text = std::fs::read_to_string("models/linear_regression.json").expect("data");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let rows = json["x"].as_array().expect("x");
    let n = rows.len();
    let x = DMatrix::from_fn(n, 4, |r, c| {
        if c == 0 {
            1.0
        } else {
            rows[r][c - 1].as_f64().expect("number")
        }
    });
    let y = DVector::from_iterator(
        n,
        json["y"]
            .as_array()
            .expect("y")
            .iter()
            .map(|v| v.as_f64().expect("number")),
    );
    (x, y)
}

/// A MAP fit precise enough for a 1e-6 comparison: L-BFGS to ‖∇‖ < 1e-9.
fn precise(structure: Structure, curvature: Curvature, draws: usize) -> Laplace {
    Laplace {
        map: Map {
            optimizer: Optimizer::Lbfgs { memory: 10 },
            steps: 1000,
            grad_tol: 1e-9,
            ..Map::default()
        },
        structure,
        curvature,
        draws,
    }
}

fn run(laplace: &Laplace, post: &Posterior) -> (LaplaceResult, crate::engine::Trace) {
    let report = laplace
        .run(post, &TraceFactory::default(), &RunControl::default())
        .expect("fits");
    let fit = report.chains[0].fit.clone();
    (fit, report.into_trace())
}

#[test]
fn known_noise_regression_gives_the_exact_posterior_and_evidence() {
    // Conjugate closed form: P = Λ₀ + X̃ᵀX̃/σ², m = P⁻¹X̃ᵀy/σ², with Λ₀ = I/100 and σ = 0.5;
    // p(y) = N(y | 0, σ²I + X̃Λ₀⁻¹X̃ᵀ).
    let (x, y) = design();
    let n = y.len();
    let s2 = 0.25;
    let p = DMatrix::identity(4, 4) / 100.0 + x.transpose() * &x / s2;
    let cov = p.clone().cholesky().expect("pd").inverse();
    let mean = &cov * x.transpose() * &y / s2;
    let marginal = DMatrix::identity(n, n) * s2 + &x * x.transpose() * 100.0;
    let chol = marginal.clone().cholesky().expect("pd");
    let log_det: f64 = 2.0 * chol.l().diagonal().iter().map(|v| v.ln()).sum::<f64>();
    let quad = y.dot(&chol.solve(&y));
    let evidence = -0.5 * (n as f64 * (2.0 * std::f64::consts::PI).ln() + log_det + quad);

    let post = known_noise();
    for curvature in [Curvature::Hessian, Curvature::GaussNewton] {
        let (fit, _) = run(&precise(Structure::Full, curvature, 10), &post);
        let got = fit.covariance();
        for i in 0..4 {
            let m = fit.map.theta[i];
            assert!(
                (m - mean[i]).abs() <= 1e-6 * mean[i].abs(),
                "mean {i}: {m} vs exact {}",
                mean[i]
            );
            for j in 0..4 {
                let scale = (cov[(i, i)] * cov[(j, j)]).sqrt();
                assert!(
                    (got[(i, j)] - cov[(i, j)]).abs() <= 1e-6 * scale,
                    "cov[{i}, {j}]: {} vs exact {}",
                    got[(i, j)],
                    cov[(i, j)]
                );
            }
        }
        // Both are exact for a Gaussian posterior: the agreement is to rounding.
        assert!(
            (fit.log_evidence - evidence).abs() <= 1e-8 * evidence.abs(),
            "log evidence {} vs closed form {evidence}",
            fit.log_evidence
        );
    }
}

#[test]
fn draws_have_the_laplace_covariance() {
    // 200,000 draws; the sample covariance's Monte Carlo sd per entry is
    // √((Σᵢᵢ·Σⱼⱼ + Σᵢⱼ²)/n). A transposed factor gives L⁻¹L⁻ᵀ, a squared one Σ², both off by
    // many of those sds on this strongly correlated posterior (alpha and beta share rows).
    let post = known_noise();
    let (fit, _) = run(&precise(Structure::Full, Curvature::Hessian, 0), &post);
    let cov = fit.covariance();
    let mut rng = chain_rng(3, 0);
    let n = 200_000;
    let mut theta = vec![0.0; 4];
    let mut sum = DVector::zeros(4);
    let mut outer = DMatrix::zeros(4, 4);
    for _ in 0..n {
        fit.sample(&mut rng, &mut theta);
        let d = DVector::from_iterator(4, theta.iter().zip(&fit.map.theta).map(|(a, b)| a - b));
        sum += &d;
        outer += &d * d.transpose();
    }
    let mean = &sum / n as f64;
    let sample = outer / n as f64 - &mean * mean.transpose();
    for i in 0..4 {
        for j in 0..4 {
            let mcse = ((cov[(i, i)] * cov[(j, j)] + cov[(i, j)].powi(2)) / n as f64).sqrt();
            assert!(
                (sample[(i, j)] - cov[(i, j)]).abs() < 4.0 * mcse,
                "[{i}, {j}]: sample {} vs {} (mcse {mcse})",
                sample[(i, j)],
                cov[(i, j)]
            );
        }
    }
}

#[test]
fn the_run_writes_its_draws_around_the_mode() {
    let post = known_noise();
    let (fit, trace) = run(&precise(Structure::Full, Curvature::Hessian, 50), &post);
    assert_eq!(trace.chains[0].len(), 50);
    assert_eq!(fit.hessian_vector_products, 4);
    assert_ne!(trace.chains[0].draw(0), &fit.map.theta[..]);
}

fn bundled(name: &str) -> Posterior {
    let model = Model::from_file(format!("models/{name}.bnn")).expect("model");
    model
        .bind_file(format!("models/{name}.json"))
        .expect("data")
}

#[test]
fn diagonal_and_last_layer_are_blocks_of_the_full_precision() {
    // classifier.bnn: 2 → 16 tanh → 3; the last layer is 48 weights and 3 biases, θ 48..99.
    let post = bundled("classifier");
    let mut eval = post.evaluator();
    assert_eq!(eval.last_layer(), (48..99).collect::<Vec<_>>());
    let d = eval.dim();
    let theta: Vec<f64> = (0..d)
        .map(|k| ((k * 13 % 17) as f64 - 8.0) / 10.0)
        .collect();
    let all: Vec<usize> = (0..d).collect();
    let full = precision(&mut eval, &theta, &all, Curvature::Hessian).expect("finite");
    let layer = eval.last_layer().to_vec();
    let last = precision(&mut eval, &theta, &layer, Curvature::Hessian).expect("finite");
    let diag = diagonal_precision(&mut eval, &theta, Curvature::Hessian).expect("finite");
    for (i, p) in diag.iter().enumerate() {
        assert_eq!(*p, full[(i, i)]);
    }
    for (a, i) in (48..99).enumerate() {
        for (b, j) in (48..99).enumerate() {
            assert_eq!(last[(a, b)], full[(i, j)]);
        }
    }
    // The last-layer fit moves only the last layer in its draws.
    let laplace = Laplace {
        map: Map {
            optimizer: Optimizer::Lbfgs { memory: 10 },
            steps: 300,
            ..Map::default()
        },
        structure: Structure::LastLayer,
        curvature: Curvature::GaussNewton,
        draws: 5,
    };
    let (fit, trace) = run(&laplace, &post);
    assert_eq!(fit.coordinates.len(), 51);
    for k in 0..5 {
        let draw = trace.chains[0].draw(k);
        assert_eq!(&draw[..48], &fit.map.theta[..48]);
        assert_ne!(&draw[48..], &fit.map.theta[48..]);
    }
}

#[test]
fn gauss_newton_is_positive_semi_definite_on_a_classifier() {
    // Categorical in its logits and normal priors of fixed scale are convex, so the GGN is
    // PSD at any θ; the Hessian at a point far from the mode is not.
    let post = bundled("classifier");
    let d = post.layout().dim();
    let theta: Vec<f64> = (0..d).map(|k| ((k * 13 % 17) as f64 - 8.0) / 4.0).collect();
    let all: Vec<usize> = (0..d).collect();
    let eig = |c| {
        let p = precision(&mut post.evaluator(), &theta, &all, c).expect("finite");
        nalgebra::SymmetricEigen::new(p).eigenvalues
    };
    let ggn = eig(Curvature::GaussNewton);
    assert!(
        ggn.min() >= -1e-9 * ggn.max(),
        "GGN min eigenvalue {}",
        ggn.min()
    );
    let hess = eig(Curvature::Hessian);
    assert!(
        hess.min() < -1e-3 * hess.max(),
        "Hessian min eigenvalue {}",
        hess.min()
    );
}

/// log p = −x²/2 + cos y: a saddle at (0, π), where ∇ = 0 and ∂²/∂y² log p = +1.
struct Saddle;

impl Density for Saddle {
    fn dim(&self) -> usize {
        2
    }
    fn log_density(&mut self, t: &[f64]) -> Result<f64, DensityError> {
        Ok(-0.5 * t[0] * t[0] + t[1].cos())
    }
    fn log_density_grad(&mut self, t: &[f64], g: &mut [f64]) -> Result<f64, DensityError> {
        g[0] = -t[0];
        g[1] = -t[1].sin();
        self.log_density(t)
    }
    fn hessian_vector(
        &mut self,
        t: &[f64],
        v: &[f64],
        _: Curvature,
        hv: &mut [f64],
    ) -> Result<(), DensityError> {
        hv[0] = -v[0];
        hv[1] = -t[1].cos() * v[1];
        Ok(())
    }
}

impl crate::density::Target for Saddle {
    type Evaluator = Saddle;
    fn dim(&self) -> usize {
        2
    }
    fn evaluator(&self) -> Saddle {
        Saddle
    }
}

#[test]
fn a_saddle_is_refused_naming_its_coordinate() {
    for structure in [Structure::Full, Structure::Diagonal] {
        let laplace = Laplace {
            map: Map {
                init: Init::User(vec![0.0, std::f64::consts::PI]),
                ..Map::default()
            },
            structure,
            curvature: Curvature::Hessian,
            draws: 10,
        };
        let e = laplace
            .run(&Saddle, &TraceFactory::default(), &RunControl::default())
            .expect_err("refused");
        let text = e.to_string();
        assert!(matches!(e, EngineError::Approximation { .. }), "{text}");
        assert!(
            text.contains("not positive definite") && text.contains("along theta[1])"),
            "{structure}: {text}"
        );
    }
}
