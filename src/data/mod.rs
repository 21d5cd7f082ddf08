//! Data binding: reads a JSON or CSV data file against the model's data block, binds the dimension symbols and checks every value.
//!
//! # Formats
//!
//! - **JSON**, in CmdStan's layout: one object with an entry per field. A scalar is a number; a
//!   vector or `int[N]` is an array of numbers (a bare number is accepted as a length-1 array, as
//!   CmdStan does); a matrix is an array of rows. The tokens CmdStan reads for non-finite values,
//!   bare (`NaN`, `Inf`, `Infinity`, `-Inf`, `-Infinity`, as Python's `json.dump` writes them) or
//!   as strings (`"inf"`, `"-inf"`, `"Infinity"`, `"NaN"`, any case), are read as numbers in
//!   every place a number can stand, so that they fail the finiteness check with a message naming
//!   the element, rather than a confusing syntax or type error. A syntax error is located in the
//!   data file (line and column in characters), not in the model.
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
//! holds every symbol used in a type or in an [`IntRange`](crate::ir::IntRange), plus every
//! `int` scalar field whose value is a valid size, since the model may use such a field as a
//! width (`dense(K)`).
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
//!
//! # Layout
//!
//! `json` and `csv` read a file into fields (`tokens` quotes bare non-finite tokens for
//! `json`), `bind` binds their dimensions and checks their values for both, and `messages` holds
//! the wording of every error and warning, including the phrases the readers put into them.

mod bind;
mod csv;
mod json;
mod messages;
mod tokens;

pub use self::csv::bind_csv;
pub use self::json::bind_json;
pub use self::messages::{At, DataError, DataWarning, DimRole, DimSource, Index, Limit};

use crate::ir::DataDecl;
use crate::source::SourceFile;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// At most this many element-level errors are listed per field; the rest are counted.
pub const MAX_ERRORS_PER_FIELD: usize = 10;

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

    /// A fingerprint of the data: 16 hex digits of a 64-bit FNV-1a hash over every field's
    /// name, kind, shape and values (their bits), and every dimension's name and size, in name
    /// order. Runs write it in their configuration lines so that chains run on different data
    /// are not merged; it is stable across platforms and versions, not a cryptographic hash.
    pub fn fingerprint(&self) -> String {
        let mut h = Fnv1a::default();
        for (field, v) in &self.fields {
            h.text(field);
            h.word(u64::from(v.is_int));
            h.word(v.shape.len() as u64);
            for &n in &v.shape {
                h.word(n as u64);
            }
            for x in &v.values {
                h.word(x.to_bits());
            }
        }
        for (sym, &n) in &self.dims {
            h.text(sym);
            h.word(n as u64);
        }
        format!("{:016x}", h.0)
    }
}

/// A fingerprint of a text (a model's source): 16 hex digits of its 64-bit FNV-1a hash, as
/// [`BoundData::fingerprint`] makes for data.
pub fn text_fingerprint(text: &str) -> String {
    let mut h = Fnv1a::default();
    h.text(text);
    format!("{:016x}", h.0)
}

/// The 64-bit FNV-1a hash (Fowler, Noll, Vo), fed little-endian words and length-prefixed text.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Fnv1a {
        // FNV-1a's 64-bit offset basis.
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            // FNV-1a's 64-bit prime.
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn word(&mut self, w: u64) {
        self.bytes(&w.to_le_bytes());
    }
    fn text(&mut self, s: &str) {
        self.word(s.len() as u64);
        self.bytes(s.as_bytes());
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

/// A data file as read: its path and text (to show a syntax error in it) and its format.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// The path as given, and the whole text.
    pub source: SourceFile,
    /// JSON or CSV, by the extension.
    pub format: DataFormat,
}

impl DataFile {
    /// Reads a data file, choosing JSON or CSV by its extension.
    pub fn read(path: &Path) -> Result<DataFile, Vec<DataError>> {
        let shown = path.display().to_string();
        let format = DataFormat::from_path(path).ok_or_else(|| {
            vec![DataError::UnknownFormat {
                path: shown.clone(),
            }]
        })?;
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![DataError::Unreadable {
                path: shown.clone(),
                reason: e.to_string(),
            }]
        })?;
        Ok(DataFile {
            source: SourceFile::new(shown, text),
            format,
        })
    }

    /// Data given as text in `format`, shown as `<data>` where an error points into it.
    pub fn from_text(text: &str, format: DataFormat) -> DataFile {
        DataFile {
            source: SourceFile::new("<data>", text),
            format,
        }
    }

    /// Binds the file's text to the data block.
    pub fn bind(&self, decls: &[DataDecl]) -> Result<Bound, Vec<DataError>> {
        bind_str(&self.source.text, self.format, decls)
    }
}

/// Reads and binds a data file, choosing JSON or CSV by its extension.
pub fn bind_file(path: &Path, decls: &[DataDecl]) -> Result<Bound, Vec<DataError>> {
    DataFile::read(path)?.bind(decls)
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

/// The declaration of the field called `name`.
fn find_decl<'a>(decls: &'a [DataDecl], name: &str) -> Option<&'a DataDecl> {
    decls.iter().find(|d| d.name == name)
}
