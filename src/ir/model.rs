//! The checked model's types: closed enums for shapes, constraints, distributions, activations
//! and functions, and the typed expressions lowering consumes.

use super::data_decl::{DataDecl, Dim};
use crate::source::Span;
use std::fmt;

/// The shape of a value; sizes may still be symbols bound later from the data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Shape {
    /// One number.
    Scalar,
    /// A column of numbers.
    Vector(Dim),
    /// Rows × columns.
    Matrix(Dim, Dim),
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Scalar => write!(f, "real"),
            Shape::Vector(n) => write!(f, "vector[{n}]"),
            Shape::Matrix(r, c) => write!(f, "matrix[{r}, {c}]"),
        }
    }
}

/// A parameter's support, enforced by a transform from the unconstrained scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Constraint {
    /// The whole real line.
    None,
    /// `<lower=L>`.
    Lower(f64),
    /// `<upper=U>`.
    Upper(f64),
    /// `<lower=L, upper=U>`.
    Interval(f64, f64),
}

impl Constraint {
    /// Lower and upper ends, infinite where open.
    pub fn bounds(self) -> (f64, f64) {
        match self {
            Constraint::None => (f64::NEG_INFINITY, f64::INFINITY),
            Constraint::Lower(l) => (l, f64::INFINITY),
            Constraint::Upper(u) => (f64::NEG_INFINITY, u),
            Constraint::Interval(l, u) => (l, u),
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::None => write!(f, "none"),
            Constraint::Lower(l) => write!(f, "<lower={l}>"),
            Constraint::Upper(u) => write!(f, "<upper={u}>"),
            Constraint::Interval(l, u) => write!(f, "<lower={l}, upper={u}>"),
        }
    }
}

/// An activation applied elementwise after a dense layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    /// y = x.
    Identity,
    /// y = tanh(x).
    Tanh,
    /// y = max(x, 0).
    Relu,
    /// y = 1 / (1 + exp(−x)).
    Sigmoid,
    /// y = log(1 + exp(x)).
    Softplus,
    /// y = x for x > 0, exp(x) − 1 otherwise.
    Elu,
    /// y = x·Φ(x).
    Gelu,
    /// y = x·sigmoid(x).
    Swish,
}

impl Activation {
    /// Every activation, in the order the language lists them.
    pub const ALL: [Activation; 8] = [
        Activation::Identity,
        Activation::Tanh,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Softplus,
        Activation::Elu,
        Activation::Gelu,
        Activation::Swish,
    ];
    /// The name as written in a model.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Softplus => "softplus",
            Activation::Elu => "elu",
            Activation::Gelu => "gelu",
            Activation::Swish => "swish",
        }
    }
    /// Looks an activation up by name.
    pub fn from_name(name: &str) -> Option<Activation> {
        Activation::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// The support of a distribution's variate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Support {
    /// All reals.
    Real,
    /// x > 0.
    Positive,
    /// 0 < x < 1.
    Unit,
    /// Between the first two arguments (uniform).
    BetweenArgs,
    /// 0 or 1.
    Binary,
    /// 0, 1, 2, ….
    Count,
    /// 0..K−1, K the width of the logits.
    Label,
    /// 0..n, n the trials argument.
    UpToTrials,
}

/// A distribution as named in a `~` statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Distribution {
    /// normal(mu, sigma).
    Normal,
    /// student_t(nu, mu, sigma).
    StudentT,
    /// cauchy(mu, sigma).
    Cauchy,
    /// laplace(mu, b), Stan's double_exponential.
    Laplace,
    /// logistic(mu, s).
    Logistic,
    /// gamma(alpha, beta), beta a rate.
    Gamma,
    /// inv_gamma(alpha, beta).
    InvGamma,
    /// exponential(lambda), a rate.
    Exponential,
    /// lognormal(mu, sigma).
    LogNormal,
    /// beta(a, b).
    Beta,
    /// uniform(a, b).
    Uniform,
    /// bernoulli_logit(alpha): P(y = 1) = sigmoid(alpha).
    BernoulliLogit,
    /// categorical_logit(logits): one row of K logits per observation.
    CategoricalLogit,
    /// poisson_log(eta): rate exp(eta).
    PoissonLog,
    /// binomial_logit(n, alpha).
    BinomialLogit,
}

