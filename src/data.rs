//! Data binding: reads a JSON or CSV data file against the model's data block, binds the dimension symbols and checks every value.
//!
//! # Formats
//!
//! - **JSON**, in CmdStan's layout: one object with an entry per field. A scalar is a number; a
//!   vector or `int[N]` is an array of numbers (a bare number is accepted as a length-1 array, as
//!   CmdStan does); a matrix is an array of rows. The strings CmdStan writes for non-finite values
//!   (`"inf"`, `"-inf"`, `"Infinity"`, `"NaN"`, any case) are read as numbers so that they fail the
//!   finiteness check with a message naming the element, rather than a confusing type error.
//! - **CSV**, a table with a header row: vector or `int[N]` field `y` is column `y`; matrix `x` is
//!   columns `x.0, x.1, …` (0-based, all present, no gap; D is their count). Every table field has
//!   one value per row, so all share the row count. A scalar can come from a CSV file only as a
//!   column holding the same value in every row; otherwise it is reported missing, with a hint to
//!   use JSON. Cells are trimmed; `inf`/`nan` are read as numbers (then fail the finiteness check).
//!
//! # Dimension symbols
//!
//! A symbol such as `N` in `x: matrix[N, D]` is bound by the first field, in declaration order,
//! that has it in its type; every later use must agree. A scalar field of the same name
//! (`K: int`) is authoritative: it is bound first and every use is compared with it. `dims`
//! holds every symbol used in a type or in an [`IntRange`], plus every `int` scalar field whose
//! value is a valid size, since the model may use such a field as a width (`dense(K)`).
//!
//! # Errors
//!
//! All problems are collected, not only the first. Within one field at most
//! [`MAX_ERRORS_PER_FIELD`] element-level problems are listed, followed by one
//! [`DataError::MoreProblems`] with the count of the rest, so a column of 10 000 NaNs does not
//! bury the other messages. Indices are 0-based as in the language (`x[3, 1]` is row 3, column 1)
//! and CSV errors add the 1-based line of the file. Each value gets at most one error, checked in
//! this order: a number at all, finite, whole (for int fields), declared bounds, usage range.
//! Warnings are returned only with a successful binding.

use crate::diagnostic::Diagnostic;
use crate::ir::{DataDecl, DataType, Dim, RangeMax};
use crate::source::Span;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;

/// At most this many element-level errors are listed per field; the rest are counted.
pub const MAX_ERRORS_PER_FIELD: usize = 10;

/// At most this many CSV syntax errors (bad lines) are listed; the rest are counted.
const MAX_SYNTAX_ERRORS: usize = 10;

/// The value of one data field after binding.
#[derive(Debug, Clone, PartialEq)]
pub struct DataValue {
    /// Sizes: empty for scalars, `[n]` for vectors and int arrays, `[rows, cols]` for matrices.
    pub shape: Vec<usize>,
    /// Every element in row-major order (`x[r, c]` is `values[r * cols + c]`); ints are exact.
    pub values: Vec<f64>,
    /// True for `int` and `int[N]` fields, whose values are then all whole numbers.
    pub is_int: bool,
}

impl DataValue {
    /// The value of a scalar field, `None` for vectors and matrices.
    pub fn scalar(&self) -> Option<f64> {
        match self.shape.as_slice() {
            [] => self.values.first().copied(),
            _ => None,
        }
    }
}

/// Every field of the data block with its value, and the size of every dimension symbol.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BoundData {
    /// Field name → value, for every declared field.
    pub fields: BTreeMap<String, DataValue>,
    /// Dimension symbol → size (see the module doc for which symbols are present).
    pub dims: BTreeMap<String, usize>,
}

impl BoundData {
    /// The value of a declared field.
    pub fn get(&self, name: &str) -> Option<&DataValue> {
        self.fields.get(name)
    }
    /// The size bound to a dimension symbol.
    pub fn dim(&self, sym: &str) -> Option<usize> {
        self.dims.get(sym).copied()
    }
}

/// Prints `dims: D = 3, N = 100` then one line per field: `x: real[100, 3]`, `K: int = 3`.
impl fmt::Display for BoundData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self
            .dims
            .iter()
            .map(|(s, n)| format!("{s} = {n}"))
            .collect();
        writeln!(f, "dims: {}", dims.join(", "))?;
        for (name, v) in &self.fields {
            let kind = if v.is_int { "int" } else { "real" };
            match v.scalar() {
                Some(x) => writeln!(f, "{name}: {kind} = {x}")?,
                None => {
                    let shape: Vec<String> = v.shape.iter().map(|n| n.to_string()).collect();
                    writeln!(f, "{name}: {kind}[{}]", shape.join(", "))?;
                }
            }
        }
        Ok(())
    }
}

/// A successful binding and the warnings found on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// The bound fields and dimensions.
    pub data: BoundData,
    /// Legal but suspicious things in the file (fields the model does not declare).
    pub warnings: Vec<DataWarning>,
}

/// The layout of a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    /// CmdStan-style JSON.
    Json,
    /// A CSV table with a header row.
    Csv,
}

impl DataFormat {
    /// The format named by a path's extension (`.json`, `.csv`, any case).
    pub fn from_path(path: &Path) -> Option<DataFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "json" => Some(DataFormat::Json),
            "csv" => Some(DataFormat::Csv),
            _ => None,
        }
    }
}

/// Which element of a field, in the user's 0-based terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// Element `i` of a vector or int array (`y[i]`); also row `i` of a CSV scalar column.
    Elem(usize),
    /// Row `r`, column `c` of a matrix (`x[r, c]`).
    Cell(usize, usize),
    /// A whole row of a JSON matrix (`x[r]`), for errors about the row itself.
    Row(usize),
}

/// Where a value sits: its index, plus the CSV line and column when the file is CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    /// The element, 0-based.
    pub index: Index,
    /// For CSV files, the 1-based line of the file that holds the value (the header is line 1).
    pub line: Option<u64>,
    /// For CSV matrices, the column name, e.g. `x.1`.
    pub column: Option<String>,
}

/// Prints `index 17`, `row 3, column 1` or `row 3`, then ` (CSV line 5, column 'x.1')` for CSV.
impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Index::Elem(i) => write!(f, "index {i}")?,
            Index::Cell(r, c) => write!(f, "row {r}, column {c}")?,
            Index::Row(r) => write!(f, "row {r}")?,
        }
        match (&self.line, &self.column) {
            (Some(l), Some(c)) => write!(f, " (CSV line {l}, column '{c}')"),
            (Some(l), None) => write!(f, " (CSV line {l})"),
            (None, _) => Ok(()),
        }
    }
}

/// How a field's size is measured, for dimension errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DimRole {
    /// The number of rows of a matrix.
    Rows,
    /// The number of columns of a matrix.
    Columns,
    /// The length of a vector or int array.
    Length,
    /// The value of a scalar field named like the symbol (`K: int`).
    Value,
}

/// The field and measurement that first bound a dimension symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimSource {
    /// The field.
    pub field: String,
    /// What of it gave the size.
    pub role: DimRole,
}

