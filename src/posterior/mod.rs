//! A checked model bound to its data: the density engines sample (per-chain evaluators, the
//! prior/likelihood split over chosen rows), the per-draw outputs, and — in [`predictive`] — the
//! likelihood's arguments on new inputs.
//!
//! The checked model is lowered here, once per use: the log-density and the outputs when the
//! data is bound, each minibatch size once per posterior (shared by every evaluator), and the
//! likelihood's argument expressions once per chunk size of a prediction.

mod blocked;
mod dropout;
pub mod gradient_check;
pub mod predictive;

use crate::autodiff::pool::Pool;
use crate::autodiff::reference::forward_mode_gradient;
use crate::autodiff::tangent::hessian_vector;
use crate::autodiff::{
    backward, backward_weighted, forward, kink_sides, term_label, Eval, Workspace,
};
use crate::check::verify_dims;
use crate::data::BoundData;
use crate::density::{Curvature, Density, DensityError, DropoutSite, Split, Target, Weights};
use crate::diagnostic::Diagnostic;
use crate::ir::CheckedModel;
use crate::lower::{lower, lower_anchored, lower_outputs, row_symbol, Program, Sizes, SlotKind};
use blocked::{BlockPrograms, Blocked};
use std::sync::{Arc, Mutex};

pub use crate::autodiff::Cost;
pub use crate::lower::{ParamLayout, UnconstrainError};
pub use predictive::Predictive;

#[derive(Debug)]
struct Inner {
    model: CheckedModel,
    data: BoundData,
    sizes: Sizes,
    density: Program,
    outputs: Program,
    rows: usize,
    /// Warnings binding the data raised (fields the model does not declare), by position.
    warnings: Vec<Diagnostic>,
    /// The warnings rendered against the model's source; empty when there are none.
    rendered_warnings: String,
    /// Minibatch programs, lowered once per batch size (plain or anchored) and shared by every
    /// evaluator.
    batch_programs: Mutex<Vec<(usize, bool, Arc<Program>)>>,
    /// The anchored density on the full data, lowered the first time an evaluator is
    /// perturbed.
    anchored: std::sync::OnceLock<Arc<Program>>,
    /// The block programs of a large data set ([`blocked`]), decided the first time an
    /// evaluator is made.
    blocks: std::sync::OnceLock<Option<Arc<BlockPrograms>>>,
    /// The dropout layers in θ's terms.
    dropout_sites: Vec<DropoutSite>,
    /// The θ indices of the final dense layer.
    last_layer: Vec<usize>,
}

/// Likelihood rows from which a run splits each gradient over threads by default
/// ([`Posterior::auto_threads_per_chain`]).
pub const AUTO_THREADS_ROWS: usize = 10_000;

/// A model bound to data. Cheap to clone (shared); implements [`Target`].
#[derive(Debug, Clone)]
pub struct Posterior {
    inner: Arc<Inner>,
    /// Threads each evaluator splits its gradient over (1: none): a large data set's blocks of
    /// rows, or a large layer's matrix work.
    threads_per_chain: usize,
}

/// Copies every data field a program uses into its initial arena (matrices column-major);
/// with `skip_rows`, the fields sliced by row are left for the caller to fill per batch.
pub(crate) fn fill_data(program: &mut Program, data: &BoundData, skip_rows: bool) {
    for s in &program.slots {
        if let SlotKind::Data(name) = &s.kind {
            if skip_rows && program.row_data.iter().any(|(r, _, _)| r == name) {
                continue;
            }
            let v = data
                .get(name)
                .expect("internal: data bound for every declared field");
            s.slot
                .write_row_major(&mut program.init, &v.values[..s.slot.len()]);
        }
    }
}

/// The seam's view of a forward sweep: the first non-finite term, else a non-finite total (an
/// overflowing sum), is a recoverable error naming what it can.
fn checked_value(p: &Program, e: &Eval, value: f64) -> Result<f64, DensityError> {
    if let Some(index) = e.nonfinite {
        return Err(DensityError::NonFiniteValue {
            value,
            term: Some(term_label(p, index).to_string()),
        });
    }
    if !value.is_finite() {
        return Err(DensityError::NonFiniteValue { value, term: None });
    }
    Ok(value)
}

