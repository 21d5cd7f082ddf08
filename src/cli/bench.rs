//! `bnnppl bench`: median wall time of one log-density and of one gradient at a fixed random θ.
//!
//! Method. θ is drawn uniform(−2, 2) on the unconstrained scale (as Stan initializes) from a
//! seeded ChaCha8, so runs compare across commits. After a warm-up, each *sample* times a batch
//! of back-to-back calls lasting about [`BATCH_SECONDS`] (one call when a call is slower), and
//! its time per call is the batch time over the batch size; batching keeps the clock's own cost
//! (tens of ns) out of microsecond calls. Log-density and gradient samples alternate, so a change
//! in machine load hits both and their ratio stays honest. The table reports the median over
//! samples, with the minimum and the quartiles to show the spread.
//!
//! Distance to the floor. The network's cost (flops and transcendental evaluations of one call,
//! counted from the lowered program) over this core's speed measured in the same run — a
//! 512 × 512 × 512 dgemm for the flop rate, the tanh kernel with its derivative on an
//! L1-resident buffer for the transcendentals' — gives the floor of one gradient: the time it
//! would take were every flop as fast as a large matrix product's and every transcendental as
//! fast as the kernel's in cache. The median over the floor says how far the gradient is from it.

use super::check::{bind, load};
use super::{Failure, ModelArgs, Output};
use crate::density::Density;
use crate::math::activation::tanh_in_place_with_grad;
use crate::math::kernel::SimdPath;
use crate::posterior::{Cost, PosteriorEval};
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
    /// Threads the gradient is split over, as `sample --threads-per-chain`.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub threads: u64,
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

/// Side of the square dgemm that measures the flop rate.
const DGEMM_N: usize = 512;

/// Timed repetitions of the dgemm (after one warm-up); the fastest counts.
const DGEMM_REPS: usize = 3;

/// Elements of the buffer the tanh kernel is timed on: with its derivative 2 × 16 KiB, inside
/// any current core's L1 data cache.
const TANH_LEN: usize = 2048;

/// The speed of this core, measured in the same run as the timings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    /// Flops per second of a large dgemm (matrixmultiply, the fastest of [`DGEMM_REPS`]).
    pub flops_per_second: f64,
    /// Seconds per element of the tanh kernel with its derivative on an L1-resident buffer.
    pub seconds_per_transcendental: f64,
}

/// Measures [`Peak`] in about a tenth of a second: a [`DGEMM_N`]³ dgemm, warm-up then the best
/// of [`DGEMM_REPS`], and the tanh kernel over [`TANH_LEN`] elements, the best of 20 batches of
/// 50 passes.
pub fn measure_peak() -> Peak {
    let n = DGEMM_N;
    let a: Vec<f64> = (0..n * n).map(|i| (i % 17) as f64 * 0.0625 - 0.5).collect();
    let b: Vec<f64> = (0..n * n)
        .map(|i| (i % 13) as f64 * 0.0625 - 0.375)
        .collect();
    let mut c = vec![0.0; n * n];
    let stride = n as isize;
    let mut dgemm = || {
        let start = Instant::now();
        // SAFETY: a, b and c are n × n row-major (row stride n, column stride 1), as passed.
        unsafe {
            matrixmultiply::dgemm(
                n,
                n,
                n,
                1.0,
                a.as_ptr(),
                stride,
                1,
                b.as_ptr(),
                stride,
                1,
                0.0,
                c.as_mut_ptr(),
                stride,
                1,
            );
        }
        black_box(&c);
        start.elapsed().as_secs_f64()
    };
    dgemm();
    let best = (0..DGEMM_REPS)
        .map(|_| dgemm())
        .fold(f64::INFINITY, f64::min);
    let flops = 2.0 * (n * n * n) as f64;

    // Values in (−3, 3), where tanh takes its general path; applied in place again and again
    // they shrink towards 0 but stay far from subnormal over the passes timed here.
    let mut z: Vec<f64> = (0..TANH_LEN).map(|i| (i % 61) as f64 * 0.1 - 3.0).collect();
    let mut dz = vec![0.0; TANH_LEN];
    let passes = 50;
    let mut batch = || {
        let start = Instant::now();
        for _ in 0..passes {
            tanh_in_place_with_grad(black_box(&mut z), &mut dz);
        }
        black_box(&dz);
        start.elapsed().as_secs_f64()
    };
    batch();
    let tanh_best = (0..20).map(|_| batch()).fold(f64::INFINITY, f64::min);
    Peak {
        flops_per_second: flops / best,
        seconds_per_transcendental: tanh_best / (passes * TANH_LEN) as f64,
    }
}