/// Prints `the number of rows of 'x'`, `the length of 'y'`, `the value of 'K'`.
impl fmt::Display for DimSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = &self.field;
        match self.role {
            DimRole::Rows => write!(f, "the number of rows of '{field}'"),
            DimRole::Columns => write!(f, "the number of columns of '{field}'"),
            DimRole::Length => write!(f, "the length of '{field}'"),
            DimRole::Value => write!(f, "the value of '{field}'"),
        }
    }
}

/// The bound or range a value broke.
#[derive(Debug, Clone, PartialEq)]
pub enum Limit {
    /// The declared `<lower=..>`.
    Lower(f64),
    /// The declared `<upper=..>`.
    Upper(f64),
    /// An inclusive range from usage, `min..max`; `dim` is the symbol and size when max = size − 1.
    Between {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value, inclusive.
        max: i64,
        /// Why, with the symbol's value filled in ("labels of categorical_logit with K = 3 classes").
        reason: String,
        /// The dimension symbol and its size, when `max` is that size minus one.
        dim: Option<(String, usize)>,
    },
    /// A minimum from usage with no upper end (counts are ≥ 0).
    AtLeast {
        /// Smallest allowed value.
        min: i64,
        /// Why.
        reason: String,
    },
    /// At most the value of another field at the same index (binomial successes ≤ trials).
    AtMostField {
        /// The other field.
        other: String,
        /// The element of the other field in the user's terms, `n[5]`, or `n` when it is a scalar.
        other_at: String,
        /// Its value.
        limit: f64,
        /// Why.
        reason: String,
    },
}

/// Prints the tail of an out-of-range message: `outside 0..2 (labels of …)`, `below the lower bound 0`.
impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Lower(b) => write!(f, "below the lower bound {b}"),
            Limit::Upper(b) => write!(f, "above the upper bound {b}"),
            Limit::Between {
                min, max, reason, ..
            } => write!(f, "outside {min}..{max} ({reason})"),
            Limit::AtLeast { min, reason } => write!(f, "below the minimum {min} ({reason})"),
            Limit::AtMostField {
                other_at,
                limit,
                reason,
                ..
            } => write!(f, "above {other_at} = {limit} ({reason})"),
        }
    }
}

