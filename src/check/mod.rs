//! Checks a syntax tree: names, shapes, constraints against priors, prior coverage; reports
//! every problem it finds and builds the [`CheckedModel`].

mod messages;

use crate::diagnostic::Diagnostic;
use crate::ir::*;
use crate::source::Span;
use crate::syntax::ast::{self, BlockBody, BlockKind, IndexItem};
use messages as msg;
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub use messages::did_you_mean;

/// A checked model and the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The model.
    pub model: CheckedModel,
    /// Legal but suspicious things.
    pub warnings: Vec<Diagnostic>,
}

/// Checks a parsed program. On failure returns every error and warning found.
pub fn check(program: &ast::Program) -> Result<Checked, Vec<Diagnostic>> {
    let mut c = Checker::default();
    c.run(program);
    let (errors, warnings): (Vec<_>, Vec<_>) = c.diags.into_iter().partition(|d| d.is_error());
    if errors.is_empty() {
        Ok(Checked {
            model: c.model,
            warnings,
        })
    } else {
        let mut all = errors;
        all.extend(warnings);
        Err(all)
    }
}

/// What a name refers to.
#[derive(Debug, Clone)]
enum Binding {
    Data(usize),
    Param(usize),
    Network(usize),
    Dim,
}

/// Which block an expression is in, deciding what it may refer to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scope {
    Prior { fan_in: bool },
    Likelihood,
    Predict,
}

impl Scope {
    fn block(self) -> &'static str {
        match self {
            Scope::Prior { .. } => "prior",
            Scope::Likelihood => "likelihood",
            Scope::Predict => "predict",
        }
    }
}

#[derive(Default)]
struct Checker {
    model: CheckedModel,
    diags: Vec<Diagnostic>,
    names: HashMap<String, (Binding, Span)>,
    dims: BTreeSet<String>,
    /// Locals of the block being checked: name → (index, span, shape).
    locals: Vec<(String, usize, Span, Shape)>,
    /// Predict outputs: name → (index, shape).
    predicted: Vec<(String, usize, Shape)>,
    observed: BTreeSet<String>,
    /// Networks whose name appeared in an expression (called or not).
    nets_mentioned: BTreeSet<usize>,
    /// Input width seen at each network's call sites.
    net_inputs: HashMap<usize, (Dim, Span)>,
    /// Data fields referenced anywhere (expressions, observations, sizes).
    used_data: BTreeSet<String>,
    /// Params referenced from expressions (other than a param's own prior).
    used: BTreeSet<usize>,
    /// Names whose definition failed; uses of them are not reported again.
    poisoned: BTreeSet<String>,
    /// Params named by a prior statement that had errors (not reported again as prior-less).
    attempted: BTreeSet<usize>,
    /// Prior assignment per param: (specificity, span).
    prior_spec: HashMap<usize, (u8, Span)>,
}

impl Checker {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn run(&mut self, program: &ast::Program) {
        let mut first: HashMap<BlockKind, Span> = HashMap::new();
        let mut data = Vec::new();
        let mut params = Vec::new();
        let mut nets = Vec::new();
        let mut prior = Vec::new();
        let mut lik = Vec::new();
        let mut pred = Vec::new();
        for b in &program.blocks {
            if b.kind != BlockKind::Network {
                if let Some(f) = first.get(&b.kind) {
                    self.err(msg::duplicate_block(b.kind.keyword(), b.keyword, *f));
                    continue;
                }
                first.insert(b.kind, b.keyword);
            }
            match (&b.body, b.kind) {
                (BlockBody::Decls(d), BlockKind::Data) => data.extend(d.iter()),
                (BlockBody::Decls(d), _) => params.extend(d.iter()),
                (BlockBody::Network(n), _) => nets.push((n, b.span)),
                (BlockBody::Stmts(s), BlockKind::Prior) => prior.extend(s.iter()),
                (BlockBody::Stmts(s), BlockKind::Likelihood) => lik.extend(s.iter()),
                (BlockBody::Stmts(s), _) => pred.extend(s.iter()),
            }
        }
        self.data_block(&data);
        self.param_block(&params);
        for (n, span) in &nets {
            self.network(n, *span);
        }
        // Which data the likelihood observes is needed before the other blocks are checked.
        for s in &lik {
            if let ast::Stmt::Tilde { target, .. } = s {
                if target.segments.len() == 1 {
                    if let Some((Binding::Data(_), _)) = self.names.get(&target.segments[0].name) {
                        self.observed.insert(target.segments[0].name.clone());
                    }
                }
            }
        }
        self.likelihood_block(&lik);
        self.predict_block(&pred);
        self.fix_network_inputs();
        self.prior_block(&prior);
        self.coverage();
        // Unused-name warnings next to errors are mostly echoes of the errors.
        if !self.diags.iter().any(Diagnostic::is_error) {
            self.unused();
        }
    }

    // ----- declarations -----

    fn declare(&mut self, name: &ast::Ident, binding: Binding) -> bool {
        if let Some((_, first)) = self.names.get(&name.name) {
            let first = *first;
            self.err(msg::duplicate_name(&name.name, name.span, first));
            return false;
        }
        if Func::from_name(&name.name).is_some() || name.name == "fan_in" {
            self.err(
                Diagnostic::error(
                    format!("'{}' is a built-in name and cannot be declared", name.name),
                    name.span,
                )
                .with_help("choose another name"),
            );
            return false;
        }
        self.names.insert(name.name.clone(), (binding, name.span));
        true
    }

    fn dim_of(&mut self, d: &ast::DimExpr) -> Dim {
        match d {
            ast::DimExpr::Lit(n, span) => {
                if *n == 0 || *n == usize::MAX {
                    self.err(Diagnostic::error(
                        "a size must be a positive whole number",
                        *span,
                    ));
                }
                Dim::Lit(*n)
            }
            ast::DimExpr::Sym(i) => Dim::Sym(i.name.clone()),
        }
    }

    fn constraint_of(&mut self, ty: &ast::TypeExpr) -> Constraint {
        let mut lower = None;
        let mut upper = None;
        for b in &ty.bounds {
            let slot = match b.kind {
                ast::BoundKind::Lower => &mut lower,
                ast::BoundKind::Upper => &mut upper,
            };
            if slot.is_some() {
                self.err(Diagnostic::error("this bound is given twice", b.span));
            }
            *slot = Some((b.value, b.span));
            if !b.value.is_finite() {
                self.err(Diagnostic::error("a bound must be a finite number", b.span));
            }
        }
        match (lower, upper) {
            (None, None) => Constraint::None,
            (Some((l, _)), None) => Constraint::Lower(l),
            (None, Some((u, _))) => Constraint::Upper(u),
            (Some((l, ls)), Some((u, us))) => {
                if l >= u {
                    self.err(
                        Diagnostic::error(
                            format!("the lower bound {l} is not below the upper bound {u}"),
                            ls.join(us),
                        )
                        .with_help("swap the bounds or fix one of them"),
                    );
                }
                Constraint::Interval(l, u)
            }
        }
    }

