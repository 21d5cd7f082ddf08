//! Embedding bnnppl: load a bundled BNN, sample it with NUTS through the library API, and print
//! the posterior predictive mean and its uncertainty at a few inputs.
//!
//! Run: `cargo run --release --example sample_regression`

use bnnppl::api::Model;
use bnnppl::engine::Nuts;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = Model::from_file("models/regression_1d.bnn")?;
    let posterior = model.bind_file("models/regression_1d.json")?;
    println!("{} parameters", posterior.layout().dim());
    let nuts = Nuts {
        chains: 2,
        warmup: 300,
        draws: 300,
        seed: 7,
        ..Nuts::default()
    };
    let draws = posterior.sample(&nuts)?;
    let rows = draws.summary();
    for r in rows
        .iter()
        .filter(|r| r.name == "lp__" || r.name.starts_with("mu."))
        .take(6)
    {
        println!(
            "{:<8} mean {:>8.3}  sd {:>7.3}  R-hat {:.3}",
            r.name, r.mean, r.sd, r.rhat
        );
    }
    Ok(())
}
