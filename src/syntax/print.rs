//! Prints the syntax tree as an indented outline (`bnnppl print --stage ast`).

use super::ast::*;
use std::fmt::Write as _;

/// The tree as indented text, one node per line, each with its byte span.
pub fn print_ast(program: &Program) -> String {
    let mut out = String::new();
    for b in &program.blocks {
        let _ = writeln!(out, "{} @{}", b.kind.keyword(), b.span);
        match &b.body {
            BlockBody::Decls(decls) => {
                for d in decls {
                    let _ = writeln!(
                        out,
                        "  decl {}: {} @{}",
                        d.name.name,
                        type_text(&d.ty),
                        d.span
                    );
                }
            }
            BlockBody::Network(n) => {
                let _ = writeln!(out, "  name {}", n.name.name);
                for l in &n.layers {
                    let name = l
                        .name
                        .as_ref()
                        .map(|n| format!("{} = ", n.name))
                        .unwrap_or_default();
                    let args: Vec<String> = l
                        .args
                        .iter()
                        .map(|a| match &a.name {
                            Some(n) => format!("{} = {}", n.name, expr_text(&a.value)),
                            None => expr_text(&a.value),
                        })
                        .collect();
                    let _ = writeln!(
                        out,
                        "  layer {name}{}({}) @{}",
                        l.kind.name,
                        args.join(", "),
                        l.span
                    );
                }
            }
            BlockBody::Stmts(stmts) => {
                for s in stmts {
                    match s {
                        Stmt::Let { name, value, span } => {
                            let _ =
                                writeln!(out, "  let {} = {} @{span}", name.name, expr_text(value));
                        }
                        Stmt::Tilde {
                            target,
                            dist,
                            args,
                            span,
                        } => {
                            let args: Vec<String> = args.iter().map(expr_text).collect();
                            let _ = writeln!(
                                out,
                                "  {} ~ {}({}) @{span}",
                                target.text(),
                                dist.name,
                                args.join(", ")
                            );
                        }
                        Stmt::Assign { name, value, span } => {
                            let _ = writeln!(out, "  {} = {} @{span}", name.name, expr_text(value));
                        }
                    }
                }
            }
        }
    }
    out
}

fn type_text(t: &TypeExpr) -> String {
    let base = match t.base {
        BaseType::Real => "real",
        BaseType::Int => "int",
        BaseType::Vector => "vector",
        BaseType::Matrix => "matrix",
    };
    let mut s = base.to_string();
    if !t.bounds.is_empty() {
        let b: Vec<String> = t
            .bounds
            .iter()
            .map(|b| {
                let k = match b.kind {
                    BoundKind::Lower => "lower",
                    BoundKind::Upper => "upper",
                };
                format!("{k}={}", b.value)
            })
            .collect();
        let _ = write!(s, "<{}>", b.join(", "));
    }
    if !t.dims.is_empty() {
        let d: Vec<String> = t
            .dims
            .iter()
            .map(|d| match d {
                DimExpr::Lit(n, _) => n.to_string(),
                DimExpr::Sym(i) => i.name.clone(),
            })
            .collect();
        let _ = write!(s, "[{}]", d.join(", "));
    }
    s
}

/// An expression fully parenthesized, so the printed tree shows how it was grouped.
pub fn expr_text(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Num(v) => format!("{v}"),
        ExprKind::Bool(b) => format!("{b}"),
        ExprKind::Var(n) => n.clone(),
        ExprKind::Call { func, args } => {
            let a: Vec<String> = args.iter().map(expr_text).collect();
            format!("{}({})", func.name, a.join(", "))
        }
        ExprKind::Neg(x) => format!("(-{})", expr_text(x)),
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", expr_text(lhs), op.symbol(), expr_text(rhs))
        }
        ExprKind::Index { base, items } => {
            let i: Vec<String> = items
                .iter()
                .map(|it| match it {
                    IndexItem::All(_) => ":".to_string(),
                    IndexItem::At(x) => expr_text(x),
                })
                .collect();
            format!("{}[{}]", expr_text(base), i.join(", "))
        }
    }
}
