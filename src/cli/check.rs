//! `bnnppl check` and `bnnppl print`: parse, check, list parameters, print stages.

use super::{Failure, ModelArgs, Output, Stage};
use crate::api::{DataBindError, Model, ModelError};
use crate::ir::{Constraint, Dim, Shape};
use crate::posterior::Posterior;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Loads a model, turning load errors into failures with the right exit code.
pub fn load(args: &ModelArgs) -> Result<Model, Failure> {
    Model::from_file(&args.model).map_err(|e| match e {
        ModelError::Io { .. } => Failure::usage(format!("error: {e}")),
        ModelError::Invalid { rendered, .. } => Failure::model(rendered),
    })
}

/// The data file for a model: `--data`, else `model.json`, else `model.csv` beside it.
pub fn data_path(args: &ModelArgs) -> Option<PathBuf> {
    if let Some(p) = &args.data {
        return Some(p.clone());
    }
    ["json", "csv"]
        .iter()
        .map(|ext| args.model.with_extension(ext))
        .find(|p| p.is_file())
}

/// Binds the model's data (if a data file is given or found) through the library, which
/// renders data errors and warnings against the model's declarations.
pub fn bind(model: &Model, args: &ModelArgs) -> Result<Option<(PathBuf, Posterior)>, Failure> {
    let Some(path) = data_path(args) else {
        return Ok(None);
    };
    if !path.is_file() {
        return Err(Failure::usage(format!(
            "error: cannot read data file {}: no such file",
            path.display()
        )));
    }
    let post = model
        .bind_file(&path)
        .map_err(|e| Failure::model(data_failure(&path, &e)))?;
    Ok(Some((path, post)))
}

/// The message of data that does not fit the model, errors located in its data block.
pub fn data_failure(path: &std::path::Path, e: &DataBindError) -> String {
    format!(
        "error: the data in {} does not fit the model\n\n{}",
        path.display(),
        e.rendered
    )
}

/// Loads the data (beside the model or `--data`) and binds it: the posterior density, and the
/// rendered data warnings. A model without a data block needs no file.
pub fn bind_posterior(model: &Model, args: &ModelArgs) -> Result<(Posterior, String), Failure> {
    let post = match bind(model, args)? {
        Some((_, post)) => post,
        None if model.checked.data.is_empty() => model
            .bind_json("{}")
            .map_err(|e| Failure::model(e.rendered))?,
        None => {
            return Err(Failure::usage(format!(
                "error: no data file for {}: pass --data FILE, or put {} beside it",
                args.model.display(),
                args.model.with_extension("json").display()
            )))
        }
    };
    let warnings = post.rendered_warnings().to_string();
    Ok((post, warnings))
}

/// `bnnppl check`.
pub fn check(args: &ModelArgs) -> Result<Output, Failure> {
    let model = load(args)?;
    let bound = bind(&model, args)?;
    let mut stderr = model.rendered_warnings();
    let mut stdout = String::new();
    let sizes = match &bound {
        Some((path, post)) => {
            stderr.push_str(post.rendered_warnings());
            let data = post.data();
            let dims: Vec<String> = data
                .dims
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            let _ = writeln!(stdout, "data: {} ({})", path.display(), dims.join(", "));
            data.dims.clone()
        }
        None => Default::default(),
    };
    let dims = |d: &Dim| match d {
        Dim::Lit(n) => Some(*n),
        Dim::Sym(s) => sizes.get(s).copied(),
    };
    stdout.push_str(&parameter_table(&model, &dims));
    Ok(Output { stdout, stderr })
}

/// The parameter listing `check` prints.
pub fn parameter_table(model: &Model, dims: &dyn Fn(&Dim) -> Option<usize>) -> String {
    let m = &model.checked;
    let show = |s: &Shape| -> String {
        let d = |x: &Dim| {
            dims(x)
                .map(|n| n.to_string())
                .unwrap_or_else(|| x.to_string())
        };
        match s {
            Shape::Scalar => "real".into(),
            Shape::Vector(n) => format!("vector[{}]", d(n)),
            Shape::Matrix(r, c) => format!("matrix[{}, {}]", d(r), d(c)),
        }
    };
    let rows: Vec<[String; 4]> = m
        .params
        .iter()
        .map(|p| {
            let c = match p.constraint {
                Constraint::None => "-".to_string(),
                c => c.to_string(),
            };
            let args: Vec<String> = p
                .prior
                .args
                .iter()
                .map(|a| m.expr_text(a, &m.prior_lets))
                .collect();
            let mut prior = format!(
                "{}({}){}",
                p.prior.dist.name(),
                args.join(", "),
                p.prior.truncation
            );
            if p.prior.path != p.name {
                let _ = write!(prior, " [{}]", p.prior.path);
            }
            [p.name.clone(), show(&p.shape), c, prior]
        })
        .collect();
    let heads = ["parameter", "shape", "constraint", "prior"];
    let mut widths = heads.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: [&str; 4]| {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    };
    line(&mut out, heads);
    for r in &rows {
        line(&mut out, [&r[0], &r[1], &r[2], &r[3]]);
    }
    match m.param_count(dims) {
        Some(n) => {
            let _ = writeln!(out, "total: {n} parameters in {} groups", m.params.len());
        }
        None => {
            let mut syms: Vec<String> = Vec::new();
            for p in &m.params {
                let mut add = |d: &Dim| {
                    if let Dim::Sym(s) = d {
                        if dims(d).is_none() && !syms.contains(s) {
                            syms.push(s.clone());
                        }
                    }
                };
                match &p.shape {
                    Shape::Scalar => {}
                    Shape::Vector(n) => add(n),
                    Shape::Matrix(r, c) => {
                        add(r);
                        add(c);
                    }
                }
            }
            let _ = writeln!(
                out,
                "total: {} groups; the count depends on {} (give --data to bind {})",
                m.params.len(),
                syms.join(", "),
                if syms.len() == 1 { "it" } else { "them" }
            );
        }
    }
    out
}

/// `bnnppl print --stage ast|ir|program`.
pub fn print(args: &ModelArgs, stage: Stage) -> Result<Output, Failure> {
    let model = load(args)?;
    let mut stderr = model.rendered_warnings();
    let stdout = match stage {
        Stage::Ast => crate::syntax::print_ast(&model.ast),
        Stage::Ir => model.checked.to_string(),
        Stage::Program => {
            let (post, warnings) = bind_posterior(&model, args)?;
            stderr.push_str(&warnings);
            format!(
                "# log-density\n{}\n# per-draw outputs\n{}",
                post.program(),
                post.outputs_program()
            )
        }
    };
    Ok(Output { stdout, stderr })
}
