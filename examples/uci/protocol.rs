//! The UCI regression protocol's arithmetic: the PBP file layout, standardization with
//! training statistics, and scoring (RMSE, log predictive density) in original target units.
//!
//! Protocol as in Hernández-Lobato & Adams (ICML 2015) and Gal & Ghahramani (ICML 2016); see
//! `../shared/data/uci/README.md`: features and target are standardized with the training
//! split's mean and population standard deviation (a zero deviation replaced by 1), and the
//! scores are taken back to original units, the log-density through the Jacobian of
//! y = mean_y + sd_y · z, i.e. log p(y) = log p(z) − log sd_y.

use bnnppl::math::dist::normal_lpdf;
use bnnppl::math::special::log_sum_exp;
use std::path::Path;

/// One data set in the PBP layout: rows of `data.txt` and the column roles.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The non-empty rows of `data.txt`, every column.
    pub rows: Vec<Vec<f64>>,
    /// 0-based feature columns (`index_features.txt`).
    pub features: Vec<usize>,
    /// 0-based target column (`index_target.txt`).
    pub target: usize,
    /// Number of train/test splits (`n_splits.txt`).
    pub n_splits: usize,
    /// Hidden units of the protocol's network (`n_hidden.txt`).
    pub n_hidden: usize,
}

/// Row indices of one train/test split, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// 0-based training rows.
    pub train: Vec<usize>,
    /// 0-based test rows.
    pub test: Vec<usize>,
}

fn read(dir: &Path, name: &str) -> Result<String, String> {
    std::fs::read_to_string(dir.join(name))
        .map_err(|e| format!("cannot read {}: {e}", dir.join(name).display()))
}

fn numbers<T: std::str::FromStr>(text: &str, what: &str) -> Result<Vec<T>, String> {
    text.split_whitespace()
        .enumerate()
        .map(|(k, s)| {
            s.parse()
                .map_err(|_| format!("{what}: entry {k} ('{s}') is not a number"))
        })
        .collect()
}

impl Dataset {
    /// Reads `data.txt` (whitespace-separated, empty lines skipped) and the index files.
    pub fn load(dir: &Path) -> Result<Dataset, String> {
        let mut rows = Vec::new();
        for (line, text) in read(dir, "data.txt")?.lines().enumerate() {
            if text.trim().is_empty() {
                continue;
            }
            rows.push(numbers::<f64>(
                text,
                &format!("data.txt line {}", line + 1),
            )?);
        }
        let features = numbers::<usize>(&read(dir, "index_features.txt")?, "index_features.txt")?;
        let target = *numbers::<usize>(&read(dir, "index_target.txt")?, "index_target.txt")?
            .first()
            .ok_or("index_target.txt is empty")?;
        let one = |name: &str| -> Result<usize, String> {
            numbers::<usize>(&read(dir, name)?, name)?
                .first()
                .copied()
                .ok_or(format!("{name} is empty"))
        };
        let ds = Dataset {
            n_splits: one("n_splits.txt")?,
            n_hidden: one("n_hidden.txt")?,
            rows,
            features,
            target,
        };
        let width = ds
            .features
            .iter()
            .chain([&ds.target])
            .max()
            .copied()
            .unwrap_or(0);
        if let Some((r, row)) = ds.rows.iter().enumerate().find(|(_, r)| r.len() <= width) {
            return Err(format!(
                "data.txt row {r} has {} columns but column {width} is used",
                row.len()
            ));
        }
        Ok(ds)
    }

    /// Reads `index_train_<i>.txt` and `index_test_<i>.txt`.
    pub fn split(&self, dir: &Path, i: usize) -> Result<Split, String> {
        let idx = |name: String| -> Result<Vec<usize>, String> {
            let v = numbers::<usize>(&read(dir, &name)?, &name)?;
            match v.iter().find(|&&r| r >= self.rows.len()) {
                Some(r) => Err(format!(
                    "{name}: row {r} is beyond the {} rows",
                    self.rows.len()
                )),
                None => Ok(v),
            }
        };
        Ok(Split {
            train: idx(format!("index_train_{i}.txt"))?,
            test: idx(format!("index_test_{i}.txt"))?,
        })
    }
}

/// Mean and population standard deviation; a deviation of 0 becomes 1 (a constant column is
/// only centred), as the reference code does.
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    (mean, if sd > 0.0 { sd } else { 1.0 })
}

