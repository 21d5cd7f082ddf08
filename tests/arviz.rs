//! Reads our Stan CSV with ArviZ's `from_cmdstan` and checks shapes, values, warmup split, adaptation and diagnostics.
//!
//! Runs the interpreter named by `BNNPPL_PYTHON` (default `python3`). When `import arviz`
//! fails there, the test prints why and returns; when ArviZ imports, every check must pass.

use bnnppl::stan_csv::{stan_column_names, SamplerStats, StanCsvWriter};
use bnnppl::summary::{ebfmi, summarize};
use std::path::{Path, PathBuf};
use std::process::Command;

const CHAINS: usize = 2;
const WARMUP: usize = 3;
const DRAWS: usize = 60;
const STEP_SIZE: f64 = std::f64::consts::FRAC_1_SQRT_2;
const INV_MASS: [f64; 7] = [1.0, 0.5, 0.25, 2.0, 1.0 / 3.0, 0.1, 7.0];

fn python() -> String {
    std::env::var("BNNPPL_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// None when the interpreter cannot import arviz (the reason is returned for the skip message).
fn arviz_missing() -> Option<String> {
    match Command::new(python()).args(["-c", "import arviz"]).output() {
        Ok(out) if out.status.success() => None,
        // The last line of the traceback says what is missing.
        Ok(out) => Some(
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("no error message")
                .trim()
                .to_string(),
        ),
        Err(e) => Some(e.to_string()),
    }
}

/// SplitMix64 → uniform in [0, 1).
fn uniform(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// Element (i, j) of matrix `w` at a draw: identifies chain, draw and both indices, plus an
/// irrational part so the text form is 17 digits long.
fn w_value(chain: usize, draw: usize, i: usize, j: usize) -> f64 {
    1000.0 * chain as f64 + draw as f64 + 0.1 * i as f64 + 0.01 * j as f64 + 1.0 / 3.0
}

struct Run {
    /// sigma draws per chain (post-warmup).
    sigma: Vec<Vec<f64>>,
    /// energy__ per chain (post-warmup).
    energy: Vec<Vec<f64>>,
    divergent: Vec<Vec<bool>>,
    treedepth: Vec<Vec<u32>>,
    paths: Vec<PathBuf>,
}

fn write_run(dir: &Path) -> Run {
    let mut columns = stan_column_names("w", &[2, 3]);
    columns.push("sigma".to_string());
    let mut run = Run {
        sigma: vec![],
        energy: vec![],
        divergent: vec![],
        treedepth: vec![],
        paths: vec![],
    };
    for chain in 0..CHAINS {
        let config: Vec<(String, String)> = [
            ("model", "mlp_test".to_string()),
            ("engine", "nuts".to_string()),
            ("seed", "20240611".to_string()),
            ("id", (chain + 1).to_string()),
            ("num_warmup", WARMUP.to_string()),
            ("save_warmup", "1".to_string()),
            ("num_samples", DRAWS.to_string()),
            ("thin", "1".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let path = dir.join(format!("chain_{}.csv", chain + 1));
        let file = std::fs::File::create(&path).expect("create csv");
        let mut w = StanCsvWriter::new(file, &config, &columns).expect("header");
        let mut state = 77 + chain as u64;
        let (mut sigma, mut energy, mut divergent, mut treedepth) =
            (vec![], vec![], vec![], vec![]);
        let mut s = 1.0;
        let mut e = 10.0;
        for draw in 0..WARMUP + DRAWS {
            if draw == WARMUP {
                w.write_adaptation(STEP_SIZE, &INV_MASS)
                    .expect("adaptation");
            }
            s = 0.6 * s + uniform(&mut state) + 0.3 * chain as f64;
            e = 0.5 * e + 5.0 * uniform(&mut state);
            let stats = SamplerStats {
                lp: -e,
                accept_stat: uniform(&mut state),
                stepsize: STEP_SIZE,
                treedepth: 2 + (draw % 3) as u32,
                n_leapfrog: 3 + draw as u32,
                divergent: draw % 17 == 5,
                energy: e,
            };
            let mut values = Vec::new();
            // Column-major, as the header from stan_column_names: (1,1), (2,1), (1,2), …
            for j in 0..3 {
                for i in 0..2 {
                    values.push(w_value(chain, draw, i, j));
                }
            }
            values.push(s);
            w.write_draw(&stats, &values).expect("draw");
            if draw >= WARMUP {
                sigma.push(s);
                energy.push(e);
                divergent.push(stats.divergent);
                treedepth.push(stats.treedepth);
            }
        }
        w.write_timing(0.1, 0.2).expect("timing");
        run.sigma.push(sigma);
        run.energy.push(energy);
        run.divergent.push(divergent);
        run.treedepth.push(treedepth);
        run.paths.push(path);
    }
    run
}

/// Loads the files with from_cmdstan and prints JSON; doubles travel as their IEEE bit
/// patterns (unsigned integers), so the comparison is exact.
const SCRIPT: &str = r#"
import json, sys, warnings
warnings.filterwarnings("ignore")
import numpy as np
import arviz as az

def bits(a):
    return np.ascontiguousarray(a, dtype=np.float64).view(np.uint64).ravel().tolist()

idata = az.from_cmdstan(posterior=sys.argv[1:])
post = idata.posterior
stats = idata.sample_stats
s = az.summary(idata, var_names=["sigma"], kind="all", round_to="none")
print(json.dumps({
    "w_shape": list(post["w"].shape),
    "w_bits": bits(post["w"].values),
    "sigma_bits": bits(post["sigma"].values),
    "energy_bits": bits(stats["energy"].values),
    "diverging_dtype": str(stats["diverging"].dtype),
    "diverging": stats["diverging"].values.astype(int).ravel().tolist(),
    "tree_depth": stats["tree_depth"].values.ravel().tolist(),
    "step_size": [float(v) for v in post.attrs["step_size"]],
    "inverse_mass_matrix": post.attrs["inverse_mass_matrix"],
    "model": post.attrs["model"],
    "summary": {k: float(s[k].iloc[0]) for k in
                ["mean", "sd", "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat"]},
    "bfmi": az.bfmi(idata).tolist(),
}))
"#;

fn bits_to_f64(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|b| f64::from_bits(b.as_u64().expect("u64 bits")))
        .collect()
}

#[track_caller]
fn close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-8 * expected.abs(),
        "{what}: ours {actual}, arviz {expected}"
    );
}

#[test]
fn arviz_from_cmdstan_reads_our_files() {
    if let Some(why) = arviz_missing() {
        println!(
            "skipping: `{} -c 'import arviz'` failed ({why}); set BNNPPL_PYTHON to an interpreter with arviz",
            python()
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("bnnppl-arviz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let run = write_run(&dir);

    let out = Command::new(python())
        .arg("-c")
        .arg(SCRIPT)
        .args(&run.paths)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "from_cmdstan failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the script prints one JSON object");

    // Warmup rows are split off by num_warmup·save_warmup/thin; the matrix keeps its shape.
    assert_eq!(json["w_shape"], serde_json::json!([CHAINS, DRAWS, 2, 3]));
    // Row-major (chain, draw, i, j) from NumPy; each element must be the value we wrote for
    // that (i, j), which checks that the column-major names map back to the right cells.
    let w = bits_to_f64(&json["w_bits"]);
    let mut k = 0;
    for chain in 0..CHAINS {
        for draw in 0..DRAWS {
            for i in 0..2 {
                for j in 0..3 {
                    let expected = w_value(chain, draw + WARMUP, i, j);
                    assert_eq!(
                        w[k].to_bits(),
                        expected.to_bits(),
                        "w[{chain},{draw},{i},{j}]"
                    );
                    k += 1;
                }
            }
        }
    }
    let sigma = bits_to_f64(&json["sigma_bits"]);
    let energy = bits_to_f64(&json["energy_bits"]);
    assert_eq!(sigma, run.sigma.concat(), "sigma round-trips bit for bit");
    assert_eq!(
        energy,
        run.energy.concat(),
        "energy round-trips bit for bit"
    );
    assert_eq!(json["diverging_dtype"], "bool");
    let diverging: Vec<bool> = json["diverging"]
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_i64() == Some(1))
        .collect();
    assert_eq!(diverging, run.divergent.concat());
    let depth: Vec<u32> = json["tree_depth"]
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_u64().expect("int") as u32)
        .collect();
    assert_eq!(depth, run.treedepth.concat());

    // The adaptation block and configuration reach the posterior's attributes.
    assert_eq!(json["step_size"], serde_json::json!([STEP_SIZE, STEP_SIZE]));
    let inv_mass = json["inverse_mass_matrix"][0].as_str().expect("string");
    let parsed: Vec<f64> = inv_mass
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|t| t.trim().parse().expect("number"))
        .collect();
    assert_eq!(parsed, INV_MASS);
    assert_eq!(json["model"], serde_json::json!(["mlp_test", "mlp_test"]));

    // az.summary and az.bfmi on what ArviZ read agree with our diagnostics on what we wrote.
    let row = summarize("sigma", &run.sigma);
    let s = &json["summary"];
    close(row.mean, s["mean"].as_f64().expect("mean"), "mean");
    close(row.sd, s["sd"].as_f64().expect("sd"), "sd");
    close(
        row.mcse_mean,
        s["mcse_mean"].as_f64().expect("x"),
        "mcse_mean",
    );
    close(row.mcse_sd, s["mcse_sd"].as_f64().expect("x"), "mcse_sd");
    close(row.ess_bulk, s["ess_bulk"].as_f64().expect("x"), "ess_bulk");
    close(row.ess_tail, s["ess_tail"].as_f64().expect("x"), "ess_tail");
    close(row.rhat, s["r_hat"].as_f64().expect("x"), "r_hat");
    for (c, b) in json["bfmi"].as_array().expect("array").iter().enumerate() {
        close(ebfmi(&run.energy[c]), b.as_f64().expect("bfmi"), "bfmi");
    }

    std::fs::remove_dir_all(&dir).expect("remove temp dir");
}