/// A problem that stops the data from binding. Display is one line; see [`DataError::to_diagnostic`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The data file could not be read (absent, unreadable, not UTF-8).
    #[error("data file '{path}': cannot read it: {reason}")]
    Unreadable {
        /// The path as given.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The data file's extension is neither `.json` nor `.csv`.
    #[error("data file '{path}': unknown format; expected a .json or .csv file")]
    UnknownFormat {
        /// The path as given.
        path: String,
    },
    /// The JSON text does not parse.
    #[error("data file: invalid JSON at line {line}, column {column}: {message}")]
    JsonSyntax {
        /// 1-based line in the data file.
        line: usize,
        /// 1-based column in the data file.
        column: usize,
        /// serde_json's description, without its location.
        message: String,
    },
    /// The JSON is valid but its top level is not an object of fields.
    #[error("data file: expected a JSON object with one entry per data field, found {found}")]
    JsonNotObject {
        /// What the top level is ("an array").
        found: String,
    },
    /// A CSV line does not parse (for example it has more fields than the header).
    #[error("data file: invalid CSV{}: {message}", line_infix(.line))]
    CsvSyntax {
        /// 1-based line in the data file, when known.
        line: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// More CSV lines are malformed than are listed.
    #[error("data file: {more} more CSV lines are invalid")]
    MoreCsvErrors {
        /// How many were not listed.
        more: usize,
    },
    /// The CSV header names a column twice.
    #[error("data file: the CSV header has the column '{column}' more than once")]
    DuplicateColumn {
        /// The repeated name.
        column: String,
    },
    /// A declared field is absent from the data file.
    #[error("data field '{field}': missing from the data file")]
    Missing {
        /// The field.
        field: String,
        /// Its declared type.
        ty: DataType,
        /// The file's format (the fix differs).
        format: DataFormat,
        /// A name in the file equal to the field's up to case, if any.
        similar: Option<String>,
    },
    /// A field or element has the wrong structure, e.g. a number where a matrix needs rows.
    #[error("data field '{field}': expected {expected}{}, found {found}", at_infix(.at))]
    WrongShape {
        /// The field.
        field: String,
        /// The element or row, or `None` for the field as a whole.
        at: Option<At>,
        /// What was expected ("an array of rows for matrix[N, D]", "a number").
        expected: String,
        /// What is there ("a number", "the string \"abc\"", "an empty cell").
        found: String,
    },
    /// A JSON matrix row has a different length from the first row.
    #[error("data field '{field}': row {row} has {}, but row {first_row} has {first_len}", plural(*.len, "column"))]
    RaggedRow {
        /// The matrix.
        field: String,
        /// The offending row, 0-based.
        row: usize,
        /// Its length.
        len: usize,
        /// The first row that is an array (usually 0).
        first_row: usize,
        /// Its length, taken as the column count.
        first_len: usize,
    },
    /// CSV matrix columns `x.0, x.1, …` have a gap or do not start at 0.
    #[error("data field '{field}': column '{field}.{missing}' is missing, but columns up to '{field}.{highest}' are present")]
    MatrixColumnGap {
        /// The matrix.
        field: String,
        /// The first missing column number.
        missing: usize,
        /// The highest column number present.
        highest: usize,
    },
    /// A CSV column that gives a scalar holds different values in different rows.
    #[error("data field '{field}': a scalar needs the same value in every row of column '{field}', but line {first_line} has {first} and line {line} has {value}")]
    ScalarColumnVaries {
        /// The scalar field.
        field: String,
        /// The value on the first data line.
        first: f64,
        /// That line, 1-based.
        first_line: u64,
        /// The first different value.
        value: f64,
        /// Its line, 1-based.
        line: u64,
    },
    /// A value is NaN or infinite.
    #[error("data field '{field}': value{} is {value}, but data must be finite", at_infix(.at))]
    NotFinite {
        /// The field.
        field: String,
        /// The element, `None` for a scalar.
        at: Option<At>,
        /// The value (NaN, inf or -inf).
        value: f64,
    },
    /// A value of an `int` or `int[N]` field is not a whole number.
    #[error("data field '{field}': value{} is {value}, but {ty} holds whole numbers", at_infix(.at))]
    NotInteger {
        /// The field.
        field: String,
        /// The element, `None` for a scalar.
        at: Option<At>,
        /// The value.
        value: f64,
        /// The declared type.
        ty: DataType,
    },
    /// A value lies outside a declared bound or the range its use requires.
    #[error("data field '{field}': value{} is {value}, {limit}", at_infix(.at))]
    OutOfRange {
        /// The field.
        field: String,
        /// The element, `None` for a scalar.
        at: Option<At>,
        /// The value.
        value: f64,
        /// The bound or range it breaks.
        limit: Limit,
    },
    /// A size disagrees with a literal size in the type or with the symbol's size bound earlier.
    #[error("data field '{field}': {}, but {}", role_found(*.role, *.found), dim_expected(.dim, *.expected, .from, .ty))]
    DimMismatch {
        /// The field whose size disagrees.
        field: String,
        /// Its declared type.
        ty: DataType,
        /// Which of its sizes.
        role: DimRole,
        /// That size in the file.
        found: usize,
        /// The size as written in the type.
        dim: Dim,
        /// The size required.
        expected: usize,
        /// What bound the symbol, `None` for a literal size.
        from: Option<DimSource>,
    },
    /// A field used as a dimension holds a value that is not a whole number ≥ 0.
    #[error("data field '{field}': value {value} cannot be a dimension, which must be a whole number ≥ 0")]
    BadDimValue {
        /// The scalar field named like the symbol.
        field: String,
        /// Its value.
        value: f64,
    },
    /// A size written in the file (CmdStan files carry `"N": 100`) that disagrees with the size
    /// the data's shapes give.
    #[error("data field '{field}': the file gives {field} = {value}, but the data's shapes give {field} = {actual}")]
    SizeDisagrees {
        /// The size symbol.
        field: String,
        /// The value in the file.
        value: f64,
        /// The size bound from the shapes.
        actual: usize,
    },
    /// A dimension symbol that no field of the data gives a size to.
    #[error("data field '{field}': dimension {sym} is not given by the data")]
    UnboundDim {
        /// The first field that uses the symbol.
        field: String,
        /// The symbol.
        sym: String,
    },
    /// More element-level problems in one field than are listed.
    #[error("data field '{field}': {more} more values have problems (only the first {MAX_ERRORS_PER_FIELD} are listed)")]
    MoreProblems {
        /// The field.
        field: String,
        /// How many were not listed.
        more: usize,
    },
}

fn at_infix(at: &Option<At>) -> String {
    match at {
        Some(at) => format!(" at {at}"),
        None => String::new(),
    }
}

fn line_infix(line: &Option<u64>) -> String {
    match line {
        Some(l) => format!(" at line {l}"),
        None => String::new(),
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn role_found(role: DimRole, found: usize) -> String {
    match role {
        DimRole::Rows => format!("it has {}", plural(found, "row")),
        DimRole::Columns => format!("it has {}", plural(found, "column")),
        DimRole::Length => format!("its length is {found}"),
        DimRole::Value => format!("its value is {found}"),
    }
}

fn dim_expected(dim: &Dim, expected: usize, from: &Option<DimSource>, ty: &DataType) -> String {
    match from {
        Some(src) => format!("{dim} is {expected} ({src})"),
        None => format!("its type {ty} requires {expected}"),
    }
}

/// The span covering the whole data block, for problems that belong to no one field.
fn block_span(decls: &[DataDecl]) -> Span {
    decls
        .iter()
        .map(|d| d.span)
        .reduce(Span::join)
        .unwrap_or_default()
}

fn find_decl<'a>(decls: &'a [DataDecl], name: &str) -> Option<&'a DataDecl> {
    decls.iter().find(|d| d.name == name)
}

impl DataError {
    /// The data field the error is about, `None` for problems with the file as a whole.
    pub fn field(&self) -> Option<&str> {
        match self {
            DataError::Unreadable { .. }
            | DataError::UnknownFormat { .. }
            | DataError::JsonSyntax { .. }
            | DataError::JsonNotObject { .. }
            | DataError::CsvSyntax { .. }
            | DataError::MoreCsvErrors { .. }
            | DataError::DuplicateColumn { .. } => None,
            DataError::Missing { field, .. }
            | DataError::WrongShape { field, .. }
            | DataError::RaggedRow { field, .. }
            | DataError::MatrixColumnGap { field, .. }
            | DataError::ScalarColumnVaries { field, .. }
            | DataError::NotFinite { field, .. }
            | DataError::NotInteger { field, .. }
            | DataError::OutOfRange { field, .. }
            | DataError::DimMismatch { field, .. }
            | DataError::BadDimValue { field, .. }
            | DataError::SizeDisagrees { field, .. }
            | DataError::UnboundDim { field, .. }
            | DataError::MoreProblems { field, .. } => Some(field),
        }
    }

    /// A diagnostic at the field's declaration (the whole data block for file-level problems),
    /// with the Display text as message and a hint for the fix.
    pub fn to_diagnostic(&self, decls: &[DataDecl]) -> Diagnostic {
        let decl = self.field().and_then(|f| find_decl(decls, f));
        let span = decl.map(|d| d.span).unwrap_or_else(|| block_span(decls));
        let mut diag = Diagnostic::error(self.to_string(), span);
        if let DataError::DimMismatch {
            field,
            from: Some(src),
            dim,
            ..
        } = self
        {
            if let Some(other) = find_decl(decls, &src.field).filter(|d| &d.name != field) {
                diag = diag.with_related(other.span, format!("{dim} is bound here, by {src}"));
            }
        }
        match self.help(decls) {
            Some(h) => diag.with_help(h),
            None => diag,
        }
    }

    fn help(&self, decls: &[DataDecl]) -> Option<String> {
        let help = match self {
            DataError::Unreadable { .. } => "check the path, or pass the data file with --data FILE".to_string(),
            DataError::UnknownFormat { .. } => {
                "write the data as CmdStan-style JSON (.json) or as a CSV table with a header row (.csv)".to_string()
            }
            DataError::JsonSyntax { .. } => {
                "the data file must be valid JSON; non-finite values are written as strings, \"NaN\" or \"inf\"".to_string()
            }
            DataError::JsonNotObject { .. } => {
                "write the data as one object, e.g. {\"x\": [[1, 2], [3, 4]], \"y\": [0.5, 1.5]}".to_string()
            }
            DataError::CsvSyntax { .. } | DataError::MoreCsvErrors { .. } => {
                "every line of a CSV file must have as many fields as the header".to_string()
            }
            DataError::DuplicateColumn { .. } => "rename or remove the repeated column".to_string(),
            DataError::SizeDisagrees { field, actual, .. } => {
                format!("fix {field} in the file to {actual}, or remove it: sizes are bound from the data's shapes")
            }
            DataError::Missing {
                field,
                ty,
                format,
                similar,
            } => {
                if let Some(s) = similar {
                    format!("the file has '{s}'; names are case-sensitive")
                } else {
                    missing_help(field, ty, *format)
                }
            }
            DataError::WrongShape { at, .. } => {
                let ty = decl_ty(decls, self)?;
                match (at, ty) {
                    (Some(At { line: Some(_), .. }), _) => {
                        "every cell must be a number; missing values (empty, NA) must be removed or imputed before sampling".to_string()
                    }
                    (_, DataType::Matrix(..)) => {
                        "in JSON a matrix is an array of rows, e.g. [[1, 2], [3, 4]]; in CSV matrix 'x' is columns x.0, x.1, …".to_string()
                    }
                    (_, DataType::Vector(_) | DataType::IntArray(_)) => {
                        "in JSON a vector is an array of numbers, e.g. [1.5, 2, 3]; in CSV vector 'y' is column y".to_string()
                    }
                    (_, DataType::Int | DataType::Real) => "write a single number, e.g. 3".to_string(),
                }
            }
            DataError::RaggedRow { .. } => "every row of a matrix must have the same number of columns".to_string(),
            DataError::MatrixColumnGap { field, .. } => format!(
                "matrix columns are numbered from 0 with no gap: '{field}.0', '{field}.1', …"
            ),
            DataError::ScalarColumnVaries { field, .. } => format!(
                "a CSV file is a table of rows; give the scalar '{field}' in a JSON data file instead"
            ),
            DataError::NotFinite { value, .. } => {
                if value.is_nan() {
                    "NaN usually marks a missing value; remove or impute it before sampling".to_string()
                } else {
                    "data must be finite; check how the file was written".to_string()
                }
            }
            DataError::NotInteger { field, ty, .. } => {
                let real = match ty {
                    DataType::IntArray(n) => format!("vector[{n}]"),
                    _ => "real".to_string(),
                };
                format!("if '{field}' is not a count or a label, declare it as {real}")
            }
            DataError::OutOfRange {
                field,
                value,
                limit,
                ..
            } => limit_help(field, *value, limit),
            DataError::DimMismatch { dim, from, .. } => match (dim, from) {
                (Dim::Sym(s), Some(_)) => format!(
                    "every use of {s} must have the same size; check that the fields come from the same data"
                ),
                _ => "change the size in the declaration or in the data file".to_string(),
            },
            DataError::BadDimValue { field, .. } => {
                format!("'{field}' sizes other fields, so it must count something: 0, 1, 2, …")
            }
            DataError::UnboundDim { field, sym } => {
                let empty_matrix = matches!(
                    find_decl(decls, field).map(|d| &d.ty),
                    Some(DataType::Matrix(_, Dim::Sym(c))) if c == sym
                );
                if empty_matrix {
                    format!(
                        "'{field}' has no rows, so it does not say how many columns it has; declare '{sym}: int' in the data block and give its value"
                    )
                } else {
                    format!("declare '{sym}: int' in the data block and give its value in the data file")
                }
            }
            DataError::MoreProblems { .. } => "fix the listed values first; the others are likely the same problem".to_string(),
        };
        Some(help)
    }
}

fn decl_ty<'a>(decls: &'a [DataDecl], err: &DataError) -> Option<&'a DataType> {
    err.field().and_then(|f| find_decl(decls, f)).map(|d| &d.ty)
}

