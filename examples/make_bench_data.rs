//! Writes the data files of the sized benchmark networks in `bench/`, byte-identically on every
//! run.
//!
//! Run as `cargo run --release --example make_bench_data -- bench/` (the directory defaults to
//! `bench`); `bench/run.sh` does this first. Every data set has its own fixed seed and one seeded
//! ChaCha20 stream, and every real is printed with at most six decimals, so the output depends on
//! nothing but this file. Files are CmdStan-style JSON (a matrix is an array of rows).
//!
//! The targets of the regressions come from a *teacher*: a network of the benchmark's own
//! architecture with weights normal(0, 1/√fan_in) and biases normal(0, 1), plus noise, so the
//! posterior is one a BNN can fit. Timings do not depend on the values, only on the sizes.
//!
//! | file | seed | what |
//! |---|---|---|
//! | `mlp_10_50_1.json` | 101 | 400 rows, D = 10, x ~ normal(0, 1), y = teacher 10-50-1 tanh + normal(0, 0.1) |
//! | `mlp_13_100_100_1.json` | 102 | 500 rows, D = 13, x ~ normal(0, 1), y = teacher 13-100-100-1 tanh + normal(0, 0.1) |
//! | `softmax_784_100_10.json` | 103 | 1,000 rows of 28 × 28 = 784 pixels in [0, 1], K = 10 classes (below) |
//! | `mlp_9_100_1.json` | 104 | 45,000 rows (UCI protein's shape), D = 9, x ~ normal(0, 1), y = teacher 9-100-1 tanh + normal(0, 0.1) |
//!
//! The classifier's "images": class k has a fixed prototype in which each pixel is on with
//! probability 0.2; an image of class k flips each prototype pixel with probability 0.1 and gives
//! each on pixel an intensity uniform(0.5, 1), printed with two decimals. About 74 % of pixels
//! are 0, as in MNIST. Labels cycle 0, 1, …, 9. The file is about 3.5 MB, so it is not
//! committed: `bench/run.sh` generates it. Nor is `mlp_9_100_1.json` (about 5 MB).
//!
//! `bench/bnn_mlp50.json` is not generated here: it is a byte copy of
//! `/work/shared/data/bench/bnn_mlp50.json` (scikit-learn's diabetes data, standardized), so
//! bnnppl's timings compare with the peers'.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::StandardNormal;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Formats a real with at most six decimals and at least one (`0.0`, `-0.123457`).
fn fmt_real(v: f64) -> String {
    assert!(
        v.is_finite(),
        "internal: non-finite value {v} in generated data"
    );
    let mut s = format!("{v:.6}");
    while s.ends_with('0') && !s.ends_with(".0") {
        s.pop();
    }
    if s == "-0.0" {
        s = "0.0".to_string();
    }
    s
}

/// Rounds to the six decimals [`fmt_real`] prints, so inputs feeding the teacher are the values
/// written in the file.
fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

fn std_normal(rng: &mut ChaCha20Rng) -> f64 {
    rng.sample(StandardNormal)
}

/// The JSON text of a data set: `N`, `D` (and `K`), then `x` one row per line, then `y`.
fn render(ints: &[(&str, usize)], x: &[Vec<f64>], y_name: &str, y: &[String]) -> String {
    let mut out = String::from("{\n");
    for (name, v) in ints {
        writeln!(out, "  \"{name}\": {v},").expect("internal: writing to a String");
    }
    out.push_str("  \"x\": [\n");
    for (i, row) in x.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|&v| fmt_real(v)).collect();
        let sep = if i + 1 == x.len() { "" } else { "," };
        writeln!(out, "    [{}]{sep}", cells.join(", ")).expect("internal: writing to a String");
    }
    writeln!(out, "  ],\n  \"{y_name}\": [{}]\n}}", y.join(", "))
        .expect("internal: writing to a String");
    out
}

/// A teacher network: for each layer, (weights out × in, bias), tanh on every layer but the last.
struct Teacher {
    layers: Vec<(Vec<Vec<f64>>, Vec<f64>)>,
}

