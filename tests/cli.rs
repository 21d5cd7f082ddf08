//! The real binary on the bundled models: exit codes, help and check output under golden files.
//! Issue 16: a run refuses a directory holding another run's files unless `--overwrite`, and chains
//! of different runs are never merged. Run with BLESS=1 to rewrite the goldens.

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

fn golden(name: &str, got: &str) {
    let path = Path::new("tests/cli").join(name);
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with BLESS=1", path.display()));
    assert_eq!(want, got, "{} differs", path.display());
}

#[test]
fn help_texts_are_stable() {
    for (args, name) in [
        (vec!["--help"], "help.txt"),
        (vec!["check", "--help"], "check_help.txt"),
        (vec!["print", "--help"], "print_help.txt"),
        (vec!["diagnose", "--help"], "diagnose_help.txt"),
        (vec!["svi", "--help"], "svi_help.txt"),
        (vec!["fit", "--help"], "fit_help.txt"),
        (vec!["sample", "--help"], "sample_help.txt"),
        (vec!["summary", "--help"], "summary_help.txt"),
        (vec!["predict", "--help"], "predict_help.txt"),
        (vec!["acquire", "--help"], "acquire_help.txt"),
        (vec!["plot", "--help"], "plot_help.txt"),
        (vec!["bench", "--help"], "bench_help.txt"),
    ] {
        let (code, out, _) = bnnppl(&args);
        assert_eq!(code, 0, "{args:?}");
        golden(name, &out);
    }
}

/// Every `models/*.bnn`.
fn bundled_models() -> Vec<PathBuf> {
    std::fs::read_dir("models")
        .expect("models")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "bnn"))
        .collect()
}

#[test]
fn check_lists_every_parameter_of_every_bundled_model() {
    for path in bundled_models() {
        let p = path.to_string_lossy().to_string();
        let (code, out, err) = bnnppl(&["check", &p]);
        assert_eq!(code, 0, "{p}: {err}");
        assert!(out.contains("total: "), "{p}: {out}");
        let stem = path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .to_string();
        golden(&format!("check_{stem}.stdout"), &out);
    }
}

