//! Declarations of the data block as the checker hands them to data binding.

use super::model::Shape;
use crate::source::Span;
use std::fmt;

/// A size in a type: a literal or a dimension symbol bound from the data (`N`, `D`, `K`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A size written as a number.
    Lit(usize),
    /// A size named by a symbol, bound from the data.
    Sym(String),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Lit(n) => write!(f, "{n}"),
            Dim::Sym(s) => write!(f, "{s}"),
        }
    }
}

/// The type of one data field.
#[derive(Debug, Clone, PartialEq)]
pub enum DataType {
    /// One integer, e.g. `K: int`; may itself be a dimension symbol.
    Int,
    /// One real number.
    Real,
    /// An array of integers, `int[N]` (labels, counts).
    IntArray(Dim),
    /// A real vector, `vector[N]`.
    Vector(Dim),
    /// A real matrix, `matrix[N, D]`: an array of rows in JSON, columns `x.0, x.1, …` in CSV.
    Matrix(Dim, Dim),
}

impl DataType {
    /// The shape of the field as a value in expressions: ints and reals are scalars, arrays
    /// and vectors are vectors.
    pub fn shape(&self) -> Shape {
        match self {
            DataType::Int | DataType::Real => Shape::Scalar,
            DataType::IntArray(n) | DataType::Vector(n) => Shape::Vector(n.clone()),
            DataType::Matrix(r, c) => Shape::Matrix(r.clone(), c.clone()),
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Int => write!(f, "int"),
            DataType::Real => write!(f, "real"),
            DataType::IntArray(n) => write!(f, "int[{n}]"),
            DataType::Vector(n) => write!(f, "vector[{n}]"),
            DataType::Matrix(r, c) => write!(f, "matrix[{r}, {c}]"),
        }
    }
}

/// An allowed range for integer data, set by the checker from how the data is used
/// (labels of `categorical_logit` lie in `0..K`, `bernoulli_logit` outcomes in `{0, 1}`).
#[derive(Debug, Clone, PartialEq)]
pub struct IntRange {
    /// Smallest allowed value.
    pub min: i64,
    /// Largest allowed value, inclusive, when bounded: a literal or a dimension minus one.
    pub max: Option<RangeMax>,
    /// Why the range applies, in the user's words, e.g. "labels of categorical_logit with K classes".
    pub reason: String,
}

/// The upper end of an [`IntRange`].
#[derive(Debug, Clone, PartialEq)]
pub enum RangeMax {
    /// An inclusive literal maximum.
    Lit(i64),
    /// The value of a dimension symbol minus one (class labels `0..K`).
    BelowDim(String),
    /// Elementwise at most the same index of another int field (binomial successes ≤ trials).
    AtMostField(String),
}

/// One field of the data block.
#[derive(Debug, Clone, PartialEq)]
pub struct DataDecl {
    /// The field name as written.
    pub name: String,
    /// Its type.
    pub ty: DataType,
    /// Optional bounds written as `<lower=.., upper=..>`, checked on every element.
    pub lower: Option<f64>,
    /// Optional upper bound.
    pub upper: Option<f64>,
    /// Extra integer range from usage (labels), checked on every element.
    pub int_range: Option<IntRange>,
    /// Where it is declared (data errors point here).
    pub span: Span,
}
