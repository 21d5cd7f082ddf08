//! The checked model: names resolved, shapes known, every parameter with its prior.

pub mod data_decl;
pub mod model;
mod print;
pub mod rows;
pub mod sample;

pub use data_decl::{DataDecl, DataType, Dim, IntRange, RangeMax};
pub use model::*;
