//! The lowered program: a flat list of instructions over slots of one value arena, and the
//! layout of the unconstrained parameter vector θ.

use crate::ir::{Activation, BinOp, Constraint, Distribution, Func, LayerKind, Shape};
use std::fmt;

/// Index of a slot in [`Program::slots`].
pub type SlotId = usize;

/// A rows × cols block of the value arena, **column-major**: element (r, c) is at
/// `offset + c·rows + r`. Scalars are 1 × 1, vectors n × 1 (so both layouts agree for them).
///
/// Column-major because the rows of a batch are the long dimension: a layer's activations are
/// then `width` contiguous columns of `rows` values, so every product, bias and reduction of a
/// dense layer runs along contiguous memory however narrow the layer is (the layout Flux.jl
/// uses, features × batch). Data and outputs are row-major outside the arena; the helpers
/// [`Slot::write_row_major`] and [`Slot::read_row_major`] convert at the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// First element in the arena.
    pub offset: usize,
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
}

impl Slot {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The arena range.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
    /// Arena index of element (r, c).
    #[inline]
    pub fn at(&self, r: usize, c: usize) -> usize {
        self.offset + c * self.rows + r
    }
    /// Arena range of column c.
    #[inline]
    pub fn column(&self, c: usize) -> std::ops::Range<usize> {
        self.offset + c * self.rows..self.offset + (c + 1) * self.rows
    }
    /// Writes `values` (row-major, `x[r, c]` at `r·cols + c`) into the slot's place in `arena`.
    pub fn write_row_major(&self, arena: &mut [f64], values: &[f64]) {
        let (rows, cols) = (self.rows, self.cols);
        assert_eq!(values.len(), rows * cols, "internal: value count of a slot");
        if cols == 1 || rows == 1 {
            arena[self.range()].copy_from_slice(values);
            return;
        }
        for (r, row) in values.chunks_exact(cols).enumerate() {
            for (c, &v) in row.iter().enumerate() {
                arena[self.at(r, c)] = v;
            }
        }
    }
    /// Reads the slot's values from `arena` into `out`, row-major.
    pub fn read_row_major(&self, arena: &[f64], out: &mut [f64]) {
        let (rows, cols) = (self.rows, self.cols);
        assert_eq!(out.len(), rows * cols, "internal: value count of a slot");
        if cols == 1 || rows == 1 {
            out.copy_from_slice(&arena[self.range()]);
            return;
        }
        for (r, row) in out.chunks_exact_mut(cols).enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v = arena[self.at(r, c)];
            }
        }
    }
}

/// What a slot holds.
#[derive(Debug, Clone, PartialEq)]
pub enum SlotKind {
    /// A number written in the model.
    Const,
    /// A data field (filled when the data is bound; row fields are re-gathered for minibatches).
    Data(String),
    /// A parameter's constrained value.
    Param(usize),
    /// An intermediate value.
    Temp,
    /// Standard normal noise that randomizes the objective (an anchored ensemble's anchors and
    /// resampled observations), drawn by the evaluator: `anchor.<parameter>` or
    /// `noise.<observed field>`; a row field's noise is sliced with the rows.
    Noise(String),
}

/// Slot metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotInfo {
    /// Where in the arena.
    pub slot: Slot,
    /// What it holds.
    pub kind: SlotKind,
    /// True when the value depends on θ, so the backward sweep must carry its adjoint.
    pub needs_grad: bool,
}

/// Which part of the log-density a term belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The prior (and the log-Jacobians of the transforms).
    Prior,
    /// The likelihood; scaled by N/B on minibatches.
    Likelihood,
}

/// Elementwise unary operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// −x.
    Neg,
    /// A function of the language.
    Func(Func),
    /// An activation.
    Act(Activation),
}

/// How a prior term is normalized against a constraint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Norm {
    /// Nothing to add.
    None,
    /// + log 2 per element (half distribution).
    Half,
    /// − log(F(upper) − F(lower)) per element.
    Cdf(f64, f64),
}

