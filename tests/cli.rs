//! The real binary on the bundled models: exit codes, help and check output under golden files.
//! Run with BLESS=1 to rewrite the goldens.

use std::path::Path;
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

#[test]
fn check_lists_every_parameter_of_every_bundled_model() {
    for entry in std::fs::read_dir("models").expect("models") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "bnn") {
            continue;
        }
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
