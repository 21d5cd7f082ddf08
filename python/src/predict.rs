//! Inputs bound for prediction, and the posterior predictive at them from draws the Python
//! half hands over as arrays: the draws become θ through the library's mapping of stored
//! columns, and the per-row summaries come back as float64 bytes.

use crate::bytes::{f64_bytes, f64s};
use crate::PredictError;
use bnnppl::api::Model;
use bnnppl::draws::{ChainDraws, Draws};
use bnnppl::posterior::predictive::PredictiveError;
use bnnppl::posterior::{Posterior, Predictive};
use bnnppl::predict::{
    predict_at, DrawSet, Family, PredictError as LibPredictError, Settings, QUANTILES,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Inputs bound to a model for prediction.
#[pyclass(module = "bnnppl._native", name = "Inputs")]
pub struct NativeInputs {
    inputs: Predictive,
}

impl NativeInputs {
    /// Wraps bound inputs.
    pub fn new(inputs: Predictive) -> NativeInputs {
        NativeInputs { inputs }
    }

    /// The posterior's own data as inputs, the observed field's values as targets.
    pub fn training(model: &Model, posterior: &Posterior) -> PyResult<NativeInputs> {
        let data = posterior.data().clone();
        let targets = model
            .checked
            .row_likelihood()
            .and_then(|(_, observed)| data.get(&observed).map(|v| v.values.clone()));
        let inputs = Predictive::new(&model.checked, data, targets).map_err(|e| match e {
            PredictiveError::NoRowLikelihood => {
                PredictError::new_err(LibPredictError::NoRowLikelihood.to_string())
            }
            // The posterior's data passed the same size checks when it was bound.
            PredictiveError::Sizes(d) => PredictError::new_err(
                d.iter()
                    .map(|d| d.message.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => PredictError::new_err(format!("{other:?}")),
        })?;
        Ok(NativeInputs::new(inputs))
    }
}

/// The name the Python half shows for a likelihood family.
fn family_name(family: Family) -> String {
    match family {
        Family::Normal => "normal".into(),
        Family::StudentT => "student_t".into(),
        Family::Bernoulli => "bernoulli_logit".into(),
        Family::Categorical(_) => "categorical_logit".into(),
        Family::Other(d) => d.name().into(),
    }
}

#[pymethods]
impl NativeInputs {
    /// Number of rows to predict at.
    #[getter]
    fn rows(&self) -> usize {
        self.inputs.rows()
    }

    /// Data warnings, rendered; empty when there are none.
    #[getter]
    fn warnings(&self) -> &str {
        self.inputs.rendered_warnings()
    }

    /// The observed field's values (float64 bytes), when the inputs have them.
    fn targets<'py>(&self, py: Python<'py>) -> Option<Bound<'py, pyo3::types::PyBytes>> {
        self.inputs.targets().map(|t| f64_bytes(py, t))
    }

    /// Parameters in θ order: name and concrete dimensions. The draws handed to
    /// [`NativeInputs::predict`] hold these, each flattened row-major, one after another.
    fn params(&self) -> Vec<(String, Vec<usize>)> {
        self.inputs
            .layout()
            .params
            .iter()
            .map(|p| (p.name.clone(), p.dims.clone()))
            .collect()
    }

    /// The posterior predictive at every row from `chains` × `draws` draws of the parameters
    /// (`values`: float64 bytes, chain-major, each draw the parameters of [`Self::params`]).
    #[allow(clippy::too_many_arguments)]
    fn predict<'py>(
        &mut self,
        py: Python<'py>,
        values: &[u8],
        chains: usize,
        draws: usize,
        seed: u64,
        chunk: usize,
        convergence_rows: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let layout = self.inputs.layout();
        let columns: Vec<String> = layout
            .params
            .iter()
            .flat_map(|p| (0..p.len()).map(move |m| p.column_name(m)))
            .collect();
        let width = columns.len();
        let values = f64s(values, chains * draws * width)?;
        let stored = Draws {
            columns,
            chains: values
                .chunks(draws * width)
                .take(chains)
                .enumerate()
                // θ needs only the stored values; no sampler statistics came with them.
                .map(|(chain, v)| ChainDraws {
                    chain,
                    values: v.to_vec(),
                    ..ChainDraws::default()
                })
                .collect(),
        };
        let theta = stored
            .thetas(layout)
            .map_err(|e| PredictError::new_err(e.to_string()))?;
        let set = DrawSet {
            theta,
            chain_lens: vec![draws; chains],
        };
        let settings = Settings {
            chunk,
            seed,
            convergence_rows,
        };
        let inputs = &mut self.inputs;
        let pred = py
            .detach(|| predict_at(inputs, &set, &settings))
            .map_err(|e| PredictError::new_err(e.to_string()))?;
        let out = PyDict::new(py);
        out.set_item("family", family_name(pred.family))?;
        out.set_item("classes", pred.family.classes())?;
        out.set_item("rows", pred.rows)?;
        out.set_item("draws", pred.draws)?;
        out.set_item("quantile_levels", QUANTILES.to_vec())?;
        let quantiles: Vec<f64> = pred.quantiles.concat();
        for (name, v) in [
            ("mean", &pred.mean),
            ("sd", &pred.sd),
            ("quantiles", &quantiles),
            ("aleatoric", &pred.aleatoric),
            ("epistemic", &pred.epistemic),
            ("total", &pred.total),
            ("probs", &pred.probs),
            ("prob_var", &pred.prob_var),
            ("entropy", &pred.entropy),
            ("expected_entropy", &pred.expected_entropy),
            ("mutual_info", &pred.mutual_info),
            ("lpd", &pred.lpd),
        ] {
            if !v.is_empty() {
                out.set_item(name, f64_bytes(py, v))?;
            }
        }
        let conv: Vec<(usize, f64, f64)> = pred
            .convergence
            .iter()
            .map(|c| (c.row, c.rhat, c.ess_bulk))
            .collect();
        out.set_item("convergence", conv)?;
        Ok(out)
    }
}
