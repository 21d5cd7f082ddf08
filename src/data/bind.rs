//! Binding shared by both readers: the fields as read, the dimension symbols bound from their shapes, and every value checked against its type, bounds and usage range.

use super::messages::{reason_with_size, user_element};
use super::{
    find_decl, At, Bound, BoundData, DataError, DataValue, DataWarning, DimRole, DimSource, Index,
    Limit, MAX_ERRORS_PER_FIELD,
};
use crate::ir::{DataDecl, DataType, Dim, RangeMax};
use std::collections::{BTreeMap, BTreeSet};

/// One field as read from the file, before dimensions and values are checked.
pub(super) struct Field {
    /// The value, shaped as declared.
    pub(super) value: DataValue,
    /// For CSV, the 1-based file line of each row, to locate values.
    pub(super) lines: Option<Vec<u64>>,
    /// False for a JSON matrix with no rows, which does not say how many columns it has.
    pub(super) cols_known: bool,
}

impl Field {
    /// A field of `decl`'s kind with these sizes and row-major values, lines unknown.
    pub(super) fn new(shape: Vec<usize>, values: Vec<f64>, decl: &DataDecl) -> Field {
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
    pub(super) fn at(&self, name: &str, k: usize) -> Option<At> {
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

/// True for `int` and `int[N]`, whose values must be whole.
fn is_int(ty: &DataType) -> bool {
    matches!(ty, DataType::Int | DataType::IntArray(_))
}

/// Collects element-level errors for one field, listing at most [`MAX_ERRORS_PER_FIELD`].
pub(super) struct Capped<'a> {
    field: &'a str,
    out: &'a mut Vec<DataError>,
    total: usize,
}

impl<'a> Capped<'a> {
    /// Collects into `out` for `field`.
    pub(super) fn new(field: &'a str, out: &'a mut Vec<DataError>) -> Capped<'a> {
        Capped {
            field,
            out,
            total: 0,
        }
    }
    /// Lists `e` while fewer than [`MAX_ERRORS_PER_FIELD`] are listed, and counts it.
    pub(super) fn push(&mut self, e: DataError) {
        if self.total < MAX_ERRORS_PER_FIELD {
            self.out.push(e);
        }
        self.total += 1;
    }
    /// Adds the count of unlisted errors; returns true when there were any errors at all.
    pub(super) fn finish(self) -> bool {
        if self.total > MAX_ERRORS_PER_FIELD {
            self.out.push(DataError::MoreProblems {
                field: self.field.to_string(),
                more: self.total - MAX_ERRORS_PER_FIELD,
            });
        }
        self.total > 0
    }
}

/// Binds the dimensions of the fields read and checks their values, then either every error
/// found (the readers' `errors` first) or the bound data with the readers' `warnings`.
pub(super) fn finish(
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

/// The dimension symbols written in a type, in order.
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

/// The symbol an `int` field's usage range is bounded by (`0..K-1`), if any.
fn range_sym(decl: &DataDecl) -> Option<&str> {
    match decl.int_range.as_ref()?.max.as_ref()? {
        RangeMax::BelowDim(s) => Some(s),
        RangeMax::Lit(_) | RangeMax::AtMostField(_) => None,
    }
}

/// The size of every dimension symbol (see the module doc), reporting disagreements and symbols
/// nothing binds.
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

/// The usage range of one field, resolved against the bound dimensions.
enum Range<'a> {
    /// No usage range, or its bound is unknown because of another error.
    None,
    /// An inclusive range, as in [`Limit::Between`].
    Between {
        min: i64,
        max: i64,
        reason: String,
        dim: Option<(String, usize)>,
    },
    /// A minimum only.
    AtLeast { min: i64, reason: &'a str },
    /// A minimum, and at most the value of field `other` (`limit`) at the same index.
    AtMostField {
        min: i64,
        other: &'a str,
        limit: &'a Field,
        reason: &'a str,
    },
}

/// The usage range of `decl`, with its symbol's size or its other field looked up.
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
            Some(&size) => Range::Between {
                min,
                max: size as i64 - 1,
                reason: reason_with_size(reason, sym, size),
                dim: Some((sym.clone(), size)),
            },
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

/// Checks every value of one field, in the order the module doc gives, at most one error each.
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