    fn data_block(&mut self, decls: &[&ast::Decl]) {
        // Scalar int fields may serve as dimension symbols (K: int).
        for d in decls {
            let dims: Vec<Dim> = d.ty.dims.iter().map(|x| self.dim_of(x)).collect();
            let ty = match (d.ty.base, dims.len()) {
                (ast::BaseType::Int, 0) => Some(DataType::Int),
                (ast::BaseType::Real, 0) => Some(DataType::Real),
                (ast::BaseType::Int, 1) => Some(DataType::IntArray(dims[0].clone())),
                (ast::BaseType::Real | ast::BaseType::Vector, 1) => {
                    Some(DataType::Vector(dims[0].clone()))
                }
                (ast::BaseType::Matrix, 2) => {
                    Some(DataType::Matrix(dims[0].clone(), dims[1].clone()))
                }
                _ => None,
            };
            let Some(ty) = ty else {
                self.err(type_dims_error(&d.ty));
                continue;
            };
            let c = self.constraint_of(&d.ty);
            let (lower, upper) = match c {
                Constraint::None => (None, None),
                Constraint::Lower(l) => (Some(l), None),
                Constraint::Upper(u) => (None, Some(u)),
                Constraint::Interval(l, u) => (Some(l), Some(u)),
            };
            for dim in &dims {
                if let Dim::Sym(s) = dim {
                    self.dims.insert(s.clone());
                }
            }
            // An int field (K: int) may serve as a size: dense(K), vector[K].
            if ty == DataType::Int {
                self.dims.insert(d.name.name.clone());
            }
            let idx = self.model.data.len();
            if self.declare(&d.name, Binding::Data(idx)) {
                self.model.data.push(DataDecl {
                    name: d.name.name.clone(),
                    ty,
                    lower,
                    upper,
                    int_range: None,
                    span: d.span,
                });
            }
        }
        // A symbol bound by shapes and also declared as a non-int field is a conflict.
        let syms: Vec<String> = self.dims.iter().cloned().collect();
        for s in syms {
            if let Some((Binding::Data(i), span)) = self.names.get(&s).cloned() {
                if self.model.data[i].ty != DataType::Int {
                    self.err(
                        Diagnostic::error(format!("'{s}' is used as a size but declared as {}", self.model.data[i].ty), span)
                            .with_help(format!("declare it as `{s}: int`, or leave it out: sizes are bound from the data")),
                    );
                }
            } else if !self.names.contains_key(&s) {
                self.names
                    .insert(s.clone(), (Binding::Dim, Span::default()));
            }
        }
    }

    fn sized(&mut self, d: &Dim, span: Span) {
        if let Dim::Sym(s) = d {
            if !self.dims.contains(s) {
                let sugg = did_you_mean(s, self.dims.iter().map(String::as_str));
                let d = Diagnostic::error(
                    format!("the size '{s}' is not bound by any data field"),
                    span,
                );
                self.err(match sugg {
                    Some(x) => d.with_help(format!("did you mean '{x}'?")),
                    None => d.with_help(
                        "sizes are bound by the shapes of data fields, such as x: matrix[N, D]",
                    ),
                });
            }
        }
    }

    fn param_block(&mut self, decls: &[&ast::Decl]) {
        for d in decls {
            let dims: Vec<Dim> = d.ty.dims.iter().map(|x| self.dim_of(x)).collect();
            for (dim, dx) in dims.iter().zip(&d.ty.dims) {
                self.sized(dim, dx.span());
            }
            let shape = match (d.ty.base, dims.len()) {
                (ast::BaseType::Int, _) => {
                    self.err(
                        Diagnostic::error(
                            "parameters are real-valued; 'int' is only for data",
                            d.ty.base_span,
                        )
                        .with_help("declare it as real, vector[K] or matrix[R, C]"),
                    );
                    continue;
                }
                (ast::BaseType::Real, 0) => Shape::Scalar,
                (ast::BaseType::Real | ast::BaseType::Vector, 1) => Shape::Vector(dims[0].clone()),
                (ast::BaseType::Matrix, 2) => Shape::Matrix(dims[0].clone(), dims[1].clone()),
                _ => {
                    self.err(type_dims_error(&d.ty));
                    continue;
                }
            };
            let constraint = self.constraint_of(&d.ty);
            let idx = self.model.params.len();
            if self.declare(&d.name, Binding::Param(idx)) {
                self.model.params.push(Param {
                    name: d.name.name.clone(),
                    shape,
                    constraint,
                    origin: ParamOrigin::Declared,
                    prior: placeholder_prior(),
                    span: d.span,
                });
            }
        }
    }

    fn network(&mut self, n: &ast::Network, span: Span) {
        let net_idx = self.model.networks.len();
        if !self.declare(&n.name, Binding::Network(net_idx)) {
            return;
        }
        if n.layers.is_empty() {
            self.err(
                Diagnostic::error(
                    format!("network '{}' has no layers", n.name.name),
                    n.name.span,
                )
                .with_help("add a layer such as dense(1)"),
            );
        }
        let mut layers: Vec<Layer> = Vec::new();
        let mut layer_names: HashMap<String, Span> = HashMap::new();
        let mut fan_in = Dim::Sym(format!("{}.input", n.name.name));
        for (index, l) in n.layers.iter().enumerate() {
            if l.kind.name != "dense" {
                let d = Diagnostic::error(format!("unknown layer '{}'", l.kind.name), l.kind.span);
                self.err(match did_you_mean(&l.kind.name, ["dense"]) {
                    Some(s) => d.with_help(format!("did you mean '{s}'?")),
                    None => d.with_help("the layer kind is dense, as in dense(50, tanh)"),
                });
                continue;
            }
            if let Some(name) = &l.name {
                if let Some(first) = layer_names.get(&name.name) {
                    self.err(msg::duplicate_name(&name.name, name.span, *first));
                } else if name.name == "weight" || name.name == "bias" {
                    self.err(
                        Diagnostic::error(
                            format!("a layer cannot be named '{}'", name.name),
                            name.span,
                        )
                        .with_help("'weight' and 'bias' name the parameters of every layer"),
                    );
                } else {
                    layer_names.insert(name.name.clone(), name.span);
                }
            }
            let mut width = None;
            let mut activation = Activation::Identity;
            let mut bias = true;
            let mut positional = 0;
            for a in &l.args {
                let slot = match &a.name {
                    Some(n) => match n.name.as_str() {
                        "width" | "units" => 0,
                        "activation" => 1,
                        "bias" => 2,
                        other => {
                            let d =
                                Diagnostic::error(format!("dense has no option '{other}'"), n.span);
                            self.err(match did_you_mean(other, ["width", "activation", "bias"]) {
                                Some(s) => d.with_help(format!("did you mean '{s}'?")),
                                None => d.with_help(
                                    "dense takes a width, an activation and `bias = false`",
                                ),
                            });
                            continue;
                        }
                    },
                    None => {
                        positional += 1;
                        positional - 1
                    }
                };
                match slot {
                    0 => width = self.layer_width(&a.value),
                    1 => {
                        if let Some(act) = self.activation(&a.value) {
                            activation = act;
                        }
                    }
                    2 => match a.value.kind {
                        ast::ExprKind::Bool(b) => bias = b,
                        _ => self.err(Diagnostic::error("bias takes true or false", a.value.span)),
                    },
                    _ => self.err(
                        Diagnostic::error(
                            "dense takes at most a width and an activation before its options",
                            a.span,
                        )
                        .with_help("write dense(50, tanh) or dense(50, tanh, bias = false)"),
                    ),
                }
            }
            let Some(width) = width else {
                if l.args
                    .iter()
                    .all(|a| a.name.as_ref().is_some_and(|n| n.name != "width"))
                {
                    self.err(
                        Diagnostic::error("dense needs a width", l.span)
                            .with_help("write dense(50, tanh)"),
                    );
                }
                continue;
            };
            let label = l
                .name
                .as_ref()
                .map(|n| n.name.clone())
                .unwrap_or_else(|| index.to_string());
            let weight_param = self.model.params.len();
            self.model.params.push(Param {
                name: format!("{}.{label}.weight", n.name.name),
                shape: Shape::Matrix(width.clone(), fan_in.clone()),
                constraint: Constraint::None,
                origin: ParamOrigin::Weight {
                    net: net_idx,
                    layer: layers.len(),
                },
                prior: placeholder_prior(),
                span: l.span,
            });
            let bias_param = bias.then(|| {
                self.model.params.push(Param {
                    name: format!("{}.{label}.bias", n.name.name),
                    shape: Shape::Vector(width.clone()),
                    constraint: Constraint::None,
                    origin: ParamOrigin::Bias {
                        net: net_idx,
                        layer: layers.len(),
                    },
                    prior: placeholder_prior(),
                    span: l.span,
                });
                self.model.params.len() - 1
            });
            layers.push(Layer {
                index: layers.len(),
                name: l.name.as_ref().map(|n| n.name.clone()),
                width: width.clone(),
                fan_in: fan_in.clone(),
                activation,
                bias,
                weight_param,
                bias_param,
                span: l.span,
            });
            fan_in = width;
        }
        self.model.networks.push(Network {
            name: n.name.name.clone(),
            input_width: Dim::Sym(format!("{}.input", n.name.name)),
            layers,
            span,
        });
    }

