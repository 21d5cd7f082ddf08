//! Evaluation of a lowered program: a forward sweep that saves local partials (computed by the
//! generic scalar formulas on num-dual numbers) and one reverse sweep that accumulates adjoints.
//! A slow generic evaluator gives the full forward-mode num-dual gradient used as a reference,
//! and the side of every kink tells a finite difference across one from a wrong gradient;
//! [`tangent`] runs the reverse sweep on dual numbers for Hessian-vector products.

mod backward;
mod cost;
mod dense;
mod forward;
mod gemm;
mod kinks;
pub(crate) mod pool;
pub mod reference;
pub mod scalar;
pub mod tangent;
mod term;
mod transpose;
pub(crate) use transpose::transpose;

pub use backward::{backward, backward_weighted};
pub use cost::{cost, Cost};
pub use forward::{forward, term_label, Eval};
pub use kinks::kink_sides;

use crate::ir::LayerKind;
use crate::lower::{Instr, Program};

/// Per-chain scratch space: the value arena (with saved partials) and the adjoint arena.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Values, initialized from the program's constants and data.
    pub vals: Vec<f64>,
    /// Adjoints, same layout as `vals`.
    pub adj: Vec<f64>,
    /// Arena ranges whose adjoints are cleared before each backward sweep.
    zero: Vec<std::ops::Range<usize>>,
    /// Room for the reverse sweep's kernels (a dense layer's accumulators).
    scratch: Vec<f64>,
    /// Threads the matrix kernels split large layers over (`None`: the calling thread only).
    pool: Option<std::sync::Arc<pool::Pool>>,
    /// Per instruction: a dense layer that is the only reader of its input, whose input's
    /// adjoint it therefore writes rather than adds to (that adjoint is not cleared).
    fresh: Vec<bool>,
    /// Per instruction: for such a layer whose input is another dense layer's activation, that
    /// layer's index; it finishes that layer's G as it writes dX (see `backward::Finish`).
    finish: Vec<Option<usize>>,
    /// Per instruction: a dense layer whose G and bias sums the reader of its activation
    /// finishes.
    finished: Vec<bool>,
}

/// Per instruction, for a dense layer that writes its input's adjoint ([`fresh_inputs`]): the
/// index of the dense layer with an activation whose output that input is. That adjoint is then
/// the producing layer's dL/dA and nothing else adds to it, so the reader can finish it as the
/// producer's G = dL/dA ⊙ act′ (and sum the producer's db) while each column is in cache,
/// saving the producer a pass over it.
fn finished_producers(p: &Program, fresh: &[bool]) -> Vec<Option<usize>> {
    p.instrs
        .iter()
        .zip(fresh)
        .map(|(ins, &f)| {
            let Instr::Layer { x, .. } = ins else {
                return None;
            };
            if !f {
                return None;
            }
            p.instrs.iter().position(|other| {
                matches!(other, Instr::Layer {
                    kind: LayerKind::Dense { activation, .. },
                    out,
                    ..
                } if out == x && *activation != crate::ir::Activation::Identity)
            })
        })
        .collect()
}

/// Per instruction of `p`, whether it is a dense layer whose input carries a gradient, is read
/// by no other instruction, and shares no arena place with another slot: in the reverse sweep
/// that layer is the input adjoint's only contributor, so it can write dX = G·W instead of
/// clearing dX and adding to it (a pass over a big layer's activations saved twice).
fn fresh_inputs(p: &Program) -> Vec<bool> {
    let mut uses = vec![0usize; p.slots.len()];
    for ins in &p.instrs {
        let mut count = |s: usize| uses[s] += 1;
        match ins {
            Instr::Constrain { .. } => {}
            Instr::Layer { kind, x, .. } => {
                count(*x);
                match kind {
                    LayerKind::Dense { weight, bias, .. } => {
                        count(*weight);
                        if let Some(b) = bias {
                            count(*b);
                        }
                    }
                    LayerKind::Dropout { .. } => {}
                }
            }
            Instr::Unary { x, .. }
            | Instr::Column { x, .. }
            | Instr::Element { x, .. }
            | Instr::Reduce { x, .. } => count(*x),
            Instr::Binary { a, b, .. } | Instr::Dot { a, b, .. } => {
                count(*a);
                count(*b);
            }
            Instr::MatVec { m, v, .. } => {
                count(*m);
                count(*v);
            }
            Instr::Term { target, args, .. } => {
                count(*target);
                args.iter().for_each(|&a| count(a));
            }
            Instr::Categorical { target, logits, .. } => {
                count(*target);
                count(*logits);
            }
            Instr::Draw { args, .. } => args.iter().for_each(|&a| count(a)),
        }
    }
    let alone = |s: usize| {
        let r = p.slots[s].slot.range();
        p.slots.iter().enumerate().all(|(k, o)| {
            let q = o.slot.range();
            k == s || q.is_empty() || q.end <= r.start || r.end <= q.start
        })
    };
    p.instrs
        .iter()
        .map(|ins| match ins {
            Instr::Layer {
                kind: LayerKind::Dense { .. },
                x,
                ..
            } => p.slots[*x].needs_grad && uses[*x] == 1 && alone(*x),
            _ => false,
        })
        .collect()
}

