//! Checks a syntax tree: names, shapes, constraints against priors, prior coverage; reports
//! every problem it finds and builds the [`CheckedModel`]. The `Checker` is defined here; its
//! methods live in one module per job, and every sentence it says in [`messages`].

mod coverage;
mod decls;
mod exprs;
mod layers;
mod likelihood;
mod messages;
mod networks;
mod predict;
mod priors;
mod scope;
mod shapes;

use crate::diagnostic::Diagnostic;
use crate::ir::*;
use crate::source::Span;
use crate::syntax::ast::{self, BlockBody, BlockKind};
use messages as msg;
use scope::Binding;
use std::collections::{BTreeSet, HashMap};

pub use crate::diagnostic::did_you_mean;
pub use shapes::verify_dims;

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

/// The checker's state while it walks one program; its methods are spread over this module's
/// children, one per job.
#[derive(Default)]
struct Checker {
    /// The model built so far.
    model: CheckedModel,
    /// Errors and warnings, in the order found.
    diags: Vec<Diagnostic>,
    /// Global names (data, params, networks, size symbols) and where each is declared.
    names: HashMap<String, (Binding, Span)>,
    /// Size symbols bound by the data block.
    dims: BTreeSet<String>,
    /// Locals of the block being checked: name → (index, span, shape).
    locals: Vec<(String, usize, Span, Shape)>,
    /// Predict outputs: name → (index, shape).
    predicted: Vec<(String, usize, Shape)>,
    /// Data fields the likelihood observes.
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
    /// Records a diagnostic.
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Checks every block, in the order their dependencies need.
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
}

/// The shape of a data field as a value (the path callers have used; see [`DataType::shape`]).
pub fn data_shape(ty: &DataType) -> Shape {
    ty.shape()
}