fn missing_help(field: &str, ty: &DataType, format: DataFormat) -> String {
    match (format, ty) {
        (DataFormat::Json, DataType::Int | DataType::Real) => {
            format!("add \"{field}\": <a number> to the JSON object")
        }
        (DataFormat::Json, DataType::IntArray(_) | DataType::Vector(_)) => {
            format!("add \"{field}\": [..] (an array of numbers) to the JSON object")
        }
        (DataFormat::Json, DataType::Matrix(..)) => {
            format!("add \"{field}\": [[..], [..]] (an array of rows) to the JSON object")
        }
        (DataFormat::Csv, DataType::Int | DataType::Real) => format!(
            "a CSV file is a table of rows, so a scalar can only be a column with the same value in every row; give \"{field}\" in a JSON data file instead"
        ),
        (DataFormat::Csv, DataType::IntArray(_) | DataType::Vector(_)) => {
            format!("add a column '{field}' to the CSV file")
        }
        (DataFormat::Csv, DataType::Matrix(..)) => format!(
            "add columns '{field}.0', '{field}.1', … to the CSV file, one per matrix column"
        ),
    }
}

fn limit_help(field: &str, value: f64, limit: &Limit) -> String {
    match limit {
        Limit::Lower(b) => {
            format!("'{field}' is declared with <lower={b}>; fix the value or the bound")
        }
        Limit::Upper(b) => {
            format!("'{field}' is declared with <upper={b}>; fix the value or the bound")
        }
        Limit::Between {
            min,
            max,
            dim: Some((sym, size)),
            ..
        } => {
            if *min == 0 && value == *size as f64 {
                format!(
                    "labels are 0-based: with {sym} = {size} they are {min}..{max}; if the labels in the file start at 1, subtract 1 from each"
                )
            } else {
                format!("with {sym} = {size} the values must lie in {min}..{max}; check {sym} and the values")
            }
        }
        Limit::Between { min, max, .. } => {
            format!("the values must lie in {min}..{max}, both ends included")
        }
        Limit::AtLeast { min, .. } => format!("the values must be at least {min}"),
        Limit::AtMostField { other, .. } => {
            format!(
                "each value of '{field}' must be at most the value of '{other}' at the same index"
            )
        }
    }
}

/// Something legal but suspicious in the data file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataWarning {
    /// A field in the file that the data block does not declare; it is ignored.
    UnusedField {
        /// The JSON key, or the CSV column (the part before the dot for `z.0, z.1, …`).
        name: String,
        /// For CSV, the columns it covers, in order; empty for JSON.
        columns: Vec<String>,
    },
}

impl fmt::Display for DataWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataWarning::UnusedField { name, columns } => {
                write!(f, "data file: field '{name}'")?;
                if let [first, .., last] = columns.as_slice() {
                    write!(f, " (columns '{first}' to '{last}')")?;
                }
                write!(f, " is not declared in the data block and is ignored")
            }
        }
    }
}

impl DataWarning {
    /// A warning diagnostic spanning the data block.
    pub fn to_diagnostic(&self, decls: &[DataDecl]) -> Diagnostic {
        let span = block_span(decls);
        match self {
            DataWarning::UnusedField { name, .. } => Diagnostic::warning(self.to_string(), span)
                .with_help(format!(
                    "declare '{name}' in the data block if the model should use it; otherwise remove it from the file"
                )),
        }
    }
}

/// Reads and binds a data file, choosing JSON or CSV by its extension.
pub fn bind_file(path: &Path, decls: &[DataDecl]) -> Result<Bound, Vec<DataError>> {
    let shown = path.display().to_string();
    let format = DataFormat::from_path(path).ok_or_else(|| {
        vec![DataError::UnknownFormat {
            path: shown.clone(),
        }]
    })?;
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![DataError::Unreadable {
            path: shown,
            reason: e.to_string(),
        }]
    })?;
    bind_str(&text, format, decls)
}

/// Binds data text in the given format.
pub fn bind_str(
    text: &str,
    format: DataFormat,
    decls: &[DataDecl],
) -> Result<Bound, Vec<DataError>> {
    match format {
        DataFormat::Json => bind_json(text, decls),
        DataFormat::Csv => bind_csv(text, decls),
    }
}

/// One field as read from the file, before dimensions and values are checked.
struct Field {
    /// The value, shaped as declared.
    value: DataValue,
    /// For CSV, the 1-based file line of each row, to locate values.
    lines: Option<Vec<u64>>,
    /// False for a JSON matrix with no rows, which does not say how many columns it has.
    cols_known: bool,
}

impl Field {
    fn new(shape: Vec<usize>, values: Vec<f64>, decl: &DataDecl) -> Field {
        Field {
            value: DataValue {
                shape,
                values,
                is_int: is_int(&decl.ty),
            },
            lines: None,
            cols_known: true,
        }
    }

    /// Where element `k` (row-major) sits; `None` for a scalar.
    fn at(&self, name: &str, k: usize) -> Option<At> {
        let line = |row: usize| self.lines.as_ref().and_then(|l| l.get(row).copied());
        match self.value.shape.as_slice() {
            [] => None,
            [_] => Some(At {
                index: Index::Elem(k),
                line: line(k),
                column: None,
            }),
            [_, cols, ..] => {
                let (r, c) = (k / cols, k % cols);
                Some(At {
                    index: Index::Cell(r, c),
                    line: line(r),
                    column: self.lines.as_ref().map(|_| format!("{name}.{c}")),
                })
            }
        }
    }
}

