//! A hand-written nalgebra batch forward pass of the benchmark networks, timed against bnnppl's
//! compiled log-density at the same θ: the yardstick for the interpreter's overhead.
//!
//! Run as `cargo run --release --example handwritten_forward` from the repository root, after
//! `cargo run --release --example make_bench_data` (`bench/run.sh` does both). Optional
//! arguments: the seconds to spend per network (default 2) and the names of the networks.
//!
//! For each of `bench/mlp_10_50_1`, `bench/mlp_13_100_100_1` and `bench/softmax_784_100_10` the
//! program binds the model with bnnppl (for the data and the θ layout only), draws θ exactly as
//! `bnnppl bench` does (uniform(−2, 2), ChaCha8 seed 1), and computes the same log-density by
//! hand: weights copied from θ into preallocated column-major matrices (θ holds W row-major as
//! out × in, which is Wᵀ column-major, so no transpose is needed), `Z = A·Wᵀ` through nalgebra's
//! `gemm` (matrixmultiply underneath), bias and tanh in place, then the likelihood and the
//! normal(0, 1) priors in closed form. It checks that the value equals bnnppl's to 1e-10
//! relative, then times both, interleaved, as medians of ~1 ms batches.
//!
//! Two hand-written variants are timed: with `f64::tanh` (what one writes first; glibc's scalar
//! tanh) and with bnnppl's vectorized tanh kernel, so the comparison separates the cost of tanh
//! from the cost of interpreting the program.

use bnnppl::api::Model;
use bnnppl::density::Density;
use bnnppl::posterior::Posterior;
use nalgebra::{DMatrix, DVector};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::time::Instant;

/// ln √(2π).
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// One dense layer: Wᵀ (in × out) and bias, and the output buffer (rows × out).
struct Layer {
    /// Offset of W (out × in, row-major) in θ.
    w_at: usize,
    /// Offset of the bias in θ.
    b_at: usize,
    wt: DMatrix<f64>,
    b: DVector<f64>,
    out: DMatrix<f64>,
    tanh: bool,
}

/// What the last layer's output is scored by.
enum Likelihood {
    /// y ~ normal(f(x), sigma), sigma = exp(θ[at]) (half-normal(0, 1) prior).
    Normal { y: DVector<f64>, sigma_at: usize },
    /// y ~ categorical_logit(f(x)).
    Categorical { y: Vec<usize> },
}

/// The network and its buffers, allocated once.
struct Handwritten {
    x: DMatrix<f64>,
    layers: Vec<Layer>,
    lik: Likelihood,
}

/// How tanh is applied to a buffer in place.
type TanhFn = fn(&mut [f64]);

fn std_tanh(z: &mut [f64]) {
    for v in z {
        *v = v.tanh();
    }
}

fn kernel_tanh(z: &mut [f64]) {
    bnnppl::math::tanh_in_place(z);
}

impl Handwritten {
    /// Reads sizes, data and the θ offsets from the bound posterior.
    fn new(post: &Posterior, hidden: usize) -> Handwritten {
        let data = post.data();
        let xv = data.get("x").expect("x");
        let (n, d) = (xv.shape[0], xv.shape[1]);
        let x = DMatrix::from_row_slice(n, d, &xv.values);
        let entry = |name: &str| {
            post.layout()
                .params
                .iter()
                .find(|p| p.name.ends_with(name))
                .unwrap_or_else(|| panic!("no parameter {name}"))
                .clone()
        };
        let mut layers = Vec::new();
        let mut fan_in = d;
        for k in 0..=hidden {
            let w = entry(&format!(".{k}.weight"));
            let b = entry(&format!(".{k}.bias"));
            let out = w.dims[0];
            layers.push(Layer {
                w_at: w.offset,
                b_at: b.offset,
                wt: DMatrix::zeros(fan_in, out),
                b: DVector::zeros(out),
                out: DMatrix::zeros(n, out),
                tanh: k < hidden,
            });
            fan_in = out;
        }
        let yv = &data.get("y").expect("y").values;
        let lik = if data.get("K").is_some() {
            Likelihood::Categorical {
                y: yv.iter().map(|&v| v as usize).collect(),
            }
        } else {
            Likelihood::Normal {
                y: DVector::from_column_slice(yv),
                sigma_at: entry("sigma").offset,
            }
        };
        Handwritten { x, layers, lik }
    }

