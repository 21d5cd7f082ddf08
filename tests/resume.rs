//! `bnnppl sample --resume DIR` (issue 16, part 3): a run killed by SIGKILL or stopped by Ctrl-C
//! is finished from its chains' resume files — no draw lost or written twice, the draws before
//! the stop kept byte for byte, the whole run matching an exact posterior — and bad resumes are
//! refused under golden files.

mod common;

use bnnppl::draws::ReadDraws;
use common::exact::{check, normal};
use common::golden;
use common::members::{bnnppl, tmp};
use std::path::{Path, PathBuf};
use std::process::Command;

/// y_i ~ normal(mu, 2), mu ~ normal(1, 3), as in tests/exact.rs, on 20,000 rows: slow enough
/// (about 0.1 ms a draw) to be stopped mid-run.
const MODEL: &str = "data { y: vector[N] } param { mu: real } prior { mu ~ normal(1, 3) } likelihood { y ~ normal(mu, 2) }\n";
const N: usize = 20_000;
const DRAWS: usize = 20_000;

/// The data: y_i = 2 + 1.5 sin(1.7 i).
fn y() -> Vec<f64> {
    (0..N).map(|i| 2.0 + 1.5 * (1.7 * i as f64).sin()).collect()
}

/// The model and its data written into a fresh directory: (model, data, output directory).
fn setup(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = tmp(name);
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let model = dir.join("mean.bnn");
    let data = dir.join("mean.json");
    std::fs::write(&model, MODEL).expect("model");
    std::fs::write(&data, format!("{{\"N\": {N}, \"y\": {:?}}}", y())).expect("data");
    (model, data, dir.join("out"))
}

fn s(p: &Path) -> String {
    p.to_string_lossy().to_string()
}

/// Whole draw lines of a chain file: those ending in a line break, not comments or the header.
fn whole_draws(text: &str) -> Vec<&str> {
    let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    whole
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("lp__"))
        .collect()
}

