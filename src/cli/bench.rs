//! `bnnppl bench`: median wall time of one log-density and of one gradient at a fixed random θ.
//!
//! Method. θ is drawn uniform(−2, 2) on the unconstrained scale (as Stan initializes) from a
//! seeded ChaCha8, so runs compare across commits. After a warm-up, each *sample* times a batch
//! of back-to-back calls lasting about [`BATCH_SECONDS`] (one call when a call is slower), and
//! its time per call is the batch time over the batch size; batching keeps the clock's own cost
//! (tens of ns) out of microsecond calls. Log-density and gradient samples alternate, so a change
//! in machine load hits both and their ratio stays honest. The table reports the median over
//! samples, with the minimum and the quartiles to show the spread.

use super::check::{bind, load};
use super::{Failure, ModelArgs, Output};
use crate::density::Density;
use crate::math::kernel::SimdPath;
use crate::posterior::PosteriorEval;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Target length of one timed batch of calls, in seconds.
const BATCH_SECONDS: f64 = 1e-3;

/// Arguments of `bnnppl bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Number of timed samples of each of the log-density and the gradient (each sample is a
    /// batch of calls lasting about 1 ms). Default: as many as fit in --seconds, at least 5.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub reps: Option<u64>,
    /// Time budget in seconds for the samples of each of the two measurements, when --reps is
    /// not given.
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    /// Seed of the random point θ, drawn uniform(−2, 2) on the unconstrained scale.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Timings of one quantity, seconds per call.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// Median over samples.
    pub median: f64,
    /// Fastest sample.
    pub min: f64,
    /// First quartile.
    pub q25: f64,
    /// Third quartile.
    pub q75: f64,
    /// Number of samples.
    pub samples: usize,
    /// Calls per sample.
    pub batch: usize,
}

impl Timing {
    fn from_samples(mut per_call: Vec<f64>, batch: usize) -> Timing {
        per_call.sort_by(f64::total_cmp);
        let q = |p: f64| per_call[((per_call.len() - 1) as f64 * p).round() as usize];
        Timing {
            median: q(0.5),
            min: per_call[0],
            q25: q(0.25),
            q75: q(0.75),
            samples: per_call.len(),
            batch,
        }
    }
}

/// The point θ the benchmark evaluates at: uniform(−2, 2), seeded.
pub fn bench_theta(dim: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..dim).map(|_| rng.random_range(-2.0..2.0)).collect()
}

/// Runs `f` `n` times and returns the elapsed time.
fn time_batch(n: usize, f: &mut dyn FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed()
}

