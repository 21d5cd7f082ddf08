//! The library's front door: load a model from a file or a string, check it, and keep its
//! source so every later error can point into it.

use crate::check::{self, Checked};
use crate::data::{Bound, BoundData, DataError, DataFile, DataFormat};
use crate::diagnostic::{render_all, Diagnostic};
use crate::ir::CheckedModel;
use crate::ir::DataDecl;
use crate::posterior::predictive::{Predictive, PredictiveError};
use crate::posterior::Posterior;
use crate::source::SourceFile;
use crate::syntax::{self, ast};
use std::path::{Path, PathBuf};

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path as given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The model has syntax or semantic errors.
    #[error("{rendered}")]
    Invalid {
        /// Every diagnostic, rendered against the source.
        rendered: String,
        /// The diagnostics themselves.
        diagnostics: Vec<Diagnostic>,
    },
}

/// A parsed and checked model with its source text.
#[derive(Debug, Clone)]
pub struct Model {
    /// The source file (name and text).
    pub source: SourceFile,
    /// The syntax tree.
    pub ast: ast::Program,
    /// The checked model.
    pub checked: CheckedModel,
    /// Warnings found while checking.
    pub warnings: Vec<Diagnostic>,
}

impl Model {
    /// Reads and checks a `.bnn` file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Model, ModelError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Model::from_source(SourceFile::new(path.display().to_string(), text))
    }

    /// Checks a model given as text; `name` is shown in diagnostics.
    pub fn from_str(name: &str, text: &str) -> Result<Model, ModelError> {
        Model::from_source(SourceFile::new(name, text))
    }

    fn from_source(source: SourceFile) -> Result<Model, ModelError> {
        let invalid = |diagnostics: Vec<Diagnostic>, source: &SourceFile| ModelError::Invalid {
            rendered: render_all(&diagnostics, source),
            diagnostics,
        };
        let ast = syntax::parse(&source.text).map_err(|d| invalid(d, &source))?;
        let Checked { model, warnings } = check::check(&ast).map_err(|d| invalid(d, &source))?;
        Ok(Model {
            source,
            ast,
            checked: model,
            warnings,
        })
    }

    /// The warnings rendered against the source (empty when there are none).
    pub fn rendered_warnings(&self) -> String {
        if self.warnings.is_empty() {
            String::new()
        } else {
            render_all(&self.warnings, &self.source)
        }
    }
}

/// Why data could not be bound to a model.
#[derive(Debug, thiserror::Error)]
#[error("{rendered}")]
pub struct DataBindError {
    /// Every problem, rendered against the model's data block.
    pub rendered: String,
    /// The diagnostics.
    pub diagnostics: Vec<Diagnostic>,
}

/// Why inputs could not be bound for prediction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindInputsError {
    /// The inputs do not fit the model's data block or its sizes.
    #[error(transparent)]
    Data(#[from] DataBindError),
    /// The model has no likelihood over rows, so there is nothing to predict.
    #[error("the model has no likelihood over rows of data, so there is nothing to predict")]
    NoRowLikelihood,
}

/// Bound data with its warnings as located diagnostics (in source order) and rendered.
struct Diagnosed {
    data: BoundData,
    warnings: Vec<Diagnostic>,
    rendered_warnings: String,
}

impl Model {
    /// The one place a binding's data errors and warnings become diagnostics located in this
    /// model's data block, or in the data file (`file`, when it was read) for a syntax error.
    fn diagnose(
        &self,
        result: Result<Bound, Vec<DataError>>,
        decls: &[DataDecl],
        file: Option<&SourceFile>,
    ) -> Result<Diagnosed, DataBindError> {
        let bound = result.map_err(|errors| {
            // A syntax error is the only error of its binding: nothing else was read.
            if let (Some(file), [e]) = (file, errors.as_slice()) {
                if let Some(d) = e.to_file_diagnostic(file) {
                    return DataBindError {
                        rendered: render_all(std::slice::from_ref(&d), file),
                        diagnostics: vec![d],
                    };
                }
            }
            let diagnostics: Vec<Diagnostic> =
                errors.iter().map(|e| e.to_diagnostic(decls)).collect();
            self.bind_error(diagnostics)
        })?;
        let mut warnings: Vec<Diagnostic> = bound
            .warnings
            .iter()
            .map(|w| w.to_diagnostic(decls))
            .collect();
        warnings.sort_by_key(|d| d.span.start);
        let rendered_warnings = if warnings.is_empty() {
            String::new()
        } else {
            render_all(&warnings, &self.source)
        };
        Ok(Diagnosed {
            data: bound.data,
            warnings,
            rendered_warnings,
        })
    }