/// A gradient's time against its floor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Distance {
    /// Seconds: the gradient's flops at the dgemm's rate plus its transcendental evaluations at
    /// the kernel's.
    pub floor: f64,
    /// Flops per second achieved: the gradient's flops over its median time.
    pub achieved: f64,
    /// Median time over the floor (1 is the floor itself).
    pub ratio: f64,
}

/// How far a gradient of `cost` taking `median` seconds is from its floor on `peak`.
pub fn distance(cost: &Cost, peak: &Peak, median: f64) -> Distance {
    let floor = cost.gradient_flops as f64 / peak.flops_per_second
        + cost.transcendentals as f64 * peak.seconds_per_transcendental;
    Distance {
        floor,
        achieved: cost.gradient_flops as f64 / median,
        ratio: median / floor,
    }
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
    let threads = args.threads as usize;
    let mut eval = post.with_threads_per_chain(threads).evaluator();
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
        "{}; SIMD path {} (this CPU: up to {}; BNNPPL_SIMD caps it){}",
        if threads == 1 {
            "1 thread".to_string()
        } else {
            format!("{threads} threads")
        },
        simd.name(),
        SimdPath::detected().name(),
        match post.row_blocks() {
            Some(b) => format!("; rows in blocks of {b}"),
            None => String::new(),
        }
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
    let cost = post.cost();
    let peak = measure_peak();
    let d = distance(&cost, &peak, g.median);
    let _ = writeln!(
        out,
        "cost: {} flops per gradient, {} per log-density; {} transcendentals (exp, tanh, log, …) per call",
        cost.gradient_flops, cost.log_density_flops, cost.transcendentals
    );
    let _ = writeln!(
        out,
        "this core: {:.1} GFLOP/s (dgemm {DGEMM_N}³, best of {DGEMM_REPS}); tanh kernel {:.2} ns per element ({TANH_LEN} in L1)",
        peak.flops_per_second * 1e-9,
        peak.seconds_per_transcendental * 1e9
    );
    let _ = writeln!(
        out,
        "{:<12} {:>10}  gradient flops at the dgemm rate + transcendentals at the kernel rate",
        "floor",
        human(d.floor)
    );
    let _ = writeln!(
        out,
        "gradient at {:.2} GFLOP/s; median / floor: {:.2}",
        d.achieved * 1e-9,
        d.ratio
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
            threads: 1,
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
            "cost: ",
            "this core: ",
            "floor ",
            "gradient at ",
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
    fn floor_is_flops_at_the_dgemm_rate_plus_transcendentals_at_the_kernel_rate() {
        let cost = Cost {
            log_density_flops: 1_000_000,
            gradient_flops: 3_000_000,
            transcendentals: 50_000,
        };
        let peak = Peak {
            flops_per_second: 20e9,
            seconds_per_transcendental: 2e-9,
        };
        // 3e6 flops / 20e9 per s = 150 µs; 50,000 × 2 ns = 100 µs; floor 250 µs.
        // A 1 ms gradient: 3e6 / 1e-3 s = 3 GFLOP/s achieved, 1 ms / 250 µs = 4 × the floor.
        let d = distance(&cost, &peak, 1e-3);
        assert!((d.floor - 250e-6).abs() < 1e-15, "{d:?}");
        assert!((d.achieved - 3e9).abs() < 1e-3, "{d:?}");
        assert!((d.ratio - 4.0).abs() < 1e-12, "{d:?}");
    }

    #[test]
    fn peak_is_measured_quickly_and_is_plausible() {
        let start = Instant::now();
        let peak = measure_peak();
        // Well under half a second (generously, for a loaded test machine), at speeds between
        // an old core's and a future one's.
        assert!(start.elapsed().as_secs_f64() < 2.0, "{:?}", start.elapsed());
        assert!((1e8..1e12).contains(&peak.flops_per_second), "{peak:?}");
        assert!(
            (1e-11..1e-7).contains(&peak.seconds_per_transcendental),
            "{peak:?}"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(6.234e-6), "6.23 µs");
        assert_eq!(human(148.4e-6), "148 µs");
        assert_eq!(human(0.5e-9), "0.50 ns");
        assert_eq!(human(12.5e-3), "12.5 ms");
    }
}