impl Teacher {
    /// Layer sizes `[in, hidden…, out]`; weights normal(0, 1/√fan_in), biases normal(0, 1).
    fn new(sizes: &[usize], rng: &mut ChaCha20Rng) -> Teacher {
        let layers = sizes
            .windows(2)
            .map(|w| {
                let (fan_in, out) = (w[0], w[1]);
                let scale = 1.0 / (fan_in as f64).sqrt();
                let weights = (0..out)
                    .map(|_| (0..fan_in).map(|_| scale * std_normal(rng)).collect())
                    .collect();
                let bias = (0..out).map(|_| std_normal(rng)).collect();
                (weights, bias)
            })
            .collect();
        Teacher { layers }
    }

    fn eval(&self, x: &[f64]) -> Vec<f64> {
        let mut a = x.to_vec();
        for (k, (w, b)) in self.layers.iter().enumerate() {
            let last = k + 1 == self.layers.len();
            a = w
                .iter()
                .zip(b)
                .map(|(row, bi)| {
                    let z = bi + row.iter().zip(&a).map(|(wi, ai)| wi * ai).sum::<f64>();
                    if last {
                        z
                    } else {
                        z.tanh()
                    }
                })
                .collect();
        }
        a
    }
}

/// Regression rows from a teacher of the given hidden sizes: x ~ normal(0, 1),
/// y = teacher(x) + normal(0, 0.1).
fn regression(seed: u64, rows: usize, d: usize, hidden: &[usize]) -> String {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut sizes = vec![d];
    sizes.extend_from_slice(hidden);
    sizes.push(1);
    let teacher = Teacher::new(&sizes, &mut rng);
    let mut x = Vec::with_capacity(rows);
    let mut y = Vec::with_capacity(rows);
    for _ in 0..rows {
        let row: Vec<f64> = (0..d).map(|_| round6(std_normal(&mut rng))).collect();
        y.push(fmt_real(teacher.eval(&row)[0] + 0.1 * std_normal(&mut rng)));
        x.push(row);
    }
    render(&[("N", rows), ("D", d)], &x, "y", &y)
}

/// The 784-pixel, 10-class classification rows described in the module documentation.
fn images(seed: u64, rows: usize) -> String {
    const D: usize = 784;
    const K: usize = 10;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let prototypes: Vec<Vec<bool>> = (0..K)
        .map(|_| (0..D).map(|_| rng.random::<f64>() < 0.2).collect())
        .collect();
    let mut x = Vec::with_capacity(rows);
    let mut y = Vec::with_capacity(rows);
    for i in 0..rows {
        let k = i % K;
        let row = prototypes[k]
            .iter()
            .map(|&on| {
                let on = on != (rng.random::<f64>() < 0.1);
                if on {
                    (rng.random_range(0.5..1.0f64) * 100.0).round() / 100.0
                } else {
                    0.0
                }
            })
            .collect();
        x.push(row);
        y.push(k.to_string());
    }
    render(&[("N", rows), ("D", D), ("K", K)], &x, "y", &y)
}

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("bench"), PathBuf::from);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        std::process::exit(74);
    }
    let sets = [
        ("mlp_10_50_1", regression(101, 400, 10, &[50])),
        ("mlp_13_100_100_1", regression(102, 500, 13, &[100, 100])),
        ("softmax_784_100_10", images(103, 1000)),
        ("mlp_9_100_1", regression(104, 45_000, 9, &[100])),
    ];
    for (stem, text) in &sets {
        serde_json::from_str::<serde_json::Value>(text)
            .unwrap_or_else(|e| panic!("internal: {stem}.json is not JSON: {e}"));
        let path = Path::new(&dir).join(format!("{stem}.json"));
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            std::process::exit(74);
        }
        println!("wrote {} ({} bytes)", path.display(), text.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(regression(101, 5, 10, &[50]), regression(101, 5, 10, &[50]));
        assert_eq!(images(103, 3), images(103, 3));
    }

    #[test]
    fn a_teacher_of_one_linear_layer_is_its_affine_map() {
        // weights w (1 × 2) and bias b: f(x) = b + w·x, no activation on the last layer
        let t = Teacher {
            layers: vec![(vec![vec![2.0, -1.0]], vec![0.5])],
        };
        // 0.5 + 2·3 − 1·4 = 2.5
        assert_eq!(t.eval(&[3.0, 4.0]), vec![2.5]);
    }
}
