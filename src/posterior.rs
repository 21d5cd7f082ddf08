//! A checked model bound to its data: the density engines sample, with per-chain evaluators,
//! the prior/likelihood split over chosen rows, and the per-draw outputs.

use crate::autodiff::{backward, forward, Workspace};
use crate::check::verify_dims;
use crate::data::BoundData;
use crate::density::{check_finite, Density, DensityError, Split, Target};
use crate::diagnostic::Diagnostic;
use crate::ir::CheckedModel;
use crate::lower::{lower, lower_outputs, row_symbol, ParamLayout, Program, Sizes, SlotKind};
use std::sync::Arc;

pub use crate::lower::UnconstrainError;

#[derive(Debug)]
struct Inner {
    model: CheckedModel,
    data: BoundData,
    sizes: Sizes,
    density: Program,
    outputs: Program,
    rows: usize,
}

/// A model bound to data. Cheap to clone (shared); implements [`Target`].
#[derive(Debug, Clone)]
pub struct Posterior {
    inner: Arc<Inner>,
}

/// Copies every data field a program uses into its initial arena (matrices column-major).
fn fill_data(program: &mut Program, data: &BoundData) {
    for s in &program.slots {
        if let SlotKind::Data(name) = &s.kind {
            let v = data
                .get(name)
                .expect("internal: data bound for every declared field");
            s.slot
                .write_row_major(&mut program.init, &v.values[..s.slot.len()]);
        }
    }
}

impl Posterior {
    /// Binds a checked model to data whose fields were validated against its declarations.
    /// Fails (with located errors) when sizes the checker deferred disagree with the data.
    pub fn new(model: &CheckedModel, data: BoundData) -> Result<Posterior, Vec<Diagnostic>> {
        let errors = verify_dims(model, &data.dims);
        if !errors.is_empty() {
            return Err(errors);
        }
        let sizes: Sizes = data.dims.clone();
        let mut density = lower(model, &sizes);
        fill_data(&mut density, &data);
        let mut outputs = lower_outputs(model, &sizes);
        fill_data(&mut outputs, &data);
        let rows = row_symbol(model)
            .and_then(|s| sizes.get(&s).copied())
            .unwrap_or(0);
        Ok(Posterior {
            inner: Arc::new(Inner {
                model: model.clone(),
                data,
                sizes,
                density,
                outputs,
                rows,
            }),
        })
    }

    /// The lowered log-density program.
    pub fn program(&self) -> &Program {
        &self.inner.density
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

    /// A fresh evaluator with its own scratch space.
    pub fn evaluator(&self) -> PosteriorEval {
        PosteriorEval {
            post: self.clone(),
            ws: Workspace::new(&self.inner.density),
            out_ws: Workspace::new(&self.inner.outputs),
            batch: None,
        }
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

/// A per-chain evaluator of a [`Posterior`].
#[derive(Debug)]
pub struct PosteriorEval {
    post: Posterior,
    ws: Workspace,
    out_ws: Workspace,
    /// The program and workspace for the last minibatch size used.
    batch: Option<(usize, Program, Workspace)>,
}

impl PosteriorEval {
    /// The posterior this evaluates.
    pub fn posterior(&self) -> &Posterior {
        &self.post
    }

    /// Prior and likelihood parts at θ, without the gradient.
    pub fn split(&mut self, theta: &[f64]) -> Result<crate::autodiff::Eval, DensityError> {
        forward::<false>(&self.post.inner.density, &mut self.ws, theta, None)
    }

    /// Writes the stored quantities for θ into `out` (length [`Posterior::output_len`]):
    /// constrained parameters then predict outputs, each row-major; `rng` drives the predict
    /// block's draws.
    pub fn outputs(
        &mut self,
        theta: &[f64],
        rng: &mut dyn rand::Rng,
        out: &mut [f64],
    ) -> Result<(), DensityError> {
        let p = &self.post.inner.outputs;
        let res = forward::<false>(p, &mut self.out_ws, theta, Some(rng));
        // The outputs program has no likelihood terms; a non-finite value there is reported
        // through the values themselves.
        let _ = res;
        let mut k = 0;
        for (_, slot, _) in &p.outputs {
            let s = p.slots[*slot].slot;
            let n = s.len();
            s.read_row_major(&self.out_ws.vals, &mut out[k..k + n]);
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
        let e = forward::<false>(&self.post.inner.density, &mut self.ws, theta, None)?;
        let v = e.prior + e.likelihood;
        check_finite(v, &[])
    }

    fn log_density_grad(&mut self, theta: &[f64], grad: &mut [f64]) -> Result<f64, DensityError> {
        let p = &self.post.inner.density;
        let e = forward::<true>(p, &mut self.ws, theta, None)?;
        backward(p, &mut self.ws, 1.0, grad);
        check_finite(e.prior + e.likelihood, grad)
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
        let inner = &self.post.inner;
        let n = inner.rows;
        if rows.len() == n && n > 0 && rows.iter().enumerate().all(|(i, &r)| i == r) {
            let e = forward::<true>(&inner.density, &mut self.ws, theta, None)?;
            backward(&inner.density, &mut self.ws, 1.0, grad);
            check_finite(e.prior + e.likelihood, grad)?;
            return Ok(Split {
                prior: e.prior,
                likelihood: e.likelihood,
            });
        }
        let b = rows.len();
        if self.batch.as_ref().is_none_or(|(size, _, _)| *size != b) {
            // Built once per batch size; sampling loops reuse it without allocating.
            let sym = row_symbol(&inner.model).expect("internal: minibatches need likelihood rows");
            let mut sizes = inner.sizes.clone();
            sizes.insert(sym, b);
            let mut prog = lower(&inner.model, &sizes);
            for s in &prog.slots.clone() {
                if let SlotKind::Data(name) = &s.kind {
                    if !prog.row_data.iter().any(|(r, _, _)| r == name) {
                        let v = inner.data.get(name).expect("internal: data bound");
                        s.slot
                            .write_row_major(&mut prog.init, &v.values[..s.slot.len()]);
                    }
                }
            }
            let ws = Workspace::new(&prog);
            self.batch = Some((b, prog, ws));
        }
        let (_, prog, ws) = self
            .batch
            .as_mut()
            .expect("internal: batch program built above");
        for (name, slot, cols) in &prog.row_data {
            let src = &inner.data.get(name).expect("internal: data bound").values;
            let s = prog.slots[*slot].slot;
            // Row r of the data becomes row k of the batch (column-major: stride B per column).
            for (k, &r) in rows.iter().enumerate() {
                for c in 0..*cols {
                    ws.vals[s.at(k, c)] = src[r * cols + c];
                }
            }
        }
        let scale = n as f64 / b as f64;
        let e = forward::<true>(prog, ws, theta, None)?;
        backward(prog, ws, scale, grad);
        check_finite(e.prior + scale * e.likelihood, grad)?;
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
}
