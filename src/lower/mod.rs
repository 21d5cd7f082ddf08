//! Lowers a checked model, for concrete sizes, to a flat [`Program`] over one value arena and
//! the [`ParamLayout`] of θ; a second entry point lowers the predict block.

mod layout;
mod program;

pub use layout::UnconstrainError;
pub use program::*;

use crate::ir::*;
use std::collections::{BTreeMap, HashMap};

/// Sizes of every dimension symbol, as bound from the data.
pub type Sizes = BTreeMap<String, usize>;

/// The symbol that counts likelihood rows (the first size of the first observed field), if any;
/// see [`CheckedModel::row_symbol`].
pub fn row_symbol(model: &CheckedModel) -> Option<String> {
    model.row_symbol()
}

/// Lowers the log-density (priors, Jacobians, likelihood) for the given sizes.
pub fn lower(model: &CheckedModel, sizes: &Sizes) -> Program {
    let mut l = Lowerer::new(model, sizes);
    l.params();
    l.priors();
    l.likelihood();
    l.finish(Vec::new())
}

/// Lowers the log-density as [`lower`] does, randomized for randomize-then-optimize (anchored
/// ensembles): every normal prior without truncation, `x ~ normal(m, s)`, becomes
/// `x − s·ε ~ normal(m, s)` — the prior re-centred at the anchor m + s·ε, a draw from itself —
/// and every normal likelihood term's observations are shifted the same way by noise of their
/// own scale. The ε are [`SlotKind::Noise`] slots the evaluator fills with standard normals;
/// with ε = 0 this is [`lower`]'s density. For a linear model with known noise and a normal
/// prior the maximizer of the randomized density is an exact posterior draw.
pub fn lower_anchored(model: &CheckedModel, sizes: &Sizes) -> Program {
    let mut l = Lowerer::new(model, sizes);
    l.anchored = true;
    l.params();
    l.priors();
    l.likelihood();
    l.finish(Vec::new())
}

/// Lowers the quantities stored per draw: every constrained parameter, then the predict block's
/// outputs (its `~` statements become draws).
pub fn lower_outputs(model: &CheckedModel, sizes: &Sizes) -> Program {
    let mut l = Lowerer::new(model, sizes);
    l.params();
    let mut outputs: Vec<(String, SlotId, Vec<usize>)> = l
        .layout
        .params
        .iter()
        .map(|p| (p.name.clone(), p.slot, p.dims.clone()))
        .collect();
    outputs.extend(l.predict());
    l.finish(outputs)
}

/// Lowers, for prediction, the arguments of the row-wise likelihood term (the one whose
/// observed field [`row_symbol`] counts): every constrained parameter, the likelihood's `let`s
/// before the term, then the term's argument expressions, which are the outputs in argument
/// order. The observed field itself is never read, so inputs without targets can be bound.
/// Returns `None` when the model has no row-wise likelihood term.
pub fn lower_likelihood_args(model: &CheckedModel, sizes: &Sizes) -> Option<Program> {
    let sym = row_symbol(model)?;
    let mut l = Lowerer::new(model, sizes);
    l.params();
    let mut ctx = Ctx {
        lets: Vec::new(),
        predicted: HashMap::new(),
        fan_in: None,
    };
    for s in &model.likelihood {
        match s {
            LikelihoodStmt::Let(i) => {
                let v = l.expr(&model.likelihood_lets[*i].value, &ctx);
                ctx.lets.push(v);
            }
            LikelihoodStmt::Term(t) => {
                let rows = match &t.shape {
                    Shape::Vector(Dim::Sym(n)) | Shape::Matrix(Dim::Sym(n), _) => Some(n),
                    _ => None,
                };
                if rows != Some(&sym) {
                    continue;
                }
                let outputs = t
                    .args
                    .iter()
                    .enumerate()
                    .map(|(k, a)| {
                        let v = l.expr(a, &ctx);
                        let dims = shape_dims(&a.shape, &|d| l.size(d));
                        (format!("{}.arg{k}", t.observed), v, dims)
                    })
                    .collect();
                return Some(l.finish(outputs));
            }
        }
    }
    None
}

