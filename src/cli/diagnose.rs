//! `bnnppl diagnose`: the gradient against central finite differences at random points, in a
//! table like Stan's `diagnose`, failing when they disagree.

use super::check::{bind_posterior, load};
use super::{Failure, ModelArgs, Output, EXIT_CHECK_FAILED};
use crate::density::Density;
use rand::{RngExt, SeedableRng};
use std::fmt::Write as _;

/// Options of `diagnose`.
#[derive(Debug, clap::Args)]
pub struct DiagnoseArgs {
    /// Model and data.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Number of random points (uniform(−2, 2) on the unconstrained scale).
    #[arg(long, default_value_t = 3)]
    pub points: usize,
    /// Seed for the points.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Relative finite-difference step (h = epsilon · max(1, |θ_k|)).
    #[arg(long, default_value_t = 1e-3)]
    pub epsilon: f64,
    /// Largest allowed |gradient − finite difference| / max(1, |gradient|).
    #[arg(long, default_value_t = 1e-6)]
    pub error: f64,
}

/// Runs `diagnose`.
pub fn diagnose(args: &DiagnoseArgs) -> Result<Output, Failure> {
    let model = load(&args.model)?;
    let (post, warnings) = bind_posterior(&model, &args.model)?;
    let mut eval = post.evaluator();
    let d = post.layout().dim();
    let names = coordinate_names(&post);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed);
    let mut out = String::new();
    let mut grad = vec![0.0; d];
    let mut bad = 0usize;
    for point in 0..args.points {
        let theta: Vec<f64> = (0..d).map(|_| rng.random_range(-2.0..2.0)).collect();
        let lp = match eval.log_density_grad(&theta, &mut grad) {
            Ok(v) => v,
            Err(e) => {
                let _ = writeln!(
                    out,
                    "point {point}: the log-density is not usable here: {e}\n"
                );
                bad += 1;
                continue;
            }
        };
        let _ = writeln!(out, "point {point}: log density = {lp:.6}");
        let _ = writeln!(
            out,
            " {:>6}  {:<20} {:>14} {:>16} {:>16} {:>12}",
            "index", "parameter", "theta", "gradient", "finite diff", "error"
        );
        let mut t = theta.clone();
        for k in 0..d {
            let h = args.epsilon * theta[k].abs().max(1.0);
            let mut at = |s: f64| {
                t[k] = theta[k] + s * h;
                let v = eval.log_density(&t).unwrap_or(f64::NAN);
                t[k] = theta[k];
                v
            };
            // 6th-order central difference.
            let fd = (-at(-3.0) + 9.0 * at(-2.0) - 45.0 * at(-1.0) + 45.0 * at(1.0)
                - 9.0 * at(2.0)
                + at(3.0))
                / (60.0 * h);
            let err = (grad[k] - fd).abs() / grad[k].abs().max(1.0);
            let flag = if err > args.error || !err.is_finite() {
                bad += 1;
                "  <- disagrees"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                " {:>6}  {:<20} {:>14.6} {:>16.8e} {:>16.8e} {:>12.3e}{flag}",
                k, names[k], theta[k], grad[k], fd, err
            );
        }
        out.push('\n');
    }
    if bad > 0 {
        let _ = writeln!(
            out,
            "{bad} gradient component(s) disagree with finite differences"
        );
        return Err(Failure {
            message: out,
            code: EXIT_CHECK_FAILED,
        });
    }
    let _ = writeln!(
        out,
        "all {} gradient components agree with finite differences (relative error below {:e})",
        d * args.points,
        args.error
    );
    Ok(Output {
        stdout: out,
        stderr: warnings,
    })
}

/// A name per coordinate of θ: `sigma`, `beta.1`, `f.0.weight.2.1` (1-based, as in the CSV).
pub fn coordinate_names(post: &crate::posterior::Posterior) -> Vec<String> {
    let mut names = Vec::with_capacity(post.layout().dim());
    for p in &post.layout().params {
        match p.dims.len() {
            0 => names.push(p.name.clone()),
            1 => names.extend((1..=p.dims[0]).map(|i| format!("{}.{i}", p.name))),
            _ => {
                for r in 1..=p.dims[0] {
                    for c in 1..=p.dims[1] {
                        names.push(format!("{}.{r}.{c}", p.name));
                    }
                }
            }
        }
    }
    names
}
