//! Writes the data files of the example models in `models/`, byte-identically on every run.
//!
//! Run as `cargo run --release --example make_data -- models/` (the directory defaults to
//! `models`). Every data set has its own fixed seed and one seeded ChaCha20 stream, and every
//! real number is printed with at most six decimals by [`fmt_real`], so the output depends on
//! nothing but this file. Files are CmdStan-style JSON: a matrix is an array of rows, integer
//! data are JSON integers, real data always carry a decimal point.
//!
//! The data sets (the comment paragraph of each model repeats its line):
//!
//! | file | seed | what |
//! |---|---|---|
//! | `regression_1d.json` | 1 | 80 rows, x in [-4, -1.5] and [1.5, 4], y = sin(x) + 0.1 x + normal(0, 0.15) |
//! | `heteroscedastic.json` | 2 | 150 rows, x in [-3, 3], y = sin(x) + normal(0, s(x)), s(x) = 0.05 + 0.1 x^2 |
//! | `classifier.json` | 3 | 180 rows, three interleaved spiral arms, labels 0, 1, 2 |
//! | `hierarchical_bnn.json` | 4 | 100 rows, x in [-2, 2]^2, y = sin(1.5 x0) + 0.5 x1^2 - 0.5 + normal(0, 0.2) |
//! | `linear_regression.json` | 5 | 50 rows, D = 3, y = 1 + x (0.5, -1, 2) + normal(0, 0.5) |
//! | `logistic_regression.json` | 6 | 100 rows, D = 2, y ~ bernoulli(sigmoid(-0.5 + x (1.5, -1))) |
//! | `eight_schools.json` | none | Rubin (1981), the SAT coaching effects as in BDA3 section 5.5 |
//!
//! `bnn_toy.json` is not generated here: it is a byte copy of the benchmark data
//! `/work/shared/data/bench/bnn_toy.json` (NumPyro's examples/bnn.py, drawn with NumPy), so that
//! bnnppl's timings compare with the peers' on the same rows.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::StandardNormal;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One value of a data file, in the order it is written.
enum Field {
    /// A single integer, e.g. a dimension `N`.
    Int(i64),
    /// An array of integers, e.g. class labels.
    IntArray(Vec<i64>),
    /// A real vector.
    Vector(Vec<f64>),
    /// A real matrix, row-major: the JSON is an array of rows.
    Matrix(Vec<Vec<f64>>),
}

/// A data file: named fields in a fixed order.
struct DataSet {
    /// File stem, the same as the model's.
    stem: &'static str,
    /// Fields in the order they are written.
    fields: Vec<(&'static str, Field)>,
}

/// Formats a real with at most six decimals and at least one, so the text is fixed by the value
/// alone and always reads as a real (`28.0`, `-0.123457`); `-0.0` prints as `0.0`.
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

/// Renders a data set as JSON with one array element (or matrix row) per line.
fn render(data: &DataSet) -> String {
    let mut out = String::from("{\n");
    for (i, (name, field)) in data.fields.iter().enumerate() {
        let sep = if i + 1 == data.fields.len() { "" } else { "," };
        let value = match field {
            Field::Int(n) => n.to_string(),
            Field::IntArray(v) => list(v.iter().map(|n| n.to_string())),
            Field::Vector(v) => list(v.iter().map(|&x| fmt_real(x))),
            Field::Matrix(rows) => list(rows.iter().map(|row| {
                let cells: Vec<String> = row.iter().map(|&x| fmt_real(x)).collect();
                format!("[{}]", cells.join(", "))
            })),
        };
        writeln!(out, "  \"{name}\": {value}{sep}").expect("internal: writing to a String");
    }
    out.push_str("}\n");
    out
}

/// A JSON array with one element per line, indented under its field.
fn list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.map(|s| format!("    {s}")).collect();
    if items.is_empty() {
        "[]".to_string()
    } else {
        format!("[\n{}\n  ]", items.join(",\n"))
    }
}

/// Parses the rendered text back and checks that every array has the length its dimension says,
/// so a file that is written is also one a JSON reader accepts.
fn self_check(data: &DataSet, text: &str) {
    let parsed: serde_json::Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("internal: {}.json is not JSON: {e}", data.stem));
    for (name, field) in &data.fields {
        let value = &parsed[*name];
        let expected_len = match field {
            Field::Int(_) => {
                assert!(value.is_i64(), "{}: '{name}' must be an integer", data.stem);
                continue;
            }
            Field::IntArray(v) => v.len(),
            Field::Vector(v) => v.len(),
            Field::Matrix(rows) => rows.len(),
        };
        let len = value.as_array().map(Vec::len);
        assert_eq!(len, Some(expected_len), "{}: length of '{name}'", data.stem);
    }
}

