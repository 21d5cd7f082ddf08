//! Data binding against declared data blocks: successful JSON and CSV bindings, and every error kind.

use bnnppl::data::{
    bind_csv, bind_file, bind_json, At, Bound, DataError, DataFormat, DataWarning, Index, Limit,
};
use bnnppl::diagnostic::render_all;
use bnnppl::ir::{DataDecl, DataType, Dim, IntRange, RangeMax};
use bnnppl::source::{SourceFile, Span};
use std::path::Path;

// ---------------------------------------------------------------------------------------------
// Helpers

fn sym(s: &str) -> Dim {
    Dim::Sym(s.to_string())
}

/// A declaration whose span is the first occurrence of `"{name}:"` through the end of its line
/// in `src`, so diagnostics can be rendered against a real data block.
fn decl(src: &str, name: &str, ty: DataType) -> DataDecl {
    let start = src.find(&format!("{name}:")).expect("test: name in source");
    let end = start + src[start..].find('\n').expect("test: line ends");
    DataDecl {
        name: name.to_string(),
        ty,
        lower: None,
        upper: None,
        int_range: None,
        span: Span::new(start, end),
    }
}

/// `data { x: matrix[N, D]  y: vector[N] }`, the regression block.
const REGRESSION: &str = "data {\n  x: matrix[N, D]\n  y: vector[N]\n}\n";

fn regression() -> Vec<DataDecl> {
    vec![
        decl(REGRESSION, "x", DataType::Matrix(sym("N"), sym("D"))),
        decl(REGRESSION, "y", DataType::Vector(sym("N"))),
    ]
}

/// `data { x: matrix[N, D]  y: int[N]  K: int }` with y's labels in 0..K−1, as the checker
/// marks them for `categorical_logit`.
const CLASSIFY: &str = "data {\n  x: matrix[N, D]\n  y: int[N]\n  K: int\n}\n";

fn classify() -> Vec<DataDecl> {
    let mut y = decl(CLASSIFY, "y", DataType::IntArray(sym("N")));
    y.int_range = Some(IntRange {
        min: 0,
        max: Some(RangeMax::BelowDim("K".to_string())),
        reason: "labels of categorical_logit with K classes".to_string(),
    });
    vec![
        decl(CLASSIFY, "x", DataType::Matrix(sym("N"), sym("D"))),
        y,
        decl(CLASSIFY, "K", DataType::Int),
    ]
}

fn ok(result: Result<Bound, Vec<DataError>>) -> Bound {
    match result {
        Ok(b) => b,
        Err(errs) => panic!("expected a binding, got {:#?}", messages(&errs)),
    }
}

fn errs(result: Result<Bound, Vec<DataError>>) -> Vec<DataError> {
    match result {
        Ok(b) => panic!("expected errors, got {:#?}", b.data),
        Err(e) => e,
    }
}