    fn layer_width(&mut self, e: &ast::Expr) -> Option<Dim> {
        match &e.kind {
            ast::ExprKind::Num(v) if *v >= 1.0 && v.fract() == 0.0 && *v < 1e9 => {
                Some(Dim::Lit(*v as usize))
            }
            ast::ExprKind::Var(s) if self.dims.contains(s) => Some(Dim::Sym(s.clone())),
            ast::ExprKind::Var(s) if Activation::from_name(s).is_some() => {
                self.err(
                    Diagnostic::error(
                        format!("expected the layer's width before the activation '{s}'"),
                        e.span,
                    )
                    .with_help(format!("write dense(50, {s})")),
                );
                None
            }
            _ => {
                self.err(
                    Diagnostic::error(
                        "a layer width must be a positive whole number or a size such as K",
                        e.span,
                    )
                    .with_help("write dense(50, tanh)"),
                );
                None
            }
        }
    }

    fn activation(&mut self, e: &ast::Expr) -> Option<Activation> {
        if let ast::ExprKind::Var(s) = &e.kind {
            if let Some(a) = Activation::from_name(s) {
                return Some(a);
            }
            let names = Activation::ALL.map(|a| a.name());
            let d = Diagnostic::error(format!("unknown activation '{s}'"), e.span);
            self.err(match did_you_mean(s, names) {
                Some(x) => d.with_help(format!("did you mean '{x}'?")),
                None => d.with_help(format!("the activations are {}", names.join(", "))),
            });
            return None;
        }
        self.err(Diagnostic::error(
            "expected an activation such as tanh or relu",
            e.span,
        ));
        None
    }

    /// Sets each network's input width from its call sites; weights of layer 0 get their
    /// fan-in from there.
    fn fix_network_inputs(&mut self) {
        for i in 0..self.model.networks.len() {
            let placeholder = Dim::Sym(format!("{}.input", self.model.networks[i].name));
            let Some((width, _)) = self.net_inputs.get(&i).cloned() else {
                let n = &self.model.networks[i];
                // A network without layers, or one whose use already failed, was reported.
                if n.layers.is_empty() || self.nets_mentioned.contains(&i) {
                    continue;
                }
                self.diags.push(
                    Diagnostic::error(
                        format!(
                            "network '{}' is never called, so its input width is unknown",
                            n.name
                        ),
                        n.span,
                    )
                    .with_help(format!(
                        "use it in the likelihood, e.g. y ~ normal({}(x), sigma)",
                        n.name
                    )),
                );
                continue;
            };
            let net = &mut self.model.networks[i];
            net.input_width = width.clone();
            for l in &mut net.layers {
                if l.fan_in == placeholder {
                    l.fan_in = width.clone();
                    let p = &mut self.model.params[l.weight_param];
                    p.shape = Shape::Matrix(l.width.clone(), width.clone());
                }
            }
        }
    }

    /// Checks `let name = value` in a block, binds the name for the rest of the block and
    /// returns the checked binding (None after an error, which poisons the name).
    fn let_binding(
        &mut self,
        name: &ast::Ident,
        value: &ast::Expr,
        span: Span,
        scope: Scope,
        index: usize,
    ) -> Option<Let> {
        let checked = self.expr(value, scope);
        let Some(e) = checked else {
            self.poisoned.insert(name.name.clone());
            return None;
        };
        if !self.local_free(name) {
            return None;
        }
        self.locals
            .push((name.name.clone(), index, name.span, e.shape.clone()));
        Some(Let {
            name: name.name.clone(),
            value: e,
            span,
        })
    }

    // ----- statements -----

    fn likelihood_block(&mut self, stmts: &[&ast::Stmt]) {
        self.locals.clear();
        for s in stmts {
            match s {
                ast::Stmt::Let { name, value, .. } => {
                    let idx = self.model.likelihood_lets.len();
                    if let Some(l) = self.let_binding(name, value, s.span(), Scope::Likelihood, idx)
                    {
                        self.model.likelihood_lets.push(l);
                        self.model.likelihood.push(LikelihoodStmt::Let(idx));
                    }
                }
                ast::Stmt::Assign { name, span, .. } => self.err(
                    Diagnostic::error("assignments belong in the predict block", *span)
                        .with_help(format!("bind a value with `let {} = ...`", name.name)),
                ),
                ast::Stmt::Tilde {
                    target,
                    dist,
                    args,
                    span,
                } => {
                    let tname = target.text();
                    let data_idx = match (
                        target.segments.len(),
                        self.names.get(&target.segments[0].name),
                    ) {
                        (1, Some((Binding::Data(i), _))) => Some(*i),
                        (1, Some((Binding::Param(_), _))) => {
                            self.err(msg::likelihood_on_param(&tname, target.span));
                            None
                        }
                        (1, None) => {
                            let cands: Vec<String> = self.data_names();
                            let sugg = did_you_mean(&tname, cands.iter().map(String::as_str));
                            self.err(msg::undefined_name(&tname, target.span, sugg));
                            None
                        }
                        _ => {
                            self.err(msg::likelihood_target(&tname, target.span));
                            None
                        }
                    };
                    let d = self.distribution(dist);
                    let args: Vec<Option<Expr>> = args
                        .iter()
                        .map(|a| self.expr(a, Scope::Likelihood))
                        .collect();
                    let (Some(i), Some(d)) = (data_idx, d) else {
                        continue;
                    };
                    if args.len() != d.arg_names().len() {
                        self.err(msg::dist_arity(
                            d,
                            args.len(),
                            Span::new(dist.span.start, span.end),
                        ));
                        continue;
                    }
                    let Some(args) = args.into_iter().collect::<Option<Vec<_>>>() else {
                        continue;
                    };
                    let decl = self.model.data[i].clone();
                    let shape = data_shape(&decl.ty);
                    let is_int = matches!(decl.ty, DataType::Int | DataType::IntArray(_));
                    if d.is_discrete() && !is_int {
                        self.err(msg::needs_int_data(d, &tname, target.span));
                        continue;
                    }
                    if !self.dist_args(d, &args, &tname, &shape, span) {
                        continue;
                    }
                    if d == Distribution::CategoricalLogit {
                        if let (Some(u), Shape::Matrix(_, Dim::Lit(k))) =
                            (decl.upper, &args[0].shape)
                        {
                            if u > (*k as f64) - 1.0 {
                                self.err(
                                    Diagnostic::error(
                                        format!("'{tname}' allows labels up to {u}, but the logits have {k} columns (labels 0 to {})", k - 1),
                                        args[0].span,
                                    )
                                    .with_help(format!("end the network with dense({}), one logit per class", u as usize + 1)),
                                );
                                continue;
                            }
                        }
                    }
                    if let Some(range) = self.int_range(d, &args) {
                        self.model.data[i].int_range = Some(range);
                    }
                    self.model
                        .likelihood
                        .push(LikelihoodStmt::Term(LikelihoodTerm {
                            observed: tname,
                            shape,
                            dist: d,
                            args,
                            span: *span,
                        }));
                }
            }
        }
        self.locals.clear();
    }