#[test]
fn exit_codes_follow_the_documented_table() {
    // 64: usage (unknown flag, unreadable model file).
    assert_eq!(
        bnnppl(&["check", "--frobnicate", "models/eight_schools.bnn"]).0,
        64
    );
    let (code, _, err) = bnnppl(&["check", "models/no_such_model.bnn"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("no_such_model.bnn"), "{err}");
    assert_eq!(bnnppl(&[]).0, 64);
    // 65: errors in the model, with file:line:column.
    let (code, _, err) = bnnppl(&["check", "tests/compile/bad/undefined_name_typo.bnn"]);
    assert_eq!(code, 65);
    assert!(
        err.contains("tests/compile/bad/undefined_name_typo.bnn:"),
        "{err}"
    );
    // 65: errors in the data, naming the field.
    let dir = std::env::temp_dir().join(format!("bnnppl-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let data = dir.join("bad.json");
    std::fs::write(
        &data,
        r#"{"J": 8, "y": [28, 8, -3, 7, -1, 1, 18], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]}"#,
    )
    .expect("write");
    let (code, _, err) = bnnppl(&[
        "check",
        "models/eight_schools.bnn",
        "--data",
        &data.to_string_lossy(),
    ]);
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("data field 'y'"), "{err}");
    golden(
        "bad_data.stderr",
        &err.replace(&data.to_string_lossy().to_string(), "DATA"),
    );
    // 0: a model that checks; diagnose agrees.
    assert_eq!(bnnppl(&["check", "models/eight_schools.bnn"]).0, 0);
    assert_eq!(
        bnnppl(&["diagnose", "models/linear_regression.bnn", "--points", "2"]).0,
        0
    );
}

#[test]
fn svi_names_the_spellings_of_a_bad_guide_or_decay() {
    for (flag, value, name) in [
        ("--guide", "low-rank:0", "svi_bad_guide.stderr"),
        ("--decay", "exp:2", "svi_bad_decay.stderr"),
    ] {
        let (code, _, err) = bnnppl(&["svi", "models/linear_regression.bnn", flag, value]);
        assert_eq!(code, 64, "{flag} {value}: {err}");
        golden(name, &err);
    }
}

#[test]
fn issue_16_data_errors_are_shown_where_they_are() {
    // Python's json.dump writes NaN and Infinity bare: each is read, then named with its field
    // and index (exit 65); a JSON syntax error is shown in the data file, not in the model.
    let dir = std::env::temp_dir().join(format!("bnnppl-cli-16-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    for (text, name) in [
        (
            "{\"J\": 8, \"y\": [28, 8, NaN, 7, -1, 1, 18, Infinity],\n \"sigma\": [15, 10, 16, 11, 9, 11, 10, -Infinity]}\n",
            "bad_data_non_finite.stderr",
        ),
        (
            "{\"J\": 8, \"y\": [28, 8, -3, 7, -1, 1, 18, 12]\n \"sigma\": [15, 10, 16, 11, 9, 11, 10, 18]}\n",
            "bad_data_json_syntax.stderr",
        ),
    ] {
        let data = dir.join("data.json");
        std::fs::write(&data, text).expect("write");
        let (code, _, err) = bnnppl(&[
            "check",
            "models/eight_schools.bnn",
            "--data",
            &data.to_string_lossy(),
        ]);
        assert_eq!(code, 65, "{err}");
        golden(name, &err.replace(&data.to_string_lossy().to_string(), "DATA"));
    }
    std::fs::remove_dir_all(&dir).ok();
}

// ---------------------------------------------------------------------------------------------
// Issue 16: one run per output directory, and chains of different runs never merged

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bnnppl-cli-16-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

/// The file names in a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

/// A short `sample` of linear_regression into `dir`, with extra arguments.
fn sample(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    sample_model("models/linear_regression.bnn", dir, extra)
}

/// A short `sample` of `model` into `dir`, with extra arguments.
fn sample_model(model: &str, dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let d = dir.to_string_lossy().to_string();
    let mut args = vec![
        "sample", model, "--warmup", "60", "--draws", "20", "--quiet", "--output", &d,
    ];
    args.extend_from_slice(extra);
    bnnppl(&args)
}

/// The value of a configuration line of a chain file.
fn config_value(path: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(path).expect("chain file");
    let csv = bnnppl::stan_csv::read_stan_csv(&text).expect("chain file reads");
    csv.config_value(key)
        .expect("configuration line")
        .to_string()
}

/// linear_regression's data with one value of x changed: other data, same shapes.
fn other_data(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string("models/linear_regression.json").expect("data");
    assert!(text.contains("0.215152"));
    let path = dir.join("other.json");
    std::fs::write(&path, text.replacen("0.215152", "0.215153", 1)).expect("write");
    path
}

#[test]
fn issue_16_a_second_run_into_one_directory_needs_overwrite() {
    let dir = tmp("second-run");
    let d = dir.to_string_lossy().to_string();
    let (code, out, err) = sample(&dir, &["--chains", "3", "--seed", "1"]);
    assert_eq!(code, 0, "{out}{err}");
    let first = names(&dir);
    assert_eq!(
        first,
        [
            "chain_1.csv",
            "chain_2.csv",
            "chain_3.csv",
            "summary.csv",
            "summary.txt"
        ]
    );
    let before = std::fs::read_to_string(dir.join("chain_3.csv")).expect("chain 3");

    // Two chains with another seed: refused, naming the first run's files; nothing is touched.
    let (code, _, err) = sample(&dir, &["--chains", "2", "--seed", "2"]);
    assert_eq!(code, 64, "{err}");
    golden("output_dir_taken.stderr", &err.replace(&d, "OUT"));
    assert_eq!(names(&dir), first);
    assert_eq!(
        std::fs::read_to_string(dir.join("chain_3.csv")).expect("chain 3"),
        before
    );

    // With --overwrite the directory holds exactly the second run's files: no stale chain 3.
    let (code, out, err) = sample(&dir, &["--chains", "2", "--seed", "2", "--overwrite"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        names(&dir),
        ["chain_1.csv", "chain_2.csv", "summary.csv", "summary.txt"]
    );
    for k in [1, 2] {
        assert_eq!(
            config_value(&dir.join(format!("chain_{k}.csv")), "seed"),
            "2"
        );
    }
    let (code, out, err) = bnnppl(&["summary", &d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 chains"), "{out}");

    // svi is refused the same way, and --overwrite leaves only its files (and the user's own).
    std::fs::write(dir.join("notes.txt"), "mine").expect("write");
    let svi = |extra: &[&str]| {
        let mut args = vec![
            "svi",
            "models/linear_regression.bnn",
            "--steps",
            "50",
            "--draws",
            "10",
            "--quiet",
            "--output",
            &d,
        ];
        args.extend_from_slice(extra);
        bnnppl(&args)
    };
    let (code, _, err) = svi(&[]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("chain_1.csv, chain_2.csv, summary.csv, summary.txt\n"),
        "{err}"
    );
    let (code, out, err) = svi(&["--overwrite"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        names(&dir),
        [
            "chain_1.csv",
            "elbo.csv",
            "guide.json",
            "notes.txt",
            "summary.csv",
            "summary.txt"
        ]
    );
    assert_eq!(config_value(&dir.join("chain_1.csv"), "engine"), "svi");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_16_chains_run_as_separate_processes_share_a_directory() {
    // `--chain-id` runs chains as separate processes into one directory: each leaves the other
    // chains of its own run alone, but not a chain of another run, nor its own chain again.
    let dir = tmp("chain-ids");
    for k in ["1", "2"] {
        let (code, out, err) = sample(&dir, &["--chain-id", k, "--seed", "5"]);
        assert_eq!(code, 0, "chain {k}: {out}{err}");
    }
    assert_eq!(names(&dir), ["chain_1.csv", "chain_2.csv"]);
    let (code, _, err) = sample(&dir, &["--chain-id", "2", "--seed", "5"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("another run: chain_2.csv\n"), "{err}");
    let other = other_data(&dir);
    let (code, _, err) = sample(
        &dir,
        &[
            "--chain-id",
            "3",
            "--seed",
            "5",
            "--data",
            &other.to_string_lossy(),
        ],
    );
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("another run: chain_1.csv, chain_2.csv\n"),
        "{err}"
    );
    let (code, out, err) = sample(&dir, &["--chain-id", "3", "--seed", "5"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = bnnppl(&["summary", &dir.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 chains"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_16_summary_and_predict_refuse_chains_of_different_runs() {
    let a = tmp("mixed-a");
    let b = tmp("mixed-b");
    let mixed = tmp("mixed");
    let other = other_data(&b);
    let (code, out, err) = sample(&a, &["--chains", "1"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = sample(&b, &["--chains", "1", "--data", &other.to_string_lossy()]);
    assert_eq!(code, 0, "{out}{err}");
    // The same model and columns: only the data fingerprint tells the runs apart.
    assert_ne!(
        config_value(&a.join("chain_1.csv"), "data_hash"),
        config_value(&b.join("chain_1.csv"), "data_hash")
    );
    std::fs::copy(a.join("chain_1.csv"), mixed.join("chain_1.csv")).expect("copy");
    std::fs::copy(b.join("chain_1.csv"), mixed.join("chain_2.csv")).expect("copy");
    let m = mixed.to_string_lossy().to_string();
    let (code, _, err) = bnnppl(&["summary", &m]);
    assert_eq!(code, 65, "{err}");
    let hash = |dir: &Path| config_value(&dir.join("chain_1.csv"), "data_hash");
    golden(
        "summary_other_run.stderr",
        &err.replace(&m, "DIR")
            .replace(&hash(&a), "HASH_A")
            .replace(&hash(&b), "HASH_B"),
    );
    let (code, _, err) = bnnppl(&["predict", "models/linear_regression.bnn", "--draws", &m]);
    assert_eq!(code, 64, "{err}");
    golden(
        "predict_other_run.stderr",
        &err.replace(&m, "DIR")
            .replace(&hash(&a), "HASH_A")
            .replace(&hash(&b), "HASH_B"),
    );
    assert!(!mixed.join("predictions.csv").exists());

    // Another model: the model line differs.
    let c = tmp("mixed-c");
    let (code, out, err) = sample_model("models/eight_schools.bnn", &c, &["--chains", "1"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = bnnppl(&[
        "summary",
        &a.join("chain_1.csv").to_string_lossy(),
        &c.join("chain_1.csv").to_string_lossy(),
    ]);
    assert_eq!(code, 65, "{err}");
    assert!(
        err.contains("its model is 'eight_schools', not 'linear_regression'"),
        "{err}"
    );
    for d in [a, b, c, mixed] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn issue_16_an_unfinished_last_line_is_skipped_with_a_warning() {
    // A chain file cut inside its last draw, as a writer killed mid-line leaves it: the cut
    // falls inside a number, so the line still has every column but its last value is wrong.
    let dir = tmp("unfinished");
    let d = dir.to_string_lossy().to_string();
    let (code, out, err) = sample(&dir, &["--chains", "2"]);
    assert_eq!(code, 0, "{out}{err}");
    let path = dir.join("chain_1.csv");
    let text = std::fs::read_to_string(&path).expect("chain 1");
    let last_draw = text.lines().rfind(|l| !l.starts_with('#')).expect("draws");
    let start = text.find(last_draw).expect("the line");
    let cut = &text[..start + last_draw.len() - 3];
    std::fs::write(&path, cut).expect("cut");
    let line = cut.lines().count();

    let (code, out, err) = bnnppl(&["summary", &d]);
    assert_eq!(code, 0, "{err}");
    // 20 draws in chain 2, 19 whole ones in chain 1.
    assert!(
        out.starts_with("2 chain(s) × 19 draws = 38 draws\n"),
        "{out}"
    );
    golden(
        "summary_unfinished_line.stderr",
        &err.replace(&d, "DIR")
            .replace(&format!("line {line} "), "line L "),
    );
    // plot and predict read the chain files the same way, and warn the same way.
    let warning = format!("warning: {}: line {line} is unfinished", path.display());
    let (code, _, err) = bnnppl(&["plot", &d, "--trace", "sigma"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&warning), "{err}");
    let (code, out, err) = bnnppl(&["predict", "models/linear_regression.bnn", "--draws", &d]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&warning), "{err}");
    assert!(out.contains("at 39 draws (2 chains)"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_16_diagnose_passes_every_bundled_model_and_names_kinks() {
    // The bundled ReLU networks (uci_*) had finite differences across ReLU kinks reported as
    // disagreements (exit 1); against the forward-mode reference every component agrees.
    for path in bundled_models() {
        let p = path.to_string_lossy().to_string();
        let (code, out, err) = bnnppl(&["diagnose", &p]);
        assert_eq!(code, 0, "{p}: {err}{}", out.lines().last().unwrap_or(""));
        assert!(!out.contains("<- disagrees"), "{p}");
    }
    // A small network with every kind of kink, crossed by 5 of its 18 finite differences.
    let (code, out, err) = bnnppl(&["diagnose", "tests/models/kinks.bnn", "--points", "1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("(finite difference across a kink)").count(), 5);
    golden("diagnose_kinks.stdout", &out);
}
