//! Checks the form of the model corpus: compile-error headers and example models with their data.
//!
//! This test reads files only; it does not run the compiler. The golden tests that compile the
//! corpus live beside the checker.

use std::fs;
use std::path::{Path, PathBuf};

/// The `.bnn` files of a directory, sorted by name.
fn bnn_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "bnn"))
        .collect();
    files.sort();
    files
}

/// Parses `# <tag>: LINE:COL description` and checks the position lies inside the file.
fn check_header(path: &Path, tag: &str) {
    let text = fs::read_to_string(path).expect("readable corpus file");
    assert!(
        text.is_ascii(),
        "{}: corpus files are ASCII so columns are unambiguous",
        path.display()
    );
    let lines: Vec<&str> = text.lines().collect();
    let rest = lines[0]
        .strip_prefix(&format!("# {tag}: "))
        .unwrap_or_else(|| panic!("{}: first line must start with '# {tag}: '", path.display()));
    let (pos, description) = rest.split_once(' ').expect("position then description");
    let (line, col) = pos.split_once(':').expect("LINE:COL");
    let line: usize = line.parse().expect("LINE is a number");
    let col: usize = col.parse().expect("COL is a number");
    assert!(
        description.len() > 10,
        "{}: describe the problem",
        path.display()
    );
    assert!(
        line >= 2 && line <= lines.len(),
        "{}: line {line} is outside the file",
        path.display()
    );
    let target = lines[line - 1];
    assert!(
        col >= 1 && col <= target.len() && !target[col - 1..].starts_with(' '),
        "{}: column {col} of line {line} is not on a character of {target:?}",
        path.display()
    );
}

#[test]
fn bad_cases_have_located_headers() {
    let files = bnn_files(Path::new("tests/compile/bad"));
    assert!(files.len() >= 40, "only {} bad cases", files.len());
    for path in &files {
        check_header(path, "expect");
    }
}

#[test]
fn warning_cases_have_located_headers() {
    let files = bnn_files(Path::new("tests/compile/warn"));
    assert!(!files.is_empty());
    for path in &files {
        check_header(path, "expect-warning");
    }
}

/// The `name: type` declarations of a model's data block, comments removed.
fn data_decls(src: &str) -> Vec<(String, String)> {
    let mut decls = Vec::new();
    let mut inside = false;
    for raw in src.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line == "data {" {
            inside = true;
        } else if inside && line == "}" {
            break;
        } else if inside && !line.is_empty() {
            let (name, ty) = line.split_once(':').expect("data declaration 'name: type'");
            decls.push((name.trim().to_string(), ty.trim().to_string()));
        }
    }
    decls
}

/// The size symbols inside the brackets of a type, e.g. `N` and `D` of `matrix[N, D]`.
fn dim_symbols(ty: &str) -> Vec<String> {
    let Some(open) = ty.find('[') else {
        return Vec::new();
    };
    ty[open + 1..ty.len() - 1]
        .split(',')
        .map(str::trim)
        .filter(|d| d.parse::<usize>().is_err())
        .map(str::to_string)
        .collect()
}

#[test]
fn example_models_bind_their_data() {
    let models = bnn_files(Path::new("models"));
    assert!(models.len() >= 8, "only {} models", models.len());
    for model in &models {
        let src = fs::read_to_string(model).expect("readable model");
        assert!(
            src.starts_with("# "),
            "{}: open with a comment paragraph",
            model.display()
        );
        assert!(
            src.contains("# Regenerate: "),
            "{}: say how its data is made",
            model.display()
        );
        let data_path = model.with_extension("json");
        let data: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(&data_path)
                .unwrap_or_else(|e| panic!("{}: {e}", data_path.display())),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", data_path.display()));
        let size = |sym: &str| -> usize {
            match sym.parse::<usize>() {
                Ok(n) => n,
                Err(_) => data[sym].as_u64().unwrap_or_else(|| {
                    panic!("{}: size '{sym}' is not an integer", data_path.display())
                }) as usize,
            }
        };
        let decls = data_decls(&src);
        assert!(
            !decls.is_empty(),
            "{}: no data block found",
            model.display()
        );
        for (name, ty) in decls {
            let value = &data[name.as_str()];
            let what = format!("{}: '{name}: {ty}'", data_path.display());
            for sym in dim_symbols(&ty) {
                size(&sym);
            }
            let dims: Vec<&str> = ty
                .find('[')
                .map(|i| ty[i + 1..ty.len() - 1].split(',').map(str::trim).collect())
                .unwrap_or_default();
            if ty == "int" {
                assert!(value.is_i64(), "{what} must be an integer");
            } else if ty == "real" {
                assert!(value.is_number(), "{what} must be a number");
            } else if ty.starts_with("int[") {
                let v = value
                    .as_array()
                    .unwrap_or_else(|| panic!("{what} must be an array"));
                assert_eq!(v.len(), size(dims[0]), "{what}: length");
                assert!(v.iter().all(serde_json::Value::is_i64), "{what}: integers");
            } else if ty.starts_with("vector[") {
                let v = value
                    .as_array()
                    .unwrap_or_else(|| panic!("{what} must be an array"));
                assert_eq!(v.len(), size(dims[0]), "{what}: length");
                assert!(
                    v.iter().all(serde_json::Value::is_number),
                    "{what}: numbers"
                );
            } else if ty.starts_with("matrix[") {
                let rows = value
                    .as_array()
                    .unwrap_or_else(|| panic!("{what} must be an array of rows"));
                assert_eq!(rows.len(), size(dims[0]), "{what}: rows");
                for row in rows {
                    let row = row
                        .as_array()
                        .unwrap_or_else(|| panic!("{what}: a row is an array"));
                    assert_eq!(row.len(), size(dims[1]), "{what}: columns");
                    assert!(
                        row.iter().all(serde_json::Value::is_number),
                        "{what}: numbers"
                    );
                }
            } else {
                panic!("{what}: type not covered by this test");
            }
        }
    }
}