    fn predict_block(&mut self, stmts: &[&ast::Stmt]) {
        self.locals.clear();
        for s in stmts {
            match s {
                ast::Stmt::Let { name, value, .. } => {
                    let idx = self.model.predict_lets.len();
                    if let Some(l) = self.let_binding(name, value, s.span(), Scope::Predict, idx) {
                        self.model.predict_lets.push(l);
                        self.model.predict.push(PredictStmt::Let(idx));
                    }
                }
                ast::Stmt::Assign { name, value, span } => {
                    let checked = self.expr(value, Scope::Predict);
                    if checked.is_none() {
                        self.poisoned.insert(name.name.clone());
                    }
                    if let Some(e) = checked {
                        if self.local_free(name) {
                            self.predicted.push((
                                name.name.clone(),
                                self.model.predict.len(),
                                e.shape.clone(),
                            ));
                            self.model.predict.push(PredictStmt::Assign {
                                name: name.name.clone(),
                                value: e,
                                span: *span,
                            });
                        }
                    }
                }
                ast::Stmt::Tilde {
                    target,
                    dist,
                    args,
                    span,
                } => {
                    let d = self.distribution(dist);
                    let args: Vec<Option<Expr>> =
                        args.iter().map(|a| self.expr(a, Scope::Predict)).collect();
                    if target.segments.len() != 1 {
                        self.err(
                            Diagnostic::error(
                                format!(
                                    "'{}' cannot be drawn here; predict draws new names",
                                    target.text()
                                ),
                                target.span,
                            )
                            .with_help("write `y_rep ~ normal(mu, sigma)`"),
                        );
                        continue;
                    }
                    let name = &target.segments[0];
                    let Some(d) = d else { continue };
                    if args.len() != d.arg_names().len() {
                        self.err(msg::dist_arity(
                            d,
                            args.len(),
                            Span::new(dist.span.start, span.end),
                        ));
                        continue;
                    }
                    let Some(args) = args.into_iter().collect::<Option<Vec<_>>>() else {
                        continue;
                    };
                    if !self.local_free(name) {
                        continue;
                    }
                    let mut shape = Shape::Scalar;
                    for (k, a) in args.iter().enumerate() {
                        if d == Distribution::CategoricalLogit {
                            shape = match &a.shape {
                                Shape::Matrix(r, _) => Shape::Vector(r.clone()),
                                _ => Shape::Scalar,
                            };
                        } else if d == Distribution::BinomialLogit && k == 0 {
                            continue;
                        } else {
                            match broadcast(&shape, &a.shape) {
                                Some((s, _)) => shape = s,
                                None => {
                                    self.err(msg::shape_mismatch(
                                        "the arguments of this draw",
                                        &shape,
                                        &a.shape,
                                        a.span,
                                    ));
                                }
                            }
                        }
                    }
                    self.predicted.push((
                        name.name.clone(),
                        self.model.predict.len(),
                        shape.clone(),
                    ));
                    self.model.predict.push(PredictStmt::Draw {
                        name: name.name.clone(),
                        shape,
                        dist: d,
                        args,
                        span: *span,
                    });
                }
            }
        }
        self.locals.clear();
    }

    fn prior_block(&mut self, stmts: &[&ast::Stmt]) {
        self.locals.clear();
        for s in stmts {
            match s {
                ast::Stmt::Let { name, value, .. } => {
                    let idx = self.model.prior_lets.len();
                    let scope = Scope::Prior { fan_in: false };
                    if let Some(l) = self.let_binding(name, value, s.span(), scope, idx) {
                        self.model.prior_lets.push(l);
                    }
                }
                ast::Stmt::Assign { name, span, .. } => self.err(
                    Diagnostic::error("assignments belong in the predict block", *span)
                        .with_help(format!("write a prior as `{} ~ normal(0, 1)`", name.name)),
                ),
                ast::Stmt::Tilde {
                    target,
                    dist,
                    args,
                    span,
                } => self.prior_stmt(target, dist, args, *span),
            }
        }
        self.locals.clear();
    }

    fn prior_stmt(
        &mut self,
        target: &ast::Path,
        dist: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
    ) {
        let covered = self.resolve_path(target);
        let is_group = covered.as_ref().is_some_and(|(c, _)| {
            c.iter()
                .any(|&p| self.model.params[p].origin != ParamOrigin::Declared)
        });
        let d = self.distribution(dist);
        let args: Vec<Option<Expr>> = args
            .iter()
            .map(|a| self.expr(a, Scope::Prior { fan_in: is_group }))
            .collect();
        if let Some((c, _)) = &covered {
            self.attempted.extend(c.iter().copied());
        }
        let (Some((covered, spec)), Some(d)) = (covered, d) else {
            return;
        };
        if d.is_discrete() {
            self.err(msg::discrete_prior(d, dist.span));
            return;
        }
        if args.len() != d.arg_names().len() {
            self.err(msg::dist_arity(
                d,
                args.len(),
                Span::new(dist.span.start, span.end),
            ));
            return;
        }
        let Some(args) = args.into_iter().collect::<Option<Vec<_>>>() else {
            return;
        };
        for (k, a) in args.iter().enumerate() {
            if let ExprKind::Const(v) = a.kind {
                if d.positive_args().contains(&k) && v <= 0.0 {
                    self.err(msg::nonpositive_arg(d, k, v, a.span));
                    return;
                }
            }
        }
        // A parameter's own prior does not count as a use of it (hierarchical uses are others).
        for a in &args {
            for p in &covered {
                if expr_mentions(a, *p) {
                    self.err(
                        Diagnostic::error(
                            format!(
                                "the prior of '{}' refers to '{}' itself",
                                self.model.params[*p].name, self.model.params[*p].name
                            ),
                            a.span,
                        )
                        .with_help("a prior's arguments are constants, data or other parameters"),
                    );
                    return;
                }
            }
        }
        if let Some(w) = flat_scale(d, &args) {
            self.err(msg::flat_prior(d, w, dist.span));
        }
        for p in covered {
            let param_shape = self.model.params[p].shape.clone();
            let pname = self.model.params[p].name.clone();
            let mut ok = true;
            for (k, a) in args.iter().enumerate() {
                let fits = a.shape == Shape::Scalar
                    || (self.model.params[p].origin == ParamOrigin::Declared
                        && same_shape(&a.shape, &param_shape) != Some(false));
                if !fits {
                    self.err(msg::arg_shape(d, k, &a.shape, &pname, &param_shape, a.span));
                    ok = false;
                }
            }
            if !ok {
                return;
            }
            if let Some((old_spec, old_span)) = self.prior_spec.get(&p).copied() {
                if old_spec == spec {
                    self.err(msg::duplicate_prior(&pname, target.span, old_span));
                    continue;
                }
                if old_spec > spec {
                    continue;
                }
            }
            let Some(truncation) = self.truncation(p, d, &args, dist.span) else {
                continue;
            };
            self.prior_spec.insert(p, (spec, target.span));
            self.model.params[p].prior = Prior {
                dist: d,
                args: args.clone(),
                path: target.text(),
                truncation,
                span,
            };
        }
    }