impl Distribution {
    /// Every distribution.
    pub const ALL: [Distribution; 15] = [
        Distribution::Normal,
        Distribution::StudentT,
        Distribution::Cauchy,
        Distribution::Laplace,
        Distribution::Logistic,
        Distribution::Gamma,
        Distribution::InvGamma,
        Distribution::Exponential,
        Distribution::LogNormal,
        Distribution::Beta,
        Distribution::Uniform,
        Distribution::BernoulliLogit,
        Distribution::CategoricalLogit,
        Distribution::PoissonLog,
        Distribution::BinomialLogit,
    ];

    /// The name as written in a model.
    pub fn name(self) -> &'static str {
        match self {
            Distribution::Normal => "normal",
            Distribution::StudentT => "student_t",
            Distribution::Cauchy => "cauchy",
            Distribution::Laplace => "laplace",
            Distribution::Logistic => "logistic",
            Distribution::Gamma => "gamma",
            Distribution::InvGamma => "inv_gamma",
            Distribution::Exponential => "exponential",
            Distribution::LogNormal => "lognormal",
            Distribution::Beta => "beta",
            Distribution::Uniform => "uniform",
            Distribution::BernoulliLogit => "bernoulli_logit",
            Distribution::CategoricalLogit => "categorical_logit",
            Distribution::PoissonLog => "poisson_log",
            Distribution::BinomialLogit => "binomial_logit",
        }
    }

    /// Looks a distribution up by name (`double_exponential` is accepted for `laplace`).
    pub fn from_name(name: &str) -> Option<Distribution> {
        if name == "double_exponential" {
            return Some(Distribution::Laplace);
        }
        Distribution::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The names of the arguments, in order.
    pub fn arg_names(self) -> &'static [&'static str] {
        match self {
            Distribution::Normal | Distribution::LogNormal => &["mu", "sigma"],
            Distribution::StudentT => &["nu", "mu", "sigma"],
            Distribution::Cauchy => &["mu", "sigma"],
            Distribution::Laplace => &["mu", "b"],
            Distribution::Logistic => &["mu", "s"],
            Distribution::Gamma | Distribution::InvGamma => &["alpha", "beta"],
            Distribution::Exponential => &["lambda"],
            Distribution::Beta => &["a", "b"],
            Distribution::Uniform => &["lower", "upper"],
            Distribution::BernoulliLogit => &["alpha"],
            Distribution::CategoricalLogit => &["logits"],
            Distribution::PoissonLog => &["eta"],
            Distribution::BinomialLogit => &["n", "alpha"],
        }
    }

    /// Which arguments must be positive (scales, shapes, rates), by position.
    pub fn positive_args(self) -> &'static [usize] {
        match self {
            Distribution::Normal
            | Distribution::LogNormal
            | Distribution::Cauchy
            | Distribution::Laplace
            | Distribution::Logistic => &[1],
            Distribution::StudentT => &[0, 2],
            Distribution::Gamma | Distribution::InvGamma | Distribution::Beta => &[0, 1],
            Distribution::Exponential => &[0],
            Distribution::Uniform
            | Distribution::BernoulliLogit
            | Distribution::CategoricalLogit
            | Distribution::PoissonLog
            | Distribution::BinomialLogit => &[],
        }
    }

    /// The support of the variate.
    pub fn support(self) -> Support {
        match self {
            Distribution::Normal
            | Distribution::StudentT
            | Distribution::Cauchy
            | Distribution::Laplace
            | Distribution::Logistic => Support::Real,
            Distribution::Gamma
            | Distribution::InvGamma
            | Distribution::Exponential
            | Distribution::LogNormal => Support::Positive,
            Distribution::Beta => Support::Unit,
            Distribution::Uniform => Support::BetweenArgs,
            Distribution::BernoulliLogit => Support::Binary,
            Distribution::CategoricalLogit => Support::Label,
            Distribution::PoissonLog => Support::Count,
            Distribution::BinomialLogit => Support::UpToTrials,
        }
    }

    /// True for distributions over integers (likelihood only).
    pub fn is_discrete(self) -> bool {
        matches!(
            self.support(),
            Support::Binary | Support::Count | Support::Label | Support::UpToTrials
        )
    }

    /// True when the density is symmetric about its location (first location argument), so a
    /// bound at the location gives the half distribution.
    pub fn is_symmetric(self) -> bool {
        matches!(
            self,
            Distribution::Normal
                | Distribution::StudentT
                | Distribution::Cauchy
                | Distribution::Laplace
                | Distribution::Logistic
        )
    }

    /// Index of the location argument of a symmetric distribution.
    pub fn location_arg(self) -> Option<usize> {
        match self {
            Distribution::StudentT => Some(1),
            d if d.is_symmetric() => Some(0),
            _ => None,
        }
    }

    /// True when math provides log-CDFs, so a prior truncated by a constraint can be
    /// normalized exactly whatever its arguments are.
    pub fn has_cdf(self) -> bool {
        matches!(
            self,
            Distribution::Normal
                | Distribution::Cauchy
                | Distribution::Laplace
                | Distribution::Logistic
                | Distribution::Exponential
                | Distribution::LogNormal
                | Distribution::Uniform
        )
    }
}

