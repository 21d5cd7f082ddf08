//! Simulation-based calibration, small and fast (issue 16, part 5): NUTS's ranks on the
//! constrained-scale study of bench/sbc pass the χ² test, and the same study fitted with a
//! deliberately wrong posterior (the likelihood's noise halved: too confident) is rejected.
//! The 200-replication runs of every study are bench/sbc/run.sh.

use bnnppl::api::Model;
use bnnppl::engine::Nuts;
use bnnppl::sbc::{Calibration, PriorDraw, Sbc};

fn scale_study(model: Model) -> Sbc {
    let generator = Model::from_file("bench/sbc/scale_gen.bnn")
        .expect("generator")
        .bind_json("{}")
        .expect("binds");
    let base = std::fs::read_to_string("bench/sbc/scale.json").expect("data");
    Sbc {
        model,
        base: serde_json::from_str(&base).expect("json"),
        simulated: ("y".into(), "y_rep".into()),
        rows: 10,
        quantities: vec!["alpha".into(), "beta".into(), "sigma".into()],
        prior: PriorDraw::Generator(generator),
        reps: 100,
        thin_to: 99,
        seed: 3,
    }
}

/// 100 replications, one chain of 300 + 500 draws each, ranks among 99 thinned draws in 10 bins
/// (10 expected per bin).
fn calibrate(model: Model) -> Vec<Calibration> {
    scale_study(model)
        .run(
            |seed| Nuts {
                chains: 1,
                warmup: 300,
                draws: 500,
                seed,
                ..Nuts::default()
            },
            10,
            |_| {},
        )
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn nuts_is_calibrated_and_a_wrong_posterior_is_not() {
    let source = std::fs::read_to_string("bench/sbc/scale.bnn").expect("model");
    for c in calibrate(Model::from_str("scale.bnn", &source).expect("model")) {
        assert!(
            c.p_value > 0.001,
            "{}: chi2 {} on {} df, p {}, counts {:?}",
            c.name,
            c.chi2,
            c.df,
            c.p_value,
            c.counts
        );
    }
    // The data come from noise sigma; the fit believes sigma / 2, so its posterior of alpha
    // and beta is too narrow (the true values pile up in the outer ranks) and sigma's sits
    // too high (its true value ranks low).
    let wrong = source.replace(
        "y ~ normal(alpha + beta * x, sigma)",
        "y ~ normal(alpha + beta * x, sigma / 2)",
    );
    assert_ne!(wrong, source);
    let worst = calibrate(Model::from_str("wrong.bnn", &wrong).expect("model"))
        .into_iter()
        .map(|c| c.p_value)
        .fold(f64::INFINITY, f64::min);
    assert!(worst < 1e-6, "a wrong posterior passed: p {worst}");
}