struct Ctx {
    lets: Vec<SlotId>,
    predicted: HashMap<usize, SlotId>,
    fan_in: Option<usize>,
}

struct Lowerer<'m> {
    model: &'m CheckedModel,
    sizes: &'m Sizes,
    slots: Vec<SlotInfo>,
    instrs: Vec<Instr>,
    init: Vec<f64>,
    layout: ParamLayout,
    param_slots: Vec<SlotId>,
    data_slots: HashMap<String, SlotId>,
    consts: HashMap<u64, SlotId>,
    /// Whether normal terms are randomized ([`lower_anchored`]).
    anchored: bool,
    /// Noise slots sliced with the rows: (name, slot, columns).
    noise_rows: Vec<(String, SlotId, usize)>,
}

impl<'m> Lowerer<'m> {
    fn new(model: &'m CheckedModel, sizes: &'m Sizes) -> Self {
        Lowerer {
            model,
            sizes,
            slots: Vec::new(),
            instrs: Vec::new(),
            init: Vec::new(),
            layout: ParamLayout::default(),
            param_slots: Vec::new(),
            data_slots: HashMap::new(),
            consts: HashMap::new(),
            anchored: false,
            noise_rows: Vec::new(),
        }
    }

    fn size(&self, d: &Dim) -> usize {
        match d {
            Dim::Lit(n) => *n,
            Dim::Sym(s) => *self
                .sizes
                .get(s)
                .expect("internal: every size symbol is bound before lowering"),
        }
    }

    fn rows_cols(&self, shape: &Shape) -> (usize, usize) {
        match shape {
            Shape::Scalar => (1, 1),
            Shape::Vector(n) => (self.size(n), 1),
            Shape::Matrix(r, c) => (self.size(r), self.size(c)),
        }
    }

    /// Reserves `len` arena values for saved partials.
    fn aux(&mut self, len: usize) -> usize {
        let off = self.init.len();
        self.init.resize(off + len, 0.0);
        off
    }

    fn alloc(&mut self, rows: usize, cols: usize, kind: SlotKind, needs_grad: bool) -> SlotId {
        let offset = self.aux(rows * cols);
        self.slots.push(SlotInfo {
            slot: Slot { offset, rows, cols },
            kind,
            needs_grad,
        });
        self.slots.len() - 1
    }

    fn grad(&self, s: SlotId) -> bool {
        self.slots[s].needs_grad
    }

    fn len(&self, s: SlotId) -> usize {
        self.slots[s].slot.len()
    }

    fn constant(&mut self, v: f64) -> SlotId {
        if let Some(&s) = self.consts.get(&v.to_bits()) {
            return s;
        }
        let s = self.alloc(1, 1, SlotKind::Const, false);
        let off = self.slots[s].slot.offset;
        self.init[off] = v;
        self.consts.insert(v.to_bits(), s);
        s
    }

    fn data(&mut self, name: &str) -> SlotId {
        if let Some(&s) = self.data_slots.get(name) {
            return s;
        }
        let decl = self
            .model
            .data
            .iter()
            .find(|d| d.name == name)
            .expect("internal: data names resolved by check");
        let (r, c) = self.rows_cols(&decl.ty.shape());
        let s = self.alloc(r, c, SlotKind::Data(name.to_string()), false);
        self.data_slots.insert(name.to_string(), s);
        s
    }

    fn params(&mut self) {
        let mut offset = 0;
        for (i, p) in self.model.params.iter().enumerate() {
            let (r, c) = self.rows_cols(&p.shape);
            let dims = shape_dims(&p.shape, &|d| self.size(d));
            let out = self.alloc(r, c, SlotKind::Param(i), true);
            let dx = self.aux(2 * r * c);
            self.instrs.push(Instr::Constrain {
                theta: offset,
                out,
                constraint: p.constraint,
                dx,
            });
            self.layout.params.push(ParamEntry {
                name: p.name.clone(),
                offset,
                dims,
                constraint: p.constraint,
                slot: out,
            });
            self.param_slots.push(out);
            offset += r * c;
        }
    }