/// One instruction. Each has a forward rule and a backward rule; see `autodiff`.
#[derive(Debug, Clone, PartialEq)]
pub enum Instr {
    /// out = constrain(θ[theta..theta+len]) elementwise; Σ log|dx/du| joins the prior part.
    /// θ holds a matrix parameter row-major, as users see it; the slot is column-major.
    Constrain {
        /// First index in θ.
        theta: usize,
        /// Destination slot (the parameter).
        out: SlotId,
        /// The transform.
        constraint: Constraint,
        /// Arena offset of dx/du then d log|dx/du|/du per element, in θ order (saved for the
        /// backward sweep).
        dx: usize,
    },
    /// out = one network layer applied to a batch of rows; [`LayerKind`] says what it computes
    /// (dense: act(x·Wᵀ + b); dropout: a copy of x, which lowering never emits — it lets the
    /// next layer read x — but the sweeps evaluate as the identity it is) and in which slots its
    /// parameters are.
    Layer {
        /// What the layer computes, its parameters named by slot (dense: weights out × in,
        /// bias out × 1).
        kind: LayerKind<SlotId>,
        /// Inputs, rows × in.
        x: SlotId,
        /// Outputs, rows × out.
        out: SlotId,
        /// Arena offset of the partials the backward rule needs (dense: act'(z) per output
        /// element; unused, 0, for the identity activation).
        deriv: usize,
    },
    /// out = op(x) elementwise.
    Unary {
        /// Operation.
        op: UnaryOp,
        /// Operand.
        x: SlotId,
        /// Result.
        out: SlotId,
        /// Arena offset of d out / d x per element.
        deriv: usize,
    },
    /// out = a op b elementwise with scalar broadcasting.
    Binary {
        /// Operation.
        op: BinOp,
        /// Left operand.
        a: SlotId,
        /// Right operand.
        b: SlotId,
        /// Result.
        out: SlotId,
        /// Arena offset of ∂out/∂a then ∂out/∂b per element (2 × len).
        deriv: usize,
    },
    /// out = m·v.
    MatVec {
        /// Matrix, r × c.
        m: SlotId,
        /// Vector, c × 1.
        v: SlotId,
        /// Result, r × 1.
        out: SlotId,
    },
    /// out = x[:, col].
    Column {
        /// Matrix.
        x: SlotId,
        /// Column.
        col: usize,
        /// Result vector.
        out: SlotId,
    },
    /// out = x[index].
    Element {
        /// Vector.
        x: SlotId,
        /// Index.
        index: usize,
        /// Result scalar.
        out: SlotId,
    },
    /// out = Σ x (or the mean when `mean`).
    Reduce {
        /// Operand.
        x: SlotId,
        /// Result scalar.
        out: SlotId,
        /// Divide by the count.
        mean: bool,
    },
    /// out = Σ a_i b_i.
    Dot {
        /// Left vector.
        a: SlotId,
        /// Right vector.
        b: SlotId,
        /// Result scalar.
        out: SlotId,
    },
    /// log p += Σ_i log dist(target_i | args_i) (args broadcast), with normalization.
    Term {
        /// Distribution.
        dist: Distribution,
        /// The variate.
        target: SlotId,
        /// Arguments.
        args: Vec<SlotId>,
        /// Prior or likelihood.
        part: Part,
        /// Truncation normalization.
        norm: Norm,
        /// Arena offset of partials: (1 + args) × len, target first.
        partials: usize,
        /// Number of elements.
        len: usize,
        /// Human label, e.g. "prior of sigma", for errors naming the term that went non-finite.
        label: String,
    },
    /// log p += Σ_i logits[i, y_i] − log Σ_k exp(logits[i, k]).
    Categorical {
        /// Labels (as f64), n × 1.
        target: SlotId,
        /// Logits, n × K.
        logits: SlotId,
        /// Prior or likelihood.
        part: Part,
        /// Arena offset of softmax(logits), n × K.
        softmax: usize,
        /// Human label.
        label: String,
    },
    /// out_i ~ dist(args_i): a predictive draw (predict programs only; never differentiated).
    Draw {
        /// Distribution.
        dist: Distribution,
        /// Arguments.
        args: Vec<SlotId>,
        /// Result.
        out: SlotId,
    },
}

/// Where one parameter lives in θ.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamEntry {
    /// Name (`sigma`, `f.0.weight`).
    pub name: String,
    /// First index in θ.
    pub offset: usize,
    /// Concrete dimensions: [] scalar, [n] vector, [r, c] matrix.
    pub dims: Vec<usize>,
    /// Constraint.
    pub constraint: Constraint,
    /// The slot holding the constrained value.
    pub slot: SlotId,
}

impl ParamEntry {
    /// Number of scalars.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }
    /// True when it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The layout of θ: every parameter, network weights included, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParamLayout {
    /// Entries in θ order.
    pub params: Vec<ParamEntry>,
}

impl ParamLayout {
    /// Dimension of θ.
    pub fn dim(&self) -> usize {
        self.params.iter().map(ParamEntry::len).sum()
    }
}

/// A lowered program for concrete sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// Slot table.
    pub slots: Vec<SlotInfo>,
    /// Instructions in evaluation order.
    pub instrs: Vec<Instr>,
    /// The initial arena: constants and data filled in, the rest zero.
    pub init: Vec<f64>,
    /// Size of the arena (values, and saved partials after them).
    pub arena_len: usize,
    /// θ layout.
    pub layout: ParamLayout,
    /// Number of likelihood rows this program was built for.
    pub rows: usize,
    /// Data fields sliced by row for minibatches: (name, slot, columns).
    pub row_data: Vec<(String, SlotId, usize)>,
    /// Output slots of a predict program: (name, slot, concrete dims).
    pub outputs: Vec<(String, SlotId, Vec<usize>)>,
}