/// The first non-finite gradient component, as the seam reports it.
/// A block's value checked as [`checked_value`] checks the whole density's.
fn block_check(p: &Program, e: &Eval) -> Result<(), DensityError> {
    checked_value(p, e, e.prior + e.likelihood).map(|_| ())
}

fn checked_grad(grad: &[f64]) -> Result<(), DensityError> {
    match grad.iter().position(|g| !g.is_finite()) {
        Some(index) => Err(DensityError::NonFiniteGradient {
            index,
            value: grad[index],
        }),
        None => Ok(()),
    }
}

impl Posterior {
    /// Binds a checked model to data whose fields were validated against its declarations.
    /// Fails (with located errors) when sizes the checker deferred disagree with the data —
    /// the one place the data's sizes are verified against the model.
    pub fn new(model: &CheckedModel, data: BoundData) -> Result<Posterior, Vec<Diagnostic>> {
        Posterior::with_warnings(model, data, Vec::new(), String::new())
    }

    /// [`Posterior::new`], keeping the warnings binding raised (see [`Posterior::warnings`]).
    pub(crate) fn with_warnings(
        model: &CheckedModel,
        data: BoundData,
        warnings: Vec<Diagnostic>,
        rendered_warnings: String,
    ) -> Result<Posterior, Vec<Diagnostic>> {
        let errors = verify_dims(model, &data.dims);
        if !errors.is_empty() {
            return Err(errors);
        }
        let sizes: Sizes = data.dims.clone();
        let mut density = lower(model, &sizes);
        fill_data(&mut density, &data, false);
        let mut outputs = lower_outputs(model, &sizes);
        fill_data(&mut outputs, &data, false);
        let rows = row_symbol(model)
            .and_then(|s| sizes.get(&s).copied())
            .unwrap_or(0);
        let dropout_sites = dropout::dropout_sites(model, &density.layout);
        let last_layer = dropout::last_layer(model, &density.layout);
        Ok(Posterior {
            inner: Arc::new(Inner {
                model: model.clone(),
                data,
                sizes,
                density,
                outputs,
                rows,
                warnings,
                rendered_warnings,
                batch_programs: Mutex::new(Vec::new()),
                anchored: std::sync::OnceLock::new(),
                blocks: std::sync::OnceLock::new(),
                dropout_sites,
                last_layer,
            }),
            threads_per_chain: 1,
        })
    }

    /// This posterior with each evaluator splitting its gradient over `threads` threads,
    /// `threads − 1` of them its own: a large data set's groups of row blocks
    /// ([`Posterior::row_blocks`]), or else a large layer's matrix work (a dense layer of at
    /// least about a million multiply-adds). The log-density and gradient are the same bits for
    /// any number of threads, so the draws are too.
    pub fn with_threads_per_chain(&self, threads: usize) -> Posterior {
        Posterior {
            inner: Arc::clone(&self.inner),
            threads_per_chain: threads.max(1),
        }
    }

    /// The default threads per chain for `chains` chains run on `threads` worker threads (by
    /// default one per chain, up to the cores): with at least [`AUTO_THREADS_ROWS`] rows, the
    /// cores left over when every chain running at once has one; otherwise 1. Chains × threads
    /// per chain stays within the cores.
    pub fn auto_threads_per_chain(&self, threads: Option<usize>, chains: usize) -> usize {
        if self.n_rows() < AUTO_THREADS_ROWS {
            return 1;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let running = threads.unwrap_or(cores).clamp(1, chains.max(1));
        (cores / running).max(1)
    }

    /// Rows per block when the full-data log-density and gradient are evaluated in blocks of
    /// rows (data sets of at least 4,096 rows whose rows are independent; see
    /// `src/posterior/blocked.rs`), else `None`.
    pub fn row_blocks(&self) -> Option<usize> {
        self.block_programs().map(|_| blocked::BLOCK_ROWS)
    }

    /// Threads each evaluator uses (see [`Posterior::with_threads_per_chain`]).
    pub fn threads_per_chain(&self) -> usize {
        self.threads_per_chain
    }

    /// Warnings binding the data raised (a field the model does not declare, …), in source
    /// order; empty for a posterior made by [`Posterior::new`].
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.inner.warnings
    }