fn is_int(ty: &DataType) -> bool {
    matches!(ty, DataType::Int | DataType::IntArray(_))
}

/// Collects element-level errors for one field, listing at most [`MAX_ERRORS_PER_FIELD`].
struct Capped<'a> {
    field: &'a str,
    out: &'a mut Vec<DataError>,
    total: usize,
}

impl<'a> Capped<'a> {
    fn new(field: &'a str, out: &'a mut Vec<DataError>) -> Capped<'a> {
        Capped {
            field,
            out,
            total: 0,
        }
    }
    fn push(&mut self, e: DataError) {
        if self.total < MAX_ERRORS_PER_FIELD {
            self.out.push(e);
        }
        self.total += 1;
    }
    /// Adds the count of unlisted errors; returns true when there were any errors at all.
    fn finish(self) -> bool {
        if self.total > MAX_ERRORS_PER_FIELD {
            self.out.push(DataError::MoreProblems {
                field: self.field.to_string(),
                more: self.total - MAX_ERRORS_PER_FIELD,
            });
        }
        self.total > 0
    }
}

// ---------------------------------------------------------------------------------------------
// JSON

/// Binds CmdStan-style JSON text to the data block.
pub fn bind_json(text: &str, decls: &[DataDecl]) -> Result<Bound, Vec<DataError>> {
    let root: Value = serde_json::from_str(text).map_err(|e| vec![json_syntax(&e)])?;
    let Value::Object(map) = root else {
        return Err(vec![DataError::JsonNotObject {
            found: describe_json(&root),
        }]);
    };
    let mut errors = Vec::new();
    let fields: Vec<Option<Field>> = decls
        .iter()
        .map(|d| match map.get(&d.name) {
            Some(v) => json_field(d, v, &mut errors),
            None => {
                errors.push(DataError::Missing {
                    field: d.name.clone(),
                    ty: d.ty.clone(),
                    format: DataFormat::Json,
                    similar: map
                        .keys()
                        .find(|k| k.eq_ignore_ascii_case(&d.name))
                        .cloned(),
                });
                None
            }
        })
        .collect();
    // Sizes written as fields (CmdStan's habit: "N": 100) are checked, not reported unused.
    let syms = size_symbols(decls);
    let warnings = map
        .keys()
        .filter(|k| find_decl(decls, k).is_none() && !syms.contains(k.as_str()))
        .map(|k| DataWarning::UnusedField {
            name: k.clone(),
            columns: Vec::new(),
        })
        .collect();
    let bound = finish(decls, fields, errors, warnings)?;
    let disagreements: Vec<DataError> = map
        .iter()
        .filter(|(k, _)| find_decl(decls, k).is_none() && syms.contains(k.as_str()))
        .filter_map(|(k, v)| {
            let actual = bound.data.dim(k)?;
            let value = v.as_f64().unwrap_or(f64::NAN);
            (value != actual as f64).then(|| DataError::SizeDisagrees {
                field: k.clone(),
                value,
                actual,
            })
        })
        .collect();
    if disagreements.is_empty() {
        Ok(bound)
    } else {
        Err(disagreements)
    }
}

/// Every dimension symbol used in the declared types.
fn size_symbols(decls: &[DataDecl]) -> std::collections::BTreeSet<&str> {
    let mut out = std::collections::BTreeSet::new();
    for d in decls {
        let dims: Vec<&Dim> = match &d.ty {
            DataType::Int | DataType::Real => vec![],
            DataType::IntArray(n) | DataType::Vector(n) => vec![n],
            DataType::Matrix(r, c) => vec![r, c],
        };
        for dim in dims {
            if let Dim::Sym(s) = dim {
                out.insert(s.as_str());
            }
        }
    }
    out
}

fn json_syntax(e: &serde_json::Error) -> DataError {
    let full = e.to_string();
    let message = match full.rsplit_once(" at line ") {
        Some((m, _)) => m.to_string(),
        None => full,
    };
    DataError::JsonSyntax {
        line: e.line(),
        column: e.column(),
        message,
    }
}

fn describe_json(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(_) => "a number".to_string(),
        Value::String(s) => format!("the string {}", quote_short(s)),
        Value::Array(items) if !items.is_empty() && items.iter().all(|i| i.is_number()) => {
            "an array of numbers".to_string()
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(|i| i.is_array()) => {
            "an array of arrays".to_string()
        }
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

/// `"abc"`, cut to 20 characters so one bad cell cannot flood the message.
fn quote_short(s: &str) -> String {
    let mut out: String = s.chars().take(20).collect();
    if s.chars().count() > 20 {
        out.push('…');
    }
    format!("{out:?}")
}

/// A JSON number, or one of the strings CmdStan writes for non-finite values.
fn json_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        // Rust's parser reads "inf", "-Infinity", "NaN" in any case; finite strings such as
        // "1.5" are rejected, as CmdStan does.
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|x| !x.is_finite()),
        _ => None,
    }
}

fn json_field(decl: &DataDecl, v: &Value, errors: &mut Vec<DataError>) -> Option<Field> {
    let name = decl.name.as_str();
    let mut errs = Capped::new(name, errors);
    let wrong = |at: Option<At>, expected: String, found: &Value| DataError::WrongShape {
        field: name.to_string(),
        at,
        expected,
        found: describe_json(found),
    };
    let elem = |i: usize| {
        Some(At {
            index: Index::Elem(i),
            line: None,
            column: None,
        })
    };
    let field = match &decl.ty {
        DataType::Int | DataType::Real => match json_number(v) {
            Some(x) => Some(Field::new(vec![], vec![x], decl)),
            None => {
                errs.push(wrong(None, format!("a number for {}", decl.ty), v));
                None
            }
        },
        DataType::IntArray(_) | DataType::Vector(_) => match v {
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_array) => {
                errs.push(wrong(
                    None,
                    format!("an array of numbers for {}", decl.ty),
                    v,
                ));
                None
            }
            Value::Array(items) => {
                let mut values = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match json_number(item) {
                        Some(x) => values.push(x),
                        None => errs.push(wrong(elem(i), "a number".to_string(), item)),
                    }
                }
                Some(Field::new(vec![values.len()], values, decl))
            }
            // CmdStan accepts a bare number for a length-1 array.
            other => match json_number(other) {
                Some(x) => Some(Field::new(vec![1], vec![x], decl)),
                None => {
                    errs.push(wrong(
                        None,
                        format!("an array of numbers for {}", decl.ty),
                        v,
                    ));
                    None
                }
            },
        },
        DataType::Matrix(..) => match v {
            Value::Array(rows) if rows.is_empty() || rows.iter().any(Value::is_array) => {
                json_matrix(decl, rows, &mut errs)
            }
            _ => {
                errs.push(wrong(None, format!("an array of rows for {}", decl.ty), v));
                None
            }
        },
    };
    let failed = errs.finish();
    field.filter(|_| !failed)
}