    /// log p(θ | data) up to the same constant as bnnppl's (normalized densities throughout).
    fn log_density(&mut self, theta: &[f64], tanh: TanhFn) -> f64 {
        let mut lp = 0.0;
        // Weights: copy from θ; prior normal(0, 1) on every weight and bias.
        for l in &mut self.layers {
            let (nw, nb) = (l.wt.len(), l.b.len());
            l.wt.as_mut_slice()
                .copy_from_slice(&theta[l.w_at..l.w_at + nw]);
            l.b.as_mut_slice()
                .copy_from_slice(&theta[l.b_at..l.b_at + nb]);
            let ss = l.wt.norm_squared() + l.b.norm_squared();
            lp += -0.5 * ss - (nw + nb) as f64 * LN_SQRT_2PI;
        }
        // Forward: Z = A·Wᵀ + b, A ← tanh(Z).
        for k in 0..self.layers.len() {
            let (done, rest) = self.layers.split_at_mut(k);
            let l = &mut rest[0];
            let a = if k == 0 { &self.x } else { &done[k - 1].out };
            l.out.gemm(1.0, a, &l.wt, 0.0);
            for (j, mut col) in l.out.column_iter_mut().enumerate() {
                col.add_scalar_mut(l.b[j]);
            }
            if l.tanh {
                tanh(l.out.as_mut_slice());
            }
        }
        let f = &self.layers.last().expect("a layer").out;
        match &self.lik {
            Likelihood::Normal { y, sigma_at } => {
                let u = theta[*sigma_at];
                let sigma = u.exp();
                // half-normal(0, 1) prior on sigma, plus log|dσ/du| = u
                lp += -0.5 * sigma * sigma - LN_SQRT_2PI + std::f64::consts::LN_2 + u;
                let ss = (y - f.column(0)).norm_squared();
                let n = y.len() as f64;
                lp += -0.5 * ss / (sigma * sigma) - n * (sigma.ln() + LN_SQRT_2PI);
            }
            Likelihood::Categorical { y } => {
                for (r, &label) in y.iter().enumerate() {
                    let row = f.row(r);
                    let m = row.max();
                    let lse = m + row.iter().map(|z| (z - m).exp()).sum::<f64>().ln();
                    lp += row[label] - lse;
                }
            }
        }
        lp
    }
}

/// θ as `bnnppl bench` draws it.
fn bench_theta(dim: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..dim).map(|_| rng.random_range(-2.0..2.0)).collect()
}

/// Median seconds per call of each function, sampling them in turn in ~1 ms batches.
fn race(fs: &mut [&mut dyn FnMut()], seconds: f64) -> Vec<f64> {
    let batch: Vec<usize> = fs
        .iter_mut()
        .map(|f| {
            let start = Instant::now();
            let mut calls = 0;
            while calls < 3 || start.elapsed().as_secs_f64() < 0.05 {
                f();
                calls += 1;
            }
            let per = start.elapsed().as_secs_f64() / calls as f64;
            ((1e-3 / per).ceil() as usize).max(1)
        })
        .collect();
    let mut samples = vec![Vec::new(); fs.len()];
    let start = Instant::now();
    while samples[0].len() < 5 || start.elapsed().as_secs_f64() < seconds {
        for (k, f) in fs.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..batch[k] {
                f();
            }
            samples[k].push(t.elapsed().as_secs_f64() / batch[k] as f64);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let all = [
        ("mlp_10_50_1", 1),
        ("mlp_13_100_100_1", 2),
        ("softmax_784_100_10", 1),
    ];
    let chosen: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    println!(
        "{:<20} {:>12} {:>12} {:>12} {:>10} {:>10}",
        "network", "hand (std)", "hand (kern)", "bnnppl", "÷ std", "÷ kern"
    );
    for (stem, hidden) in all {
        if !chosen.is_empty() && !chosen.contains(&stem) {
            continue;
        }
        let model = Model::from_file(format!("bench/{stem}.bnn")).unwrap_or_else(|e| panic!("{e}"));
        let post = model
            .bind_file(format!("bench/{stem}.json"))
            .unwrap_or_else(|e| panic!("{e} (run the make_bench_data example first)"));
        let theta = bench_theta(post.layout().dim(), 1);
        let mut hand = Handwritten::new(&post, hidden);
        let mut eval = post.evaluator();
        let ours = eval.log_density(&theta).expect("finite");
        for (name, tanh) in [("std", std_tanh as TanhFn), ("kernel", kernel_tanh)] {
            let theirs = hand.log_density(&theta, tanh);
            assert!(
                (ours - theirs).abs() <= 1e-10 * ours.abs(),
                "{stem}: bnnppl {ours} vs hand-written ({name} tanh) {theirs}"
            );
        }
        let t = {
            let hand = std::cell::RefCell::new(&mut hand);
            let mut a = || {
                black_box(hand.borrow_mut().log_density(black_box(&theta), std_tanh));
            };
            let mut b = || {
                black_box(
                    hand.borrow_mut()
                        .log_density(black_box(&theta), kernel_tanh),
                );
            };
            let mut c = || {
                black_box(eval.log_density(black_box(&theta)).ok());
            };
            race(&mut [&mut a, &mut b, &mut c], seconds)
        };
        println!(
            "{stem:<20} {:>9.1} µs {:>9.1} µs {:>9.1} µs {:>10.2} {:>10.2}",
            t[0] * 1e6,
            t[1] * 1e6,
            t[2] * 1e6,
            t[2] / t[0],
            t[2] / t[1]
        );
    }
}
