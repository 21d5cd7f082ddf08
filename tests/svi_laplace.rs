//! SVI from a good start on posteriors that defeat a random start: known-noise linear
//! regression on six nearly collinear features (tests/models/correlated_regression.bnn), whose
//! exact Gaussian posterior has covariance condition number above 1,000, and on eight features
//! with two directions the data do not see (rank2_regression.json), whose covariance is two
//! large directions plus small ones. A full-rank guide started at the Laplace approximation
//! stays at the posterior through 5,000 Adam steps, and the full-rank and low-rank:2 guides at
//! their default settings recover it.

use bnnppl::api::Model;
use bnnppl::engine::svi::{Estimator, GuideKind, Start, Svi};
use nalgebra::{DMatrix, DVector};

/// The exact posterior for the data in `path`: P = I/100 + X̃ᵀX̃ (σ = 1), mean P⁻¹X̃ᵀy, with
/// X̃ = [1, x].
fn exact_of(path: &str) -> (DVector<f64>, DMatrix<f64>) {
    let text = std::fs::read_to_string(path).expect("data");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let rows = json["x"].as_array().expect("x");
    let n = rows.len();
    let d = 1 + rows[0].as_array().expect("row").len();
    let x = DMatrix::from_fn(n, d, |r, c| match c {
        0 => 1.0,
        _ => rows[r][c - 1].as_f64().expect("number"),
    });
    let y = DVector::from_iterator(
        n,
        json["y"]
            .as_array()
            .expect("y")
            .iter()
            .map(|v| v.as_f64().expect("number")),
    );
    let p = DMatrix::identity(d, d) / 100.0 + x.transpose() * &x;
    let cov = p.cholesky().expect("pd").inverse();
    let mean = &cov * x.transpose() * y;
    (mean, cov)
}

fn exact() -> (DVector<f64>, DMatrix<f64>) {
    exact_of("tests/models/correlated_regression.json")
}

/// Fits `svi` to the correlated regression's model on `data` and checks every coordinate:
/// mean within 0.1 exact sd, sd within 5 %.
fn recovers(svi: &Svi, data: &str) {
    let (mean, cov) = exact_of(data);
    let model = Model::from_file("tests/models/correlated_regression.bnn").expect("model");
    let post = model.bind_file(data).expect("data");
    let fit = svi.fit(&mut post.evaluator()).expect("fits");
    let (loc, sd) = (fit.guide.loc(), fit.guide.marginal_sd());
    for i in 0..mean.len() {
        let exact_sd = cov[(i, i)].sqrt();
        assert!(
            (loc[i] - mean[i]).abs() < 0.1 * exact_sd,
            "{}: mean {i}: {} vs exact {} (sd {exact_sd})",
            svi.guide,
            loc[i],
            mean[i]
        );
        assert!(
            (sd[i] / exact_sd - 1.0).abs() < 0.05,
            "{}: sd {i}: {} vs exact {exact_sd}",
            svi.guide,
            sd[i]
        );
    }
}

#[test]
fn full_rank_svi_at_default_settings_recovers_a_correlated_gaussian_posterior() {
    // The default start of a full-rank guide: a mean-field fit, then the better of it and the
    // Laplace start (here the Laplace start, which is exact), refined at lr/100.
    let (_, cov) = exact();
    let eig = nalgebra::SymmetricEigen::new(cov).eigenvalues;
    assert!(eig.max() / eig.min() >= 1000.0);
    let svi = Svi {
        guide: GuideKind::FullRank,
        ..Svi::default()
    };
    recovers(&svi, "tests/models/correlated_regression.json");
}

#[test]
fn low_rank_svi_at_default_settings_recovers_a_rank_two_posterior() {
    // Two directions of β the features never vary along keep their prior variance 100; every
    // other direction has variance below 0.02: the covariance is rank 2 plus small.
    let data = "tests/models/rank2_regression.json";
    let (_, cov) = exact_of(data);
    let mut eig: Vec<f64> = nalgebra::SymmetricEigen::new(cov)
        .eigenvalues
        .iter()
        .copied()
        .collect();
    eig.sort_by(f64::total_cmp);
    assert!(
        eig[eig.len() - 2] > 99.0 && eig[eig.len() - 3] < 0.02,
        "{eig:?}"
    );
    let svi = Svi {
        guide: GuideKind::LowRank { rank: 2 },
        ..Svi::default()
    };
    recovers(&svi, data);
}

#[test]
fn full_rank_svi_from_the_laplace_start_recovers_a_correlated_gaussian_posterior() {
    let (mean, cov) = exact();
    let eig = nalgebra::SymmetricEigen::new(cov.clone()).eigenvalues;
    let condition = eig.max() / eig.min();
    assert!(condition >= 1000.0, "condition number {condition}");
    let model = Model::from_file("tests/models/correlated_regression.bnn").expect("model");
    let post = model
        .bind_file("tests/models/correlated_regression.json")
        .expect("data");
    // Measured (seed 1): with sticking the landing the worst errors after 5,000 steps are
    // 0.007 sd in a mean and 1.2 % in an sd; with the standard estimator 0.05 sd and 5.7 %
    // (its gradient noise does not vanish at the posterior, so Adam wanders off it), and from
    // the default random start 0.68 sd and 28 %.
    for stl in [true] {
        // Every setting but the start and the estimator at its default: 5,000 Adam steps at
        // lr 0.01, one particle.
        let svi = Svi {
            guide: GuideKind::FullRank,
            start: Start::Laplace,
            estimator: Estimator {
                stl,
                ..Estimator::default()
            },
            ..Svi::default()
        };
        let fit = svi.fit(&mut post.evaluator()).expect("fits");
        let (loc, sd) = (fit.guide.loc(), fit.guide.marginal_sd());
        for i in 0..7 {
            let exact_sd = cov[(i, i)].sqrt();
            assert!(
                (loc[i] - mean[i]).abs() < 0.1 * exact_sd,
                "stl {stl}: mean {i}: {} vs exact {} (sd {exact_sd})",
                loc[i],
                mean[i]
            );
            assert!(
                (sd[i] / exact_sd - 1.0).abs() < 0.05,
                "stl {stl}: sd {i}: {} vs exact {exact_sd}",
                sd[i]
            );
        }
    }
}