/// An elementwise or reducing function callable in expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    /// exp(x).
    Exp,
    /// log(x).
    Log,
    /// log(1 + x).
    Log1p,
    /// sqrt(x).
    Sqrt,
    /// x².
    Square,
    /// |x|.
    Abs,
    /// tanh(x).
    Tanh,
    /// 1 / (1 + exp(−x)).
    Sigmoid,
    /// log(1 + exp(x)).
    Softplus,
    /// max(x, 0).
    Relu,
    /// Sum of all elements.
    Sum,
    /// Mean of all elements.
    Mean,
    /// Inner product of two vectors.
    Dot,
}

impl Func {
    /// Every function.
    pub const ALL: [Func; 13] = [
        Func::Exp,
        Func::Log,
        Func::Log1p,
        Func::Sqrt,
        Func::Square,
        Func::Abs,
        Func::Tanh,
        Func::Sigmoid,
        Func::Softplus,
        Func::Relu,
        Func::Sum,
        Func::Mean,
        Func::Dot,
    ];
    /// The name as written.
    pub fn name(self) -> &'static str {
        match self {
            Func::Exp => "exp",
            Func::Log => "log",
            Func::Log1p => "log1p",
            Func::Sqrt => "sqrt",
            Func::Square => "square",
            Func::Abs => "abs",
            Func::Tanh => "tanh",
            Func::Sigmoid => "sigmoid",
            Func::Softplus => "softplus",
            Func::Relu => "relu",
            Func::Sum => "sum",
            Func::Mean => "mean",
            Func::Dot => "dot",
        }
    }
    /// Looks a function up by name.
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }
    /// Number of arguments.
    pub fn arity(self) -> usize {
        match self {
            Func::Dot => 2,
            _ => 1,
        }
    }
    /// True for functions applied element by element.
    pub fn is_elementwise(self) -> bool {
        !matches!(self, Func::Sum | Func::Mean | Func::Dot)
    }
}

/// Elementwise binary arithmetic (with scalar broadcasting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// a + b.
    Add,
    /// a − b.
    Sub,
    /// a · b elementwise.
    Mul,
    /// a / b.
    Div,
    /// a ^ b.
    Pow,
}

impl BinOp {
    /// The operator symbol.
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

/// A typed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it computes.
    pub kind: ExprKind,
    /// Its shape.
    pub shape: Shape,
    /// Where the user wrote it.
    pub span: Span,
}

/// The kinds of typed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A constant.
    Const(f64),
    /// A data field, by name.
    Data(String),
    /// The value of a dimension symbol (`N`).
    DimValue(String),
    /// A parameter, by index into [`CheckedModel::params`].
    Param(usize),
    /// A `let` binding of the same block, by index into that block's lets.
    Local(usize),
    /// A quantity defined earlier in the predict block, by index.
    Predicted(usize),
    /// The input width of the layer a group prior is applied to.
    FanIn,
    /// −a.
    Neg(Box<Expr>),
    /// Elementwise a op b with scalar broadcasting.
    Binary {
        /// Operator.
        op: BinOp,
        /// Left.
        lhs: Box<Expr>,
        /// Right.
        rhs: Box<Expr>,
    },
    /// Matrix times vector.
    MatVec {
        /// matrix[R, C].
        matrix: Box<Expr>,
        /// vector[C].
        vector: Box<Expr>,
    },
    /// A function call.
    Call {
        /// Function.
        func: Func,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// A network applied to a batch of inputs (one row per observation).
    Net {
        /// Index into [`CheckedModel::networks`].
        net: usize,
        /// matrix[N, D] (or vector[N] as N × 1).
        input: Box<Expr>,
    },
    /// Column `col` (0-based) of a matrix.
    Column {
        /// The matrix.
        base: Box<Expr>,
        /// Column index.
        col: usize,
    },
    /// Element `index` (0-based) of a vector.
    Element {
        /// The vector.
        base: Box<Expr>,
        /// Index.
        index: usize,
    },
}

