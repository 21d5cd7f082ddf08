//! The wording of every data error and warning: the types that carry them, their one-line Displays, their diagnostics and help texts, and the phrases the readers put into them.

use super::json::json_number;
use super::{find_decl, DataFormat, MAX_ERRORS_PER_FIELD};
use crate::diagnostic::Diagnostic;
use crate::ir::{DataDecl, DataType, Dim};
use crate::source::{SourceFile, Span};
use serde_json::Value;
use std::fmt;

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
        /// 1-based column in the data file, in characters.
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

    /// A diagnostic located in the data file itself, for errors that have a place there (a
    /// JSON syntax error); `None` for the rest, which belong to a field of the data block.
    pub fn to_file_diagnostic(&self, file: &SourceFile) -> Option<Diagnostic> {
        match self {
            DataError::JsonSyntax { line, column, .. } => {
                let at = file.offset(*line, *column);
                let diag = Diagnostic::error(self.to_string(), Span::new(at, at + 1));
                Some(match self.help(&[]) {
                    Some(h) => diag.with_help(h),
                    None => diag,
                })
            }
            DataError::Unreadable { .. }
            | DataError::UnknownFormat { .. }
            | DataError::JsonNotObject { .. }
            | DataError::CsvSyntax { .. }
            | DataError::MoreCsvErrors { .. }
            | DataError::DuplicateColumn { .. }
            | DataError::Missing { .. }
            | DataError::WrongShape { .. }
            | DataError::RaggedRow { .. }
            | DataError::MatrixColumnGap { .. }
            | DataError::ScalarColumnVaries { .. }
            | DataError::NotFinite { .. }
            | DataError::NotInteger { .. }
            | DataError::OutOfRange { .. }
            | DataError::DimMismatch { .. }
            | DataError::BadDimValue { .. }
            | DataError::SizeDisagrees { .. }
            | DataError::UnboundDim { .. }
            | DataError::MoreProblems { .. } => None,
        }
    }

    fn help(&self, decls: &[DataDecl]) -> Option<String> {
        let help = match self {
            DataError::Unreadable { .. } => "check the path, or pass the data file with --data FILE".to_string(),
            DataError::UnknownFormat { .. } => {
                "write the data as CmdStan-style JSON (.json) or as a CSV table with a header row (.csv)".to_string()
            }
            DataError::JsonSyntax { .. } => {
                "the data file must be valid JSON; non-finite values may be written NaN, Infinity and -Infinity, bare or as strings".to_string()
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

// ---------------------------------------------------------------------------------------------
// Phrases the readers and the binding put into errors

/// What a field or element should hold, for [`DataError::WrongShape`]'s `expected`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Expected<'a> {
    /// One number: an element or a cell.
    Number,
    /// A number, for a scalar of this type.
    NumberFor(&'a DataType),
    /// An array of numbers, for a vector or int array of this type.
    NumbersFor(&'a DataType),
    /// An array of rows, for a matrix of this type.
    RowsFor(&'a DataType),
    /// One row of a JSON matrix.
    Row,
    /// The CSV column of this name, for a vector or int array of this type.
    Column(&'a str, &'a DataType),
    /// The CSV columns `name.0, name.1, …`, for a matrix of this type.
    MatrixColumns(&'a str, &'a DataType),
}

impl fmt::Display for Expected<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Number => write!(f, "a number"),
            Expected::NumberFor(ty) => write!(f, "a number for {ty}"),
            Expected::NumbersFor(ty) => write!(f, "an array of numbers for {ty}"),
            Expected::RowsFor(ty) => write!(f, "an array of rows for {ty}"),
            Expected::Row => write!(f, "an array of numbers (one row)"),
            Expected::Column(name, ty) => write!(f, "a column '{name}' for {ty}"),
            Expected::MatrixColumns(name, ty) => {
                write!(f, "columns '{name}.0', '{name}.1', … for {ty}")
            }
        }
    }
}

/// What a field or element holds instead, for [`DataError::WrongShape`]'s `found`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Found<'a> {
    /// A JSON value, described by its kind.
    Json(&'a Value),
    /// A CSV cell that is not a number (it may be empty).
    Cell(&'a str),
    /// The CSV matrix columns `name.0, …` where one column was expected.
    MatrixColumns(&'a str),
    /// The single CSV column `name` where matrix columns were expected.
    SingleColumn(&'a str),
}

impl fmt::Display for Found<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Json(v) => f.write_str(&describe_json(v)),
            Found::Cell("") => write!(f, "an empty cell"),
            Found::Cell(text) => write!(f, "the text {}", quote_short(text)),
            Found::MatrixColumns(name) => write!(f, "matrix columns '{name}.0', …"),
            Found::SingleColumn(name) => write!(f, "a single column '{name}'"),
        }
    }
}

/// A JSON value by its kind: `a number`, `the string "abc"`, `an array of arrays`. The
/// non-finite tokens the reader takes as numbers (`NaN`, `"-inf"`) are numbers here too.
fn describe_json(v: &Value) -> String {
    let is_number = |v: &Value| json_number(v).is_some();
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(_) => "a number".to_string(),
        Value::String(_) if is_number(v) => "a number".to_string(),
        Value::String(s) => format!("the string {}", quote_short(s)),
        Value::Array(items) if !items.is_empty() && items.iter().all(is_number) => {
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

/// A JSON parse error in our words: serde_json's message, its location (given as a line and a
/// column in characters of the file as written) moved into the fields.
pub(super) fn json_syntax(e: &serde_json::Error, line: usize, column: usize) -> DataError {
    let full = e.to_string();
    let message = match full.rsplit_once(" at line ") {
        Some((m, _)) => m.to_string(),
        None => full,
    };
    DataError::JsonSyntax {
        line,
        column,
        message,
    }
}

/// A CSV parse error in our words; a line of the wrong length says both lengths.
pub(super) fn csv_syntax(e: &::csv::Error) -> DataError {
    match e.kind() {
        ::csv::ErrorKind::UnequalLengths {
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

/// A usage range's reason with the symbol's size filled in: "labels of categorical_logit with
/// K classes" → "… with K = 3 classes", or "…; K = 3" when the reason does not name the symbol.
pub(super) fn reason_with_size(reason: &str, sym: &str, size: usize) -> String {
    let with_value = format!("{sym} = {size}");
    replace_word(reason, sym, &with_value).unwrap_or_else(|| format!("{reason}; {with_value}"))
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
pub(super) fn user_element(name: &str, at: Option<&At>) -> String {
    match at.map(|a| a.index) {
        Some(Index::Elem(i)) | Some(Index::Row(i)) => format!("{name}[{i}]"),
        Some(Index::Cell(r, c)) => format!("{name}[{r}, {c}]"),
        None => name.to_string(),
    }
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
}