/// A split's data, standardized with training statistics only.
#[derive(Debug, Clone)]
pub struct Standardized {
    /// Training features, row-major rows.
    pub x_train: Vec<Vec<f64>>,
    /// Training target, standardized.
    pub y_train: Vec<f64>,
    /// Test features, scaled with the training statistics.
    pub x_test: Vec<Vec<f64>>,
    /// Test target in original units (never standardized: it is only scored).
    pub y_test: Vec<f64>,
    /// Training mean of the target.
    pub y_mean: f64,
    /// Training standard deviation of the target.
    pub y_sd: f64,
}

/// Standardizes features and target of `train` rows and scales `test` rows the same way.
pub fn standardize(ds: &Dataset, train: &[usize], test: &[usize]) -> Standardized {
    let scale: Vec<(f64, f64)> = ds
        .features
        .iter()
        .map(|&c| mean_sd(&train.iter().map(|&r| ds.rows[r][c]).collect::<Vec<_>>()))
        .collect();
    let x = |rows: &[usize]| -> Vec<Vec<f64>> {
        rows.iter()
            .map(|&r| {
                ds.features
                    .iter()
                    .zip(&scale)
                    .map(|(&c, &(m, s))| (ds.rows[r][c] - m) / s)
                    .collect()
            })
            .collect()
    };
    let y_raw: Vec<f64> = train.iter().map(|&r| ds.rows[r][ds.target]).collect();
    let (y_mean, y_sd) = mean_sd(&y_raw);
    Standardized {
        x_train: x(train),
        y_train: y_raw.iter().map(|y| (y - y_mean) / y_sd).collect(),
        x_test: x(test),
        y_test: test.iter().map(|&r| ds.rows[r][ds.target]).collect(),
        y_mean,
        y_sd,
    }
}

/// The last 20 % of the training rows, in file order, as a validation set (as the MC-dropout
/// code carves it); returns (fit rows, validation rows).
pub fn validation_split(train: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let cut = train.len() - train.len() / 5;
    (train[..cut].to_vec(), train[cut..].to_vec())
}

/// The model's data as CmdStan JSON: the sizes `H` (hidden width), `N`, `D`, `M` (training
/// rows, features, test rows), then `x`, `y` (training, standardized) and `x_test`.
pub fn to_json(st: &Standardized, hidden: usize) -> String {
    let matrix = |m: &[Vec<f64>]| {
        let rows: Vec<String> = m
            .iter()
            .map(|r| {
                let v: Vec<String> = r.iter().map(|x| format!("{x:e}")).collect();
                format!("[{}]", v.join(","))
            })
            .collect();
        format!("[{}]", rows.join(","))
    };
    let y: Vec<String> = st.y_train.iter().map(|v| format!("{v:e}")).collect();
    format!(
        "{{\"H\":{hidden},\"N\":{},\"D\":{},\"M\":{},\"x\":{},\"y\":[{}],\"x_test\":{}}}",
        st.x_train.len(),
        st.x_train.first().map_or(0, Vec::len),
        st.x_test.len(),
        matrix(&st.x_train),
        y.join(","),
        matrix(&st.x_test)
    )
}

/// Test RMSE in original units of the predictive mean: `mu[s][i]` is draw s's standardized
/// mean at test row i, back-transformed as y = mean_y + sd_y · z.
pub fn rmse(mu: &[Vec<f64>], y: &[f64], y_mean: f64, y_sd: f64) -> f64 {
    let s = mu.len() as f64;
    let se: f64 = y
        .iter()
        .enumerate()
        .map(|(i, &yi)| {
            let z = mu.iter().map(|m| m[i]).sum::<f64>() / s;
            (yi - (y_mean + y_sd * z)).powi(2)
        })
        .sum();
    (se / y.len() as f64).sqrt()
}

/// Mean test log predictive density in original units:
/// (1/n) Σ_i [log (1/S) Σ_s N(z_i; mu_s,i, sigma_s) − log sd_y], z_i = (y_i − mean_y) / sd_y.
pub fn log_likelihood(mu: &[Vec<f64>], sigma: &[f64], y: &[f64], y_mean: f64, y_sd: f64) -> f64 {
    let mut lp = vec![0.0; mu.len()];
    let total: f64 = y
        .iter()
        .enumerate()
        .map(|(i, &yi)| {
            let z = (yi - y_mean) / y_sd;
            for ((l, m), &sd) in lp.iter_mut().zip(mu).zip(sigma) {
                *l = normal_lpdf(z, m[i], sd);
            }
            log_sum_exp(&lp) - (mu.len() as f64).ln() - y_sd.ln()
        })
        .sum();
    total / y.len() as f64
}

/// Mean and standard error (sample standard deviation / √n) over splits.
pub fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, f64::NAN);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}