    /// The warnings rendered against the model's source, as the command line prints them;
    /// empty when there are none.
    pub fn rendered_warnings(&self) -> &str {
        &self.inner.rendered_warnings
    }

    /// The lowered log-density program.
    pub fn program(&self) -> &Program {
        &self.inner.density
    }

    /// Flops and transcendental evaluations of one log-density and one gradient of the
    /// full-data program, as `autodiff::cost` counts them.
    pub fn cost(&self) -> Cost {
        crate::autodiff::cost(&self.inner.density)
    }

    /// The program computing the stored quantities (parameters, then predict outputs).
    pub fn outputs_program(&self) -> &Program {
        &self.inner.outputs
    }

    /// Where each parameter lives in θ.
    pub fn layout(&self) -> &ParamLayout {
        &self.inner.density.layout
    }

    /// The checked model.
    pub fn model(&self) -> &CheckedModel {
        &self.inner.model
    }

    /// The bound sizes.
    pub fn sizes(&self) -> &Sizes {
        &self.inner.sizes
    }

    /// The bound data.
    pub fn data(&self) -> &BoundData {
        &self.inner.data
    }

    /// Number of likelihood rows N.
    pub fn n_rows(&self) -> usize {
        self.inner.rows
    }

    /// The model's dropout layers in θ's terms (see [`Density::dropout_sites`]).
    pub fn dropout_sites(&self) -> &[DropoutSite] {
        &self.inner.dropout_sites
    }

    /// Names and concrete dimensions of the stored quantities, in output order.
    pub fn output_shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.inner
            .outputs
            .outputs
            .iter()
            .map(|(n, _, d)| (n.clone(), d.clone()))
            .collect()
    }

    /// Number of stored scalars per draw.
    pub fn output_len(&self) -> usize {
        self.inner
            .outputs
            .outputs
            .iter()
            .map(|(_, _, d)| d.iter().product::<usize>())
            .sum()
    }

    /// A fresh evaluator of the log-density with its own scratch space.
    pub fn evaluator(&self) -> PosteriorEval {
        let threads = self.threads_per_chain;
        let pool = (threads > 1).then(|| Arc::new(Pool::new(threads)));
        let blocked = self.block_programs().map(|p| Blocked::new(p, pool.clone()));
        PosteriorEval {
            post: self.clone(),
            ws: None,
            pool,
            out: None,
            batch: None,
            perturbed: None,
            blocked,
        }
    }

    /// The block programs when the full-data density is evaluated in blocks of rows
    /// ([`blocked`]: at least [`blocked::MIN_ROWS`] rows and a program whose rows are
    /// independent); decided once, shared by every evaluator.
    fn block_programs(&self) -> Option<Arc<BlockPrograms>> {
        self.inner
            .blocks
            .get_or_init(|| {
                let inner = &self.inner;
                row_symbol(&inner.model)?;
                BlockPrograms::new(&inner.density, &inner.data, inner.rows, |b| {
                    self.batch_program(b, false)
                })
                .map(Arc::new)
            })
            .clone()
    }

    /// A fresh evaluator of the stored quantities alone, with scratch space for the outputs
    /// program only (no copy of the density's arena).
    pub fn output_evaluator(&self) -> OutputEval {
        OutputEval {
            post: self.clone(),
            ws: Workspace::new(&self.inner.outputs),
        }
    }

    /// The minibatch program for `b` rows (anchored or not): lowered the first time any
    /// evaluator asks for it, then shared. Its non-row data is filled in; row data (and row
    /// noise) is copied per batch.
    fn batch_program(&self, b: usize, anchored: bool) -> Arc<Program> {
        let mut cache = self
            .inner
            .batch_programs
            .lock()
            .expect("internal: batch program cache lock");
        if let Some((_, _, p)) = cache.iter().find(|(n, a, _)| *n == b && *a == anchored) {
            return p.clone();
        }
        let inner = &self.inner;
        let sym = row_symbol(&inner.model).expect("internal: minibatches need likelihood rows");
        let mut sizes = inner.sizes.clone();
        sizes.insert(sym, b);
        let mut prog = if anchored {
            lower_anchored(&inner.model, &sizes)
        } else {
            lower(&inner.model, &sizes)
        };
        fill_data(&mut prog, &inner.data, true);
        let prog = Arc::new(prog);
        cache.push((b, anchored, prog.clone()));
        prog
    }

    /// The anchored density on the full data (see [`crate::lower::lower_anchored`]).
    fn anchored_program(&self) -> Arc<Program> {
        self.inner
            .anchored
            .get_or_init(|| {
                let mut prog = lower_anchored(&self.inner.model, &self.inner.sizes);
                fill_data(&mut prog, &self.inner.data, false);
                Arc::new(prog)
            })
            .clone()
    }
}