/// One draw from normal(0, 1).
fn std_normal(rng: &mut ChaCha20Rng) -> f64 {
    rng.sample(StandardNormal)
}

/// Rounds to the six decimals that [`fmt_real`] prints, so a value used to compute another one
/// (an input feeding its output) is the value written in the file.
fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// 1-D regression with a gap: 40 inputs uniform in [-4, -1.5] and 40 in [1.5, 4], sorted;
/// y = sin(x) + 0.1 x + noise, noise ~ normal(0, 0.15). No input lies in (-1.5, 1.5), where a BNN's
/// predictive band should widen.
fn regression_1d() -> DataSet {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut xs: Vec<f64> = (0..80)
        .map(|i| {
            let (low, high) = if i < 40 { (-4.0, -1.5) } else { (1.5, 4.0) };
            round6(rng.random_range(low..high))
        })
        .collect();
    xs.sort_by(f64::total_cmp);
    let ys = xs
        .iter()
        .map(|&x| x.sin() + 0.1 * x + 0.15 * std_normal(&mut rng))
        .collect();
    DataSet {
        stem: "regression_1d",
        fields: vec![
            ("N", Field::Int(xs.len() as i64)),
            ("x", Field::Matrix(xs.iter().map(|&x| vec![x]).collect())),
            ("y", Field::Vector(ys)),
        ],
    }
}

/// The true noise scale of `heteroscedastic.json`: s(x) = 0.05 + 0.1 x^2
/// (0.05 at x = 0, 0.95 at x = +-3).
fn heteroscedastic_noise(x: f64) -> f64 {
    0.05 + 0.1 * x * x
}

/// Heteroscedastic regression: 150 inputs uniform in [-3, 3], sorted;
/// y = sin(x) + s(x) * normal(0, 1) with s from [`heteroscedastic_noise`].
fn heteroscedastic() -> DataSet {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut xs: Vec<f64> = (0..150)
        .map(|_| round6(rng.random_range(-3.0..3.0)))
        .collect();
    xs.sort_by(f64::total_cmp);
    let ys = xs
        .iter()
        .map(|&x| x.sin() + heteroscedastic_noise(x) * std_normal(&mut rng))
        .collect();
    DataSet {
        stem: "heteroscedastic",
        fields: vec![
            ("N", Field::Int(xs.len() as i64)),
            ("x", Field::Matrix(xs.iter().map(|&x| vec![x]).collect())),
            ("y", Field::Vector(ys)),
        ],
    }
}

/// Three spiral arms, 60 points each, rows interleaved by class (0, 1, 2, 0, 1, 2, ...) so any
/// prefix of the file holds all classes. Point i of arm k has radius r = 0.2 + 1.8 i / 59 and
/// angle 2 pi k / 3 + 2.5 r + normal(0, 0.15): about 0.7 of a turn, which a 16-unit tanh layer
/// separates.
fn classifier() -> DataSet {
    const K: usize = 3;
    const PER_CLASS: usize = 60;
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut x = Vec::with_capacity(K * PER_CLASS);
    let mut y = Vec::with_capacity(K * PER_CLASS);
    for i in 0..PER_CLASS {
        for k in 0..K {
            let r = 0.2 + 1.8 * i as f64 / (PER_CLASS - 1) as f64;
            let angle = 2.0 * std::f64::consts::PI * k as f64 / K as f64
                + 2.5 * r
                + 0.15 * std_normal(&mut rng);
            x.push(vec![r * angle.cos(), r * angle.sin()]);
            y.push(k as i64);
        }
    }
    DataSet {
        stem: "classifier",
        fields: vec![
            ("N", Field::Int(x.len() as i64)),
            ("D", Field::Int(2)),
            ("K", Field::Int(K as i64)),
            ("x", Field::Matrix(x)),
            ("y", Field::IntArray(y)),
        ],
    }
}