    /// Decides how the prior is normalized against the parameter's constraint, or reports why
    /// they disagree.
    fn truncation(
        &mut self,
        p: usize,
        d: Distribution,
        args: &[Expr],
        span: Span,
    ) -> Option<Truncation> {
        let param = &self.model.params[p];
        let c = param.constraint;
        let name = param.name.clone();
        let (lo, hi) = c.bounds();
        let consts: Vec<Option<f64>> = args
            .iter()
            .map(|a| {
                if let ExprKind::Const(v) = a.kind {
                    Some(v)
                } else {
                    None
                }
            })
            .collect();
        let all_const = consts.iter().all(Option::is_some);
        let cut = |this: &mut Checker, lower: f64, upper: f64| -> Option<Truncation> {
            if d.has_cdf() {
                Some(Truncation::Cdf { lower, upper })
            } else if all_const {
                this.err(msg::truncation_constant(&name, d, span));
                Some(Truncation::ConstantOffset)
            } else {
                this.err(msg::truncation_unnormalized(&name, d, span));
                None
            }
        };
        match d.support() {
            Support::Real => {
                if c == Constraint::None {
                    return Some(Truncation::None);
                }
                let loc = d.location_arg().and_then(|i| consts[i]);
                match (c, loc) {
                    (Constraint::Lower(l), Some(m)) | (Constraint::Upper(l), Some(m)) if l == m => {
                        Some(Truncation::Half)
                    }
                    _ => cut(self, lo, hi),
                }
            }
            Support::Positive => {
                if lo < 0.0 || c == Constraint::None || matches!(c, Constraint::Upper(_)) {
                    let fix = format!("`{name}: real<lower=0>`");
                    self.err(msg::support_mismatch(
                        &name,
                        c,
                        d,
                        "positive values",
                        &fix,
                        span,
                    ));
                    return None;
                }
                if lo == 0.0 && hi.is_infinite() {
                    Some(Truncation::None)
                } else {
                    cut(self, lo, hi)
                }
            }
            Support::Unit => {
                if !(lo >= 0.0 && hi <= 1.0) {
                    let fix = format!("`{name}: real<lower=0, upper=1>`");
                    self.err(msg::support_mismatch(
                        &name,
                        c,
                        d,
                        "values between 0 and 1",
                        &fix,
                        span,
                    ));
                    return None;
                }
                if lo == 0.0 && hi == 1.0 {
                    Some(Truncation::None)
                } else {
                    cut(self, lo, hi)
                }
            }
            Support::BetweenArgs => {
                let (Some(a), Some(b)) = (consts[0], consts[1]) else {
                    self.err(
                        Diagnostic::error("the bounds of a uniform prior must be numbers", span)
                            .with_help(
                                "a uniform prior's support must match the parameter's constraint",
                            ),
                    );
                    return None;
                };
                if lo < a || hi > b {
                    let fix = format!("`{name}: real<lower={a}, upper={b}>`");
                    let support = format!("values between {a} and {b}");
                    self.err(msg::support_mismatch(&name, c, d, &support, &fix, span));
                    return None;
                }
                if lo == a && hi == b {
                    Some(Truncation::None)
                } else {
                    Some(Truncation::Cdf {
                        lower: lo,
                        upper: hi,
                    })
                }
            }
            Support::Binary | Support::Count | Support::Label | Support::UpToTrials => None,
        }
    }

    /// The parameters a prior path covers, and how specific the path is.
    fn resolve_path(&mut self, path: &ast::Path) -> Option<(Vec<usize>, u8)> {
        let segs = &path.segments;
        let head = &segs[0].name;
        match self.names.get(head).cloned() {
            Some((Binding::Data(_), _)) => {
                self.err(msg::prior_on_data(head, path.span));
                None
            }
            Some((Binding::Dim, _)) => {
                self.err(Diagnostic::error(
                    format!("'{head}' is a size bound from the data, so it cannot have a prior"),
                    path.span,
                ));
                None
            }
            Some((Binding::Param(p), _)) => {
                if segs.len() > 1 {
                    self.err(msg::unknown_path(
                        &path.text(),
                        path.span,
                        Some(head.clone()),
                    ));
                    return None;
                }
                Some((vec![p], 5))
            }
            Some((Binding::Network(n), _)) => {
                let net = self.model.networks[n].clone();
                let all: Vec<usize> = net
                    .layers
                    .iter()
                    .flat_map(|l| std::iter::once(l.weight_param).chain(l.bias_param))
                    .collect();
                let kind = |l: &Layer, k: &str| -> Vec<usize> {
                    match k {
                        "weight" => vec![l.weight_param],
                        _ => l.bias_param.into_iter().collect(),
                    }
                };
                let layer_of = |s: &str| -> Option<&Layer> {
                    net.layers.iter().find(|l| {
                        l.name.as_deref() == Some(s)
                            || (l.name.is_none() && l.index.to_string() == s)
                            || l.index.to_string() == s
                    })
                };
                let mut candidates: Vec<String> =
                    vec![format!("{}.weight", net.name), format!("{}.bias", net.name)];
                for l in &net.layers {
                    candidates.push(format!("{}.{}", net.name, l.label()));
                    candidates.push(format!("{}.{}.weight", net.name, l.label()));
                    candidates.push(format!("{}.{}.bias", net.name, l.label()));
                }
                let text = path.text();
                let result = match segs.len() {
                    1 => Some((all, 1)),
                    2 if segs[1].name == "weight" || segs[1].name == "bias" => {
                        let v: Vec<usize> = net
                            .layers
                            .iter()
                            .flat_map(|l| kind(l, &segs[1].name))
                            .collect();
                        Some((v, 2))
                    }
                    2 => layer_of(&segs[1].name).map(|l| {
                        (
                            std::iter::once(l.weight_param)
                                .chain(l.bias_param)
                                .collect(),
                            3,
                        )
                    }),
                    3 if segs[2].name == "weight" || segs[2].name == "bias" => {
                        layer_of(&segs[1].name).map(|l| (kind(l, &segs[2].name), 4))
                    }
                    _ => None,
                };
                // Point at the first segment that names nothing.
                let is_kind = |s: &str| s == "weight" || s == "bias";
                let bad_seg = if segs.len() >= 2
                    && !is_kind(&segs[1].name)
                    && layer_of(&segs[1].name).is_none()
                {
                    segs[1].span
                } else if segs.len() >= 3 && (is_kind(&segs[1].name) || !is_kind(&segs[2].name)) {
                    segs[2].span
                } else if segs.len() > 3 {
                    segs[3].span
                } else {
                    segs[segs.len() - 1].span
                };
                match result {
                    Some((v, _)) if v.is_empty() => {
                        self.err(
                            Diagnostic::error(
                                format!("'{text}' names no parameter: the layer has no bias"),
                                bad_seg,
                            )
                            .with_help("remove this prior, or drop `bias = false` from the layer"),
                        );
                        None
                    }
                    Some(r) => Some(r),
                    None => {
                        let sugg = did_you_mean(&text, candidates.iter().map(String::as_str));
                        self.err(msg::unknown_path(&text, bad_seg, sugg));
                        None
                    }
                }
            }
            None => {
                let cands: Vec<String> = self
                    .model
                    .params
                    .iter()
                    .filter(|p| p.origin == ParamOrigin::Declared)
                    .map(|p| p.name.clone())
                    .chain(self.model.networks.iter().map(|n| n.name.clone()))
                    .collect();
                let sugg = did_you_mean(head, cands.iter().map(String::as_str));
                self.err(msg::undefined_name(head, segs[0].span, sugg));
                None
            }
        }
    }

    fn coverage(&mut self) {
        for p in 0..self.model.params.len() {
            if self.prior_spec.contains_key(&p) || self.attempted.contains(&p) {
                continue;
            }
            let param = &self.model.params[p];
            let hint = match param.origin {
                ParamOrigin::Declared => None,
                ParamOrigin::Weight { net, .. } => {
                    Some(format!("{}.weight", self.model.networks[net].name))
                }
                ParamOrigin::Bias { net, .. } => {
                    Some(format!("{}.bias", self.model.networks[net].name))
                }
            };
            let d = msg::missing_prior(&param.name, param.span, hint.as_deref());
            self.diags.push(d);
        }
    }

