//! The layout of θ turned around: constrained values by parameter (initial values, stored draws)
//! mapped back to the unconstrained vector, and the CmdStan column name of every element.

use super::{ParamEntry, ParamLayout};
use crate::ir::Constraint;
use crate::math;

/// Why constrained values could not be mapped to θ.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum UnconstrainError {
    /// No values were given for a parameter.
    #[error("no value for parameter '{param}'")]
    Missing {
        /// The parameter's name.
        param: String,
    },
    /// A parameter was given the wrong number of values.
    #[error("'{param}' needs {expected} values, found {found}")]
    Length {
        /// The parameter's name.
        param: String,
        /// Its number of scalars.
        expected: usize,
        /// The number given.
        found: usize,
    },
    /// A value lies outside the parameter's constraint.
    #[error("value {value} of '{param}' is outside its constraint {constraint}")]
    OutOfSupport {
        /// The parameter's name.
        param: String,
        /// Row-major index of the element within the parameter.
        index: usize,
        /// The value given.
        value: f64,
        /// The parameter's constraint.
        constraint: Constraint,
    },
}

/// The unconstrained u for a constrained x under `c`, when x is inside the support.
fn unconstrain_one(c: Constraint, x: f64) -> Option<f64> {
    let t = match c {
        Constraint::None => math::Constraint::None,
        Constraint::Lower(l) => math::Constraint::Lower(l),
        Constraint::Upper(u) => math::Constraint::Upper(u),
        Constraint::Interval(l, u) => math::Constraint::Interval(l, u),
    };
    t.unconstrain(x)
}

impl ParamLayout {
    /// θ from every parameter's constrained values, row-major as θ holds them; `values` is
    /// asked once per parameter, in θ order.
    pub fn unconstrain<'a>(
        &self,
        mut values: impl FnMut(&ParamEntry) -> Option<&'a [f64]>,
    ) -> Result<Vec<f64>, UnconstrainError> {
        let mut theta = vec![0.0; self.dim()];
        self.unconstrain_into(&mut theta, |p, out| {
            let v = values(p).ok_or_else(|| UnconstrainError::Missing {
                param: p.name.clone(),
            })?;
            if v.len() != out.len() {
                return Err(UnconstrainError::Length {
                    param: p.name.clone(),
                    expected: out.len(),
                    found: v.len(),
                });
            }
            out.copy_from_slice(v);
            Ok(())
        })?;
        Ok(theta)
    }

    /// Writes θ into `theta` (length d): `fill(p, slice)` writes parameter `p`'s constrained
    /// values into its slice of θ, which is then unconstrained in place.
    pub fn unconstrain_into(
        &self,
        theta: &mut [f64],
        mut fill: impl FnMut(&ParamEntry, &mut [f64]) -> Result<(), UnconstrainError>,
    ) -> Result<(), UnconstrainError> {
        for p in &self.params {
            let slice = &mut theta[p.offset..p.offset + p.len()];
            fill(p, slice)?;
            for (index, u) in slice.iter_mut().enumerate() {
                let value = *u;
                *u = unconstrain_one(p.constraint, value).ok_or_else(|| {
                    UnconstrainError::OutOfSupport {
                        param: p.name.clone(),
                        index,
                        value,
                        constraint: p.constraint,
                    }
                })?;
            }
        }
        Ok(())
    }
}

impl ParamEntry {
    /// The CmdStan column name of row-major element `m` (`sigma`, `beta.3`, `f.0.weight.2.1`).
    pub fn column_name(&self, m: usize) -> String {
        match self.dims.len() {
            0 => self.name.clone(),
            1 => format!("{}.{}", self.name, m + 1),
            _ => format!(
                "{}.{}.{}",
                self.name,
                m / self.dims[1] + 1,
                m % self.dims[1] + 1
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> ParamLayout {
        let entry = |name: &str, offset, dims: Vec<usize>, constraint| ParamEntry {
            name: name.into(),
            offset,
            dims,
            constraint,
            slot: 0,
        };
        ParamLayout {
            params: vec![
                entry("sigma", 0, vec![], Constraint::Lower(0.0)),
                entry("w", 1, vec![2, 3], Constraint::None),
            ],
        }
    }

    #[test]
    fn values_map_to_theta_through_each_constraint() {
        // sigma = e² > 0 unconstrains to log(e²) = 2; w is unconstrained, row-major.
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let sigma = [2f64.exp()];
        let theta = layout()
            .unconstrain(|p| {
                Some(if p.name == "sigma" {
                    &sigma[..]
                } else {
                    &w[..]
                })
            })
            .expect("valid");
        assert!((theta[0] - 2.0).abs() < 1e-15);
        assert_eq!(&theta[1..], &w);
    }

    #[test]
    fn missing_short_and_outside_values_are_named() {
        let l = layout();
        let w = [0.0; 6];
        let bad = [-1.0];
        assert_eq!(
            l.unconstrain(|p| (p.name == "sigma").then_some(&bad[..])),
            Err(UnconstrainError::OutOfSupport {
                param: "sigma".into(),
                index: 0,
                value: -1.0,
                constraint: Constraint::Lower(0.0)
            })
        );
        let one = [1.0];
        assert_eq!(
            l.unconstrain(|p| (p.name == "sigma").then_some(&one[..])),
            Err(UnconstrainError::Missing { param: "w".into() })
        );
        assert_eq!(
            l.unconstrain(|p| Some(if p.name == "sigma" { &one[..] } else { &w[..5] })),
            Err(UnconstrainError::Length {
                param: "w".into(),
                expected: 6,
                found: 5
            })
        );
    }

    #[test]
    fn column_names_are_cmdstans() {
        let l = layout();
        assert_eq!(l.params[0].column_name(0), "sigma");
        // Row-major element 4 of a 2 × 3 matrix is row 2, column 2 (1-based).
        assert_eq!(l.params[1].column_name(4), "w.2.2");
    }
}