/// Starts a 4-chain run of DRAWS draws, waits until every chain has `at_least` whole draws,
/// sends `signal` and returns the exit code and each chain file's text at that moment.
fn stop_mid_run(
    model: &Path,
    data: &Path,
    out: &Path,
    signal: &str,
    at_least: usize,
) -> (Option<i32>, Vec<String>) {
    let child = Command::new(env!("CARGO_BIN_EXE_bnnppl"))
        .args([
            "sample",
            &s(model),
            "--data",
            &s(data),
            "--chains",
            "4",
            "--threads",
            "4",
        ])
        .args([
            "--draws",
            &DRAWS.to_string(),
            "--quiet",
            "--output",
            &s(out),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let text = |k: usize| std::fs::read_to_string(out.join(format!("chain_{k}.csv")));
    let start = std::time::Instant::now();
    while (1..=4).any(|k| text(k).map_or(0, |t| whole_draws(&t).len()) < at_least)
        && start.elapsed().as_secs() < 120
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let code = child.wait_with_output().expect("wait").status.code();
    let texts = (1..=4).map(|k| text(k).expect("chain file")).collect();
    (code, texts)
}

/// Resumes, then checks every chain: DRAWS draws, the ones written before the stop first and
/// unchanged, no resume file left, and the exact posterior of mu.
fn resume_and_check(model: &Path, data: &Path, out: &Path, before: &[String]) {
    let (code, stdout, err) = bnnppl(&[
        "sample",
        &s(model),
        "--data",
        &s(data),
        "--resume",
        &s(out),
        "--quiet",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.starts_with("Resumed in "), "{stdout}");
    assert!(
        stdout.contains(&format!("4 chain(s) × {DRAWS} draws")),
        "{stdout}"
    );
    for (k, old) in before.iter().enumerate() {
        let path = out.join(format!("chain_{}.csv", k + 1));
        let new = std::fs::read_to_string(&path).expect("chain file");
        let (old, new) = (whole_draws(old), whole_draws(&new));
        // No draw lost or written twice: the file holds exactly the run's draws, and every
        // whole draw written before the stop is still there, in its place.
        assert_eq!(new.len(), DRAWS, "chain {}", k + 1);
        assert_eq!(&new[..old.len()], &old[..], "chain {}", k + 1);
        assert!(!out.join(format!("chain_{}.state.json", k + 1)).exists());
        let csv = bnnppl::stan_csv::read_stan_csv(&std::fs::read_to_string(&path).expect("read"))
            .expect("a well-formed chain file");
        assert!(csv.adaptation.is_some() && csv.elapsed.is_some());
        assert_eq!(csv.unfinished_line, None);
    }
    assert!(out.join("summary.txt").exists());
    // mu's exact posterior: precision 1/9 + n/4, mean (1/9 · 1 + Σy/4) / precision.
    let prec = 1.0 / 9.0 + N as f64 / 4.0;
    let mean = (1.0 / 9.0 + y().iter().sum::<f64>() / 4.0) / prec;
    let read = ReadDraws::from_dir(out).expect("whole run");
    check(&read.draws, "mu", &normal(mean, prec.sqrt().recip()));
}

#[test]
fn issue_16_a_run_killed_mid_run_resumes_to_the_exact_posterior() {
    let (model, data, out) = setup("resume-kill");
    let (code, before) = stop_mid_run(&model, &data, &out, "-KILL", 2000);
    assert_eq!(code, None, "killed by a signal");
    assert!((1..=4).all(|k| out.join(format!("chain_{k}.state.json")).exists()));
    // What is there reads as a run, up to its whole draws.
    let (code, _, err) = bnnppl(&["summary", &s(&out)]);
    assert_eq!(code, 0, "{err}");
    resume_and_check(&model, &data, &out, &before);
    let _ = std::fs::remove_dir_all(out.parent().expect("tmp dir"));
}

#[test]
fn a_run_stopped_by_ctrl_c_resumes() {
    let (model, data, out) = setup("resume-int");
    let (code, before) = stop_mid_run(&model, &data, &out, "-INT", 2000);
    assert_eq!(code, Some(130));
    // Ctrl-C closed the files (timing block) and saved each chain's state at its last draw.
    for k in 1..=4 {
        let state = std::fs::read_to_string(out.join(format!("chain_{k}.state.json")))
            .expect("resume file");
        let file: bnnppl::draws::StateFile = serde_json::from_str(&state).expect("parses");
        assert_eq!(
            file.state.next_draw,
            1000 + whole_draws(&before[k - 1]).len(),
            "chain {k}"
        );
    }
    resume_and_check(&model, &data, &out, &before);
    let _ = std::fs::remove_dir_all(out.parent().expect("tmp dir"));
}

/// Runs `sample --resume` and returns its exit code and standard error with the paths masked.
fn refused(model: &Path, data: &Path, out: &Path) -> (i32, String) {
    let (code, _, err) = bnnppl(&["sample", &s(model), "--data", &s(data), "--resume", &s(out)]);
    let root = s(out.parent().expect("tmp dir"));
    (code, err.replace(&root, "TMP"))
}

#[test]
fn bad_resumes_are_refused_naming_the_reason() {
    let (model, data, out) = setup("resume-bad");
    // A finished run leaves nothing to resume.
    let (code, _, err) = bnnppl(&[
        "sample",
        &s(&model),
        "--data",
        &s(&data),
        "--draws",
        "300",
        "--warmup",
        "300",
        "--quiet",
        "--output",
        &s(&out),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, err) = refused(&model, &data, &out);
    assert_eq!(code, 64);
    golden("resume_nothing.stderr", &err);

    // An interrupted run, resumed with another model or other data.
    let out = out.with_file_name("killed");
    let (code, _) = stop_mid_run(&model, &data, &out, "-KILL", 200);
    assert_eq!(code, None);
    let other_model = model.with_file_name("other.bnn");
    std::fs::write(&other_model, MODEL.replace("normal(1, 3)", "normal(0, 3)")).expect("model");
    let (code, err) = refused(&other_model, &data, &out);
    assert_eq!(code, 64);
    golden("resume_other_model.stderr", &err);
    let other_data = data.with_file_name("other.json");
    std::fs::write(&other_data, format!("{{\"N\": 2, \"y\": {:?}}}", [0.0; 2])).expect("data");
    let (code, err) = refused(&model, &other_data, &out);
    assert_eq!(code, 64);
    golden("resume_other_data.stderr", &err);
    // Settings come from the directory, not the command line.
    let (code, _, err) = bnnppl(&["sample", &s(&model), "--resume", &s(&out), "--draws", "10"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("--draws"), "{err}");
    let _ = std::fs::remove_dir_all(out.parent().expect("tmp dir"));
}