    fn unused(&mut self) {
        // A field is used when an expression reads it, the likelihood observes it, or a type or
        // layer uses it as a size.
        let mut sizes: BTreeSet<String> = BTreeSet::new();
        let shapes = self
            .model
            .params
            .iter()
            .map(|p| p.shape.clone())
            .chain(self.model.data.iter().map(|d| data_shape(&d.ty)));
        for shape in shapes {
            match shape {
                Shape::Scalar => {}
                Shape::Vector(n) => {
                    if let Dim::Sym(s) = n {
                        sizes.insert(s);
                    }
                }
                Shape::Matrix(r, c) => {
                    for d in [r, c] {
                        if let Dim::Sym(s) = d {
                            sizes.insert(s);
                        }
                    }
                }
            }
        }
        for net in &self.model.networks {
            for l in &net.layers {
                if let Dim::Sym(s) = &l.width {
                    sizes.insert(s.clone());
                }
            }
        }
        for d in &self.model.data {
            if !self.used_data.contains(&d.name)
                && !self.observed.contains(&d.name)
                && !sizes.contains(&d.name)
            {
                self.diags.push(msg::unused_data(&d.name, d.span));
            }
        }
        for (i, p) in self.model.params.iter().enumerate() {
            if p.origin == ParamOrigin::Declared && !self.used.contains(&i) {
                self.diags.push(msg::unused_param(&p.name, p.span));
            }
        }
    }

    fn local_free(&mut self, name: &ast::Ident) -> bool {
        if let Some((_, first)) = self.names.get(&name.name) {
            let first = *first;
            self.err(msg::duplicate_name(&name.name, name.span, first));
            return false;
        }
        if let Some((_, _, first, _)) = self.locals.iter().find(|l| l.0 == name.name) {
            let first = *first;
            self.err(msg::duplicate_name(&name.name, name.span, first));
            return false;
        }
        if self.predicted.iter().any(|p| p.0 == name.name) {
            self.err(Diagnostic::error(
                format!("'{}' is already defined in the predict block", name.name),
                name.span,
            ));
            return false;
        }
        if Func::from_name(&name.name).is_some() || name.name == "fan_in" {
            self.err(Diagnostic::error(
                format!("'{}' is a built-in name and cannot be bound", name.name),
                name.span,
            ));
            return false;
        }
        true
    }

    fn data_names(&self) -> Vec<String> {
        self.model.data.iter().map(|d| d.name.clone()).collect()
    }

    fn distribution(&mut self, id: &ast::Ident) -> Option<Distribution> {
        let d = Distribution::from_name(&id.name);
        if d.is_none() {
            self.err(msg::unknown_distribution(&id.name, id.span));
        }
        d
    }

    /// Checks likelihood arguments against the observed shape.
    fn dist_args(
        &mut self,
        d: Distribution,
        args: &[Expr],
        target: &str,
        shape: &Shape,
        span: &Span,
    ) -> bool {
        let mut ok = true;
        for (k, a) in args.iter().enumerate() {
            if d == Distribution::CategoricalLogit {
                let rows = match shape {
                    Shape::Vector(n) => Some(n.clone()),
                    _ => None,
                };
                match (&a.shape, rows) {
                    (Shape::Matrix(r, _), Some(n)) => {
                        self.same_dim(
                            r,
                            &n,
                            a.span,
                            format!("the logits have {{a}} rows but '{target}' has {{b}} labels"),
                        );
                    }
                    (Shape::Vector(_), Some(_)) | (Shape::Scalar, _) | (_, None) => {
                        self.err(
                            Diagnostic::error(
                                format!("categorical_logit needs a matrix of logits with one row per label of '{target}', found a {}", a.shape),
                                a.span,
                            )
                            .with_help("end the network with dense(K), one logit per class"),
                        );
                        ok = false;
                    }
                }
                continue;
            }
            match same_shape(&a.shape, shape) {
                _ if a.shape == Shape::Scalar => {}
                Some(false) => {
                    self.err(msg::arg_shape(d, k, &a.shape, target, shape, a.span));
                    ok = false;
                }
                None => {
                    // Literal against symbol: decided at binding time.
                    if let (Shape::Vector(x), Shape::Vector(y)) = (&a.shape, shape) {
                        self.same_dim(
                            x,
                            y,
                            a.span,
                            format!(
                                "this argument has length {{a}} but '{target}' has {{b}} elements"
                            ),
                        );
                    } else {
                        self.err(msg::arg_shape(d, k, &a.shape, target, shape, a.span));
                        ok = false;
                    }
                }
                Some(true) => {}
            }
        }
        let _ = span;
        ok
    }

    fn int_range(&mut self, d: Distribution, args: &[Expr]) -> Option<IntRange> {
        match d {
            Distribution::BernoulliLogit => Some(IntRange {
                min: 0,
                max: Some(RangeMax::Lit(1)),
                reason: "outcomes of bernoulli_logit".into(),
            }),
            Distribution::PoissonLog => Some(IntRange {
                min: 0,
                max: None,
                reason: "counts of poisson_log".into(),
            }),
            Distribution::CategoricalLogit => {
                let k = match &args[0].shape {
                    Shape::Matrix(_, k) => k.clone(),
                    _ => return None,
                };
                let (max, reason) = match &k {
                    Dim::Lit(k) => (
                        RangeMax::Lit(*k as i64 - 1),
                        format!("labels of categorical_logit with {k} classes"),
                    ),
                    Dim::Sym(s) => (
                        RangeMax::BelowDim(s.clone()),
                        format!("labels of categorical_logit with {s} classes"),
                    ),
                };
                Some(IntRange {
                    min: 0,
                    max: Some(max),
                    reason,
                })
            }
            Distribution::BinomialLogit => {
                let max = match &args[0].kind {
                    ExprKind::Data(n) => Some(RangeMax::AtMostField(n.clone())),
                    ExprKind::Const(v) => Some(RangeMax::Lit(*v as i64)),
                    _ => None,
                };
                Some(IntRange {
                    min: 0,
                    max,
                    reason: "successes of binomial_logit".into(),
                })
            }
            _ => None,
        }
    }

    fn same_dim(&mut self, a: &Dim, b: &Dim, span: Span, message: String) {
        match dims_equal(a, b) {
            Some(true) => {}
            Some(false) => {
                let m = message
                    .replace("{a}", &a.to_string())
                    .replace("{b}", &b.to_string());
                self.err(Diagnostic::error(m, span));
            }
            None => self.model.deferred.push(DeferredDim {
                a: a.clone(),
                b: b.clone(),
                message,
                span,
            }),
        }
    }

    // ----- expressions -----

