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
pub mod reference;
pub mod scalar;
pub mod tangent;
mod term;

pub use backward::{backward, backward_weighted};
pub use cost::{cost, Cost};
pub use forward::{forward, term_label, Eval};
pub use kinks::kink_sides;

use crate::lower::Program;

/// Per-chain scratch space: the value arena (with saved partials) and the adjoint arena.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Values, initialized from the program's constants and data.
    pub vals: Vec<f64>,
    /// Adjoints, same layout as `vals`.
    pub adj: Vec<f64>,
    /// Arena ranges whose adjoints are cleared before each backward sweep.
    zero: Vec<std::ops::Range<usize>>,
}

impl Workspace {
    /// A workspace for `program`, holding a copy of its constants and data.
    pub fn new(program: &Program) -> Workspace {
        let mut zero: Vec<std::ops::Range<usize>> = program
            .slots
            .iter()
            .filter(|s| s.needs_grad)
            .map(|s| s.slot.range())
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
        Workspace {
            vals: program.init.clone(),
            adj: vec![0.0; program.arena_len],
            zero: merged,
        }
    }

    /// Copies the data values of field `slot` (given row-major) into the arena.
    pub fn set_slot(&mut self, program: &Program, slot: usize, values: &[f64]) {
        program.slots[slot]
            .slot
            .write_row_major(&mut self.vals, values);
    }

    pub(crate) fn clear_adjoints(&mut self) {
        for r in &self.zero {
            self.adj[r.clone()].fill(0.0);
        }
    }
}