impl Target for Posterior {
    type Evaluator = PosteriorEval;
    fn dim(&self) -> usize {
        self.inner.density.layout.dim()
    }
    fn evaluator(&self) -> PosteriorEval {
        Posterior::evaluator(self)
    }
}

/// A per-chain evaluator of a [`Posterior`]'s log-density.
#[derive(Debug)]
pub struct PosteriorEval {
    post: Posterior,
    /// The whole program's workspace, made the first time it is needed: a blocked evaluator's
    /// log-density and gradient never need it, and on a large data set it is the biggest thing
    /// a chain holds (every row's activations with their partials and adjoints).
    ws: Option<Workspace>,
    /// The threads a gradient is split over (`--threads-per-chain`), shared by the whole
    /// program's workspace and the blocks.
    pool: Option<Arc<Pool>>,
    /// The outputs evaluator, made the first time [`PosteriorEval::outputs`] is called.
    out: Option<OutputEval>,
    /// The shared program and this evaluator's workspace for the last minibatch size used.
    batch: Option<(usize, Arc<Program>, Workspace)>,
    /// The randomized objective, once [`Density::perturb`] has drawn one.
    perturbed: Option<Perturbed>,
    /// The full-data density in blocks of rows, for a large data set ([`blocked`]).
    blocked: Option<Blocked>,
}

/// An evaluator's randomized objective: the anchored program with its workspace and the noise
/// drawn for every noise slot (full length, row-major, so minibatches can slice row noise).
#[derive(Debug)]
struct Perturbed {
    program: Arc<Program>,
    ws: Workspace,
    noise: Vec<(String, Vec<f64>)>,
}

/// The whole program and its workspace in `ws`, made there on first use with `pool`.
fn whole<'a>(
    post: &'a Posterior,
    pool: &Option<Arc<Pool>>,
    ws: &'a mut Option<Workspace>,
) -> (&'a Program, &'a mut Workspace) {
    let program = &post.inner.density;
    let ws = ws.get_or_insert_with(|| {
        let mut ws = Workspace::new(program);
        ws.set_pool(pool.clone());
        ws
    });
    (program, ws)
}

impl PosteriorEval {
    /// The posterior this evaluates.
    pub fn posterior(&self) -> &Posterior {
        &self.post
    }

    /// Prior and likelihood parts at θ, without the gradient.
    pub fn split(&mut self, theta: &[f64]) -> Result<Eval, DensityError> {
        let (p, ws) = whole(&self.post, &self.pool, &mut self.ws);
        let e = forward::<false>(p, ws, theta, None);
        checked_value(p, &e, e.prior + e.likelihood)?;
        Ok(e)
    }

    /// log p(θ) and its gradient by forward-mode num-dual differentiation of the same program,
    /// one dual direction per coordinate: exact (no step size), slow, independent of the reverse
    /// sweep — the reference a gradient is checked against.
    pub fn reference_gradient(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let p = &self.post.inner.density;
        forward_mode_gradient(p, &p.init, theta, 1.0)
    }

