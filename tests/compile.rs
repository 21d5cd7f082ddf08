//! Golden tests for the front end: every bundled model checks and prints its IR as recorded;
//! every bad model fails with the recorded diagnostics at the line and column its header names;
//! every warn model passes with the recorded warnings. Run with BLESS=1 to rewrite the goldens.

use bnnppl::api::{Model, ModelError};
use bnnppl::source::SourceFile;
use std::path::{Path, PathBuf};

fn bnn_files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {dir}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "bnn"))
        .collect();
    v.sort();
    v
}

fn bless() -> bool {
    std::env::var_os("BLESS").is_some()
}

/// Compares `got` with the golden file, or writes it under BLESS=1.
fn golden(path: &Path, got: &str) -> Result<(), String> {
    if bless() {
        std::fs::write(path, got).expect("write golden");
        return Ok(());
    }
    let want = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: missing golden ({e}); run with BLESS=1", path.display()))?;
    if want != got {
        return Err(format!(
            "{} differs from the output:\n--- want\n{want}\n--- got\n{got}",
            path.display()
        ));
    }
    Ok(())
}

fn load(path: &Path) -> (String, Result<Model, ModelError>) {
    let name = path.to_string_lossy().replace('\\', "/");
    let text = std::fs::read_to_string(path).expect("read model");
    (text.clone(), Model::from_str(&name, &text))
}

/// The `# expect: L:C ...` or `# expect-warning: L:C ...` header of a corpus file.
fn expected_location(text: &str, key: &str) -> (usize, usize) {
    let first = text.lines().next().unwrap_or_default();
    let rest = first
        .strip_prefix(&format!("# {key}: "))
        .unwrap_or_else(|| panic!("first line must be `# {key}: LINE:COL ...`, found {first:?}"));
    let loc = rest.split_whitespace().next().expect("location");
    let (l, c) = loc.split_once(':').expect("LINE:COL");
    (l.parse().expect("line"), c.parse().expect("col"))
}

#[test]
fn bundled_models_check_and_print_their_ir() {
    let mut failures = Vec::new();
    let mut files = bnn_files("models");
    files.extend(bnn_files("tests/compile/good"));
    assert!(
        files.len() >= 7,
        "expected the bundled models, found {}",
        files.len()
    );
    for path in files {
        let (_, model) = load(&path);
        match model {
            Ok(m) => {
                let stem = path
                    .file_stem()
                    .expect("stem")
                    .to_string_lossy()
                    .to_string();
                let golden_path = Path::new("tests/compile/good").join(format!("{stem}.ir"));
                if let Err(e) = golden(&golden_path, &m.checked.to_string()) {
                    failures.push(e);
                }
            }
            Err(e) => failures.push(format!("{} does not check:\n{e}", path.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bad_models_fail_at_the_recorded_place_with_the_recorded_words() {
    let files = bnn_files("tests/compile/bad");
    assert!(
        files.len() >= 30,
        "the bad corpus has {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for path in files {
        let (text, model) = load(&path);
        let (line, col) = expected_location(&text, "expect");
        match model {
            Ok(_) => failures.push(format!("{} checks but should fail", path.display())),
            Err(ModelError::Invalid {
                rendered,
                diagnostics,
            }) => {
                let file = SourceFile::new("", text.clone());
                let mut errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
                errors.sort_by_key(|d| d.span.start);
                let at: Vec<(usize, usize)> =
                    errors.iter().map(|d| file.line_col(d.span.start)).collect();
                if !at.contains(&(line, col)) {
                    failures.push(format!(
                        "{}: expected an error at {line}:{col}, errors are at {at:?}:\n{rendered}",
                        path.display()
                    ));
                }
                let golden_path = path.with_extension("stderr");
                if let Err(e) = golden(&golden_path, &rendered) {
                    failures.push(e);
                }
            }
            Err(e) => failures.push(format!("{}: unexpected error {e}", path.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn suspicious_models_warn_and_still_check() {
    let files = bnn_files("tests/compile/warn");
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for path in files {
        let (text, model) = load(&path);
        let (line, col) = expected_location(&text, "expect-warning");
        match model {
            Ok(m) => {
                let file = SourceFile::new("", text.clone());
                let at: Vec<(usize, usize)> = m
                    .warnings
                    .iter()
                    .map(|d| file.line_col(d.span.start))
                    .collect();
                if !at.contains(&(line, col)) {
                    failures.push(format!(
                        "{}: expected a warning at {line}:{col}, warnings at {at:?}",
                        path.display()
                    ));
                }
                if let Err(e) = golden(&path.with_extension("stderr"), &m.rendered_warnings()) {
                    failures.push(e);
                }
            }
            Err(e) => failures.push(format!(
                "{} should check with warnings:\n{e}",
                path.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
