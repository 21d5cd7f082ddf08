//! The JSON reader: CmdStan-style JSON text to fields, then bound by the shared binding.

use super::bind::{finish, Capped, Field};
use super::messages::{json_syntax, Expected, Found};
use super::tokens::quote_bare_tokens;
use super::{find_decl, At, Bound, DataError, DataFormat, DataWarning, Index};
use crate::ir::{DataDecl, DataType, Dim};
use serde_json::Value;
use std::collections::BTreeSet;

/// Binds CmdStan-style JSON text to the data block.
pub fn bind_json(text: &str, decls: &[DataDecl]) -> Result<Bound, Vec<DataError>> {
    let quoted = quote_bare_tokens(text);
    let root: Value = serde_json::from_str(&quoted.text).map_err(|e| {
        let (line, column) = quoted.original_position(text, e.line(), e.column());
        vec![json_syntax(&e, line, column)]
    })?;
    let Value::Object(map) = root else {
        return Err(vec![DataError::JsonNotObject {
            found: Found::Json(&root).to_string(),
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
    // Sizes written as fields (CmdStan's habit: "N": 100) are checked, not reported unused:
    // each must be a finite number here, and agree with the shapes once they are bound.
    let syms = size_symbols(decls);
    let sizes: Vec<(&String, &Value)> = map
        .iter()
        .filter(|(k, _)| find_decl(decls, k).is_none() && syms.contains(k.as_str()))
        .collect();
    let mut size_values = Vec::with_capacity(sizes.len());
    for (k, v) in sizes {
        match json_number(v) {
            Some(value) if value.is_finite() => size_values.push((k, value)),
            Some(value) => errors.push(DataError::NotFinite {
                field: k.clone(),
                at: None,
                value,
            }),
            None => errors.push(DataError::WrongShape {
                field: k.clone(),
                at: None,
                expected: Expected::Number.to_string(),
                found: Found::Json(v).to_string(),
            }),
        }
    }
    let warnings = map
        .keys()
        .filter(|k| find_decl(decls, k).is_none() && !syms.contains(k.as_str()))
        .map(|k| DataWarning::UnusedField {
            name: k.clone(),
            columns: Vec::new(),
        })
        .collect();
    let bound = finish(decls, fields, errors, warnings)?;
    let disagreements: Vec<DataError> = size_values
        .into_iter()
        .filter_map(|(k, value)| {
            let actual = bound.data.dim(k)?;
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
fn size_symbols(decls: &[DataDecl]) -> BTreeSet<&str> {
    let mut out = BTreeSet::new();
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

/// A JSON number, or one of the strings CmdStan writes for non-finite values (which bare
/// `NaN`, `Infinity`, … have become by now, see [`super::tokens`]).
pub(super) fn json_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => non_finite_string(s),
        _ => None,
    }
}

/// The value of a string CmdStan reads as a non-finite number. Rust's parser reads "inf",
/// "-Infinity", "NaN" in any case; finite strings such as "1.5" are rejected, as CmdStan does.
fn non_finite_string(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|x| !x.is_finite())
}

/// One field from its JSON value, or `None` (with its errors pushed) when it cannot be read.
fn json_field(decl: &DataDecl, v: &Value, errors: &mut Vec<DataError>) -> Option<Field> {
    let name = decl.name.as_str();
    let mut errs = Capped::new(name, errors);
    let wrong = |at: Option<At>, expected: Expected, found: &Value| DataError::WrongShape {
        field: name.to_string(),
        at,
        expected: expected.to_string(),
        found: Found::Json(found).to_string(),
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
                errs.push(wrong(None, Expected::NumberFor(&decl.ty), v));
                None
            }
        },
        DataType::IntArray(_) | DataType::Vector(_) => match v {
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_array) => {
                errs.push(wrong(None, Expected::NumbersFor(&decl.ty), v));
                None
            }
            Value::Array(items) => {
                let mut values = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match json_number(item) {
                        Some(x) => values.push(x),
                        None => errs.push(wrong(elem(i), Expected::Number, item)),
                    }
                }
                Some(Field::new(vec![values.len()], values, decl))
            }
            // CmdStan accepts a bare number for a length-1 array.
            other => match json_number(other) {
                Some(x) => Some(Field::new(vec![1], vec![x], decl)),
                None => {
                    errs.push(wrong(None, Expected::NumbersFor(&decl.ty), v));
                    None
                }
            },
        },
        DataType::Matrix(..) => match v {
            Value::Array(rows) if rows.is_empty() || rows.iter().any(Value::is_array) => {
                json_matrix(decl, rows, &mut errs)
            }
            _ => {
                errs.push(wrong(None, Expected::RowsFor(&decl.ty), v));
                None
            }
        },
    };
    let failed = errs.finish();
    field.filter(|_| !failed)
}

/// A matrix from its JSON array of rows; rows that are not arrays or are ragged are reported.
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
                expected: Expected::Row.to_string(),
                found: Found::Json(row).to_string(),
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
                    expected: Expected::Number.to_string(),
                    found: Found::Json(cell).to_string(),
                }),
            }
        }
    }
    let cols = first.map_or(0, |(_, n)| n);
    let mut field = Field::new(vec![rows.len(), cols], values, decl);
    field.cols_known = first.is_some();
    Some(field)
}