    fn priors(&mut self) {
        let mut ctx = Ctx {
            lets: Vec::new(),
            predicted: HashMap::new(),
            fan_in: None,
        };
        for l in &self.model.prior_lets {
            let s = self.expr(&l.value, &ctx);
            ctx.lets.push(s);
        }
        for (i, p) in self.model.params.iter().enumerate() {
            ctx.fan_in = match p.origin {
                ParamOrigin::Declared => None,
                ParamOrigin::Weight { net, layer } | ParamOrigin::Bias { net, layer } => {
                    Some(self.size(&self.model.networks[net].layers[layer].fan_in))
                }
            };
            let args: Vec<SlotId> = p.prior.args.iter().map(|a| self.expr(a, &ctx)).collect();
            let norm = match p.prior.truncation {
                Truncation::None | Truncation::ConstantOffset => Norm::None,
                Truncation::Half => Norm::Half,
                Truncation::Cdf { lower, upper } => Norm::Cdf(lower, upper),
            };
            let mut target = self.param_slots[i];
            if self.anchored && p.prior.dist == Distribution::Normal && norm == Norm::None {
                target = self.anchor(target, args[1], format!("anchor.{}", p.name), false);
            }
            self.term(
                p.prior.dist,
                target,
                args,
                Part::Prior,
                norm,
                format!("the prior of {}", p.name),
            );
        }
    }

    fn term(
        &mut self,
        dist: Distribution,
        target: SlotId,
        args: Vec<SlotId>,
        part: Part,
        norm: Norm,
        label: String,
    ) {
        if dist == Distribution::CategoricalLogit {
            let logits = args[0];
            let softmax = self.aux(self.len(logits));
            self.instrs.push(Instr::Categorical {
                target,
                logits,
                part,
                softmax,
                label,
            });
            return;
        }
        let len = args
            .iter()
            .map(|&a| self.len(a))
            .chain([self.len(target)])
            .max()
            .unwrap_or(1);
        let partials = self.aux((1 + args.len()) * len);
        self.instrs.push(Instr::Term {
            dist,
            target,
            args,
            part,
            norm,
            partials,
            len,
            label,
        });
    }

    fn likelihood(&mut self) {
        let mut ctx = Ctx {
            lets: Vec::new(),
            predicted: HashMap::new(),
            fan_in: None,
        };
        for s in &self.model.likelihood {
            match s {
                LikelihoodStmt::Let(i) => {
                    let v = self.expr(&self.model.likelihood_lets[*i].value, &ctx);
                    ctx.lets.push(v);
                }
                LikelihoodStmt::Term(t) => {
                    let mut target = self.data(&t.observed);
                    let args: Vec<SlotId> = t.args.iter().map(|a| self.expr(a, &ctx)).collect();
                    if self.anchored && t.dist == Distribution::Normal {
                        let row_wise = match (&t.shape, row_symbol(self.model)) {
                            (
                                Shape::Vector(Dim::Sym(n)) | Shape::Matrix(Dim::Sym(n), _),
                                Some(sym),
                            ) => *n == sym,
                            _ => false,
                        };
                        let name = format!("noise.{}", t.observed);
                        target = self.anchor(target, args[1], name, row_wise);
                    }
                    self.term(
                        t.dist,
                        target,
                        args,
                        Part::Likelihood,
                        Norm::None,
                        format!("the likelihood of {}", t.observed),
                    );
                }
            }
        }
    }

