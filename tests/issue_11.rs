//! Issue 11, "One road for every method and every layer": the bugs it fixed and the behaviour
//! the shared road must keep — the library keeps data warnings, SVI's Ctrl-C goes through the
//! one interrupt path and keeps its draws, and every engine starts from the one start finder.

mod common;

use bnnppl::api::Model;
use bnnppl::density::FnDensity;
use bnnppl::engine::{Engine, Hmc, Init, Nuts, Svi};
use std::path::PathBuf;
use std::process::Command;

#[test]
fn issue_11_library_binding_keeps_the_data_warnings() {
    // The CLI printed a warning for a field the model does not declare; the library's binding
    // dropped it. Now the posterior keeps it, located and rendered as the CLI prints it.
    let model = Model::from_str(
        "mean.bnn",
        "data { y: vector[N] }\nparam { mu: real }\nprior { mu ~ normal(0, 1) }\n\
         likelihood { y ~ normal(mu, 1) }\n",
    )
    .expect("model");
    let post = model
        .bind_json(r#"{"N": 2, "y": [1, 2], "extra": [3, 4]}"#)
        .expect("binds");
    assert_eq!(post.warnings().len(), 1, "{:?}", post.warnings());
    assert!(
        post.warnings()[0].message.contains("'extra'"),
        "{}",
        post.warnings()[0].message
    );
    assert!(post.rendered_warnings().contains("mean.bnn:1:"));
    // Without the extra field there is nothing to warn about.
    let clean = model.bind_json(r#"{"N": 2, "y": [1, 2]}"#).expect("binds");
    assert!(clean.warnings().is_empty() && clean.rendered_warnings().is_empty());
}

#[test]
fn ctrl_c_stops_an_svi_fit_and_keeps_draws_from_the_guide_so_far() {
    let dir = std::env::temp_dir().join(format!("bnnppl-issue11-sigint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_string_lossy().to_string();
    let child = Command::new(env!("CARGO_BIN_EXE_bnnppl"))
        .args([
            "svi",
            "models/regression_1d.bnn",
            "--steps",
            "100000000",
            "--draws",
            "40",
            "--quiet",
            "--output",
            &d,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // The ELBO trace reaches the disk in 8 KiB blocks: once one is there the fit is running
    // and the Ctrl-C handler is installed (bounded: at most 60 s).
    let trace = dir.join("elbo.csv");
    let start = std::time::Instant::now();
    while std::fs::metadata(&trace).map_or(0, |m| m.len()) == 0 && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.starts_with("Interrupted after "), "{stderr}");
    let text = std::fs::read_to_string(dir.join("chain_1.csv")).expect("chain file");
    let csv = bnnppl::stan_csv::read_stan_csv(&text).expect("readable after interrupt");
    assert_eq!(
        csv.n_rows(),
        40,
        "the guide reached so far is kept as draws"
    );
    // The header says how many steps ran, and the trace holds every one of them.
    let steps: usize = csv
        .config_value("steps")
        .and_then(|v| v.parse().ok())
        .expect("steps in the header");
    assert!(steps > 0 && steps < 100_000_000, "{steps}");
    let trace = std::fs::read_to_string(&trace).expect("trace");
    assert_eq!(
        trace.lines().count(),
        steps + 1,
        "header + one line per step"
    );
    assert!(dir.join("guide.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// log N(θ | (3, −1), I).
fn shifted_normal() -> FnDensity<impl FnMut(&[f64], &mut [f64]) -> f64 + Clone> {
    FnDensity::new(2, |x: &[f64], g: &mut [f64]| {
        g[0] = -(x[0] - 3.0);
        g[1] = -(x[1] + 1.0);
        -0.5 * ((x[0] - 3.0).powi(2) + (x[1] + 1.0).powi(2))
    })
}

#[test]
fn a_map_start_puts_every_engine_at_the_mode_before_its_first_step() {
    // 2,000 Adam steps at rate 0.01 from a uniform(−2, 2) start reach the mode (3, −1) of a
    // unit normal to within 0.05 (at most 2,000 · 0.01 = 20 of travel, ~5 needed). SVI's guide
    // starts there and one more step at rate 0.01 moves its loc by at most 0.01.
    let target = shifted_normal();
    let svi = Svi {
        init: Init::Map { steps: 2000 },
        steps: 1,
        draws: 0,
        ..Svi::default()
    };
    let fit = svi.run(
        &target,
        &bnnppl::engine::TraceFactory::default(),
        &Default::default(),
    );
    let loc = fit.expect("fits").chains[0].fit.guide.loc().to_vec();
    assert!(
        (loc[0] - 3.0).abs() < 0.05 && (loc[1] + 1.0).abs() < 0.05,
        "{loc:?}"
    );
    // NUTS and HMC from a MAP start sample the posterior: exact means (3, −1) and sds 1, within
    // 4.5 Monte Carlo errors.
    let nuts = Nuts {
        chains: 4,
        warmup: 300,
        draws: 500,
        seed: 3,
        init: Init::Map { steps: 500 },
        ..Nuts::default()
    };
    let hmc = Hmc {
        chains: 4,
        warmup: 300,
        draws: 500,
        seed: 3,
        init: Init::Map { steps: 500 },
        ..Hmc::default()
    };
    for trace in [
        nuts.sample(&target).expect("nuts"),
        hmc.sample(&target).expect("hmc"),
    ] {
        common::assert_moments(&trace, 0, 3.0, 1.0);
        common::assert_moments(&trace, 1, -1.0, 1.0);
    }
}

#[test]
fn a_posterior_runs_svi_like_any_engine() {
    // Posterior::run takes SVI as it takes NUTS: draws from the fitted guide, one chain, and
    // the fit beside them; the draws equal a fitted guide's draws with the same seed.
    let path = PathBuf::from("models/linear_regression.bnn");
    let model = Model::from_file(&path).expect("model");
    let post = model.bind_file(path.with_extension("json")).expect("data");
    let svi = Svi {
        steps: 300,
        draws: 25,
        seed: 4,
        ..Svi::default()
    };
    let run = post.run(&svi, svi.seed).expect("runs");
    assert_eq!(run.draws.chains.len(), 1);
    assert_eq!(run.draws.chains[0].stats.len(), 25);
    assert_eq!(run.fits[0].trace.len(), 300);
    let fit = post.fit_svi(&svi).expect("fits");
    assert_eq!(fit.result.guide, run.fits[0].guide);
    let again = fit.draws(25, svi.seed);
    assert_eq!(again.chains[0].values, run.draws.chains[0].values);
}
