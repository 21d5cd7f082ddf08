//! `bnnppl sample` and `bnnppl summary` as a user runs them: same seed gives the same bytes on
//! any number of threads, a chain run alone equals the same chain in a group, NaN becomes a
//! divergence, Ctrl-C keeps the draws, a run killed mid-run is read up to its whole draws
//! (issue 16), and a failed initialization names the term.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bnnppl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bnnppl"))
        .args(args)
        .output()
        .expect("run bnnppl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bnnppl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

/// The file without the lines that depend on the clock or on how the run was split.
fn draws_part(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| {
            !l.contains("Elapsed") && !l.contains("seconds") && !l.starts_with("# chain_id")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn run(dir: &Path, extra: &[&str]) {
    let d = dir.to_string_lossy().to_string();
    let mut args = vec![
        "sample",
        "models/linear_regression.bnn",
        "--warmup",
        "150",
        "--draws",
        "100",
        "--seed",
        "42",
        "--quiet",
        "--output",
        &d,
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = bnnppl(&args);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn same_seed_gives_the_same_draws_on_any_number_of_threads() {
    let one = tmp("t1");
    let two = tmp("t2");
    let four = tmp("t4");
    run(&one, &["--threads", "1"]);
    run(&two, &["--threads", "2"]);
    run(&four, &["--threads", "4"]);
    for k in 1..=4 {
        let f = format!("chain_{k}.csv");
        let a = draws_part(&one.join(&f));
        assert!(
            a.lines().filter(|l| !l.starts_with('#')).count() == 101,
            "header + 100 draws"
        );
        assert_eq!(a, draws_part(&two.join(&f)), "chain {k}: 1 vs 2 threads");
        assert_eq!(a, draws_part(&four.join(&f)), "chain {k}: 1 vs 4 threads");
    }
    // Chain 3 run alone, as a separate process would, equals chain 3 of the group.
    let alone = tmp("alone");
    run(&alone, &["--chain-id", "3"]);
    assert!(!alone.join("chain_1.csv").exists());
    assert_eq!(
        draws_part(&alone.join("chain_3.csv")),
        draws_part(&one.join("chain_3.csv"))
    );
    // And the summary command merges the separate files.
    let (code, out, err) = bnnppl(&["summary", &one.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("4 chain(s) × 100 draws"), "{out}");
    assert!(out.contains("beta.3"), "{out}");
    for d in [one, two, four, alone] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_nan_in_the_density_is_a_divergence_not_a_crash() {
    // sigma is not constrained, so half of its range makes normal's scale negative: log-density NaN.
    let dir = tmp("nan");
    let model = dir.join("nan.bnn");
    std::fs::write(&model, "data { y: vector[N] } param { mu: real sigma: real } prior { mu ~ normal(0, 1) sigma ~ normal(1, 1) } likelihood { y ~ normal(mu, sigma) }").expect("write");
    std::fs::write(dir.join("nan.json"), r#"{"y": [0.1, 0.5, -0.3, 1.2]}"#).expect("write");
    let out = dir.join("out").to_string_lossy().to_string();
    let (code, stdout, stderr) = bnnppl(&[
        "sample",
        &model.to_string_lossy(),
        "--quiet",
        "--output",
        &out,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let mut divergent = 0.0;
    for k in 1..=4 {
        let text =
            std::fs::read_to_string(dir.join(format!("out/chain_{k}.csv"))).expect("chain file");
        let csv = bnnppl::stan_csv::read_stan_csv(&text).expect("csv");
        assert_eq!(csv.n_rows(), 1000);
        divergent += csv
            .column("divergent__")
            .expect("divergent__")
            .iter()
            .sum::<f64>();
    }
    assert!(
        divergent > 0.0,
        "the NaN region should have produced divergences"
    );
    assert!(stdout.contains("ended with a divergence"), "{stdout}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_failed_initialization_names_the_term() {
    // exponential data must be positive; with a negative value every θ has log-density −∞.
    let dir = tmp("init");
    let model = dir.join("bad.bnn");
    std::fs::write(&model, "data { y: vector[N] } param { lambda: real<lower=0> } prior { lambda ~ gamma(2, 1) } likelihood { y ~ exponential(lambda) }").expect("write");
    std::fs::write(dir.join("bad.json"), r#"{"y": [0.5, -1.0]}"#).expect("write");
    let out = dir.join("out").to_string_lossy().to_string();
    let (code, _, err) = bnnppl(&[
        "sample",
        &model.to_string_lossy(),
        "--quiet",
        "--output",
        &out,
    ]);
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("the likelihood of y"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Two chains of bnn_toy into `dir` with a million draws each: a run to stop from outside.
fn spawn_endless_sample(dir: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_bnnppl"))
        .args([
            "sample",
            "models/bnn_toy.bnn",
            "--warmup",
            "100",
            "--draws",
            "1000000",
            "--chains",
            "2",
            "--quiet",
            "--output",
        ])
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn")
}

#[test]
fn ctrl_c_keeps_the_draws_written_so_far() {
    let dir = tmp("sigint");
    let child = spawn_endless_sample(&dir);
    // Wait until both chains have written sampling draws (bounded: at most 60 s).
    let data_lines = |k: usize| {
        std::fs::read_to_string(dir.join(format!("chain_{k}.csv")))
            .map(|t| {
                t.lines()
                    .filter(|l| !l.starts_with('#') && !l.starts_with("lp__"))
                    .count()
            })
            .unwrap_or(0)
    };
    let start = std::time::Instant::now();
    while (data_lines(1) < 5 || data_lines(2) < 5) && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for k in [1, 2] {
        let text = std::fs::read_to_string(dir.join(format!("chain_{k}.csv"))).expect("chain file");
        let csv = bnnppl::stan_csv::read_stan_csv(&text).expect("readable after interrupt");
        assert!(csv.n_rows() >= 5, "chain {k} kept {} draws", csv.n_rows());
        assert!(csv.n_rows() < 1_000_000);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_16_a_run_killed_mid_run_is_summarized_up_to_its_whole_draws() {
    // SIGKILL gives the process no chance to close its files: each chain file ends at its last
    // flushed line, or inside a line when the kill fell in the middle of a write.
    let dir = tmp("sigkill");
    let d = dir.to_string_lossy().to_string();
    let child = spawn_endless_sample(&dir);
    let text = |k: usize| std::fs::read_to_string(dir.join(format!("chain_{k}.csv")));
    // Whole draw lines: those ending in a line break, after the header and not comments.
    let whole_draws = |text: &str| {
        let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        whole
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("lp__"))
            .count()
    };
    let start = std::time::Instant::now();
    while [1, 2]
        .iter()
        .any(|&k| text(k).map_or(0, |t| whole_draws(&t)) < 5)
        && start.elapsed().as_secs() < 60
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), None, "killed by a signal");

    let texts: Vec<String> = [1, 2]
        .iter()
        .map(|&k| text(k).expect("chain file"))
        .collect();
    let counts: Vec<usize> = texts.iter().map(|t| whole_draws(t)).collect();
    assert!(counts.iter().all(|&n| n >= 5), "{counts:?}");
    let (code, out, err) = bnnppl(&["summary", &d]);
    assert_eq!(code, 0, "{err}");
    // The report takes every chain to the shortest one's length, as for any run.
    let n = counts.iter().min().expect("two chains");
    assert!(
        out.starts_with(&format!("2 chain(s) × {n} draws = {} draws\n", 2 * n)),
        "{counts:?}\n{out}"
    );
    for (k, t) in texts.iter().enumerate() {
        // An unfinished last line, if the kill left one, is skipped with a warning naming it.
        let cut = !t.ends_with('\n');
        assert_eq!(
            err.contains(&format!("chain_{}.csv: line", k + 1)),
            cut,
            "{err}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sample_output_loads_in_arviz_from_cmdstan() {
    // Runs where Python's arviz is importable (BNNPPL_PYTHON, default python3); skipped with a
    // message otherwise. CI installs arviz, so there it runs.
    let python = std::env::var("BNNPPL_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python).args(["-c", "import arviz"]).output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: {python} cannot import arviz");
        return;
    }
    let dir = tmp("arviz");
    run(&dir, &[]);
    let script = format!(
        r#"
import arviz, glob
files = sorted(glob.glob("{d}/chain_*.csv"))
idata = arviz.from_cmdstan(files)
post = idata.posterior
assert post.sizes["chain"] == 4, post.sizes
assert post.sizes["draw"] == 100, post.sizes
assert post["beta"].shape == (4, 100, 3), post["beta"].shape
assert post["sigma"].shape == (4, 100)
ss = idata.sample_stats
assert "diverging" in ss and "lp" in ss and "step_size" in ss, list(ss.data_vars)
print("ok", float(post["sigma"].mean()))
"#,
        d = dir.to_string_lossy()
    );
    let out = Command::new(&python)
        .args(["-c", &script])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The same mean through our own reader.
    let ours: f64 = (1..=4)
        .map(|k| {
            let csv = bnnppl::stan_csv::read_stan_csv(
                &std::fs::read_to_string(dir.join(format!("chain_{k}.csv"))).unwrap(),
            )
            .unwrap();
            csv.column("sigma").unwrap().iter().sum::<f64>()
        })
        .sum::<f64>()
        / 400.0;
    let theirs: f64 = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (ours - theirs).abs() < 1e-12 * ours.abs(),
        "{ours} vs {theirs}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn predictive_only_output_leaves_the_weights_out() {
    let dir = tmp("predonly");
    let d = dir.to_string_lossy().to_string();
    let (code, out, err) = bnnppl(&[
        "sample",
        "models/bnn_toy.bnn",
        "--chains",
        "1",
        "--warmup",
        "30",
        "--draws",
        "20",
        "--quiet",
        "--save",
        "predictive-only",
        "--output",
        &d,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let csv =
        bnnppl::stan_csv::read_stan_csv(&std::fs::read_to_string(dir.join("chain_1.csv")).unwrap())
            .unwrap();
    assert_eq!(csv.n_rows(), 20);
    assert!(
        csv.columns.iter().any(|c| c == "mu.100"),
        "{:?}",
        csv.columns
    );
    assert!(csv.columns.iter().any(|c| c == "y_rep.1"));
    assert!(
        !csv.columns
            .iter()
            .any(|c| c.starts_with("f.") || c == "prec"),
        "{:?}",
        csv.columns
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn plot_draws_trace_and_rank_plots() {
    let dir = tmp("plot");
    run(&dir, &[]);
    let d = dir.to_string_lossy().to_string();
    let (code, out, err) = bnnppl(&["plot", &d, "--trace", "sigma", "--trace", "lp__"]);
    assert_eq!(code, 0, "{out}{err}");
    let svg = std::fs::read_to_string(dir.join("trace_sigma.svg")).expect("svg written");
    assert!(
        svg.starts_with("<svg")
            && svg.contains("trace of sigma")
            && svg.contains("rank histograms")
    );
    assert!(dir.join("trace_lp__.svg").exists());
    let (code, _, err) = bnnppl(&["plot", &d, "--trace", "sigam"]);
    assert_eq!(code, 64);
    assert!(err.contains("did you mean 'sigma'"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