/// The concrete dimensions of a shape.
pub fn shape_dims(shape: &Shape, size: &dyn Fn(&crate::ir::Dim) -> usize) -> Vec<usize> {
    match shape {
        Shape::Scalar => vec![],
        Shape::Vector(n) => vec![size(n)],
        Shape::Matrix(r, c) => vec![size(r), size(c)],
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "theta: {} unconstrained values", self.layout.dim())?;
        for p in &self.layout.params {
            writeln!(
                f,
                "  [{}..{}] {} {:?} {}",
                p.offset,
                p.offset + p.len(),
                p.name,
                p.dims,
                p.constraint
            )?;
        }
        writeln!(
            f,
            "slots: {} ({} values in the arena)",
            self.slots.len(),
            self.arena_len
        )?;
        let name = |s: SlotId| -> String {
            let info = &self.slots[s];
            let kind = match &info.kind {
                SlotKind::Const if info.slot.len() == 1 => {
                    format!("{}", self.init[info.slot.offset])
                }
                SlotKind::Const => "const".into(),
                SlotKind::Data(n) | SlotKind::Noise(n) => n.clone(),
                SlotKind::Param(p) => self
                    .layout
                    .params
                    .iter()
                    .find(|e| e.slot == s)
                    .map(|e| e.name.clone())
                    .unwrap_or(format!("param{p}")),
                SlotKind::Temp => format!("t{s}"),
            };
            format!("{kind}[{}x{}]", info.slot.rows, info.slot.cols)
        };
        writeln!(f, "instructions: {}", self.instrs.len())?;
        for (i, ins) in self.instrs.iter().enumerate() {
            let text = match ins {
                Instr::Constrain {
                    theta,
                    out,
                    constraint,
                    ..
                } => {
                    format!("{} = constrain(theta[{theta}..], {constraint})", name(*out))
                }
                Instr::Layer { kind, x, out, .. } => match kind {
                    LayerKind::Dense {
                        weight,
                        bias,
                        activation,
                    } => format!(
                        "{} = {}({} * {}^T{})",
                        name(*out),
                        activation.name(),
                        name(*x),
                        name(*weight),
                        bias.map(|b| format!(" + {}", name(b))).unwrap_or_default()
                    ),
                    LayerKind::Dropout { p } => {
                        format!(
                            "{} = dropout({}, p = {p}) as the identity",
                            name(*out),
                            name(*x)
                        )
                    }
                },
                Instr::Unary { op, x, out, .. } => {
                    let op = match op {
                        UnaryOp::Neg => "neg".to_string(),
                        UnaryOp::Func(f) => f.name().to_string(),
                        UnaryOp::Act(a) => a.name().to_string(),
                    };
                    format!("{} = {op}({})", name(*out), name(*x))
                }
                Instr::Binary { op, a, b, out, .. } => {
                    format!("{} = {} {} {}", name(*out), name(*a), op.symbol(), name(*b))
                }
                Instr::MatVec { m, v, out } => {
                    format!("{} = {} * {}", name(*out), name(*m), name(*v))
                }
                Instr::Column { x, col, out } => format!("{} = {}[:, {col}]", name(*out), name(*x)),
                Instr::Element { x, index, out } => {
                    format!("{} = {}[{index}]", name(*out), name(*x))
                }
                Instr::Reduce { x, out, mean } => {
                    format!(
                        "{} = {}({})",
                        name(*out),
                        if *mean { "mean" } else { "sum" },
                        name(*x)
                    )
                }
                Instr::Dot { a, b, out } => {
                    format!("{} = dot({}, {})", name(*out), name(*a), name(*b))
                }
                Instr::Term {
                    dist,
                    target,
                    args,
                    part,
                    norm,
                    ..
                } => {
                    let a: Vec<String> = args.iter().map(|s| name(*s)).collect();
                    let norm = match norm {
                        Norm::None => String::new(),
                        Norm::Half => " (half)".into(),
                        Norm::Cdf(l, u) => format!(" (truncated to [{l}, {u}])"),
                    };
                    format!(
                        "{:?} += {}({} | {}){norm}",
                        part,
                        dist.name(),
                        name(*target),
                        a.join(", ")
                    )
                }
                Instr::Categorical {
                    target,
                    logits,
                    part,
                    ..
                } => {
                    format!(
                        "{:?} += categorical_logit({} | {})",
                        part,
                        name(*target),
                        name(*logits)
                    )
                }
                Instr::Draw { dist, args, out } => {
                    let a: Vec<String> = args.iter().map(|s| name(*s)).collect();
                    format!("{} ~ {}({})", name(*out), dist.name(), a.join(", "))
                }
            };
            writeln!(f, "  {i:>3}: {text}")?;
        }
        Ok(())
    }
}