    fn predict(&mut self) -> Vec<(String, SlotId, Vec<usize>)> {
        let mut ctx = Ctx {
            lets: Vec::new(),
            predicted: HashMap::new(),
            fan_in: None,
        };
        let mut outputs = Vec::new();
        for (i, s) in self.model.predict.iter().enumerate() {
            match s {
                PredictStmt::Let(k) => {
                    let v = self.expr(&self.model.predict_lets[*k].value, &ctx);
                    ctx.lets.push(v);
                }
                PredictStmt::Assign { name, value, .. } => {
                    let v = self.expr(value, &ctx);
                    ctx.predicted.insert(i, v);
                    outputs.push((name.clone(), v, shape_dims(&value.shape, &|d| self.size(d))));
                }
                PredictStmt::Draw {
                    name,
                    shape,
                    dist,
                    args,
                    ..
                } => {
                    let args: Vec<SlotId> = args.iter().map(|a| self.expr(a, &ctx)).collect();
                    let (r, c) = self.rows_cols(shape);
                    let out = self.alloc(r, c, SlotKind::Temp, false);
                    self.instrs.push(Instr::Draw {
                        dist: *dist,
                        args,
                        out,
                    });
                    ctx.predicted.insert(i, out);
                    outputs.push((name.clone(), out, shape_dims(shape, &|d| self.size(d))));
                }
            }
        }
        outputs
    }

    fn temp(&mut self, rows: usize, cols: usize, needs_grad: bool) -> SlotId {
        self.alloc(rows, cols, SlotKind::Temp, needs_grad)
    }

    fn expr(&mut self, e: &Expr, ctx: &Ctx) -> SlotId {
        match &e.kind {
            ExprKind::Const(v) => self.constant(*v),
            ExprKind::Data(n) => self.data(n),
            ExprKind::DimValue(s) => {
                let v = self.size(&Dim::Sym(s.clone())) as f64;
                self.constant(v)
            }
            ExprKind::Param(p) => self.param_slots[*p],
            ExprKind::Local(i) => ctx.lets[*i],
            ExprKind::Predicted(i) => ctx.predicted[i],
            ExprKind::FanIn => {
                let v = ctx.fan_in.expect("internal: fan_in only in layer priors") as f64;
                self.constant(v)
            }
            ExprKind::Neg(x) => {
                let x = self.expr(x, ctx);
                self.unary(UnaryOp::Neg, x)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.expr(lhs, ctx);
                let b = self.expr(rhs, ctx);
                self.binary(*op, a, b)
            }
            ExprKind::MatVec { matrix, vector } => {
                let m = self.expr(matrix, ctx);
                let v = self.expr(vector, ctx);
                let g = self.grad(m) || self.grad(v);
                let out = self.temp(self.slots[m].slot.rows, 1, g);
                self.instrs.push(Instr::MatVec { m, v, out });
                out
            }
            ExprKind::Call { func, args } => {
                let xs: Vec<SlotId> = args.iter().map(|a| self.expr(a, ctx)).collect();
                match func {
                    Func::Sum | Func::Mean => {
                        let g = self.grad(xs[0]);
                        let out = self.temp(1, 1, g);
                        self.instrs.push(Instr::Reduce {
                            x: xs[0],
                            out,
                            mean: *func == Func::Mean,
                        });
                        out
                    }
                    Func::Dot => {
                        let g = self.grad(xs[0]) || self.grad(xs[1]);
                        let out = self.temp(1, 1, g);
                        self.instrs.push(Instr::Dot {
                            a: xs[0],
                            b: xs[1],
                            out,
                        });
                        out
                    }
                    f => self.unary(UnaryOp::Func(*f), xs[0]),
                }
            }
            ExprKind::Net { net, input } => {
                let mut x = self.expr(input, ctx);
                let network = &self.model.networks[*net];
                for layer in &network.layers {
                    let rows = self.slots[x].slot.rows;
                    let width = self.size(&layer.width);
                    let kind = layer.kind.map_params(|p| self.param_slots[p]);
                    let (out, deriv) = match kind {
                        // The weights carry gradients, so the outputs do; act'(z) is saved
                        // unless the activation is the identity.
                        LayerKind::Dense { activation, .. } => {
                            let out = self.temp(rows, width, true);
                            let deriv = if activation == Activation::Identity {
                                0
                            } else {
                                self.aux(rows * width)
                            };
                            (out, deriv)
                        }
                        // The identity in the density: the next layer reads the input's slot
                        // itself, so the program is the network's without its dropout layers,
                        // at no cost. A copy would cost O(rows × width) both ways (+17 % on
                        // regression_1d's gradient, measured).
                        LayerKind::Dropout { .. } => continue,
                    };
                    self.instrs.push(Instr::Layer {
                        kind,
                        x,
                        out,
                        deriv,
                    });
                    x = out;
                }
                x
            }
            ExprKind::Column { base, col } => {
                let x = self.expr(base, ctx);
                let out = self.temp(self.slots[x].slot.rows, 1, self.grad(x));
                self.instrs.push(Instr::Column { x, col: *col, out });
                out
            }
            ExprKind::Element { base, index } => {
                let x = self.expr(base, ctx);
                let out = self.temp(1, 1, self.grad(x));
                self.instrs.push(Instr::Element {
                    x,
                    index: *index,
                    out,
                });
                out
            }
        }
    }

