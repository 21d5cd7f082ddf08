//! The untyped syntax tree: what the user wrote, every node with its span.

use crate::source::Span;

/// A name as written, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    /// The text.
    pub name: String,
    /// Where.
    pub span: Span,
}

/// A whole `.bnn` file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Program {
    /// Top-level blocks in source order.
    pub blocks: Vec<Block>,
}

/// Which block a [`Block`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockKind {
    /// `data { .. }`: observed and fixed inputs.
    Data,
    /// `param { .. }`: non-network parameters.
    Param,
    /// `network NAME { .. }`: layers whose weights become parameters.
    Network,
    /// `prior { .. }`: one `~` per parameter or group.
    Prior,
    /// `likelihood { .. }`: `~` statements over observed data.
    Likelihood,
    /// `predict { .. }`: quantities computed per draw.
    Predict,
}

impl BlockKind {
    /// The keyword that opens the block.
    pub fn keyword(self) -> &'static str {
        match self {
            BlockKind::Data => "data",
            BlockKind::Param => "param",
            BlockKind::Network => "network",
            BlockKind::Prior => "prior",
            BlockKind::Likelihood => "likelihood",
            BlockKind::Predict => "predict",
        }
    }
}

/// One top-level block.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Which block.
    pub kind: BlockKind,
    /// The keyword's span.
    pub keyword: Span,
    /// The whole block.
    pub span: Span,
    /// What it holds.
    pub body: BlockBody,
}

/// The contents of a block.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockBody {
    /// Declarations (data, param).
    Decls(Vec<Decl>),
    /// A network's name and layers.
    Network(Network),
    /// Statements (prior, likelihood, predict).
    Stmts(Vec<Stmt>),
}

/// `name: type`.
#[derive(Debug, Clone, PartialEq)]
pub struct Decl {
    /// The declared name.
    pub name: Ident,
    /// Its type.
    pub ty: TypeExpr,
    /// The whole declaration.
    pub span: Span,
}

/// The base of a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseType {
    /// `real`.
    Real,
    /// `int`.
    Int,
    /// `vector`.
    Vector,
    /// `matrix`.
    Matrix,
}

/// A written type such as `vector<lower=0>[J]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    /// The base keyword.
    pub base: BaseType,
    /// Where the base keyword is.
    pub base_span: Span,
    /// Bounds in order written.
    pub bounds: Vec<Bound>,
    /// Sizes in brackets.
    pub dims: Vec<DimExpr>,
    /// Where the bracketed sizes are (or the base, when there are none).
    pub dims_span: Span,
    /// The whole type.
    pub span: Span,
}

/// `lower=..` or `upper=..`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundKind {
    /// `lower`.
    Lower,
    /// `upper`.
    Upper,
}

/// One bound with its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// Lower or upper.
    pub kind: BoundKind,
    /// The number.
    pub value: f64,
    /// Where.
    pub span: Span,
}

/// A size: literal or symbol.
#[derive(Debug, Clone, PartialEq)]
pub enum DimExpr {
    /// A whole number.
    Lit(usize, Span),
    /// A dimension symbol.
    Sym(Ident),
}

impl DimExpr {
    /// Where the size is written.
    pub fn span(&self) -> Span {
        match self {
            DimExpr::Lit(_, s) => *s,
            DimExpr::Sym(i) => i.span,
        }
    }
}

/// `network f { .. }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// The network's name.
    pub name: Ident,
    /// Layers in order.
    pub layers: Vec<Layer>,
}

/// `hidden = dense(50, tanh)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Optional layer name.
    pub name: Option<Ident>,
    /// The layer kind (`dense`).
    pub kind: Ident,
    /// Arguments.
    pub args: Vec<Arg>,
    /// The whole layer.
    pub span: Span,
}

/// A positional or named argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// The name, for `bias = false`.
    pub name: Option<Ident>,
    /// The value.
    pub value: Expr,
    /// The whole argument.
    pub span: Span,
}

/// A statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `let name = expr`.
    Let {
        /// The bound name.
        name: Ident,
        /// Its value.
        value: Expr,
        /// The whole statement.
        span: Span,
    },
    /// `target ~ dist(args)`.
    Tilde {
        /// What is distributed.
        target: Path,
        /// The distribution's name.
        dist: Ident,
        /// Its arguments.
        args: Vec<Expr>,
        /// The whole statement.
        span: Span,
    },
    /// `name = expr` (predict).
    Assign {
        /// The computed name.
        name: Ident,
        /// Its value.
        value: Expr,
        /// The whole statement.
        span: Span,
    },
}

impl Stmt {
    /// Where the statement is.
    pub fn span(&self) -> Span {
        match self {
            Stmt::Let { span, .. } | Stmt::Tilde { span, .. } | Stmt::Assign { span, .. } => *span,
        }
    }
}

/// A dotted path `f.hidden.weight`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// Segments; numeric segments are layer numbers.
    pub segments: Vec<Ident>,
    /// The whole path.
    pub span: Span,
}

impl Path {
    /// The path as written, `f.0.weight`.
    pub fn text(&self) -> String {
        self.segments
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*` (elementwise with scalar broadcast, or matrix times vector).
    Mul,
    /// `/`.
    Div,
    /// `^`.
    Pow,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Pow => "^",
        }
    }
}

/// One position inside `[..]`.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexItem {
    /// `:`.
    All(Span),
    /// An index expression.
    At(Expr),
}

/// An expression with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where.
    pub span: Span,
}

/// The kinds of expression.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A number.
    Num(f64),
    /// `true` / `false`.
    Bool(bool),
    /// A name.
    Var(String),
    /// `func(args)` — a function or a network.
    Call {
        /// The callee.
        func: Ident,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// `-e`.
    Neg(Box<Expr>),
    /// `a op b`.
    Binary {
        /// Operator.
        op: BinOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `e[i, j]`.
    Index {
        /// The indexed expression.
        base: Box<Expr>,
        /// Index positions.
        items: Vec<IndexItem>,
    },
}