    fn expr(&mut self, e: &ast::Expr, scope: Scope) -> Option<Expr> {
        let span = e.span;
        let mk = |kind, shape| Some(Expr { kind, shape, span });
        match &e.kind {
            ast::ExprKind::Num(v) => {
                if !v.is_finite() {
                    self.err(Diagnostic::error("this number is not finite", span));
                    return None;
                }
                mk(ExprKind::Const(*v), Shape::Scalar)
            }
            ast::ExprKind::Bool(_) => {
                self.err(Diagnostic::error(
                    "true and false are only layer options",
                    span,
                ));
                None
            }
            ast::ExprKind::Var(name) => self.var(name, span, scope),
            ast::ExprKind::Neg(x) => {
                let x = self.expr(x, scope)?;
                if let ExprKind::Const(v) = x.kind {
                    return mk(ExprKind::Const(-v), Shape::Scalar);
                }
                let shape = x.shape.clone();
                mk(ExprKind::Neg(Box::new(x)), shape)
            }
            ast::ExprKind::Binary { op, lhs, rhs } => {
                let l = self.expr(lhs, scope);
                let r = self.expr(rhs, scope);
                let (l, r) = (l?, r?);
                let op = match op {
                    ast::BinOp::Add => BinOp::Add,
                    ast::BinOp::Sub => BinOp::Sub,
                    ast::BinOp::Mul => BinOp::Mul,
                    ast::BinOp::Div => BinOp::Div,
                    ast::BinOp::Pow => BinOp::Pow,
                };
                if let (ExprKind::Const(a), ExprKind::Const(b)) = (&l.kind, &r.kind) {
                    let v = match op {
                        BinOp::Add => a + b,
                        BinOp::Sub => a - b,
                        BinOp::Mul => a * b,
                        BinOp::Div => a / b,
                        BinOp::Pow => a.powf(*b),
                    };
                    if v.is_finite() {
                        return mk(ExprKind::Const(v), Shape::Scalar);
                    }
                }
                if op == BinOp::Mul {
                    if let (Shape::Matrix(rows, cols), Shape::Vector(n)) = (&l.shape, &r.shape) {
                        let (rows, cols, n) = (rows.clone(), cols.clone(), n.clone());
                        self.same_dim(
                            &cols,
                            &n,
                            span,
                            "the matrix has {a} columns but the vector has {b} elements".into(),
                        );
                        return mk(
                            ExprKind::MatVec {
                                matrix: Box::new(l),
                                vector: Box::new(r),
                            },
                            Shape::Vector(rows),
                        );
                    }
                    if let (Shape::Matrix(..), Shape::Matrix(..))
                    | (Shape::Vector(_), Shape::Matrix(..)) = (&l.shape, &r.shape)
                    {
                        self.err(
                            Diagnostic::error(
                                format!("cannot multiply a {} by a {}", l.shape, r.shape),
                                span,
                            )
                            .with_help(
                                "`*` multiplies a matrix by a vector, or anything by a number",
                            ),
                        );
                        return None;
                    }
                }
                match broadcast(&l.shape, &r.shape) {
                    Some((shape, deferred)) => {
                        if let Some((a, b)) = deferred {
                            self.same_dim(
                                &a,
                                &b,
                                span,
                                format!(
                                    "the operands of '{}' have sizes {{a}} and {{b}}",
                                    op.symbol()
                                ),
                            );
                        }
                        mk(
                            ExprKind::Binary {
                                op,
                                lhs: Box::new(l),
                                rhs: Box::new(r),
                            },
                            shape,
                        )
                    }
                    None => {
                        self.err(msg::shape_mismatch(
                            &format!("the operands of '{}'", op.symbol()),
                            &l.shape,
                            &r.shape,
                            span,
                        ));
                        None
                    }
                }
            }
            ast::ExprKind::Call { func, args } => self.call(func, args, span, scope),
            ast::ExprKind::Index { base, items } => {
                let b = self.expr(base, scope)?;
                let lit = |it: &IndexItem| -> Option<usize> {
                    match it {
                        IndexItem::At(ast::Expr {
                            kind: ast::ExprKind::Num(v),
                            ..
                        }) if *v >= 0.0 && v.fract() == 0.0 => Some(*v as usize),
                        _ => None,
                    }
                };
                let item_span = |it: &IndexItem| match it {
                    IndexItem::All(s) => *s,
                    IndexItem::At(e) => e.span,
                };
                match (&b.shape, items.as_slice()) {
                    (Shape::Matrix(rows, cols), [IndexItem::All(_), j]) if lit(j).is_some() => {
                        let jspan = item_span(j);
                        let j = lit(j).expect("checked");
                        let (rows, cols) = (rows.clone(), cols.clone());
                        if let Dim::Lit(c) = cols {
                            if j >= c {
                                self.err(
                                    Diagnostic::error(format!("column {j} is out of range for a matrix with {c} columns"), jspan)
                                        .with_help(format!("columns are numbered from 0 to {}", c - 1)),
                                );
                                return None;
                            }
                        }
                        mk(
                            ExprKind::Column {
                                base: Box::new(b),
                                col: j,
                            },
                            Shape::Vector(rows),
                        )
                    }
                    (Shape::Vector(n), [i]) if lit(i).is_some() => {
                        let ispan = item_span(i);
                        let i = lit(i).expect("checked");
                        if let Dim::Lit(n) = n {
                            if i >= *n {
                                self.err(
                                    Diagnostic::error(format!("index {i} is out of range for a vector of {n} elements"), ispan)
                                        .with_help(format!("elements are numbered from 0 to {}", n - 1)),
                                );
                                return None;
                            }
                        }
                        mk(
                            ExprKind::Element {
                                base: Box::new(b),
                                index: i,
                            },
                            Shape::Scalar,
                        )
                    }
                    _ => {
                        self.err(
                            Diagnostic::error(format!("cannot index a {} this way", b.shape), span)
                                .with_help("take a column with m[:, 0] or an element with v[0] (indexes start at 0)"),
                        );
                        None
                    }
                }
            }
        }
    }

    fn var(&mut self, name: &str, span: Span, scope: Scope) -> Option<Expr> {
        let mk = |kind, shape| Some(Expr { kind, shape, span });
        if let Some((_, idx, _, shape)) = self.locals.iter().rev().find(|l| l.0 == name) {
            return mk(ExprKind::Local(*idx), shape.clone());
        }
        if scope == Scope::Predict {
            if let Some((_, idx, shape)) = self.predicted.iter().find(|p| p.0 == name) {
                return mk(ExprKind::Predicted(*idx), shape.clone());
            }
        }
        if self.poisoned.contains(name) {
            return None;
        }
        if name == "fan_in" {
            if scope == (Scope::Prior { fan_in: true }) {
                return mk(ExprKind::FanIn, Shape::Scalar);
            }
            self.err(msg::fan_in_outside(span));
            return None;
        }
        match self.names.get(name).cloned() {
            Some((Binding::Data(i), _)) => {
                self.used_data.insert(name.to_string());
                if self.observed.contains(name) && scope != Scope::Likelihood {
                    self.err(msg::observed_outside_likelihood(name, scope.block(), span));
                    return None;
                }
                let shape = data_shape(&self.model.data[i].ty);
                mk(ExprKind::Data(name.to_string()), shape)
            }
            Some((Binding::Param(p), _)) => {
                self.used.insert(p);
                mk(ExprKind::Param(p), self.model.params[p].shape.clone())
            }
            Some((Binding::Network(n), _)) => {
                self.nets_mentioned.insert(n);
                self.err(msg::network_not_called(name, span));
                None
            }
            Some((Binding::Dim, _)) => mk(ExprKind::DimValue(name.to_string()), Shape::Scalar),
            None => {
                let mut cands: Vec<String> = self.names.keys().cloned().collect();
                cands.extend(self.locals.iter().map(|l| l.0.clone()));
                cands.extend(self.predicted.iter().map(|p| p.0.clone()));
                cands.sort();
                let sugg = did_you_mean(name, cands.iter().map(String::as_str));
                self.err(msg::undefined_name(name, span, sugg));
                None
            }
        }
    }