/// Regression for the hierarchical BNN: 100 inputs uniform in [-2, 2]^2;
/// y = sin(1.5 x0) + 0.5 x1^2 - 0.5 + normal(0, 0.2).
fn hierarchical_bnn() -> DataSet {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let mut x = Vec::with_capacity(100);
    let mut y = Vec::with_capacity(100);
    for _ in 0..100 {
        let x0 = round6(rng.random_range(-2.0..2.0));
        let x1 = round6(rng.random_range(-2.0..2.0));
        y.push((1.5 * x0).sin() + 0.5 * x1 * x1 - 0.5 + 0.2 * std_normal(&mut rng));
        x.push(vec![x0, x1]);
    }
    DataSet {
        stem: "hierarchical_bnn",
        fields: vec![
            ("N", Field::Int(x.len() as i64)),
            ("D", Field::Int(2)),
            ("x", Field::Matrix(x)),
            ("y", Field::Vector(y)),
        ],
    }
}

/// Linear regression: x ~ normal(0, 1) in 3 columns; y = 1 + x (0.5, -1, 2) + normal(0, 0.5).
fn linear_regression() -> DataSet {
    const ALPHA: f64 = 1.0;
    const BETA: [f64; 3] = [0.5, -1.0, 2.0];
    const SIGMA: f64 = 0.5;
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut x = Vec::with_capacity(50);
    let mut y = Vec::with_capacity(50);
    for _ in 0..50 {
        let row: Vec<f64> = (0..3).map(|_| round6(std_normal(&mut rng))).collect();
        let mu = ALPHA + row.iter().zip(BETA).map(|(a, b)| a * b).sum::<f64>();
        y.push(mu + SIGMA * std_normal(&mut rng));
        x.push(row);
    }
    DataSet {
        stem: "linear_regression",
        fields: vec![
            ("N", Field::Int(x.len() as i64)),
            ("D", Field::Int(3)),
            ("x", Field::Matrix(x)),
            ("y", Field::Vector(y)),
        ],
    }
}

/// Logistic regression: x ~ normal(0, 1) in 2 columns;
/// y ~ bernoulli(sigmoid(-0.5 + 1.5 x0 - 1 x1)).
fn logistic_regression() -> DataSet {
    const ALPHA: f64 = -0.5;
    const BETA: [f64; 2] = [1.5, -1.0];
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let mut x = Vec::with_capacity(100);
    let mut y = Vec::with_capacity(100);
    for _ in 0..100 {
        let row: Vec<f64> = (0..2).map(|_| round6(std_normal(&mut rng))).collect();
        let eta = ALPHA + row.iter().zip(BETA).map(|(a, b)| a * b).sum::<f64>();
        // A uniform draw below the success probability is a bernoulli(p) outcome.
        let u: f64 = rng.random();
        y.push(i64::from(u < sigmoid(eta)));
        x.push(row);
    }
    DataSet {
        stem: "logistic_regression",
        fields: vec![
            ("N", Field::Int(x.len() as i64)),
            ("D", Field::Int(2)),
            ("x", Field::Matrix(x)),
            ("y", Field::IntArray(y)),
        ],
    }
}

/// The eight schools (Rubin 1981; Gelman et al., BDA3, section 5.5): estimated coaching effects
/// `y` and their standard errors `sigma`. Fixed data, no randomness.
fn eight_schools() -> DataSet {
    let y = [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0];
    let sigma = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0];
    DataSet {
        stem: "eight_schools",
        fields: vec![
            ("J", Field::Int(y.len() as i64)),
            ("y", Field::Vector(y.to_vec())),
            ("sigma", Field::Vector(sigma.to_vec())),
        ],
    }
}

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("models"), PathBuf::from);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        std::process::exit(74);
    }
    let sets = [
        regression_1d(),
        heteroscedastic(),
        classifier(),
        hierarchical_bnn(),
        linear_regression(),
        logistic_regression(),
        eight_schools(),
    ];
    for data in &sets {
        let text = render(data);
        self_check(data, &text);
        let path: PathBuf = Path::new(&dir).join(format!("{}.json", data.stem));
        if let Err(e) = std::fs::write(&path, &text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            std::process::exit(74);
        }
        println!("wrote {}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reals_print_with_a_decimal_point_and_at_most_six_decimals() {
        assert_eq!(fmt_real(28.0), "28.0");
        assert_eq!(fmt_real(-3.0), "-3.0");
        assert_eq!(fmt_real(0.1234567), "0.123457");
        assert_eq!(fmt_real(-0.0000001), "0.0");
        assert_eq!(fmt_real(1.5), "1.5");
    }

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(render(&regression_1d()), render(&regression_1d()));
        assert_eq!(render(&classifier()), render(&classifier()));
    }
}
