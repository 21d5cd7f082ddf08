//! The only module that sees pest: the grammar binding, the builders and the syntax tree.

pub mod ast;
mod names;
mod parser;
mod print;

pub use parser::parse;
pub use print::print_ast;