    fn call(
        &mut self,
        func: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        scope: Scope,
    ) -> Option<Expr> {
        let mk = |kind, shape| Some(Expr { kind, shape, span });
        if let Some((Binding::Network(n), _)) = self.names.get(&func.name).cloned() {
            self.nets_mentioned.insert(n);
            if args.len() != 1 {
                let at = args
                    .get(1)
                    .map(|a| a.span.join(args[args.len() - 1].span))
                    .unwrap_or(span);
                self.err(
                    Diagnostic::error(
                        format!(
                            "network '{}' takes one input matrix but is given {} arguments",
                            func.name,
                            args.len()
                        ),
                        at,
                    )
                    .with_help(format!(
                        "call it on one matrix of inputs, one row per observation: {}(x)",
                        func.name
                    )),
                );
                // Record the call so the network does not also look uncalled.
                if let Some(first) = args.first().and_then(|a| self.expr(a, scope)) {
                    if let Shape::Matrix(_, c) = &first.shape {
                        self.net_inputs.entry(n).or_insert((c.clone(), first.span));
                    }
                }
                return None;
            }
            let input = self.expr(&args[0], scope)?;
            let (rows, width) = match &input.shape {
                Shape::Matrix(r, c) => (r.clone(), c.clone()),
                Shape::Vector(r) => (r.clone(), Dim::Lit(1)),
                Shape::Scalar => {
                    self.err(
                        Diagnostic::error(format!("network '{}' needs a matrix of inputs, one row per observation, found a number", func.name), input.span)
                            .with_help("pass a data matrix such as x: matrix[N, D]"),
                    );
                    return None;
                }
            };
            match self.net_inputs.get(&n).cloned() {
                Some((w, _)) => {
                    let msg = format!("network '{}' is called on inputs with {{a}} columns here but {{b}} columns elsewhere", func.name);
                    self.same_dim(&width, &w, input.span, msg);
                }
                None => {
                    self.net_inputs.insert(n, (width, input.span));
                }
            }
            let out = self.model.networks[n].output_width();
            let shape = if out == Dim::Lit(1) {
                Shape::Vector(rows)
            } else {
                Shape::Matrix(rows, out)
            };
            return mk(
                ExprKind::Net {
                    net: n,
                    input: Box::new(input),
                },
                shape,
            );
        }
        let Some(f) = Func::from_name(&func.name) else {
            if Distribution::from_name(&func.name).is_some() {
                self.err(
                    Diagnostic::error(
                        format!("'{}' is a distribution; it goes after `~`", func.name),
                        func.span,
                    )
                    .with_help(format!("write `y ~ {}(...)`", func.name)),
                );
                return None;
            }
            let mut cands: Vec<&str> = Func::ALL.iter().map(|f| f.name()).collect();
            let nets: Vec<String> = self.model.networks.iter().map(|n| n.name.clone()).collect();
            cands.extend(nets.iter().map(String::as_str));
            let sugg = did_you_mean(&func.name, cands);
            self.err(msg::unknown_function(&func.name, func.span, sugg));
            return None;
        };
        let checked: Vec<Option<Expr>> = args.iter().map(|a| self.expr(a, scope)).collect();
        if args.len() != f.arity() {
            self.err(msg::func_arity(f.name(), f.arity(), args.len(), span));
            return None;
        }
        let args: Vec<Expr> = checked.into_iter().collect::<Option<_>>()?;
        let shape = match f {
            Func::Sum | Func::Mean => Shape::Scalar,
            Func::Dot => {
                match (&args[0].shape, &args[1].shape) {
                    (Shape::Vector(a), Shape::Vector(b)) => {
                        let (a, b) = (a.clone(), b.clone());
                        self.same_dim(
                            &a,
                            &b,
                            span,
                            "dot needs vectors of one length, found {a} and {b}".into(),
                        );
                    }
                    (a, b) => {
                        self.err(Diagnostic::error(
                            format!("dot needs two vectors, found a {a} and a {b}"),
                            span,
                        ));
                        return None;
                    }
                }
                Shape::Scalar
            }
            _ => args[0].shape.clone(),
        };
        mk(ExprKind::Call { func: f, args }, shape)
    }
}

fn placeholder_prior() -> Prior {
    Prior {
        dist: Distribution::Normal,
        args: Vec::new(),
        path: String::new(),
        truncation: Truncation::None,
        span: Span::default(),
    }
}

fn type_dims_error(ty: &ast::TypeExpr) -> Diagnostic {
    let (what, want) = match ty.base {
        ast::BaseType::Real => (
            "real",
            "none (a number) or one (real[N], the same as vector[N])",
        ),
        ast::BaseType::Int => ("int", "none (one integer) or one (int[N])"),
        ast::BaseType::Vector => ("vector", "one, as in vector[N]"),
        ast::BaseType::Matrix => ("matrix", "two, as in matrix[N, D]"),
    };
    Diagnostic::error(
        format!(
            "{what} takes {want} sizes, but {} {} given",
            ty.dims.len(),
            if ty.dims.len() == 1 { "was" } else { "were" }
        ),
        ty.dims_span,
    )
}

/// The shape of a data field as a value.
pub fn data_shape(ty: &DataType) -> Shape {
    match ty {
        DataType::Int | DataType::Real => Shape::Scalar,
        DataType::IntArray(n) | DataType::Vector(n) => Shape::Vector(n.clone()),
        DataType::Matrix(r, c) => Shape::Matrix(r.clone(), c.clone()),
    }
}

/// Whether two sizes are equal: `None` when only the data can tell (a literal and a symbol).
fn dims_equal(a: &Dim, b: &Dim) -> Option<bool> {
    match (a, b) {
        (Dim::Lit(x), Dim::Lit(y)) => Some(x == y),
        (Dim::Sym(x), Dim::Sym(y)) if x == y => Some(true),
        _ => None,
    }
}

fn same_shape(a: &Shape, b: &Shape) -> Option<bool> {
    match (a, b) {
        (Shape::Scalar, Shape::Scalar) => Some(true),
        (Shape::Vector(x), Shape::Vector(y)) => dims_equal(x, y),
        (Shape::Matrix(r1, c1), Shape::Matrix(r2, c2)) => {
            match (dims_equal(r1, r2), dims_equal(c1, c2)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            }
        }
        _ => Some(false),
    }
}

/// Elementwise broadcasting of scalars; returns the result shape and a size equality still to
/// verify with the data.
#[allow(clippy::type_complexity)]
fn broadcast(a: &Shape, b: &Shape) -> Option<(Shape, Option<(Dim, Dim)>)> {
    match (a, b) {
        (Shape::Scalar, s) | (s, Shape::Scalar) => Some((s.clone(), None)),
        (Shape::Vector(x), Shape::Vector(y)) => match dims_equal(x, y) {
            Some(true) => Some((a.clone(), None)),
            Some(false) => None,
            None => Some((a.clone(), Some((x.clone(), y.clone())))),
        },
        (Shape::Matrix(..), Shape::Matrix(..)) => match same_shape(a, b) {
            Some(false) => None,
            _ => Some((a.clone(), None)),
        },
        _ => None,
    }
}

fn expr_mentions(e: &Expr, p: usize) -> bool {
    match &e.kind {
        ExprKind::Param(q) => *q == p,
        ExprKind::Const(_)
        | ExprKind::Data(_)
        | ExprKind::DimValue(_)
        | ExprKind::Local(_)
        | ExprKind::Predicted(_)
        | ExprKind::FanIn => false,
        ExprKind::Neg(x) | ExprKind::Column { base: x, .. } | ExprKind::Element { base: x, .. } => {
            expr_mentions(x, p)
        }
        ExprKind::Binary { lhs, rhs, .. } => expr_mentions(lhs, p) || expr_mentions(rhs, p),
        ExprKind::MatVec { matrix, vector } => expr_mentions(matrix, p) || expr_mentions(vector, p),
        ExprKind::Call { args, .. } => args.iter().any(|a| expr_mentions(a, p)),
        ExprKind::Net { input, .. } => expr_mentions(input, p),
    }
}

/// The scale of a prior so wide it is nearly flat, if it is one.
fn flat_scale(d: Distribution, args: &[Expr]) -> Option<f64> {
    const WIDE: f64 = 1e3;
    let c = |i: usize| match args.get(i).map(|a| &a.kind) {
        Some(ExprKind::Const(v)) => Some(*v),
        _ => None,
    };
    let scale = match d {
        Distribution::Normal
        | Distribution::Cauchy
        | Distribution::Laplace
        | Distribution::Logistic => c(1),
        Distribution::StudentT => c(2),
        Distribution::Uniform => c(0).zip(c(1)).map(|(a, b)| b - a),
        _ => None,
    }?;
    (scale >= WIDE).then_some(scale)
}

/// Verifies the size equalities the checker deferred, once the data has bound every symbol.
pub fn verify_dims(model: &CheckedModel, dims: &BTreeMap<String, usize>) -> Vec<Diagnostic> {
    let value = |d: &Dim| match d {
        Dim::Lit(n) => Some(*n),
        Dim::Sym(s) => dims.get(s).copied(),
    };
    model
        .deferred
        .iter()
        .filter_map(|d| {
            let (a, b) = (value(&d.a)?, value(&d.b)?);
            (a != b).then(|| {
                Diagnostic::error(
                    d.message
                        .replace("{a}", &a.to_string())
                        .replace("{b}", &b.to_string()),
                    d.span,
                )
            })
        })
        .collect()
}