    /// Which side of its kink every non-smooth operation's argument (a ReLU or ELU argument,
    /// `abs`, a laplace variate; one bit per element) lies on at θ: two points with different
    /// patterns have a kink between them.
    pub fn kink_sides(&mut self, theta: &[f64]) -> Vec<bool> {
        let (p, ws) = whole(&self.post, &self.pool, &mut self.ws);
        forward::<false>(p, ws, theta, None);
        kink_sides(p, &ws.vals)
    }

    /// Writes the stored quantities for θ into `out`; see [`OutputEval::outputs`].
    pub fn outputs(
        &mut self,
        theta: &[f64],
        rng: &mut dyn rand::Rng,
        out: &mut [f64],
    ) -> Result<(), DensityError> {
        let post = &self.post;
        self.out
            .get_or_insert_with(|| post.output_evaluator())
            .outputs(theta, rng, out)
    }
}

/// A per-chain evaluator of a [`Posterior`]'s stored quantities (constrained parameters, then
/// predict outputs), for the draws sinks.
#[derive(Debug)]
pub struct OutputEval {
    post: Posterior,
    ws: Workspace,
}

impl OutputEval {
    /// Writes the stored quantities for θ into `out` (length [`Posterior::output_len`]):
    /// constrained parameters then predict outputs, each row-major; `rng` drives the predict
    /// block's draws. A non-finite value shows up as such in `out`.
    pub fn outputs(
        &mut self,
        theta: &[f64],
        rng: &mut dyn rand::Rng,
        out: &mut [f64],
    ) -> Result<(), DensityError> {
        let p = &self.post.inner.outputs;
        // The outputs program has no likelihood terms; a non-finite value there is reported
        // through the values themselves.
        let _ = forward::<false>(p, &mut self.ws, theta, Some(rng));
        let mut k = 0;
        for (_, slot, _) in &p.outputs {
            let s = p.slots[*slot].slot;
            let n = s.len();
            s.read_row_major(&self.ws.vals, &mut out[k..k + n]);
            k += n;
        }
        Ok(())
    }
}

impl Density for PosteriorEval {
    fn dim(&self) -> usize {
        self.post.inner.density.layout.dim()
    }

    fn log_density(&mut self, theta: &[f64]) -> Result<f64, DensityError> {
        if let (Some(b), None) = (&self.blocked, &self.perturbed) {
            let (prior, likelihood) =
                b.evaluate::<false>(theta, (1.0, 1.0), &mut [], &block_check)?;
            return Ok(prior + likelihood);
        }
        let (p, ws) = self.full();
        let e = forward::<false>(p, ws, theta, None);
        checked_value(p, &e, e.prior + e.likelihood)
    }

    fn log_density_grad(&mut self, theta: &[f64], grad: &mut [f64]) -> Result<f64, DensityError> {
        if let (Some(b), None) = (&self.blocked, &self.perturbed) {
            let (prior, likelihood) = b.evaluate::<true>(theta, (1.0, 1.0), grad, &block_check)?;
            checked_grad(grad)?;
            return Ok(prior + likelihood);
        }
        let (p, ws) = self.full();
        let e = forward::<true>(p, ws, theta, None);
        let value = checked_value(p, &e, e.prior + e.likelihood)?;
        backward(p, ws, 1.0, grad);
        checked_grad(grad)?;
        Ok(value)
    }

    fn perturb(&mut self, rng: &mut dyn rand::Rng) -> usize {
        let program = self.post.anchored_program();
        let mut ws = match self.perturbed.take() {
            Some(p) => p.ws,
            None => Workspace::new(&program),
        };
        let mut noise = Vec::new();
        for info in &program.slots {
            if let SlotKind::Noise(name) = &info.kind {
                let values: Vec<f64> = (0..info.slot.len())
                    .map(|_| rand::RngExt::sample(rng, rand_distr::StandardNormal))
                    .collect();
                info.slot.write_row_major(&mut ws.vals, &values);
                noise.push((name.clone(), values));
            }
        }
        let count = noise.len();
        // A minibatch workspace holds the old noise: the next batch builds a fresh one.
        self.batch = None;
        self.perturbed = Some(Perturbed { program, ws, noise });
        count
    }