    fn bind_error(&self, diagnostics: Vec<Diagnostic>) -> DataBindError {
        DataBindError {
            rendered: render_all(&diagnostics, &self.source),
            diagnostics,
        }
    }

    fn bind_result(
        &self,
        result: Result<Bound, Vec<DataError>>,
        file: Option<&SourceFile>,
    ) -> Result<Posterior, DataBindError> {
        let d = self.diagnose(result, &self.checked.data, file)?;
        Posterior::with_warnings(&self.checked, d.data, d.warnings, d.rendered_warnings)
            .map_err(|diagnostics| self.bind_error(diagnostics))
    }

    /// Binds a data file (JSON or CSV, by extension) and returns the posterior density; its
    /// [`Posterior::warnings`] hold what binding warned about.
    pub fn bind_file(&self, path: impl AsRef<Path>) -> Result<Posterior, DataBindError> {
        match DataFile::read(path.as_ref()) {
            Ok(file) => self.bind_result(file.bind(&self.checked.data), Some(&file.source)),
            Err(errors) => self.bind_result(Err(errors), None),
        }
    }

    /// Binds CmdStan-style JSON given as text; see [`Model::bind_file`]. A syntax error is shown
    /// in the text, under the name `<data>`.
    pub fn bind_json(&self, text: &str) -> Result<Posterior, DataBindError> {
        let file = SourceFile::new("<data>", text);
        self.bind_result(
            crate::data::bind_json(text, &self.checked.data),
            Some(&file),
        )
    }

    /// Binds data given as text in `format`; see [`Model::bind_file`]. A syntax error is shown
    /// in the text, under the name `<data>`.
    pub fn bind_str(&self, text: &str, format: DataFormat) -> Result<Posterior, DataBindError> {
        let file = DataFile::from_text(text, format);
        self.bind_result(file.bind(&self.checked.data), Some(&file.source))
    }

    /// Binds a file of inputs for prediction (JSON or CSV): the likelihood's observed field is
    /// optional, and gives the targets when present.
    pub fn bind_inputs(&self, path: impl AsRef<Path>) -> Result<Predictive, BindInputsError> {
        self.predictive(DataFile::read(path.as_ref()))
    }

    /// Binds inputs for prediction given as text in `format`; see [`Model::bind_inputs`].
    pub fn bind_inputs_str(
        &self,
        text: &str,
        format: DataFormat,
    ) -> Result<Predictive, BindInputsError> {
        self.predictive(Ok(DataFile::from_text(text, format)))
    }

    /// Inputs read (or why not) bound as a [`Predictive`], every problem located in the
    /// model's data block or, for a syntax error, in the data.
    fn predictive(
        &self,
        file: Result<DataFile, Vec<DataError>>,
    ) -> Result<Predictive, BindInputsError> {
        let read = file
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|f| crate::predict::bind_inputs_file(&self.checked, f));
        let (bound, targets) = match read {
            Ok(i) => (
                Ok(Bound {
                    data: i.data,
                    warnings: i.warnings,
                }),
                i.targets,
            ),
            Err(errors) => (Err(errors), None),
        };
        let source = file.as_ref().ok().map(|f| &f.source);
        let d = self.diagnose(bound, &self.checked.data, source)?;
        Predictive::with_warnings(
            &self.checked,
            d.data,
            targets,
            d.warnings,
            d.rendered_warnings,
        )
        .map_err(|e| match e {
            PredictiveError::NoRowLikelihood => BindInputsError::NoRowLikelihood,
            PredictiveError::Sizes(diagnostics) => {
                BindInputsError::Data(self.bind_error(diagnostics))
            }
        })
    }
}
