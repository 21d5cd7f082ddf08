//! The CSV reader: a table with a header row to fields, then bound by the shared binding.

use super::bind::{finish, Capped, Field};
use super::messages::{csv_syntax, Expected, Found};
use super::{At, Bound, DataError, DataFormat, DataWarning, Index};
use crate::ir::{DataDecl, DataType};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// At most this many CSV syntax errors (bad lines) are listed; the rest are counted.
const MAX_SYNTAX_ERRORS: usize = 10;

/// Binds a CSV table (header row, one row per observation) to the data block.
pub fn bind_csv(text: &str, decls: &[DataDecl]) -> Result<Bound, Vec<DataError>> {
    let mut reader = ::csv::ReaderBuilder::new()
        .trim(::csv::Trim::All)
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
    rows: Vec<::csv::StringRecord>,
    lines: Vec<u64>,
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

/// A CSV cell as a number, `None` when it is empty or not a number.
fn csv_number(cell: &str) -> Option<f64> {
    // Rust's parser also reads "inf", "-inf", "NaN" (any case); those then fail the finiteness
    // check with their index.
    cell.parse::<f64>().ok()
}

/// One field from its column or columns, marking them used, or `None` (with its errors
/// pushed) when it cannot be read.
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
                    expected: Expected::Column(name, &decl.ty).to_string(),
                    found: Found::MatrixColumns(name).to_string(),
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
                    expected: Expected::MatrixColumns(name, &decl.ty).to_string(),
                    found: Found::SingleColumn(name).to_string(),
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
            csv_number(cell).unwrap_or_else(|| {
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
                    expected: Expected::Number.to_string(),
                    found: Found::Cell(cell).to_string(),
                });
                0.0
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