/// Calls per batch so that a batch lasts about [`BATCH_SECONDS`], after a warm-up of at least
/// 50 ms (caches, branch predictors, CPU frequency).
fn calibrate(f: &mut dyn FnMut()) -> usize {
    let start = Instant::now();
    let mut calls = 0usize;
    while calls < 3 || start.elapsed().as_secs_f64() < 0.05 {
        f();
        calls += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / calls as f64;
    ((BATCH_SECONDS / per_call).ceil() as usize).max(1)
}

/// Times the log-density and the gradient of `eval` at `theta`, alternating their samples.
pub fn measure(
    eval: &mut PosteriorEval,
    theta: &[f64],
    reps: Option<u64>,
    seconds: f64,
) -> (Timing, Timing) {
    let mut grad = vec![0.0; theta.len()];
    // One closure for both, so the evaluator is borrowed once: `true` times the gradient.
    let mut call = |with_grad: bool| {
        if with_grad {
            black_box(eval.log_density_grad(black_box(theta), &mut grad).ok());
            black_box(&grad);
        } else {
            black_box(eval.log_density(black_box(theta)).ok());
        }
    };
    let mut value = || call(false);
    let bv = calibrate(&mut value);
    let mut gradient = || call(true);
    let bg = calibrate(&mut gradient);
    let (mut tv, mut tg) = (Vec::new(), Vec::new());
    let start = Instant::now();
    loop {
        let v = time_batch(bv, &mut || call(false)).as_secs_f64() / bv as f64;
        let g = time_batch(bg, &mut || call(true)).as_secs_f64() / bg as f64;
        tv.push(v);
        tg.push(g);
        let done = match reps {
            Some(n) => tv.len() as u64 >= n,
            None => tv.len() >= 5 && start.elapsed().as_secs_f64() >= 2.0 * seconds,
        };
        if done {
            break;
        }
    }
    (Timing::from_samples(tv, bv), Timing::from_samples(tg, bg))
}

/// Seconds as a short human duration (ns, µs, ms, s) with three significant digits.
pub fn human(seconds: f64) -> String {
    let (v, unit) = if seconds < 1e-6 {
        (seconds * 1e9, "ns")
    } else if seconds < 1e-3 {
        (seconds * 1e6, "µs")
    } else if seconds < 1.0 {
        (seconds * 1e3, "ms")
    } else {
        (seconds, "s")
    };
    let digits = if v < 10.0 {
        2
    } else if v < 100.0 {
        1
    } else {
        0
    };
    format!("{v:.digits$} {unit}")
}

/// `bnnppl bench`.
pub fn bench(args: &BenchArgs) -> Result<Output, Failure> {
    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
        return Err(Failure::usage(format!(
            "error: --seconds must be a positive number of seconds, not {}",
            args.seconds
        )));
    }
    let model = load(&args.model)?;
    let mut stderr = model.rendered_warnings();
    let (post, data_name) = match bind(&model, &args.model)? {
        Some((path, post)) => {
            stderr.push_str(post.rendered_warnings());
            (post, path.display().to_string())
        }
        // A model without a data block needs no data file.
        None if model.checked.data.is_empty() => {
            let post = model
                .bind_json("{}")
                .map_err(|e| Failure::model(e.rendered))?;
            (post, "none".to_string())
        }
        None => {
            return Err(Failure::usage(format!(
                "error: no data for {}: give --data, or put {} beside it",
                args.model.model.display(),
                args.model.model.with_extension("json").display()
            )))
        }
    };
    let dim = post.layout().dim();
    let theta = bench_theta(dim, args.seed);
    let mut eval = post.evaluator();
    let mut grad = vec![0.0; dim];
    let lp = eval.log_density_grad(&theta, &mut grad).map_err(|e| {
        Failure::model(format!(
            "error: at the benchmark point (seed {}) {e}; try another --seed",
            args.seed
        ))
    })?;
    let (v, g) = measure(&mut eval, &theta, args.reps, args.seconds);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "model {}, data {} ({} rows)",
        args.model.model.display(),
        data_name,
        post.n_rows()
    );
    let _ = writeln!(
        out,
        "{dim} parameters; θ uniform(−2, 2) with seed {}; log density {lp:.6e}",
        args.seed
    );
    let simd = SimdPath::current();
    let _ = writeln!(
        out,
        "1 thread; SIMD path {} (this CPU: up to {}; BNNPPL_SIMD caps it)",
        simd.name(),
        SimdPath::detected().name()
    );
    let _ = writeln!(
        out,
        "{:<12} {:>10} {:>10} {:>10} {:>10}  samples × calls",
        "", "median", "min", "q25", "q75"
    );
    for (name, t) in [("log-density", &v), ("gradient", &g)] {
        let _ = writeln!(
            out,
            "{name:<12} {:>10} {:>10} {:>10} {:>10}  {} × {}",
            human(t.median),
            human(t.min),
            human(t.q25),
            human(t.q75),
            t.samples,
            t.batch
        );
    }
    let _ = writeln!(
        out,
        "gradient / log-density: {:.2}; gradients per second: {:.0}",
        g.median / v.median,
        1.0 / g.median
    );
    Ok(Output {
        stdout: out,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_of_known_samples() {
        // 1..=9: median 5, quartiles at positions 2 and 6 (0-based) = 3 and 7
        let t = Timing::from_samples((1..=9).rev().map(f64::from).collect(), 4);
        assert_eq!((t.median, t.min, t.q25, t.q75), (5.0, 1.0, 3.0, 7.0));
        assert_eq!((t.samples, t.batch), (9, 4));
    }

    fn args(model: &str, reps: u64) -> BenchArgs {
        BenchArgs {
            model: ModelArgs {
                model: model.into(),
                data: None,
            },
            reps: Some(reps),
            seconds: 1.0,
            seed: 1,
        }
    }

    #[test]
    fn bench_prints_both_timings_and_their_ratio() {
        let out = bench(&args("models/eight_schools.bnn", 2)).expect("bench runs");
        assert!(
            out.stdout
                .contains("data models/eight_schools.json (8 rows)"),
            "{}",
            out.stdout
        );
        assert!(out
            .stdout
            .contains("10 parameters; θ uniform(−2, 2) with seed 1"));
        for line in [
            "log-density",
            "gradient",
            "gradient / log-density:",
            "1 thread; SIMD path ",
        ] {
            assert!(
                out.stdout.lines().any(|l| l.starts_with(line)),
                "{}",
                out.stdout
            );
        }
    }

    #[test]
    fn bench_without_data_is_a_usage_error() {
        let dir = std::env::temp_dir().join("bnnppl-bench-no-data");
        std::fs::create_dir_all(&dir).expect("temp dir");
        let model = dir.join("toy.bnn");
        std::fs::copy("models/bnn_toy.bnn", &model).expect("copy");
        let err = bench(&args(model.to_str().expect("utf-8"), 1)).expect_err("no data");
        assert_eq!(err.code, super::super::EXIT_USAGE);
        assert!(err.message.contains("give --data"), "{}", err.message);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(6.234e-6), "6.23 µs");
        assert_eq!(human(148.4e-6), "148 µs");
        assert_eq!(human(0.5e-9), "0.50 ns");
        assert_eq!(human(12.5e-3), "12.5 ms");
    }
}