/// What a layer computes, generic over how its parameters are named: `P = usize` indexes
/// [`CheckedModel::params`] in the checked model, and a slot of the lowered program after
/// lowering ([`LayerKind::map_params`]). A closed set: every stage matches it exhaustively, so
/// a new kind cannot be added without its checking, lowering, forward and backward rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LayerKind<P = usize> {
    /// y = act(x·Wᵀ + b) over a batch of rows x (rows × in): weights W (out × in), an optional
    /// bias b (out), then an activation elementwise.
    Dense {
        /// The weight matrix, out × in.
        weight: P,
        /// The bias vector, when the layer has one.
        bias: Option<P>,
        /// The activation after the affine map.
        activation: Activation,
    },
    /// y = x: dropout of the input's units at rate p, which the density does not apply (it is
    /// the identity there); `fit --method mc-dropout` drops units by masking the columns of the
    /// next dense layer's weights, which the checker requires to follow. No parameters.
    Dropout {
        /// Probability p in [0, 1) that a unit is dropped.
        p: f64,
    },
}

impl<P: Copy> LayerKind<P> {
    /// The same layer with each parameter renamed by `f` (parameter index to program slot).
    pub fn map_params<Q>(&self, mut f: impl FnMut(P) -> Q) -> LayerKind<Q> {
        match *self {
            LayerKind::Dense {
                weight,
                bias,
                activation,
            } => LayerKind::Dense {
                weight: f(weight),
                bias: bias.map(f),
                activation,
            },
            LayerKind::Dropout { p } => LayerKind::Dropout { p },
        }
    }

    /// The layer's parameters in θ order, each with the name prior paths give it
    /// (`f.0.weight`, `f.hidden.bias`).
    pub fn params(&self) -> Vec<(&'static str, P)> {
        match *self {
            LayerKind::Dense { weight, bias, .. } => std::iter::once(("weight", weight))
                .chain(bias.map(|b| ("bias", b)))
                .collect(),
            LayerKind::Dropout { .. } => Vec::new(),
        }
    }
}

/// One layer of a network.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// 0-based position.
    pub index: usize,
    /// The name given with `name = dense(..)`.
    pub name: Option<String>,
    /// Number of outputs.
    pub width: Dim,
    /// Number of inputs (the previous width, or the network's input width).
    pub fan_in: Dim,
    /// What the layer computes, and its parameters.
    pub kind: LayerKind,
    /// Where the layer is declared.
    pub span: Span,
}

impl Layer {
    /// `hidden` for named layers, else the number.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.index.to_string())
    }
}

/// A network: a stack of layers.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// Its name.
    pub name: String,
    /// Input width, inferred from where it is called.
    pub input_width: Dim,
    /// Layers in order.
    pub layers: Vec<Layer>,
    /// Where it is declared.
    pub span: Span,
}

impl Network {
    /// Width of the last layer.
    pub fn output_width(&self) -> Dim {
        self.layers
            .last()
            .map(|l| l.width.clone())
            .unwrap_or_else(|| self.input_width.clone())
    }
}

/// Where a parameter comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamOrigin {
    /// Declared in the `param` block.
    Declared,
    /// The weight matrix (out × in) of a layer.
    Weight {
        /// Network index.
        net: usize,
        /// Layer index.
        layer: usize,
    },
    /// The bias vector of a layer.
    Bias {
        /// Network index.
        net: usize,
        /// Layer index.
        layer: usize,
    },
}

/// How a prior is normalized against the parameter's constraint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Truncation {
    /// The constraint and the prior's support agree; nothing to add.
    None,
    /// A symmetric prior cut at its location: the half distribution, log 2 added.
    Half,
    /// Subtract log(F(upper) − F(lower)) computed from the prior's CDF.
    Cdf {
        /// Lower cut (−∞ when open).
        lower: f64,
        /// Upper cut (+∞ when open).
        upper: f64,
    },
    /// Truncated, but the normalizing constant is not available and the prior's arguments are
    /// constants, so it is a constant offset (a warning was given).
    ConstantOffset,
}