    fn unary(&mut self, op: UnaryOp, x: SlotId) -> SlotId {
        let (r, c) = (self.slots[x].slot.rows, self.slots[x].slot.cols);
        let out = self.temp(r, c, self.grad(x));
        let deriv = self.aux(r * c);
        self.instrs.push(Instr::Unary { op, x, out, deriv });
        out
    }

    /// out = a op b elementwise, a scalar operand broadcast.
    fn binary(&mut self, op: BinOp, a: SlotId, b: SlotId) -> SlotId {
        let big = if self.len(a) >= self.len(b) { a } else { b };
        let (r, c) = (self.slots[big].slot.rows, self.slots[big].slot.cols);
        let g = self.grad(a) || self.grad(b);
        let out = self.temp(r, c, g);
        let deriv = self.aux(2 * r * c);
        self.instrs.push(Instr::Binary {
            op,
            a,
            b,
            out,
            deriv,
        });
        out
    }

    /// `target − scale·ε` for a fresh noise slot ε of the target's shape (see
    /// [`lower_anchored`]); a row field's noise is sliced with the rows.
    fn anchor(&mut self, target: SlotId, scale: SlotId, name: String, row_wise: bool) -> SlotId {
        let (r, c) = (self.slots[target].slot.rows, self.slots[target].slot.cols);
        let noise = self.alloc(r, c, SlotKind::Noise(name.clone()), false);
        if row_wise {
            self.noise_rows.push((name, noise, c));
        }
        let scaled = self.binary(BinOp::Mul, scale, noise);
        self.binary(BinOp::Sub, target, scaled)
    }

    fn finish(self, outputs: Vec<(String, SlotId, Vec<usize>)>) -> Program {
        let rows_sym = row_symbol(self.model);
        let rows = rows_sym
            .as_ref()
            .and_then(|s| self.sizes.get(s).copied())
            .unwrap_or(0);
        let row_data = match &rows_sym {
            Some(sym) => self
                .model
                .data
                .iter()
                .filter(|d| match &d.ty {
                    DataType::IntArray(Dim::Sym(n))
                    | DataType::Vector(Dim::Sym(n))
                    | DataType::Matrix(Dim::Sym(n), _) => n == sym,
                    _ => false,
                })
                .filter_map(|d| {
                    self.data_slots
                        .get(&d.name)
                        .map(|&s| (d.name.clone(), s, self.slots[s].slot.cols))
                })
                .chain(self.noise_rows.iter().cloned())
                .collect(),
            None => Vec::new(),
        };
        Program {
            arena_len: self.init.len(),
            slots: self.slots,
            instrs: self.instrs,
            init: self.init,
            layout: self.layout,
            rows,
            row_data,
            outputs,
        }
    }
}
