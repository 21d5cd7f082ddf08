//! Simulation-based calibration of bnnppl's engines on the studies in bench/sbc/ (see
//! bench/sbc/run.sh and BENCHMARKS.md): prints χ², its p-value and the rank histogram per ranked
//! quantity.
//!
//! cargo run --release --example sbc -- STUDY [--engine nuts|svi|svi-full-rank|ensemble|
//!     anchored-ensemble|swag|mc-dropout] [--members 10] [--steps 3000] [--reps 200] [--warmup 500] [--draws 1000] [--thin-to 99] [--bins 20] [--seed 1]
//!
//! STUDY is `scale` (a line with a half-normal noise scale), `eight_schools` (hierarchical,
//! half-Cauchy τ), `bnn` (1 → 3 tanh → 1, predictions ranked) or `bnn_dropout` (the same with a
//! dropout layer, for mc-dropout). Run from the repository root.

use bnnppl::api::Model;
use bnnppl::engine::{Engine, Ensemble, GuideKind, Map, McDropout, Nuts, Svi, Swag};
use bnnppl::sbc::{bins_for, Calibration, PriorDraw, Sbc};
use std::collections::HashMap;

fn model(path: &str) -> Model {
    Model::from_file(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A study by name: the inference model, its fixed data, the prior draw, the simulated field's
/// rows and the ranked quantities.
fn study(name: &str) -> Sbc {
    let (m, data, prior, rows, quantities): (&str, &str, PriorDraw, usize, &[&str]) = match name {
        "scale" => (
            "bench/sbc/scale.bnn",
            "bench/sbc/scale.json",
            generator("bench/sbc/scale_gen.bnn", "{}"),
            10,
            &["alpha", "beta", "sigma"],
        ),
        "eight_schools" => (
            "models/eight_schools.bnn",
            "models/eight_schools.json",
            generator(
                "bench/sbc/eight_schools_gen.bnn",
                &json("models/eight_schools.json").to_string(),
            ),
            8,
            &["mu", "tau", "theta_raw.1", "theta.1"],
        ),
        "bnn" | "bnn_dropout" => (
            if name == "bnn" {
                "bench/sbc/bnn.bnn"
            } else {
                "bench/sbc/bnn_dropout.bnn"
            },
            "bench/sbc/bnn.json",
            PriorDraw::StandardNormal,
            10,
            &["mu.1", "mu.4", "mu.7", "mu.10"],
        ),
        other => panic!("unknown study '{other}' (scale, eight_schools, bnn, bnn_dropout)"),
    };
    Sbc {
        model: model(m),
        base: json(data),
        simulated: ("y".into(), "y_rep".into()),
        rows,
        quantities: quantities.iter().map(|q| q.to_string()).collect(),
        prior,
        reps: 200,
        thin_to: 99,
        seed: 1,
    }
}

fn generator(path: &str, data: &str) -> PriorDraw {
    PriorDraw::Generator(
        model(path)
            .bind_json(data)
            .unwrap_or_else(|e| panic!("{path}: {e}")),
    )
}

fn report(name: &str, engine: &str, reps: usize, cals: &[Calibration], seconds: f64) {
    println!("{name} / {engine}: {reps} replications in {seconds:.0} s");
    println!(
        "{:<12} {:>9} {:>4} {:>10}  counts",
        "quantity", "chi2", "df", "p"
    );
    for c in cals {
        println!(
            "{:<12} {:>9.1} {:>4} {:>10.3e}  {:?}",
            c.name, c.chi2, c.df, c.p_value, c.counts
        );
    }
}

fn run<E: Engine>(sbc: &Sbc, engine: impl Fn(u64) -> E, bins: usize) -> Vec<Calibration> {
    sbc.run(engine, bins, |r| {
        if r % 20 == 0 {
            eprintln!("  {r}/{}", sbc.reps);
        }
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args
        .first()
        .expect("usage: sbc STUDY [--engine E] [--reps R] …");
    let mut flags: HashMap<&str, &str> = HashMap::new();
    for pair in args[1..].chunks(2) {
        let value = pair.get(1).expect("every flag takes a value");
        flags.insert(pair[0].trim_start_matches("--"), value);
    }
    let number = |key: &str, default: usize| -> usize {
        flags
            .get(key)
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let mut sbc = study(name);
    sbc.reps = number("reps", sbc.reps);
    sbc.thin_to = number("thin-to", sbc.thin_to);
    sbc.seed = number("seed", 1) as u64;
    let bins = bins_for(sbc.thin_to, sbc.reps, number("bins", 20));
    let (warmup, draws) = (number("warmup", 500), number("draws", 1000));
    let engine = flags.get("engine").copied().unwrap_or("nuts");
    let map = Map {
        steps: number("steps", 3000),
        lr: 0.01,
        ..Map::default()
    };
    let start = std::time::Instant::now();
    let cals = match engine {
        "nuts" => run(
            &sbc,
            |seed| Nuts {
                chains: 1,
                warmup,
                draws,
                seed,
                ..Nuts::default()
            },
            bins,
        ),
        "svi" | "svi-full-rank" => run(
            &sbc,
            |seed| Svi {
                guide: if engine == "svi" {
                    GuideKind::MeanField
                } else {
                    GuideKind::FullRank
                },
                steps: number("steps", 3000),
                lr: 0.01,
                draws,
                seed,
                ..Svi::default()
            },
            bins,
        ),
        // Deep (or anchored) ensembles: M MAP fits, their modes as the draws.
        "ensemble" | "anchored-ensemble" => run(
            &sbc,
            |seed| Ensemble {
                members: number("members", 10),
                map: Map {
                    seed,
                    ..map.clone()
                },
                anchored: engine == "anchored-ensemble",
            },
            bins,
        ),
        "swag" => run(
            &sbc,
            |seed| Swag {
                map: Map {
                    seed,
                    ..map.clone()
                },
                draws,
                ..Swag::default()
            },
            bins,
        ),
        "mc-dropout" => run(
            &sbc,
            |seed| McDropout {
                map: Map {
                    seed,
                    ..map.clone()
                },
                draws,
                ..McDropout::default()
            },
            bins,
        ),
        other => panic!("unknown engine '{other}'"),
    };
    report(name, engine, sbc.reps, &cals, start.elapsed().as_secs_f64());
}