    fn n_rows(&self) -> usize {
        self.post.inner.rows
    }

    fn minibatch_grad(
        &mut self,
        theta: &[f64],
        rows: &[usize],
        grad: &mut [f64],
    ) -> Result<Split, DensityError> {
        self.weighted(theta, rows, None, grad)
    }

    fn minibatch_grad_weighted(
        &mut self,
        theta: &[f64],
        rows: &[usize],
        weights: Weights,
        grad: &mut [f64],
    ) -> Result<Split, DensityError> {
        self.weighted(theta, rows, Some(weights), grad)
    }

    fn dropout_sites(&self) -> &[DropoutSite] {
        self.post.dropout_sites()
    }

    fn hessian_vector(
        &mut self,
        theta: &[f64],
        v: &[f64],
        curvature: Curvature,
        hv: &mut [f64],
    ) -> Result<(), DensityError> {
        // The workspace's arena holds the constants and data (the anchored ones once
        // perturbed); the tangent sweep overwrites every other slot.
        let (p, ws) = self.full();
        let (grad, h) = hessian_vector(p, &ws.vals, theta, v, curvature, 1.0, 1.0);
        checked_grad(&grad)?;
        checked_grad(&h)?;
        hv.copy_from_slice(&h);
        Ok(())
    }

    fn last_layer(&self) -> &[usize] {
        &self.post.inner.last_layer
    }

    fn coordinate_name(&self, index: usize) -> String {
        let layout = &self.post.inner.density.layout;
        let Some(e) = layout
            .params
            .iter()
            .find(|e| (e.offset..e.offset + e.len()).contains(&index))
        else {
            return format!("theta[{index}]");
        };
        // θ holds each parameter row-major; indices are 1-based and joined by dots, as in the
        // draws' column names.
        let mut k = index - e.offset;
        let mut idx = vec![0; e.dims.len()];
        for (i, d) in e.dims.iter().enumerate().rev() {
            idx[i] = k % d + 1;
            k /= d;
        }
        if idx.is_empty() {
            e.name.clone()
        } else {
            let idx: Vec<String> = idx.iter().map(usize::to_string).collect();
            format!("{}.{}", e.name, idx.join("."))
        }
    }
}

impl Perturbed {
    /// The noise drawn for slot `name` (full length, row-major).
    fn noise_of(&self, name: &str) -> &[f64] {
        &self
            .noise
            .iter()
            .find(|(n, _)| n == name)
            .expect("internal: every noise slot drawn")
            .1
    }
}

impl PosteriorEval {
    /// The full-data program and workspace: the anchored ones once perturbed.
    fn full(&mut self) -> (&Program, &mut Workspace) {
        match &mut self.perturbed {
            Some(p) => (&p.program, &mut p.ws),
            None => whole(&self.post, &self.pool, &mut self.ws),
        }
    }

