//! The likelihood over rows of data: which size symbol counts the rows, and which term and
//! observed field a prediction is made for.

use super::{CheckedModel, Dim, Distribution, LikelihoodStmt, Shape};

impl CheckedModel {
    /// The symbol that counts likelihood rows (the first size of the first observed field), if
    /// any: minibatches and predictions slice the data along it.
    pub fn row_symbol(&self) -> Option<String> {
        self.likelihood.iter().find_map(|s| match s {
            LikelihoodStmt::Term(t) => match &t.shape {
                Shape::Vector(Dim::Sym(n)) | Shape::Matrix(Dim::Sym(n), _) => Some(n.clone()),
                _ => None,
            },
            LikelihoodStmt::Let(_) => None,
        })
    }

    /// The row-wise likelihood term's distribution and observed field.
    pub fn row_likelihood(&self) -> Option<(Distribution, String)> {
        let sym = self.row_symbol()?;
        self.likelihood.iter().find_map(|s| match s {
            LikelihoodStmt::Term(t) => {
                let rows = match &t.shape {
                    Shape::Vector(Dim::Sym(n)) | Shape::Matrix(Dim::Sym(n), _) => Some(n),
                    _ => None,
                };
                (rows == Some(&sym)).then(|| (t.dist, t.observed.clone()))
            }
            LikelihoodStmt::Let(_) => None,
        })
    }
}
