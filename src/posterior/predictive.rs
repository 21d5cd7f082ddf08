//! A model bound to new inputs for prediction: the likelihood's argument expressions (location,
//! scale, logits) evaluated for every posterior draw on a chunk of rows, by a program lowered
//! once per chunk size.

use super::fill_data;
use crate::autodiff::{forward, Workspace};
use crate::check::verify_dims;
use crate::data::BoundData;
use crate::diagnostic::Diagnostic;
use crate::ir::CheckedModel;
use crate::lower::{lower_likelihood_args, row_symbol, ParamLayout, Program};

/// Why inputs cannot be predicted at.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PredictiveError {
    /// The model has no likelihood term over rows of data, so there is nothing to predict.
    NoRowLikelihood,
    /// Sizes the checker deferred disagree with the inputs (located diagnostics).
    Sizes(Vec<Diagnostic>),
}

/// Inputs bound to a model for prediction. The likelihood's observed field is optional: when
/// the inputs carry it, [`Predictive::targets`] holds its values.
#[derive(Debug)]
pub struct Predictive {
    model: CheckedModel,
    data: BoundData,
    targets: Option<Vec<f64>>,
    /// The symbol counting rows, and its value in the inputs.
    sym: String,
    rows: usize,
    layout: ParamLayout,
    warnings: Vec<Diagnostic>,
    rendered_warnings: String,
    /// The program for the last chunk size, with its workspace.
    chunk: Option<(usize, Program, Workspace)>,
}

/// The likelihood's arguments on one chunk of rows for every draw: argument `a` of draw `s`
/// fills `values[a][s·lens[a]..(s+1)·lens[a]]`, row-major (logits are rows × K).
#[derive(Debug, Clone, Default)]
pub struct ChunkArgs {
    /// Per argument, all draws one after another.
    pub values: Vec<Vec<f64>>,
    /// Per argument, its length for one draw (1 for a scalar that broadcasts over rows).
    pub lens: Vec<usize>,
    /// Columns of the first argument (K for logits, 1 otherwise).
    pub classes: usize,
}

impl Predictive {
    /// Binds inputs (validated against the data block, the observed field optional) for
    /// prediction; `targets` are the observed field's values, one per row, when present. The
    /// inputs' sizes are verified against the model here.
    pub fn new(
        model: &CheckedModel,
        data: BoundData,
        targets: Option<Vec<f64>>,
    ) -> Result<Predictive, PredictiveError> {
        Predictive::with_warnings(model, data, targets, Vec::new(), String::new())
    }

    /// [`Predictive::new`], keeping the warnings binding raised.
    pub(crate) fn with_warnings(
        model: &CheckedModel,
        data: BoundData,
        targets: Option<Vec<f64>>,
        warnings: Vec<Diagnostic>,
        rendered_warnings: String,
    ) -> Result<Predictive, PredictiveError> {
        let sym = row_symbol(model).ok_or(PredictiveError::NoRowLikelihood)?;
        let errors = verify_dims(model, &data.dims);
        if !errors.is_empty() {
            return Err(PredictiveError::Sizes(errors));
        }
        // The θ layout depends only on the parameter shapes, which the inputs determine.
        let mut sizes = data.dims.clone();
        sizes.insert(sym.clone(), 1);
        let layout = lower_likelihood_args(model, &sizes)
            .ok_or(PredictiveError::NoRowLikelihood)?
            .layout;
        let rows = data.dims.get(&sym).copied().unwrap_or(0);
        Ok(Predictive {
            model: model.clone(),
            data,
            targets,
            sym,
            rows,
            layout,
            warnings,
            rendered_warnings,
            chunk: None,
        })
    }

    /// The checked model.
    pub fn model(&self) -> &CheckedModel {
        &self.model
    }

    /// The bound inputs.
    pub fn data(&self) -> &BoundData {
        &self.data
    }

    /// The observed field's values, one per row, when the inputs have them.
    pub fn targets(&self) -> Option<&[f64]> {
        self.targets.as_deref()
    }

    /// Number of rows to predict at.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Where each parameter lives in θ (to map stored draws back to θ).
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    /// Warnings binding the inputs raised, in source order.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The warnings rendered against the model's source; empty when there are none.
    pub fn rendered_warnings(&self) -> &str {
        &self.rendered_warnings
    }

    /// The likelihood's arguments at rows `start..start + b` for every draw θ in `thetas`.
    pub fn chunk_args(&mut self, start: usize, b: usize, thetas: &[Vec<f64>]) -> ChunkArgs {
        if self.chunk.as_ref().is_none_or(|(size, _, _)| *size != b) {
            let mut sizes = self.data.dims.clone();
            sizes.insert(self.sym.clone(), b);
            let mut prog =
                lower_likelihood_args(&self.model, &sizes).expect("internal: row likelihood found");
            fill_data(&mut prog, &self.data, true);
            let ws = Workspace::new(&prog);
            self.chunk = Some((b, prog, ws));
        }
        let (_, prog, ws) = self.chunk.as_mut().expect("internal: built above");
        for (name, slot, cols) in &prog.row_data {
            let src = &self.data.get(name).expect("internal: inputs bound").values;
            // The data is row-major; arena matrices are column-major.
            prog.slots[*slot]
                .slot
                .write_row_major(&mut ws.vals, &src[start * cols..(start + b) * cols]);
        }
        let lens: Vec<usize> = prog
            .outputs
            .iter()
            .map(|(_, slot, _)| prog.slots[*slot].slot.len())
            .collect();
        let s_count = thetas.len();
        let mut values: Vec<Vec<f64>> = lens.iter().map(|l| vec![0.0; l * s_count]).collect();
        for (s, theta) in thetas.iter().enumerate() {
            // The program has no terms and no draws; non-finite values show in the outputs.
            let _ = forward::<false>(prog, ws, theta, None);
            for (a, (_, slot, _)) in prog.outputs.iter().enumerate() {
                // Read back row-major (logits are rows × K), whatever the arena's layout.
                prog.slots[*slot]
                    .slot
                    .read_row_major(&ws.vals, &mut values[a][s * lens[a]..(s + 1) * lens[a]]);
            }
        }
        let classes = prog.slots[prog.outputs[0].1].slot.cols;
        ChunkArgs {
            values,
            lens,
            classes,
        }
    }
}
