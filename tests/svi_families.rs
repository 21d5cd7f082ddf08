//! The richer guide never ends below mean field: on every bundled network model, full-rank and
//! low-rank SVI at their default settings end at an ELBO at or above mean field's, each ELBO
//! estimated on many draws from the fitted guide (issue 14).

use bnnppl::api::Model;
use bnnppl::engine::rng::chain_rng;
use bnnppl::engine::svi::{elbo_estimate, Guide, GuideKind, Svi};

/// Draws of each final ELBO estimate.
const DRAWS: usize = 4000;

/// The bundled models with a network, each with its bundled data.
const NETWORK_MODELS: [&str; 9] = [
    "bnn_toy",
    "classifier",
    "heteroscedastic",
    "hierarchical_bnn",
    "regression_1d",
    "uci_dropout",
    "uci_nuts",
    "uci_nuts_neal",
    "uci_svi",
];

#[test]
fn full_and_low_rank_elbos_end_at_or_above_mean_field_on_every_bundled_network() {
    let mut failures = Vec::new();
    for name in NETWORK_MODELS {
        let model = Model::from_file(format!("models/{name}.bnn")).expect("model");
        let post = model
            .bind_file(format!("models/{name}.json"))
            .expect("data");
        let elbo = |guide: GuideKind| {
            let fit = Svi {
                guide,
                ..Svi::default()
            }
            .fit(&mut post.evaluator())
            .expect("fits");
            let mut rng = chain_rng(99, 0);
            elbo_estimate(&fit.guide, &mut post.evaluator(), DRAWS, &mut rng)
        };
        let (mf, mf_se) = elbo(GuideKind::MeanField);
        for kind in [GuideKind::FullRank, GuideKind::LowRank { rank: 5 }] {
            let (e, se) = elbo(kind);
            // Below mean field by more than 4.5 standard errors of the difference fails.
            let z = (mf - e) / (mf_se * mf_se + se * se).sqrt();
            println!("{name}: mean field {mf:.2} ± {mf_se:.2}, {kind} {e:.2} ± {se:.2}, z {z:.1}");
            if z > 4.5 {
                failures.push(format!(
                    "{name}: {kind} {e:.2} below mean field {mf:.2} (z {z:.1})"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_warm_start_of_another_family_or_size_is_refused() {
    let model = Model::from_file("models/bnn_toy.bnn").expect("model");
    let post = model.bind_file("models/bnn_toy.json").expect("data");
    let d = post.layout().dim();
    let mut rng = chain_rng(1, 0);
    let mean_field = Guide::new(GuideKind::MeanField, &vec![0.0; d], 0.1, &mut rng);
    let short = Guide::new(GuideKind::FullRank, &vec![0.0; d - 1], 0.1, &mut rng);
    for (guide, warm) in [
        (GuideKind::FullRank, mean_field),
        (GuideKind::FullRank, short),
    ] {
        let err = Svi {
            guide,
            warm_start: Some(warm),
            steps: 5,
            ..Svi::default()
        }
        .fit(&mut post.evaluator())
        .expect_err("refused");
        assert!(
            err.to_string().contains("the warm-start guide is a"),
            "{err}"
        );
    }
}

#[test]
fn the_auto_start_of_a_low_rank_guide_stays_linear_in_d() {
    // d = 11 602: a d × d matrix (1 GB) or its eigendecomposition (~10¹² flops) in the start
    // would not finish; the start is built in O(d·k) and the Laplace start is skipped.
    let model = Model::from_file("bench/mlp_13_100_100_1.bnn").expect("model");
    let post = model
        .bind_file("bench/mlp_13_100_100_1.json")
        .expect("data");
    let fit = Svi {
        guide: GuideKind::LowRank { rank: 10 },
        steps: 10,
        batch_size: Some(100),
        ..Svi::default()
    }
    .fit(&mut post.evaluator())
    .expect("fits");
    assert_eq!(fit.guide.dim, 11_602);
    // The mean-field fit's 10 steps, then the low-rank guide's 10.
    assert_eq!(fit.trace.len(), 20);
}