fn json_matrix(decl: &DataDecl, rows: &[Value], errs: &mut Capped<'_>) -> Option<Field> {
    let name = &decl.name;
    // The first row that is an array sets the column count; later rows are compared with it.
    let mut first: Option<(usize, usize)> = None;
    let mut values = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        let Value::Array(cells) = row else {
            errs.push(DataError::WrongShape {
                field: name.clone(),
                at: Some(At {
                    index: Index::Row(r),
                    line: None,
                    column: None,
                }),
                expected: "an array of numbers (one row)".to_string(),
                found: describe_json(row),
            });
            continue;
        };
        match first {
            None => first = Some((r, cells.len())),
            Some((first_row, first_len)) if cells.len() != first_len => {
                errs.push(DataError::RaggedRow {
                    field: name.clone(),
                    row: r,
                    len: cells.len(),
                    first_row,
                    first_len,
                });
                continue;
            }
            Some(_) => {}
        }
        for (c, cell) in cells.iter().enumerate() {
            match json_number(cell) {
                Some(x) => values.push(x),
                None => errs.push(DataError::WrongShape {
                    field: name.clone(),
                    at: Some(At {
                        index: Index::Cell(r, c),
                        line: None,
                        column: None,
                    }),
                    expected: "a number".to_string(),
                    found: describe_json(cell),
                }),
            }
        }
    }
    let cols = first.map_or(0, |(_, n)| n);
    let mut field = Field::new(vec![rows.len(), cols], values, decl);
    field.cols_known = first.is_some();
    Some(field)
}

// ---------------------------------------------------------------------------------------------
// CSV

/// Binds a CSV table (header row, one row per observation) to the data block.
pub fn bind_csv(text: &str, decls: &[DataDecl]) -> Result<Bound, Vec<DataError>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| vec![csv_syntax(&e)])?.clone();
    let mut rows = Vec::new();
    let mut syntax = Vec::new();
    for record in reader.records() {
        match record {
            Ok(r) => rows.push(r),
            Err(e) => syntax.push(csv_syntax(&e)),
        }
    }
    if !syntax.is_empty() {
        let more = syntax.len().saturating_sub(MAX_SYNTAX_ERRORS);
        syntax.truncate(MAX_SYNTAX_ERRORS);
        if more > 0 {
            syntax.push(DataError::MoreCsvErrors { more });
        }
        return Err(syntax);
    }
    let lines: Vec<u64> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| r.position().map_or(i as u64 + 2, |p| p.line()))
        .collect();
    let table = Table {
        header: header.iter().map(str::to_string).collect(),
        rows,
        lines,
    };

    let mut errors = Vec::new();
    // Each name maps to its first column; a repeated name is reported once.
    let mut first_index: HashMap<&str, usize> = HashMap::new();
    for (i, name) in table.header.iter().enumerate() {
        first_index.entry(name.as_str()).or_insert(i);
    }
    let mut reported = BTreeSet::new();
    for (i, name) in table.header.iter().enumerate() {
        if first_index[name.as_str()] != i && reported.insert(name.as_str()) {
            errors.push(DataError::DuplicateColumn {
                column: name.clone(),
            });
        }
    }
    let mut used = vec![false; table.header.len()];
    let fields: Vec<Option<Field>> = decls
        .iter()
        .map(|d| csv_field(d, &table, &first_index, &mut used, &mut errors))
        .collect();

    // Unused columns, grouping `z.0, z.1, …` under `z`.
    let mut groups: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    for (i, name) in table.header.iter().enumerate() {
        if used[i] {
            continue;
        }
        let (group, k) = match matrix_column(name) {
            Some((prefix, k)) => (prefix.to_string(), k),
            None => (name.clone(), 0),
        };
        groups.entry(group).or_default().push((k, name.clone()));
    }
    let mut unused: Vec<(usize, DataWarning)> = groups
        .into_iter()
        .map(|(name, mut cols)| {
            cols.sort();
            let first_col = table
                .header
                .iter()
                .position(|h| *h == cols[0].1)
                .unwrap_or(0);
            let columns = cols.into_iter().map(|(_, c)| c).collect();
            (first_col, DataWarning::UnusedField { name, columns })
        })
        .collect();
    // Warnings in the order the columns appear in the file.
    unused.sort_by_key(|(i, _)| *i);
    let warnings = unused.into_iter().map(|(_, w)| w).collect();
    finish(decls, fields, errors, warnings)
}

/// The parsed CSV: header, records, and the file line of each record.
struct Table {
    header: Vec<String>,
    rows: Vec<csv::StringRecord>,
    lines: Vec<u64>,
}

fn csv_syntax(e: &csv::Error) -> DataError {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => DataError::CsvSyntax {
            line: pos.as_ref().map(|p| p.line()),
            message: format!("this line has {len} fields, but the header has {expected_len}"),
        },
        _ => DataError::CsvSyntax {
            line: e.position().map(|p| p.line()),
            message: e.to_string(),
        },
    }
}

/// Splits `x.12` into (`x`, 12); the number must be written canonically (no sign, no leading 0).
fn matrix_column(name: &str) -> Option<(&str, usize)> {
    let (prefix, k) = name.split_once('.')?;
    let canonical =
        !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) && (k == "0" || !k.starts_with('0'));
    if prefix.is_empty() || !canonical {
        return None;
    }
    Some((prefix, k.parse().ok()?))
}

/// A CSV cell as a number, or a description of what is there instead.
fn csv_number(cell: &str) -> Result<f64, String> {
    if cell.is_empty() {
        return Err("an empty cell".to_string());
    }
    // Rust's parser also reads "inf", "-inf", "NaN" (any case); those then fail the finiteness
    // check with their index.
    cell.parse::<f64>()
        .map_err(|_| format!("the text {}", quote_short(cell)))
}