impl Workspace {
    /// A workspace for `program`, holding a copy of its constants and data.
    pub fn new(program: &Program) -> Workspace {
        let fresh = fresh_inputs(program);
        let finish = finished_producers(program, &fresh);
        let mut finished = vec![false; program.instrs.len()];
        for j in finish.iter().flatten() {
            finished[*j] = true;
        }
        let written: Vec<usize> = program
            .instrs
            .iter()
            .zip(&fresh)
            .filter_map(|(ins, &f)| match ins {
                Instr::Layer { x, .. } if f => Some(*x),
                _ => None,
            })
            .collect();
        let mut zero: Vec<std::ops::Range<usize>> = program
            .slots
            .iter()
            .enumerate()
            .filter(|(k, s)| s.needs_grad && !written.contains(k))
            .map(|(_, s)| s.slot.range())
            .collect();
        zero.sort_by_key(|r| r.start);
        // Merge adjacent ranges so clearing is a few memsets.
        let mut merged: Vec<std::ops::Range<usize>> = Vec::new();
        for r in zero {
            match merged.last_mut() {
                Some(last) if last.end == r.start => last.end = r.end,
                _ => merged.push(r),
            }
        }
        let scratch = program
            .instrs
            .iter()
            .map(|ins| match ins {
                Instr::Layer {
                    kind: LayerKind::Dense { .. },
                    x,
                    out,
                    ..
                } => {
                    let (xs, os) = (program.slots[*x].slot, program.slots[*out].slot);
                    dense::backward_scratch(xs.rows, xs.cols, os.cols)
                }
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        Workspace {
            vals: program.init.clone(),
            adj: vec![0.0; program.arena_len],
            zero: merged,
            scratch: vec![0.0; scratch],
            pool: None,
            fresh,
            finish,
            finished,
        }
    }

    /// Splits large layers' matrix work over `pool`'s threads, a pool shared with others
    /// (`None`: the calling thread only).
    pub(crate) fn set_pool(&mut self, pool: Option<std::sync::Arc<pool::Pool>>) {
        self.pool = pool;
    }

    /// Splits large layers' matrix work over `threads` threads (the caller's and `threads − 1`
    /// parked workers owned by this workspace); 1 undoes it. The results are the same bits for
    /// any number of threads.
    pub fn set_threads(&mut self, threads: usize) {
        self.pool = (threads > 1).then(|| std::sync::Arc::new(pool::Pool::new(threads)));
    }

    /// Number of threads the matrix kernels use.
    pub fn threads(&self) -> usize {
        self.pool.as_ref().map_or(1, |p| p.threads())
    }

    /// Copies the data values of field `slot` (given row-major) into the arena.
    pub fn set_slot(&mut self, program: &Program, slot: usize, values: &[f64]) {
        program.slots[slot]
            .slot
            .write_row_major(&mut self.vals, values);
    }

    /// Zeroes the adjoints of every slot that carries a gradient; a large area (a big layer's
    /// activations) is split over the pool's threads.
    pub(crate) fn clear_adjoints(&mut self) {
        /// Values from which clearing is worth waking the pool (2 MiB).
        const PARALLEL_ZERO: usize = 1 << 18;
        for r in &self.zero {
            match self.pool.as_deref() {
                Some(pool) if r.len() >= PARALLEL_ZERO => {
                    let parts = pool.threads();
                    let area = pool::Shared64(self.adj[r.clone()].as_mut_ptr());
                    let n = r.len();
                    pool.run(&|p| {
                        // SAFETY: the parts' shares of 0..n are disjoint ranges of the area.
                        unsafe { area.slice(pool::share(n, parts, p)) }.fill(0.0);
                    });
                }
                _ => self.adj[r.clone()].fill(0.0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Model;

    /// 9 → `width` tanh → 8 tanh → 1 with biases on `rows` seeded rows.
    fn biased_net(width: usize, rows: usize) -> crate::posterior::Posterior {
        let src = format!(
            "data {{\n  x: matrix[N, D]\n  y: vector[N]\n}}\nnetwork f {{\n  dense({width}, tanh)\n  \
             dense(8, tanh)\n  dense(1)\n}}\nparam {{\n  sigma: real<lower=0>\n}}\nprior {{\n  \
             f.weight ~ normal(0, 1)\n  f.bias ~ normal(0, 1)\n  sigma ~ normal(0, 1)\n}}\n\
             likelihood {{\n  y ~ normal(f(x), sigma)\n}}\n"
        );
        let model = Model::from_str("finish.bnn", &src).unwrap_or_else(|e| panic!("{e}"));
        let cell = |k: usize| ((k * 7919 % 4001) as f64 - 2000.0) / 1000.0;
        let xs: Vec<String> = (0..rows)
            .map(|r| {
                let row: Vec<String> = (0..9).map(|c| format!("{}", cell(r * 9 + c))).collect();
                format!("[{}]", row.join(","))
            })
            .collect();
        let ys: Vec<String> = (0..rows)
            .map(|r| format!("{}", cell(r * 13 + 5).sin()))
            .collect();
        let json = format!("{{\"x\": [{}], \"y\": [{}]}}", xs.join(","), ys.join(","));
        model.bind_json(&json).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The gradient at a seeded θ on `threads` threads, with each dense layer's G finished by
    /// the layer reading its activation (as built) or, with `finishing` false, by itself.
    fn gradient(p: &Program, threads: usize, finishing: bool) -> Vec<f64> {
        let mut ws = Workspace::new(p);
        ws.set_threads(threads);
        if !finishing {
            ws.finish.iter_mut().for_each(|f| *f = None);
            ws.finished.iter_mut().for_each(|f| *f = false);
        }
        let d = p.layout.dim();
        let theta: Vec<f64> = (0..d)
            .map(|k| ((k * 104_729 % 2001) as f64 - 1000.0) / 900.0)
            .collect();
        forward::<true>(p, &mut ws, &theta, None);
        let mut g = vec![0.0; d];
        backward(p, &mut ws, 1.0, &mut g);
        g
    }

    #[test]
    fn finishing_a_layers_g_in_its_readers_sweep_keeps_the_gradients_bits() {
        let toy = Model::from_file("models/bnn_toy.bnn")
            .unwrap_or_else(|e| panic!("{e}"))
            .bind_file("models/bnn_toy.json")
            .unwrap_or_else(|e| panic!("{e}"));
        // bnn_toy (no biases, 100 rows: the kernels one after another); a biased network on
        // 300 rows (the same, with bias sums); on 2,600 rows (the chunked pass), and that on 2
        // threads (split by input columns).
        let cases = [
            ("bnn_toy", toy, 1),
            ("biased, 300 rows", biased_net(20, 300), 1),
            ("biased, 2,600 rows", biased_net(110, 2600), 1),
            ("biased, 2,600 rows, 2 threads", biased_net(110, 2600), 2),
        ];
        for (name, post, threads) in cases {
            let p = post.program();
            let ws = Workspace::new(p);
            // Each network's two hidden layers have their G finished by the layers reading them.
            assert_eq!(ws.finish.iter().flatten().count(), 2, "{name}");
            assert_eq!(ws.finished.iter().filter(|f| **f).count(), 2, "{name}");
            let (on, off) = (gradient(p, threads, true), gradient(p, threads, false));
            assert!(off.iter().any(|v| *v != 0.0), "{name}");
            for (k, (a, b)) in on.iter().zip(&off).enumerate() {
                assert_eq!(a.to_bits(), b.to_bits(), "{name}: ∂/∂θ[{k}] {a} vs {b}");
            }
        }
    }
}