fn messages(errs: &[DataError]) -> Vec<String> {
    errs.iter().map(|e| e.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// JSON: successful bindings

#[test]
fn json_regression_binds_dims_row_major() {
    let b = ok(bind_json(
        r#"{"x": [[1, 2], [3, 4], [5, 6]], "y": [0.5, 1.5, 2.5]}"#,
        &regression(),
    ));
    // Three rows of two columns: N = 3, D = 2.
    assert_eq!(b.data.dim("N"), Some(3));
    assert_eq!(b.data.dim("D"), Some(2));
    let x = b.data.get("x").unwrap();
    assert_eq!(x.shape, vec![3, 2]);
    // Row-major: x[1, 0] = 3 is values[1 * 2 + 0].
    assert_eq!(x.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(x.values[2], 3.0);
    assert!(!x.is_int);
    let y = b.data.get("y").unwrap();
    assert_eq!(
        (y.shape.clone(), y.values.clone()),
        (vec![3], vec![0.5, 1.5, 2.5])
    );
    assert!(b.warnings.is_empty());
    assert_eq!(
        b.data.to_string(),
        "dims: D = 2, N = 3\nx: real[3, 2]\ny: real[3]\n"
    );
}

#[test]
fn json_classification_accepts_whole_floats_as_ints() {
    // JSON writers may print the label 1 as 1.0; it is still a whole number.
    let b = ok(bind_json(
        r#"{"x": [[0.1], [0.2], [0.3]], "y": [0, 1.0, 2], "K": 3}"#,
        &classify(),
    ));
    let y = b.data.get("y").unwrap();
    assert!(y.is_int);
    assert_eq!(y.values, vec![0.0, 1.0, 2.0]);
    assert_eq!(b.data.get("K").unwrap().scalar(), Some(3.0));
    assert!(b.data.get("K").unwrap().is_int);
    // K is a dimension symbol (it sizes y's label range) as well as a field.
    assert_eq!(b.data.dim("K"), Some(3));
    assert_eq!((b.data.dim("N"), b.data.dim("D")), (Some(3), Some(1)));
}

#[test]
fn json_bare_number_is_a_length_one_vector() {
    // CmdStan lets `"y": 2.5` stand for `"y": [2.5]`.
    let src = "data {\n  y: vector[J]\n  s: vector[1]\n}\n";
    let decls = vec![
        decl(src, "y", DataType::Vector(sym("J"))),
        decl(src, "s", DataType::Vector(Dim::Lit(1))),
    ];
    let b = ok(bind_json(r#"{"y": 2.5, "s": 7}"#, &decls));
    assert_eq!(b.data.get("y").unwrap().shape, vec![1]);
    assert_eq!(b.data.get("y").unwrap().values, vec![2.5]);
    assert_eq!(b.data.dim("J"), Some(1));
    assert_eq!(b.data.get("s").unwrap().values, vec![7.0]);
}

#[test]
fn json_scalars_and_literal_sizes() {
    let src = "data {\n  J: int\n  y: vector[J]\n  sigma: vector[3]\n  scale: real\n}\n";
    let decls = vec![
        decl(src, "J", DataType::Int),
        decl(src, "y", DataType::Vector(sym("J"))),
        decl(src, "sigma", DataType::Vector(Dim::Lit(3))),
        decl(src, "scale", DataType::Real),
    ];
    let b = ok(bind_json(
        r#"{"J": 3, "y": [28, 8, -3], "sigma": [15, 10, 16], "scale": 0.5}"#,
        &decls,
    ));
    assert_eq!(b.data.dim("J"), Some(3));
    assert_eq!(b.data.get("J").unwrap().shape, Vec::<usize>::new());
    assert_eq!(b.data.get("scale").unwrap().scalar(), Some(0.5));
    assert!(!b.data.get("scale").unwrap().is_int);
    // A real scalar is not a size, so it is not in dims.
    assert_eq!(b.data.dim("scale"), None);
}

#[test]
fn json_int_scalar_not_in_any_type_is_still_a_dim() {
    // Decision: an `int` field with a valid size may be a width (`dense(H)`), so dims has it.
    let src = "data {\n  H: int\n}\n";
    let b = ok(bind_json(r#"{"H": 16}"#, &[decl(src, "H", DataType::Int)]));
    assert_eq!(b.data.dim("H"), Some(16));
}

#[test]
fn json_unused_field_is_a_warning() {
    let b = ok(bind_json(
        r#"{"x": [[1]], "y": [2], "z": [1, 2, 3]}"#,
        &regression(),
    ));
    assert_eq!(
        b.warnings,
        vec![DataWarning::UnusedField {
            name: "z".to_string(),
            columns: vec![]
        }]
    );
    assert_eq!(
        b.warnings[0].to_string(),
        "data file: field 'z' is not declared in the data block and is ignored"
    );
    let d = b.warnings[0].to_diagnostic(&regression());
    assert!(!d.is_error());
}

// ---------------------------------------------------------------------------------------------
// JSON: errors

#[test]
fn json_syntax_error_has_line_and_column() {
    // The missing comma is noticed at the `"` that opens line 2, column 3.
    let e = errs(bind_json("{\"x\": [[1]]\n  \"y\": [2]}", &regression()));
    assert_eq!(
        e,
        vec![DataError::JsonSyntax {
            line: 2,
            column: 3,
            message: "expected `,` or `}`".to_string()
        }]
    );
    assert_eq!(
        e[0].to_string(),
        "data file: invalid JSON at line 2, column 3: expected `,` or `}`"
    );
}

#[test]
fn json_top_level_must_be_an_object() {
    let e = errs(bind_json("[1, 2]", &regression()));
    assert_eq!(
        messages(&e),
        vec!["data file: expected a JSON object with one entry per data field, found an array of numbers"]
    );
}

#[test]
fn json_missing_fields_are_all_reported() {
    let e = errs(bind_json(r#"{"Y": [1]}"#, &regression()));
    assert_eq!(
        messages(&e),
        vec![
            "data field 'x': missing from the data file",
            "data field 'y': missing from the data file",
        ]
    );
    // N and D are not reported unbound: the missing x explains them.
    let help = |i: usize| e[i].to_diagnostic(&regression()).help.unwrap();
    assert_eq!(
        help(0),
        "add \"x\": [[..], [..]] (an array of rows) to the JSON object"
    );
    assert_eq!(help(1), "the file has 'Y'; names are case-sensitive");
}

#[test]
fn json_wrong_shapes() {
    let src = "data {\n  x: matrix[N, D]\n  v: matrix[N, E]\n  y: vector[N]\n  w: vector[M]\n  K: int\n}\n";
    let decls = vec![
        decl(src, "x", DataType::Matrix(sym("N"), sym("D"))),
        decl(src, "v", DataType::Matrix(sym("N"), sym("E"))),
        decl(src, "y", DataType::Vector(sym("N"))),
        decl(src, "w", DataType::Vector(sym("M"))),
        decl(src, "K", DataType::Int),
    ];
    let e = errs(bind_json(
        r#"{"x": 3, "v": [1, 2], "y": [[1], [2]], "w": [1, "a", null], "K": [3]}"#,
        &decls,
    ));
    assert_eq!(
        messages(&e),
        vec![
            "data field 'x': expected an array of rows for matrix[N, D], found a number",
            // A flat array for a matrix: a common slip, named as such.
            "data field 'v': expected an array of rows for matrix[N, E], found an array of numbers",
            "data field 'y': expected an array of numbers for vector[N], found an array of arrays",
            "data field 'w': expected a number at index 1, found the string \"a\"",
            "data field 'w': expected a number at index 2, found null",
            "data field 'K': expected a number for int, found an array of numbers",
        ]
    );
    assert_eq!(
        e[0].to_diagnostic(&decls).help.unwrap(),
        "in JSON a matrix is an array of rows, e.g. [[1, 2], [3, 4]]; in CSV matrix 'x' is columns x.0, x.1, …"
    );
}

#[test]
fn json_matrix_row_that_is_not_an_array() {
    let e = errs(bind_json(
        r#"{"x": [[1, 2], 3], "y": [1, 2]}"#,
        &regression(),
    ));
    assert_eq!(
        messages(&e),
        vec!["data field 'x': expected an array of numbers (one row) at row 1, found a number"]
    );
}

#[test]
fn json_ragged_matrix() {
    // Row 0 has 4 columns, so D = 4; row 2 has 3.
    let e = errs(bind_json(
        r#"{"x": [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3]], "y": [1, 2, 3]}"#,
        &regression(),
    ));
    assert_eq!(
        e,
        vec![DataError::RaggedRow {
            field: "x".to_string(),
            row: 2,
            len: 3,
            first_row: 0,
            first_len: 4
        }]
    );
    assert_eq!(
        e[0].to_string(),
        "data field 'x': row 2 has 3 columns, but row 0 has 4"
    );
}

#[test]
fn json_non_finite_values_by_index() {
    // CmdStan writes non-finite values as strings; they are read, then rejected as non-finite.
    let e = errs(bind_json(
        r#"{"x": [[1, 2], ["NaN", 4]], "y": ["inf", "-Infinity"]}"#,
        &regression(),
    ));
    assert_eq!(
        messages(&e),
        vec![
            "data field 'x': value at row 1, column 0 is NaN, but data must be finite",
            "data field 'y': value at index 0 is inf, but data must be finite",
            "data field 'y': value at index 1 is -inf, but data must be finite",
        ]
    );
    assert_eq!(
        e[0].to_diagnostic(&regression()).help.unwrap(),
        "NaN usually marks a missing value; remove or impute it before sampling"
    );
    // A finite number written as a string is not accepted, as in CmdStan.
    let e = errs(bind_json(r#"{"x": [[1]], "y": ["2"]}"#, &regression()));
    assert_eq!(
        messages(&e),
        vec!["data field 'y': expected a number at index 0, found the string \"2\""]
    );
}

#[test]
fn json_non_integer_in_int_field() {
    let e = errs(bind_json(
        r#"{"x": [[0], [0]], "y": [0, 1.5], "K": 2.5}"#,
        &classify(),
    ));
    assert_eq!(
        messages(&e),
        vec![
            "data field 'y': value at index 1 is 1.5, but int[N] holds whole numbers",
            "data field 'K': value is 2.5, but int holds whole numbers",
        ]
    );
    assert_eq!(
        e[0].to_diagnostic(&classify()).help.unwrap(),
        "if 'y' is not a count or a label, declare it as vector[N]"
    );
}

#[test]
fn json_label_outside_zero_to_k_minus_one() {
    // 18 labels with K = 3 classes: allowed 0..K−1 = 0..2; y[17] = 3 is one too many.
    let mut y = vec![0; 18];
    y[17] = 3;
    let text = format!(
        r#"{{"x": {x:?}, "y": {y:?}, "K": 3}}"#,
        x = vec![vec![0.5]; 18]
    );
    let e = errs(bind_json(&text, &classify()));
    assert_eq!(
        messages(&e),
        vec!["data field 'y': value at index 17 is 3, outside 0..2 (labels of categorical_logit with K = 3 classes)"]
    );
    assert!(matches!(
        &e[0],
        DataError::OutOfRange {
            at: Some(At {
                index: Index::Elem(17),
                line: None,
                ..
            }),
            limit: Limit::Between { min: 0, max: 2, .. },
            ..
        }
    ));
    // The label equals K: the 1-based-labels slip, named in the hint.
    assert_eq!(
        e[0].to_diagnostic(&classify()).help.unwrap(),
        "labels are 0-based: with K = 3 they are 0..2; if the labels in the file start at 1, subtract 1 from each"
    );
}

#[test]
fn json_negative_label_and_literal_range() {
    // bernoulli_logit outcomes lie in 0..1.
    let src = "data {\n  y: int[N]\n}\n";
    let mut y = decl(src, "y", DataType::IntArray(sym("N")));
    y.int_range = Some(IntRange {
        min: 0,
        max: Some(RangeMax::Lit(1)),
        reason: "outcomes of bernoulli_logit".to_string(),
    });
    let e = errs(bind_json(r#"{"y": [0, 1, 2, -1]}"#, &[y]));
    assert_eq!(
        messages(&e),
        vec![
            "data field 'y': value at index 2 is 2, outside 0..1 (outcomes of bernoulli_logit)",
            "data field 'y': value at index 3 is -1, outside 0..1 (outcomes of bernoulli_logit)",
        ]
    );
}

#[test]
fn json_count_below_minimum() {
    let src = "data {\n  y: int[N]\n}\n";
    let mut y = decl(src, "y", DataType::IntArray(sym("N")));
    y.int_range = Some(IntRange {
        min: 0,
        max: None,
        reason: "counts of poisson_log".to_string(),
    });
    let e = errs(bind_json(r#"{"y": [3, -2]}"#, &[y]));
    assert_eq!(
        messages(&e),
        vec!["data field 'y': value at index 1 is -2, below the minimum 0 (counts of poisson_log)"]
    );
}

#[test]
fn json_binomial_successes_above_trials() {
    let src = "data {\n  n: int[N]\n  k: int[N]\n  m: int\n  j: int[N]\n}\n";
    let range = |other: &str| IntRange {
        min: 0,
        max: Some(RangeMax::AtMostField(other.to_string())),
        reason: "successes of binomial_logit".to_string(),
    };
    let mut k = decl(src, "k", DataType::IntArray(sym("N")));
    k.int_range = Some(range("n"));
    // j is compared with the scalar m at every index.
    let mut j = decl(src, "j", DataType::IntArray(sym("N")));
    j.int_range = Some(range("m"));
    let decls = vec![
        decl(src, "n", DataType::IntArray(sym("N"))),
        k,
        decl(src, "m", DataType::Int),
        j,
    ];
    let e = errs(bind_json(
        r#"{"n": [10, 5, 8], "k": [10, 6, -1], "m": 4, "j": [4, 5, 0]}"#,
        &decls,
    ));
    assert_eq!(
        messages(&e),
        vec![
            // k[1] = 6 > n[1] = 5; k[2] = -1 < 0; k[0] = 10 = n[0] is allowed.
            "data field 'k': value at index 1 is 6, above n[1] = 5 (successes of binomial_logit)",
            "data field 'k': value at index 2 is -1, below the minimum 0 (successes of binomial_logit)",
            "data field 'j': value at index 1 is 5, above m = 4 (successes of binomial_logit)",
        ]
    );
}

#[test]
fn json_declared_bounds() {
    let src = "data {\n  sigma: vector<lower=0>[J]\n  p: real<lower=0, upper=1>\n}\n";
    let mut sigma = decl(src, "sigma", DataType::Vector(sym("J")));
    sigma.lower = Some(0.0);
    let mut p = decl(src, "p", DataType::Real);
    p.lower = Some(0.0);
    p.upper = Some(1.0);
    let e = errs(bind_json(
        r#"{"sigma": [1, -0.5, 0], "p": 1.25}"#,
        &[sigma, p],
    ));
    assert_eq!(
        messages(&e),
        vec![
            "data field 'sigma': value at index 1 is -0.5, below the lower bound 0",
            "data field 'p': value is 1.25, above the upper bound 1",
        ]
    );
}

#[test]
fn json_inconsistent_dimension() {
    // x has 3 rows, so N = 3; y has length 2.
    let e = errs(bind_json(
        r#"{"x": [[1], [2], [3]], "y": [1, 2]}"#,
        &regression(),
    ));
    assert_eq!(
        messages(&e),
        vec!["data field 'y': its length is 2, but N is 3 (the number of rows of 'x')"]
    );
    // The diagnostic points at y and shows where N was bound.
    let d = e[0].to_diagnostic(&regression());
    let y_span = regression()[1].span;
    let x_span = regression()[0].span;
    assert_eq!(d.span, y_span);
    assert_eq!(
        d.related,
        vec![(
            x_span,
            "N is bound here, by the number of rows of 'x'".to_string()
        )]
    );
}

#[test]
fn json_declared_dimension_field_is_authoritative() {
    // K = 3 from the file, though w (declared first) has 4 elements.
    let src = "data {\n  w: vector[K]\n  K: int\n}\n";
    let decls = vec![
        decl(src, "w", DataType::Vector(sym("K"))),
        decl(src, "K", DataType::Int),
    ];
    let e = errs(bind_json(r#"{"w": [1, 2, 3, 4], "K": 3}"#, &decls));
    assert_eq!(
        messages(&e),
        vec!["data field 'w': its length is 4, but K is 3 (the value of 'K')"]
    );
}

#[test]
fn json_literal_size_mismatch() {
    let src = "data {\n  x: matrix[N, 3]\n}\n";
    let decls = vec![decl(src, "x", DataType::Matrix(sym("N"), Dim::Lit(3)))];
    let e = errs(bind_json(r#"{"x": [[1, 2, 3, 4]]}"#, &decls));
    assert_eq!(
        messages(&e),
        vec!["data field 'x': it has 4 columns, but its type matrix[N, 3] requires 3"]
    );
}

#[test]
fn json_negative_dimension_value() {
    let src = "data {\n  J: int\n  y: vector[J]\n}\n";
    let decls = vec![
        decl(src, "J", DataType::Int),
        decl(src, "y", DataType::Vector(sym("J"))),
    ];
    let e = errs(bind_json(r#"{"J": -1, "y": []}"#, &decls));
    // J is not bound, so y's length 0 binds it; only the bad value is reported.
    assert_eq!(
        messages(&e),
        vec!["data field 'J': value -1 cannot be a dimension, which must be a whole number ≥ 0"]
    );
}

#[test]
fn json_dimension_no_field_binds() {
    // K appears only in y's label range (the network writes `dense(K)`), and the data block
    // has no `K: int`, so nothing gives it a value.
    let mut decls = classify();
    decls.pop();
    let e = errs(bind_json(r#"{"x": [[1]], "y": [0]}"#, &decls));
    assert_eq!(
        messages(&e),
        vec!["data field 'y': dimension K is not given by the data"]
    );
    assert_eq!(
        e[0].to_diagnostic(&decls).help.unwrap(),
        "declare 'K: int' in the data block and give its value in the data file"
    );
    // An empty matrix says how many rows it has (0) but not how many columns.
    let e = errs(bind_json(r#"{"x": [], "y": []}"#, &regression()));
    assert_eq!(
        messages(&e),
        vec!["data field 'x': dimension D is not given by the data"]
    );
}

#[test]
fn json_collects_every_error_and_caps_each_field() {
    // 15 NaNs in y: 10 listed, then "5 more"; x's problem is reported as well.
    let y = vec!["\"NaN\""; 15].join(", ");
    let x = vec!["[1]"; 15].join(", ");
    let text = format!(r#"{{"x": [{x}, 2], "y": [{y}]}}"#);
    let e = errs(bind_json(&text, &regression()));
    let m = messages(&e);
    assert_eq!(m.len(), 1 + 10 + 1);
    assert_eq!(
        m[0],
        "data field 'x': expected an array of numbers (one row) at row 15, found a number"
    );
    assert_eq!(
        m[1],
        "data field 'y': value at index 0 is NaN, but data must be finite"
    );
    assert_eq!(
        m[11],
        "data field 'y': 5 more values have problems (only the first 10 are listed)"
    );
}

#[test]
fn json_diagnostic_renders_at_the_declaration() {
    let decls = classify();
    let e = errs(bind_json(
        r#"{"x": [[1], [2]], "y": [0, 3], "K": 3}"#,
        &decls,
    ));
    let diags: Vec<_> = e.iter().map(|e| e.to_diagnostic(&decls)).collect();
    let file = SourceFile::new("m.bnn", CLASSIFY);
    assert_eq!(
        render_all(&diags, &file),
        "error: data field 'y': value at index 1 is 3, outside 0..2 (labels of categorical_logit with K = 3 classes)\n \
         --> m.bnn:3:3\n  |\n3 |   y: int[N]\n  |   ^^^^^^^^^\n  = help: labels are 0-based: with K = 3 they are 0..2; \
         if the labels in the file start at 1, subtract 1 from each\n\nm.bnn: 1 error\n"
    );
}

// ---------------------------------------------------------------------------------------------
// CSV: successful bindings

#[test]
fn csv_regression_binds_columns() {
    // Header on line 1; rows on lines 2–4. Cells and names may carry spaces.
    let csv = "x.0, x.1, y\n1, 2, 0.5\n3, 4, 1.5\n5, 6, 2.5\n";
    let b = ok(bind_csv(csv, &regression()));
    assert_eq!((b.data.dim("N"), b.data.dim("D")), (Some(3), Some(2)));
    let x = b.data.get("x").unwrap();
    // Row-major, as in JSON: row 1 is (3, 4).
    assert_eq!(x.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(b.data.get("y").unwrap().values, vec![0.5, 1.5, 2.5]);
    assert!(b.warnings.is_empty());
}

#[test]
fn csv_matrix_columns_in_any_order() {
    // x.1 before x.0 in the file; values still land in column order.
    let b = ok(bind_csv("y,x.1,x.0\n9,2,1\n8,4,3\n", &regression()));
    assert_eq!(b.data.get("x").unwrap().values, vec![1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn csv_constant_column_gives_a_scalar_and_ints_are_detected() {
    let csv = "x.0,y,K\n0.1,0,3\n0.2,2,3\n";
    let b = ok(bind_csv(csv, &classify()));
    assert_eq!(b.data.get("K").unwrap().scalar(), Some(3.0));
    assert_eq!(b.data.dim("K"), Some(3));
    assert!(b.data.get("y").unwrap().is_int);
    assert_eq!(b.data.get("y").unwrap().shape, vec![2]);
}

#[test]
fn csv_unused_columns_are_grouped() {
    let csv = "id,x.0,z.0,z.1,z.2,y\n1,1,0,0,0,1\n";
    let b = ok(bind_csv(csv, &regression()));
    assert_eq!(
        messages_w(&b.warnings),
        vec![
            "data file: field 'id' is not declared in the data block and is ignored",
            "data file: field 'z' (columns 'z.0' to 'z.2') is not declared in the data block and is ignored",
        ]
    );
}

fn messages_w(w: &[DataWarning]) -> Vec<String> {
    w.iter().map(|w| w.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// CSV: errors

#[test]
fn csv_syntax_errors_name_each_bad_line() {
    // Line 3 has one field too many, line 5 one too few; line 4 is fine.
    let e = errs(bind_csv("x.0,y\n1,2\n3,4,5\n6,7\n8\n", &regression()));
    assert_eq!(
        messages(&e),
        vec![
            "data file: invalid CSV at line 3: this line has 3 fields, but the header has 2",
            "data file: invalid CSV at line 5: this line has 1 fields, but the header has 2",
        ]
    );
}

#[test]
fn csv_duplicate_column() {
    let e = errs(bind_csv("x.0,y,y\n1,2,3\n", &regression()));
    assert_eq!(
        messages(&e),
        vec!["data file: the CSV header has the column 'y' more than once"]
    );
}

#[test]
fn csv_missing_fields_and_scalars() {
    let e = errs(bind_csv("x.0\n1\n", &classify()));
    assert_eq!(
        messages(&e),
        vec![
            "data field 'y': missing from the data file",
            "data field 'K': missing from the data file",
        ]
    );
    assert_eq!(
        e[0].to_diagnostic(&classify()).help.unwrap(),
        "add a column 'y' to the CSV file"
    );
    assert_eq!(
        e[1].to_diagnostic(&classify()).help.unwrap(),
        "a CSV file is a table of rows, so a scalar can only be a column with the same value in every row; give \"K\" in a JSON data file instead"
    );
    assert!(matches!(
        e[1],
        DataError::Missing {
            format: DataFormat::Csv,
            ..
        }
    ));
}

#[test]
fn csv_scalar_column_must_be_constant() {
    // Line 2 has K = 3, line 4 has K = 4.
    let e = errs(bind_csv("x.0,y,K\n0,0,3\n0,1,3\n0,2,4\n", &classify()));
    assert_eq!(
        messages(&e),
        vec!["data field 'K': a scalar needs the same value in every row of column 'K', but line 2 has 3 and line 4 has 4"]
    );
}

#[test]
fn csv_matrix_column_gaps() {
    let e = errs(bind_csv("x.0,x.2,y\n1,2,3\n", &regression()));
    assert_eq!(
        messages(&e),
        vec!["data field 'x': column 'x.1' is missing, but columns up to 'x.2' are present"]
    );
    // 1-based columns: x.0 is the first gap.
    let e = errs(bind_csv("x.1,x.2,y\n1,2,3\n", &regression()));
    assert_eq!(
        messages(&e),
        vec!["data field 'x': column 'x.0' is missing, but columns up to 'x.2' are present"]
    );
    assert_eq!(
        e[0].to_diagnostic(&regression()).help.unwrap(),
        "matrix columns are numbered from 0 with no gap: 'x.0', 'x.1', …"
    );
}

#[test]
fn csv_shape_confusions() {
    // A matrix given as one column, and a vector given as matrix columns.
    let e = errs(bind_csv("x,y.0,y.1\n1,2,3\n", &regression()));
    assert_eq!(
        messages(&e),
        vec![
            "data field 'x': expected columns 'x.0', 'x.1', … for matrix[N, D], found a single column 'x'",
            "data field 'y': expected a column 'y' for vector[N], found matrix columns 'y.0', …",
        ]
    );
}

#[test]
fn csv_cells_that_are_not_numbers() {
    // Data rows start on line 2, so row 1 is line 3.
    let e = errs(bind_csv("x.0,x.1,y\n1,2,3\n4,NA,\n", &regression()));
    assert_eq!(
        messages(&e),
        vec![
            "data field 'x': expected a number at row 1, column 1 (CSV line 3, column 'x.1'), found the text \"NA\"",
            "data field 'y': expected a number at index 1 (CSV line 3), found an empty cell",
        ]
    );
    assert_eq!(
        e[1].to_diagnostic(&regression()).help.unwrap(),
        "every cell must be a number; missing values (empty, NA) must be removed or imputed before sampling"
    );
}

#[test]
fn csv_non_finite_non_integer_and_labels_with_line_numbers() {
    // Row r is on line r + 2.
    let csv = "x.0,x.1,y,K\n1,nan,0,3\n2,3,1.5,3\ninf,4,3,3\n";
    let e = errs(bind_csv(csv, &classify()));
    assert_eq!(
        messages(&e),
        vec![
            "data field 'x': value at row 0, column 1 (CSV line 2, column 'x.1') is NaN, but data must be finite",
            "data field 'x': value at row 2, column 0 (CSV line 4, column 'x.0') is inf, but data must be finite",
            "data field 'y': value at index 1 (CSV line 3) is 1.5, but int[N] holds whole numbers",
            "data field 'y': value at index 2 (CSV line 4) is 3, outside 0..2 (labels of categorical_logit with K = 3 classes)",
        ]
    );
}

#[test]
fn csv_lines_count_quoted_newlines() {
    // The quoted cell spans lines 2–3, so the next record starts on line 4.
    let csv = "x.0,y\n\"1\n2\",1\n2,NaN\n";
    let e = errs(bind_csv(csv, &regression()));
    assert_eq!(
        messages(&e),
        vec![
            "data field 'x': expected a number at row 0, column 0 (CSV line 2, column 'x.0'), found the text \"1\\n2\"",
            "data field 'y': value at index 1 (CSV line 4) is NaN, but data must be finite",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Files

#[test]
fn bind_file_chooses_by_extension() {
    let dir = std::env::temp_dir().join(format!("bnnppl-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("m.JSON");
    std::fs::write(&json, r#"{"x": [[1]], "y": [2]}"#).unwrap();
    let csv = dir.join("m.csv");
    std::fs::write(&csv, "x.0,y\n1,2\n").unwrap();
    assert_eq!(
        ok(bind_file(&json, &regression())).data,
        ok(bind_file(&csv, &regression())).data
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bind_file_errors() {
    let e = errs(bind_file(Path::new("m.txt"), &regression()));
    assert_eq!(
        messages(&e),
        vec!["data file 'm.txt': unknown format; expected a .json or .csv file"]
    );
    let e = errs(bind_file(
        Path::new("/nonexistent/bnnppl/m.json"),
        &regression(),
    ));
    assert!(
        matches!(&e[..], [DataError::Unreadable { path, .. }] if path == "/nonexistent/bnnppl/m.json")
    );
    assert!(e[0]
        .to_string()
        .starts_with("data file '/nonexistent/bnnppl/m.json': cannot read it: "));
    // File-level problems point at the whole data block.
    let d = e[0].to_diagnostic(&regression());
    assert_eq!(d.span, regression()[0].span.join(regression()[1].span));
}

#[test]
fn csv_dimension_errors() {
    // K = 3 from its constant column, but w has one value per row: 4 rows.
    let src = "data {\n  w: vector[K]\n  K: int\n  J: int\n  v: vector[J]\n}\n";
    let mut w = decl(src, "w", DataType::Vector(sym("K")));
    w.lower = Some(0.0);
    let decls = vec![
        w,
        decl(src, "K", DataType::Int),
        decl(src, "J", DataType::Int),
        decl(src, "v", DataType::Vector(sym("J"))),
    ];
    let e = errs(bind_csv(
        "w,K,J,v\n1,3,-2,0\n-1,3,-2,0\n2,3,-2,0\n3,3,-2,0\n",
        &decls,
    ));
    assert_eq!(
        messages(&e),
        vec![
            "data field 'J': value -2 cannot be a dimension, which must be a whole number ≥ 0",
            "data field 'w': its length is 4, but K is 3 (the value of 'K')",
            "data field 'w': value at index 1 (CSV line 3) is -1, below the lower bound 0",
        ]
    );
}

#[test]
fn csv_dimension_no_field_binds() {
    let mut decls = classify();
    decls.pop();
    let e = errs(bind_csv("x.0,y\n1,0\n", &decls));
    assert_eq!(
        messages(&e),
        vec!["data field 'y': dimension K is not given by the data"]
    );
}

// ---------------------------------------------------------------------------------------------
// Issue 16: CmdStan's tokens for non-finite numbers, and JSON syntax errors in the data file

/// `data { a: real  k: int  v: vector[N]  n: int[N]  x: matrix[N, D] }`: a number can stand as
/// a real scalar, an int scalar, a vector element, an int array element, a matrix cell, and as
/// the size `N` or `D` written beside the fields.
const EVERY_PLACE: &str =
    "data {\n  a: real\n  k: int\n  v: vector[N]\n  n: int[N]\n  x: matrix[N, D]\n}\n";

fn every_place() -> Vec<DataDecl> {
    vec![
        decl(EVERY_PLACE, "a", DataType::Real),
        decl(EVERY_PLACE, "k", DataType::Int),
        decl(EVERY_PLACE, "v", DataType::Vector(sym("N"))),
        decl(EVERY_PLACE, "n", DataType::IntArray(sym("N"))),
        decl(EVERY_PLACE, "x", DataType::Matrix(sym("N"), sym("D"))),
    ]
}

/// The data for [`every_place`] with `token` written at `place` and finite numbers elsewhere.
fn with_token(place: &str, token: &str) -> String {
    let at = |p: &str, finite: &str| {
        if p == place {
            token.to_string()
        } else {
            finite.to_string()
        }
    };
    format!(
        r#"{{"a": {}, "k": {}, "v": [1.5, {}], "n": [{}, 2], "x": [[1, 2], [3, {}]], "N": {}, "D": 2}}"#,
        at("a", "0.5"),
        at("k", "3"),
        at("v", "2.5"),
        at("n", "1"),
        at("x", "4"),
        at("N", "2"),
    )
}

#[test]
fn issue_16_non_finite_tokens_in_every_position_name_the_field_and_index() {
    // CmdStan's reader takes NaN, Inf, Infinity, -Inf, -Infinity bare (as Python's json.dump
    // writes them) and as strings; each is read as the number it names, then rejected as data.
    let tokens = [
        ("NaN", "NaN"),
        ("Infinity", "inf"),
        ("-Infinity", "-inf"),
        ("Inf", "inf"),
        ("-Inf", "-inf"),
        ("\"NaN\"", "NaN"),
        ("\"Inf\"", "inf"),
        ("\"-Inf\"", "-inf"),
        ("\"Infinity\"", "inf"),
        ("\"-Infinity\"", "-inf"),
    ];
    let places = [
        ("a", "data field 'a': value"),
        ("k", "data field 'k': value"),
        ("v", "data field 'v': value at index 1"),
        ("n", "data field 'n': value at index 0"),
        ("x", "data field 'x': value at row 1, column 1"),
        ("N", "data field 'N': value"),
    ];
    for (token, shown) in tokens {
        for (place, prefix) in places {
            let text = with_token(place, token);
            let e = errs(bind_json(&text, &every_place()));
            assert_eq!(
                messages(&e),
                vec![format!("{prefix} is {shown}, but data must be finite")],
                "{text}"
            );
            let help = if shown == "NaN" {
                "NaN usually marks a missing value; remove or impute it before sampling"
            } else {
                "data must be finite; check how the file was written"
            };
            assert_eq!(
                e[0].to_diagnostic(&every_place()).help.as_deref(),
                Some(help),
                "{text}"
            );
        }
    }
    // The same data with finite numbers everywhere binds.
    let b = ok(bind_json(&with_token("", ""), &every_place()));
    assert_eq!((b.data.dim("N"), b.data.dim("D")), (Some(2), Some(2)));
}

#[test]
fn issue_16_a_size_beside_the_fields_must_be_a_number() {
    // Before, "N": "two" was reported as the file giving N = NaN.
    let text = with_token("N", r#""two""#);
    assert_eq!(
        messages(&errs(bind_json(&text, &every_place()))),
        vec!["data field 'N': expected a number, found the string \"two\""]
    );
}

#[test]
fn issue_16_bare_tokens_are_numbers_where_the_shape_is_wrong() {
    // A bare NaN where a matrix needs rows is described as the number it is, not as a string.
    let e = errs(bind_json(
        r#"{"x": NaN, "y": [Infinity, -Inf]}"#,
        &regression(),
    ));
    assert_eq!(
        messages(&e),
        vec![
            "data field 'x': expected an array of rows for matrix[N, D], found a number",
            "data field 'y': value at index 0 is inf, but data must be finite",
            "data field 'y': value at index 1 is -inf, but data must be finite",
        ]
    );
    // A flat array of tokens for a matrix is an array of numbers.
    let e = errs(bind_json(r#"{"x": [NaN, 1], "y": [1]}"#, &regression()));
    assert_eq!(
        messages(&e),
        vec![
            "data field 'x': expected an array of rows for matrix[N, D], found an array of numbers"
        ]
    );
}

#[test]
fn issue_16_tokens_that_are_not_cmdstans_stay_syntax_errors() {
    // Lower case and keys are not tokens CmdStan reads: serde_json reports them where they are
    // (it takes `n` for the start of `null` and stops at the `a`, column 10).
    let e = errs(bind_json(r#"{"x": [[nan]], "y": [1]}"#, &regression()));
    assert_eq!(
        messages(&e),
        vec!["data file: invalid JSON at line 1, column 10: expected ident"]
    );
    let e = errs(bind_json(r#"{NaN: 1}"#, &regression()));
    assert_eq!(
        messages(&e),
        vec!["data file: invalid JSON at line 1, column 2: key must be a string"]
    );
}

#[test]
fn issue_16_syntax_error_positions_are_in_the_file_as_written() {
    // Line 2 is `  "y": [Infinity, 2,]`: the `]` after the trailing comma is column 21 as
    // written, though serde_json saw `"Infinity"`, two characters longer, and column 23.
    let e = errs(bind_json(
        "{\"x\": [[NaN]],\n  \"y\": [Infinity, 2,]}",
        &regression(),
    ));
    assert_eq!(
        messages(&e),
        vec!["data file: invalid JSON at line 2, column 21: trailing comma"]
    );
}

#[test]
fn issue_16_syntax_errors_are_shown_in_the_data_file_not_the_model() {
    let model = bnnppl::api::Model::from_str(
        "m.bnn",
        "data { y: vector[N] }\nparam { mu: real }\nprior { mu ~ normal(0, 1) }\nlikelihood { y ~ normal(mu, 1) }\n",
    )
    .expect("model checks");
    let err = model
        .bind_json("{\"y\": [1, NaN,\n  2 3]}")
        .expect_err("missing comma");
    assert_eq!(
        err.rendered,
        "error: data file: invalid JSON at line 2, column 5: expected `,` or `]`\n \
         --> <data>:2:5\n  |\n2 |   2 3]}\n  |     ^\n  = help: the data file must be valid \
         JSON; non-finite values may be written NaN, Infinity and -Infinity, bare or as \
         strings\n\n<data>: 1 error\n"
    );
    // From a file, the arrow names the file.
    let dir = std::env::temp_dir().join(format!("bnnppl-data-16-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let path = dir.join("bad.json");
    std::fs::write(&path, "{\"y\": [1, 2]\n").expect("write");
    let err = model.bind_file(&path).expect_err("unclosed object");
    assert!(
        err.rendered
            .contains(&format!("--> {}:2:1", path.display())),
        "{}",
        err.rendered
    );
    // And bound data with bare tokens fails on the value, at the model's declaration.
    std::fs::write(&path, "{\"y\": [1, NaN]}").expect("write");
    let err = model.bind_file(&path).expect_err("NaN");
    assert!(
        err.rendered
            .starts_with("error: data field 'y': value at index 1 is NaN, but data must be finite\n --> m.bnn:1:8"),
        "{}",
        err.rendered
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn issue_16_the_data_fingerprint_changes_with_any_value_or_size() {
    // No fields and no sizes: nothing is fed to FNV-1a, so the hash is its 64-bit offset basis.
    assert_eq!(
        bnnppl::data::BoundData::default().fingerprint(),
        "cbf29ce484222325"
    );
    let fingerprint = |text: &str| ok(bind_json(text, &regression())).data.fingerprint();
    let base = fingerprint(r#"{"x": [[1, 2], [3, 4]], "y": [0.5, 1.5]}"#);
    assert_eq!(base.len(), 16);
    // The same values written otherwise are the same data.
    assert_eq!(
        fingerprint(r#"{"y": [0.5, 1.50], "x": [[1.0, 2], [3, 4e0]]}"#),
        base
    );
    // One value, or the same values in another shape, are other data.
    for other in [
        r#"{"x": [[1, 2], [3, 4]], "y": [0.5, 1.5000001]}"#,
        r#"{"x": [[1], [2]], "y": [3, 4]}"#,
    ] {
        assert_ne!(fingerprint(other), base, "{other}");
    }
}