fn csv_field(
    decl: &DataDecl,
    table: &Table,
    columns: &HashMap<&str, usize>,
    used: &mut [bool],
    errors: &mut Vec<DataError>,
) -> Option<Field> {
    let name = decl.name.as_str();
    let missing = |errors: &mut Vec<DataError>| {
        errors.push(DataError::Missing {
            field: name.to_string(),
            ty: decl.ty.clone(),
            format: DataFormat::Csv,
            similar: table
                .header
                .iter()
                .find(|h| h.eq_ignore_ascii_case(name) && h.as_str() != name)
                .cloned(),
        });
        None
    };
    // Matrix columns `name.k`, by k.
    let mut matrix_cols: Vec<(usize, usize)> = table
        .header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| match matrix_column(h) {
            Some((p, k)) if p == name && columns.get(h.as_str()) == Some(&i) => Some((k, i)),
            _ => None,
        })
        .collect();
    matrix_cols.sort();
    let plain = columns.get(name).copied();

    match &decl.ty {
        DataType::Int | DataType::Real => {
            let Some(col) = plain else {
                return missing(errors);
            };
            used[col] = true;
            if table.rows.is_empty() {
                return missing(errors);
            }
            let mut errs = Capped::new(name, errors);
            let values = csv_cells(name, table, col, None, &mut errs);
            if errs.finish() {
                return None;
            }
            let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
            if let Some(k) = values.iter().position(|&v| !same(v, values[0])) {
                errors.push(DataError::ScalarColumnVaries {
                    field: name.to_string(),
                    first: values[0],
                    first_line: table.lines[0],
                    value: values[k],
                    line: table.lines[k],
                });
                return None;
            }
            Some(Field::new(vec![], vec![values[0]], decl))
        }
        DataType::IntArray(_) | DataType::Vector(_) => {
            let Some(col) = plain else {
                if matrix_cols.is_empty() {
                    return missing(errors);
                }
                for &(_, i) in &matrix_cols {
                    used[i] = true;
                }
                errors.push(DataError::WrongShape {
                    field: name.to_string(),
                    at: None,
                    expected: format!("a column '{name}' for {}", decl.ty),
                    found: format!("matrix columns '{name}.0', …"),
                });
                return None;
            };
            used[col] = true;
            let mut errs = Capped::new(name, errors);
            let values = csv_cells(name, table, col, None, &mut errs);
            if errs.finish() {
                return None;
            }
            let mut field = Field::new(vec![values.len()], values, decl);
            field.lines = Some(table.lines.clone());
            Some(field)
        }
        DataType::Matrix(..) => {
            if matrix_cols.is_empty() {
                let Some(col) = plain else {
                    return missing(errors);
                };
                used[col] = true;
                errors.push(DataError::WrongShape {
                    field: name.to_string(),
                    at: None,
                    expected: format!("columns '{name}.0', '{name}.1', … for {}", decl.ty),
                    found: format!("a single column '{name}'"),
                });
                return None;
            }
            for &(_, i) in &matrix_cols {
                used[i] = true;
            }
            let highest = matrix_cols.last().map_or(0, |&(k, _)| k);
            if let Some(gap) =
                (0..=highest).find(|k| matrix_cols.binary_search_by_key(k, |&(k, _)| k).is_err())
            {
                errors.push(DataError::MatrixColumnGap {
                    field: name.to_string(),
                    missing: gap,
                    highest,
                });
                return None;
            }
            let ncols = matrix_cols.len();
            let nrows = table.rows.len();
            let mut values = vec![0.0; nrows * ncols];
            let mut errs = Capped::new(name, errors);
            for &(c, i) in &matrix_cols {
                let col = csv_cells(name, table, i, Some(c), &mut errs);
                for (r, x) in col.into_iter().enumerate() {
                    values[r * ncols + c] = x;
                }
            }
            if errs.finish() {
                return None;
            }
            let mut field = Field::new(vec![nrows, ncols], values, decl);
            field.lines = Some(table.lines.clone());
            Some(field)
        }
    }
}