/// A prior statement applied to one parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Prior {
    /// The distribution.
    pub dist: Distribution,
    /// Arguments (scalars, or shaped like the parameter); may mention [`ExprKind::FanIn`].
    pub args: Vec<Expr>,
    /// The path as written (`f.weight`), to show where the prior came from.
    pub path: String,
    /// Normalization against the constraint.
    pub truncation: Truncation,
    /// The statement's span.
    pub span: Span,
}

/// A parameter, declared or a network weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Name: `sigma`, `f.hidden.weight`, `f.0.bias`.
    pub name: String,
    /// Shape (weights are out × in).
    pub shape: Shape,
    /// Support.
    pub constraint: Constraint,
    /// Where it comes from.
    pub origin: ParamOrigin,
    /// Its prior (every parameter has exactly one after checking).
    pub prior: Prior,
    /// Where it is declared.
    pub span: Span,
}

/// A `let` binding.
#[derive(Debug, Clone, PartialEq)]
pub struct Let {
    /// Name.
    pub name: String,
    /// Value.
    pub value: Expr,
    /// Where.
    pub span: Span,
}

/// A statement of the likelihood block, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum LikelihoodStmt {
    /// `let name = expr`, stored in [`CheckedModel::likelihood_lets`] at this index.
    Let(usize),
    /// `observed ~ dist(args)`.
    Term(LikelihoodTerm),
}

/// An observation statement.
#[derive(Debug, Clone, PartialEq)]
pub struct LikelihoodTerm {
    /// The observed data field.
    pub observed: String,
    /// Its shape.
    pub shape: Shape,
    /// The distribution.
    pub dist: Distribution,
    /// Arguments.
    pub args: Vec<Expr>,
    /// Where.
    pub span: Span,
}

/// A statement of the predict block, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum PredictStmt {
    /// `let name = expr` (a local of the predict block, not output), index into predict_lets.
    Let(usize),
    /// `name = expr`, an output quantity.
    Assign {
        /// Output name.
        name: String,
        /// Value.
        value: Expr,
        /// Where.
        span: Span,
    },
    /// `name ~ dist(args)`, an output drawn per draw.
    Draw {
        /// Output name.
        name: String,
        /// Shape of the draw.
        shape: Shape,
        /// Distribution.
        dist: Distribution,
        /// Arguments.
        args: Vec<Expr>,
        /// Where.
        span: Span,
    },
}

impl PredictStmt {
    /// The output's name and shape, for outputs.
    pub fn output(&self) -> Option<(&str, &Shape)> {
        match self {
            PredictStmt::Let(_) => None,
            PredictStmt::Assign { name, value, .. } => Some((name, &value.shape)),
            PredictStmt::Draw { name, shape, .. } => Some((name, shape)),
        }
    }
}

/// A model whose names, shapes and priors have been checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CheckedModel {
    /// The data block.
    pub data: Vec<DataDecl>,
    /// Networks.
    pub networks: Vec<Network>,
    /// All parameters: declared ones first, then each network's weights and biases by layer.
    pub params: Vec<Param>,
    /// Lets of the prior block, which prior arguments refer to by [`ExprKind::Local`].
    pub prior_lets: Vec<Let>,
    /// Lets of the likelihood block.
    pub likelihood_lets: Vec<Let>,
    /// Likelihood statements in order.
    pub likelihood: Vec<LikelihoodStmt>,
    /// Lets of the predict block.
    pub predict_lets: Vec<Let>,
    /// Predict statements in order; [`ExprKind::Predicted`] indexes this list.
    pub predict: Vec<PredictStmt>,
    /// Size equalities to verify once the data binds the symbols.
    pub deferred: Vec<DeferredDim>,
}

/// A size equality the checker could not decide without data (a literal against a symbol); it
/// is verified when the data is bound.
#[derive(Debug, Clone, PartialEq)]
pub struct DeferredDim {
    /// One side.
    pub a: Dim,
    /// The other side.
    pub b: Dim,
    /// The error to report, when the sizes differ, in the user's words with `{a}`/`{b}` filled in
    /// by the values.
    pub message: String,
    /// Where to point.
    pub span: Span,
}