    /// Prior plus (N/B)·likelihood over `rows` with its gradient, the two parts weighted in
    /// the gradient by `weights` (both 1 when `None`).
    fn weighted(
        &mut self,
        theta: &[f64],
        rows: &[usize],
        weights: Option<Weights>,
        grad: &mut [f64],
    ) -> Result<Split, DensityError> {
        let (prior_w, lik_w) = weights.map_or((1.0, 1.0), |w| (w.prior, w.likelihood));
        let n = self.post.inner.rows;
        if rows.len() == n && n > 0 && rows.iter().enumerate().all(|(i, &r)| i == r) {
            if let (Some(b), None) = (&self.blocked, &self.perturbed) {
                let weights = (prior_w, lik_w);
                let (prior, likelihood) = b.evaluate::<true>(theta, weights, grad, &block_check)?;
                checked_grad(grad)?;
                return Ok(Split { prior, likelihood });
            }
            let (p, ws) = self.full();
            let e = forward::<true>(p, ws, theta, None);
            checked_value(p, &e, e.prior + e.likelihood)?;
            backward_weighted(p, ws, prior_w, lik_w, grad);
            checked_grad(grad)?;
            return Ok(Split {
                prior: e.prior,
                likelihood: e.likelihood,
            });
        }
        let b = rows.len();
        if self.batch.as_ref().is_none_or(|(size, _, _)| *size != b) {
            // The program is shared; only the workspace is this evaluator's. Sampling loops
            // reuse both without allocating.
            let prog = self.post.batch_program(b, self.perturbed.is_some());
            let mut ws = Workspace::new(&prog);
            // Noise that is not sliced by row (a prior's anchor) is the same in every batch.
            if let Some(p) = &self.perturbed {
                for info in &prog.slots {
                    if let SlotKind::Noise(name) = &info.kind {
                        if !prog.row_data.iter().any(|(r, _, _)| r == name) {
                            info.slot.write_row_major(&mut ws.vals, p.noise_of(name));
                        }
                    }
                }
            }
            self.batch = Some((b, prog, ws));
        }
        let inner = &self.post.inner;
        let perturbed = &self.perturbed;
        let (_, prog, ws) = self
            .batch
            .as_mut()
            .expect("internal: batch program built above");
        let src = |name: &str| match inner.data.get(name) {
            Some(v) => &v.values[..],
            None => perturbed
                .as_ref()
                .expect("internal: row noise only in an anchored program")
                .noise_of(name),
        };
        blocked::copy_rows(prog, &mut ws.vals, src, rows.iter().copied());
        let scale = n as f64 / b as f64;
        let e = forward::<true>(prog, ws, theta, None);
        checked_value(prog, &e, e.prior + scale * e.likelihood)?;
        backward_weighted(prog, ws, prior_w, lik_w * scale, grad);
        checked_grad(grad)?;
        Ok(Split {
            prior: e.prior,
            likelihood: scale * e.likelihood,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::api::Model;

    #[test]
    fn every_bundled_model_produces_finite_outputs() {
        // The outputs program (parameters, then predict draws) runs on the same kernels as the
        // density; at θ = 0 every output of every bundled model is finite.
        let mut n = 0;
        for entry in std::fs::read_dir("models").expect("models/") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "bnn") {
                continue;
            }
            let model = Model::from_file(&path).expect("model");
            let post = model.bind_file(path.with_extension("json")).expect("data");
            let theta = vec![0.0; post.layout().dim()];
            let mut out = vec![f64::NAN; post.output_len()];
            let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(2);
            post.evaluator()
                .outputs(&theta, &mut rng, &mut out)
                .expect("outputs");
            assert!(out.iter().all(|v| v.is_finite()), "{}", path.display());
            n += 1;
        }
        assert!(n >= 8);
    }

    #[test]
    fn outputs_are_row_major_and_match_a_hand_computed_network() {
        // classifier.bnn: logits = c(x) with c = dense(16, tanh) then dense(K); weights are
        // stored column-major inside the arena but come out row-major, as θ holds them.
        let model = Model::from_file("models/classifier.bnn").expect("model");
        let post = model.bind_file("models/classifier.json").expect("data");
        let d = post.layout().dim();
        let theta: Vec<f64> = (0..d)
            .map(|i| ((i * 37 % 101) as f64 - 50.0) / 60.0)
            .collect();
        let mut eval = post.evaluator();
        let mut out = vec![0.0; post.output_len()];
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
        eval.outputs(&theta, &mut rng, &mut out).expect("outputs");
        // Unconstrained parameters come out exactly as θ holds them.
        assert_eq!(&out[..d], &theta[..]);
        let entry = |name: &str| {
            let p = post.layout().params.iter().find(|p| p.name == name);
            p.expect("parameter").clone()
        };
        let (w0, b0, w1, b1) = (
            entry("c.0.weight"),
            entry("c.0.bias"),
            entry("c.1.weight"),
            entry("c.1.bias"),
        );
        let (hidden, k) = (w0.dims[0], w1.dims[0]);
        let x = &post.data().get("x").expect("x").values;
        let n = post.n_rows();
        let cols = x.len() / n;
        // logits[r, j] = b1[j] + Σ_h W1[j, h]·tanh(b0[h] + Σ_i W0[h, i]·x[r, i]), row-major
        let logits_at = d; // first predict output
        for r in 0..n {
            let a: Vec<f64> = (0..hidden)
                .map(|h| {
                    let z: f64 = (0..cols)
                        .map(|i| theta[w0.offset + h * cols + i] * x[r * cols + i])
                        .sum();
                    (theta[b0.offset + h] + z).tanh()
                })
                .collect();
            for j in 0..k {
                let z: f64 = (0..hidden)
                    .map(|h| theta[w1.offset + j * hidden + h] * a[h])
                    .sum();
                let want = theta[b1.offset + j] + z;
                let got = out[logits_at + r * k + j];
                assert!(
                    (got - want).abs() < 1e-12,
                    "row {r} class {j}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn weighted_gradients_split_the_prior_from_the_likelihood() {
        // regression_1d (sigma > 0, a 1-50-1 tanh network): ∇(a·prior + b·lik) = a·∇prior +
        // b·∇lik, both parts against central finite differences of their own values, on the
        // full data and on a minibatch (where the likelihood part is N/B times the batch's).
        use crate::density::{Density, Weights};
        let model = Model::from_file("models/regression_1d.bnn").expect("model");
        let post = model.bind_file("models/regression_1d.json").expect("data");
        let d = post.layout().dim();
        let theta: Vec<f64> = (0..d)
            .map(|i| ((i * 13 % 17) as f64 - 8.0) / 10.0)
            .collect();
        let mut eval = post.evaluator();
        let all: Vec<usize> = (0..post.n_rows()).collect();
        let batch: Vec<usize> = (0..post.n_rows()).step_by(3).collect();
        for rows in [&all[..], &batch[..]] {
            let w = |prior, likelihood| Weights { prior, likelihood };
            let (mut gp, mut gl, mut g) = (vec![0.0; d], vec![0.0; d], vec![0.0; d]);
            eval.minibatch_grad_weighted(&theta, rows, w(1.0, 0.0), &mut gp)
                .expect("finite");
            eval.minibatch_grad_weighted(&theta, rows, w(0.0, 1.0), &mut gl)
                .expect("finite");
            eval.minibatch_grad_weighted(&theta, rows, w(0.5, 2.0), &mut g)
                .expect("finite");
            for i in 0..d {
                let want = 0.5 * gp[i] + 2.0 * gl[i];
                assert!((g[i] - want).abs() < 1e-10 * (1.0 + want.abs()), "{i}");
            }
            let mut scratch = vec![0.0; d];
            for i in [0, 1, 60, d - 1] {
                let h = 1e-5;
                let mut t = theta.clone();
                t[i] += h;
                let up = eval.minibatch_grad(&t, rows, &mut scratch).expect("finite");
                t[i] -= 2.0 * h;
                let dn = eval.minibatch_grad(&t, rows, &mut scratch).expect("finite");
                let fd_p = (up.prior - dn.prior) / (2.0 * h);
                let fd_l = (up.likelihood - dn.likelihood) / (2.0 * h);
                assert!(
                    (fd_p - gp[i]).abs() < 1e-5 * (1.0 + gp[i].abs()),
                    "prior {i}"
                );
                assert!((fd_l - gl[i]).abs() < 1e-5 * (1.0 + gl[i].abs()), "lik {i}");
            }
        }
        // Weights (1, 1) are the plain gradient, bit for bit.
        let (mut a, mut b) = (vec![0.0; d], vec![0.0; d]);
        let both = Weights {
            prior: 1.0,
            likelihood: 1.0,
        };
        eval.minibatch_grad_weighted(&theta, &all, both, &mut a)
            .expect("finite");
        eval.log_density_grad(&theta, &mut b).expect("finite");
        assert_eq!(a, b);
    }
}