/// The numbers of CSV column `col`; `matrix_col` is the matrix column it holds, if any. A cell
/// that is not a number is reported and read as 0 (the field is then discarded).
fn csv_cells(
    name: &str,
    table: &Table,
    col: usize,
    matrix_col: Option<usize>,
    errs: &mut Capped<'_>,
) -> Vec<f64> {
    table
        .rows
        .iter()
        .enumerate()
        .map(|(r, row)| {
            let cell = row.get(col).unwrap_or("");
            csv_number(cell).unwrap_or_else(|found| {
                let index = match matrix_col {
                    Some(c) => Index::Cell(r, c),
                    None => Index::Elem(r),
                };
                errs.push(DataError::WrongShape {
                    field: name.to_string(),
                    at: Some(At {
                        index,
                        line: Some(table.lines[r]),
                        column: matrix_col.map(|_| table.header[col].clone()),
                    }),
                    expected: "a number".to_string(),
                    found,
                });
                0.0
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Dimensions and values, shared by both formats

fn finish(
    decls: &[DataDecl],
    fields: Vec<Option<Field>>,
    mut errors: Vec<DataError>,
    warnings: Vec<DataWarning>,
) -> Result<Bound, Vec<DataError>> {
    let dims = bind_dims(decls, &fields, &mut errors);
    for (decl, field) in decls.iter().zip(&fields) {
        if let Some(field) = field {
            check_values(decl, field, decls, &fields, &dims, &mut errors);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let fields = decls
        .iter()
        .zip(fields)
        .filter_map(|(d, f)| f.map(|f| (d.name.clone(), f.value)))
        .collect();
    Ok(Bound {
        data: BoundData { fields, dims },
        warnings,
    })
}

/// The symbols in a type, with the role each sizes and the field's size there.
fn sizes<'a>(ty: &'a DataType, field: &Field) -> Vec<(DimRole, &'a Dim, usize)> {
    let shape = &field.value.shape;
    match ty {
        DataType::Int | DataType::Real => vec![],
        DataType::IntArray(n) | DataType::Vector(n) => vec![(DimRole::Length, n, shape[0])],
        DataType::Matrix(r, c) => {
            let mut out = vec![(DimRole::Rows, r, shape[0])];
            if field.cols_known {
                out.push((DimRole::Columns, c, shape[1]));
            }
            out
        }
    }
}

fn type_syms(ty: &DataType) -> Vec<&str> {
    let dims: Vec<&Dim> = match ty {
        DataType::Int | DataType::Real => vec![],
        DataType::IntArray(n) | DataType::Vector(n) => vec![n],
        DataType::Matrix(r, c) => vec![r, c],
    };
    dims.into_iter()
        .filter_map(|d| match d {
            Dim::Sym(s) => Some(s.as_str()),
            Dim::Lit(_) => None,
        })
        .collect()
}

fn range_sym(decl: &DataDecl) -> Option<&str> {
    match decl.int_range.as_ref()?.max.as_ref()? {
        RangeMax::BelowDim(s) => Some(s),
        RangeMax::Lit(_) | RangeMax::AtMostField(_) => None,
    }
}

fn bind_dims(
    decls: &[DataDecl],
    fields: &[Option<Field>],
    errors: &mut Vec<DataError>,
) -> BTreeMap<String, usize> {
    let mut syms: BTreeSet<&str> = BTreeSet::new();
    for d in decls {
        syms.extend(type_syms(&d.ty));
        syms.extend(range_sym(d));
    }
    let mut bound: BTreeMap<String, (usize, DimSource)> = BTreeMap::new();

    // Scalar fields first: `K: int` is authoritative for every use of K.
    for (d, f) in decls.iter().zip(fields) {
        let Some(x) = f.as_ref().and_then(|f| f.value.scalar()) else {
            continue;
        };
        let whole = x.fract() == 0.0;
        let is_sym = syms.contains(d.name.as_str());
        if x.is_finite() && whole && x >= 0.0 {
            if is_sym || d.ty == DataType::Int {
                let src = DimSource {
                    field: d.name.clone(),
                    role: DimRole::Value,
                };
                bound.insert(d.name.clone(), (x as usize, src));
            }
        } else if is_sym && x.is_finite() && (whole || d.ty != DataType::Int) {
            // A fractional int is already reported as NotInteger, a non-finite one as NotFinite.
            errors.push(DataError::BadDimValue {
                field: d.name.clone(),
                value: x,
            });
        }
    }

    // Then shapes, in declaration order: the first use of a symbol binds it.
    for (d, f) in decls.iter().zip(fields) {
        let Some(f) = f else { continue };
        for (role, dim, found) in sizes(&d.ty, f) {
            let (expected, from) = match dim {
                Dim::Lit(n) => (*n, None),
                Dim::Sym(s) => match bound.get(s) {
                    Some((n, src)) => (*n, Some(src.clone())),
                    None => {
                        let src = DimSource {
                            field: d.name.clone(),
                            role,
                        };
                        bound.insert(s.clone(), (found, src));
                        continue;
                    }
                },
            };
            if found != expected {
                errors.push(DataError::DimMismatch {
                    field: d.name.clone(),
                    ty: d.ty.clone(),
                    role,
                    found,
                    dim: dim.clone(),
                    expected,
                    from,
                });
            }
        }
    }

    // Symbols still unbound. When a field that would bind one is missing or malformed, that
    // error already explains it; report only symbols that nothing present could bind.
    for sym in syms {
        if bound.contains_key(sym) || find_decl(decls, sym).is_some() {
            continue;
        }
        let users: Vec<(&DataDecl, &Option<Field>)> = decls
            .iter()
            .zip(fields)
            .filter(|(d, _)| type_syms(&d.ty).contains(&sym))
            .collect();
        if users.iter().any(|(_, f)| f.is_none()) {
            continue;
        }
        // Either every user is a matrix without rows, or the symbol appears only in a range.
        let field = match users.first() {
            Some((d, _)) => &d.name,
            None => match decls.iter().find(|d| range_sym(d) == Some(sym)) {
                Some(d) => &d.name,
                None => continue,
            },
        };
        errors.push(DataError::UnboundDim {
            field: field.clone(),
            sym: sym.to_string(),
        });
    }
    bound.into_iter().map(|(s, (n, _))| (s, n)).collect()
}

/// `text` with the first whole-word `word` replaced by `replacement`, or `None` if absent.
fn replace_word(text: &str, word: &str, replacement: &str) -> Option<String> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(pos) = text[from..].find(word) {
        let start = from + pos;
        let end = start + word.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            return Some(format!("{}{replacement}{}", &text[..start], &text[end..]));
        }
        from = end;
    }
    None
}

/// An element's name in the user's terms: `n[5]`, `n[3, 1]`, or `n` for a scalar.
fn user_element(name: &str, at: Option<&At>) -> String {
    match at.map(|a| a.index) {
        Some(Index::Elem(i)) | Some(Index::Row(i)) => format!("{name}[{i}]"),
        Some(Index::Cell(r, c)) => format!("{name}[{r}, {c}]"),
        None => name.to_string(),
    }
}

/// The usage range of one field, resolved against the bound dimensions.
enum Range<'a> {
    /// No usage range, or its bound is unknown because of another error.
    None,
    Between {
        min: i64,
        max: i64,
        reason: String,
        dim: Option<(String, usize)>,
    },
    AtLeast {
        min: i64,
        reason: &'a str,
    },
    AtMostField {
        min: i64,
        other: &'a str,
        limit: &'a Field,
        reason: &'a str,
    },
}

fn resolve_range<'a>(
    decl: &'a DataDecl,
    field: &Field,
    decls: &'a [DataDecl],
    fields: &'a [Option<Field>],
    dims: &BTreeMap<String, usize>,
) -> Range<'a> {
    let Some(r) = &decl.int_range else {
        return Range::None;
    };
    let (min, reason) = (r.min, r.reason.as_str());
    match &r.max {
        None => Range::AtLeast { min, reason },
        Some(RangeMax::Lit(max)) => Range::Between {
            min,
            max: *max,
            reason: reason.to_string(),
            dim: None,
        },
        Some(RangeMax::BelowDim(sym)) => match dims.get(sym) {
            Some(&size) => {
                // "labels of categorical_logit with K classes" → "… with K = 3 classes".
                let with_value = format!("{sym} = {size}");
                let reason = replace_word(reason, sym, &with_value)
                    .unwrap_or_else(|| format!("{reason}; {with_value}"));
                Range::Between {
                    min,
                    max: size as i64 - 1,
                    reason,
                    dim: Some((sym.clone(), size)),
                }
            }
            None => Range::AtLeast { min, reason },
        },
        Some(RangeMax::AtMostField(other)) => {
            let limit = decls
                .iter()
                .zip(fields)
                .find(|(d, _)| &d.name == other)
                .and_then(|(_, f)| f.as_ref())
                .filter(|f| f.value.shape.is_empty() || f.value.shape == field.value.shape);
            match limit {
                Some(limit) => Range::AtMostField {
                    min,
                    other,
                    limit,
                    reason,
                },
                None => Range::AtLeast { min, reason },
            }
        }
    }
}

fn check_values(
    decl: &DataDecl,
    field: &Field,
    decls: &[DataDecl],
    fields: &[Option<Field>],
    dims: &BTreeMap<String, usize>,
    errors: &mut Vec<DataError>,
) {
    let name = decl.name.as_str();
    let range = resolve_range(decl, field, decls, fields, dims);
    let mut errs = Capped::new(name, errors);
    for (k, &value) in field.value.values.iter().enumerate() {
        let at = || field.at(name, k);
        let out_of_range = |limit: Limit| DataError::OutOfRange {
            field: name.to_string(),
            at: at(),
            value,
            limit,
        };
        if !value.is_finite() {
            errs.push(DataError::NotFinite {
                field: name.to_string(),
                at: at(),
                value,
            });
        } else if field.value.is_int && value.fract() != 0.0 {
            errs.push(DataError::NotInteger {
                field: name.to_string(),
                at: at(),
                value,
                ty: decl.ty.clone(),
            });
        } else if let Some(lo) = decl.lower.filter(|&lo| value < lo) {
            errs.push(out_of_range(Limit::Lower(lo)));
        } else if let Some(hi) = decl.upper.filter(|&hi| value > hi) {
            errs.push(out_of_range(Limit::Upper(hi)));
        } else {
            match &range {
                Range::None => {}
                Range::Between {
                    min,
                    max,
                    reason,
                    dim,
                } => {
                    if value < *min as f64 || value > *max as f64 {
                        errs.push(out_of_range(Limit::Between {
                            min: *min,
                            max: *max,
                            reason: reason.clone(),
                            dim: dim.clone(),
                        }));
                    }
                }
                Range::AtLeast { min, reason } | Range::AtMostField { min, reason, .. }
                    if value < *min as f64 =>
                {
                    errs.push(out_of_range(Limit::AtLeast {
                        min: *min,
                        reason: reason.to_string(),
                    }));
                }
                Range::AtLeast { .. } => {}
                Range::AtMostField {
                    other,
                    limit,
                    reason,
                    ..
                } => {
                    // A scalar limit applies to every element; otherwise the same index.
                    let (j, limit_at) = match limit.value.scalar() {
                        Some(_) => (0, None),
                        None => (k, limit.at(other, k)),
                    };
                    let bound = limit.value.values[j];
                    if value > bound {
                        errs.push(out_of_range(Limit::AtMostField {
                            other: other.to_string(),
                            other_at: user_element(other, limit_at.as_ref()),
                            limit: bound,
                            reason: reason.to_string(),
                        }));
                    }
                }
            }
        }
    }
    errs.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only_are_replaced() {
        // "K" inside "Kappa" is not the symbol K.
        assert_eq!(
            replace_word("Kappa with K classes", "K", "K = 3").as_deref(),
            Some("Kappa with K = 3 classes")
        );
        assert_eq!(replace_word("no symbol", "K", "K = 3"), None);
    }

    #[test]
    fn matrix_columns_must_be_canonical() {
        assert_eq!(matrix_column("x.0"), Some(("x", 0)));
        assert_eq!(matrix_column("x.12"), Some(("x", 12)));
        assert_eq!(matrix_column("x.01"), None);
        assert_eq!(matrix_column("x."), None);
        assert_eq!(matrix_column("x.a"), None);
        assert_eq!(matrix_column(".1"), None);
    }
}
