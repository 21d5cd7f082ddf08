//! Builds the syntax tree from pest's parse, one builder per rule, and turns pest errors into
//! located diagnostics in the user's words.

use super::ast::*;
use super::names::{describe_found, rule_name, token_name};
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::source::Span;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser;
use std::sync::OnceLock;

#[derive(pest_derive::Parser)]
#[grammar = "grammar/bnn.pest"]
pub(crate) struct BnnParser;

/// Parses a whole model. Syntax errors in different top-level blocks are all reported.
pub fn parse(src: &str) -> Result<Program, Vec<Diagnostic>> {
    // Detailed attempts let errors name the punctuation that was expected (`:`, `{`, `~`).
    pest::set_error_detail(true);
    let mut program = Program::default();
    let mut diags = Vec::new();
    for (start, end) in split_blocks(src) {
        let chunk = &src[start..end];
        if let Some(d) = unknown_block(src, start) {
            diags.push(d);
            continue;
        }
        match BnnParser::parse(Rule::block_only, chunk) {
            Ok(mut pairs) => {
                let top = pairs.next().expect("internal: block_only matched");
                let b = Builder {
                    offset: start,
                    errors: Default::default(),
                };
                for p in top.into_inner() {
                    if p.as_rule() != Rule::EOI {
                        program.blocks.push(b.block(p));
                    }
                }
                diags.extend(b.errors.into_inner());
            }
            Err(e) => {
                // The bracket scan and pest each see one symptom; the earlier one is where the
                // user's mistake is.
                let from_pest = pest_error(&e, src, start);
                diags.push(match unclosed(src, start, end) {
                    Some(d) if d.span.start < from_pest.span.start => d,
                    _ => from_pest,
                });
            }
        }
    }
    if diags.is_empty() {
        Ok(program)
    } else {
        Err(diags)
    }
}

/// Splits the text into top-level chunks, each a keyword up to its matching `}`, so that an
/// error inside one block does not hide errors in the next. Text that does not look like a
/// block becomes its own chunk and gets pest's error.
fn split_blocks(src: &str) -> Vec<(usize, usize)> {
    let bytes = src.as_bytes();
    let mut chunks = Vec::new();
    let mut i = skip_trivia(bytes, 0);
    while i < bytes.len() {
        let start = i;
        let mut depth = 0usize;
        let mut end = bytes.len();
        let mut seen_open = false;
        while i < bytes.len() {
            match bytes[i] {
                b'#' => i = skip_line(bytes, i),
                b'/' if bytes.get(i + 1) == Some(&b'/') => i = skip_line(bytes, i),
                b'{' => {
                    depth += 1;
                    seen_open = true;
                    i += 1;
                }
                b'}' => {
                    i += 1;
                    if depth <= 1 {
                        end = i;
                        break;
                    }
                    depth -= 1;
                }
                _ => i += 1,
            }
        }
        // An unbalanced block runs to the end of the file; pest reports the missing brace.
        let _ = seen_open;
        chunks.push((start, end.min(bytes.len())));
        i = skip_trivia(bytes, end.min(bytes.len()));
    }
    if chunks.is_empty() {
        // An empty model parses to an empty program; the checker reports what is missing.
        return Vec::new();
    }
    chunks
}

const BLOCKS: [&str; 6] = ["data", "network", "param", "prior", "likelihood", "predict"];

/// A chunk that starts with a word other than a block keyword gets one clear error.
fn unknown_block(src: &str, start: usize) -> Option<Diagnostic> {
    let word: String = src[start..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if word.is_empty() || BLOCKS.contains(&word.as_str()) {
        return None;
    }
    let span = Span::new(start, start + word.len());
    let after = src[start + word.len()..].trim_start();
    if after.starts_with('~')
        || after.starts_with('.')
        || (after.starts_with('=') && !after.starts_with("=="))
    {
        return Some(
            Diagnostic::error("this statement is outside any block", span)
                .with_help("statements belong in a block: priors in `prior { }`, observations in `likelihood { }`, outputs in `predict { }`"),
        );
    }
    let d = Diagnostic::error(format!("unknown block '{word}'"), span);
    Some(match did_you_mean(&word, BLOCKS) {
        Some(s) => d.with_help(format!("did you mean '{s}'?")),
        None if word == "parameters" || word == "params" => d.with_help("did you mean 'param'?"),
        None => d.with_help(format!("the blocks are {}", BLOCKS.join(", "))),
    })
}

/// When a chunk has a bracket that is never closed, the place to point at is the opener, not
/// the end of the file where the parser noticed.
fn unclosed(src: &str, start: usize, end: usize) -> Option<Diagnostic> {
    let bytes = src.as_bytes();
    let mut stack: Vec<(u8, usize)> = Vec::new();
    let mut i = start;
    while i < end {
        match bytes[i] {
            b'#' => i = skip_line(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => i = skip_line(bytes, i),
            c @ (b'{' | b'(' | b'[') => {
                stack.push((c, i));
                i += 1;
            }
            c @ (b'}' | b')' | b']') => {
                let want = match c {
                    b'}' => b'{',
                    b')' => b'(',
                    _ => b'[',
                };
                match stack.pop() {
                    Some((o, _)) if o == want => {}
                    // A block's '}' reached inside an open call: the call was never closed.
                    Some((o @ (b'(' | b'['), at)) if c == b'}' => return Some(unclosed_at(o, at)),
                    Some((o, at)) => {
                        return Some(
                            Diagnostic::error(
                                format!("unexpected '{}'", c as char),
                                Span::new(i, i + 1),
                            )
                            .with_related(
                                Span::new(at, at + 1),
                                format!("the innermost open bracket is this '{}'", o as char),
                            )
                            .with_help("remove it, or close the brackets in order"),
                        )
                    }
                    None => {
                        return Some(
                            Diagnostic::error(
                                format!("unexpected '{}': nothing is open here", c as char),
                                Span::new(i, i + 1),
                            )
                            .with_help("remove it"),
                        )
                    }
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    stack.pop().map(|(o, at)| unclosed_at(o, at))
}

fn unclosed_at(open: u8, at: usize) -> Diagnostic {
    let close = match open {
        b'{' => '}',
        b'(' => ')',
        _ => ']',
    };
    Diagnostic::error(
        format!("this '{}' is never closed", open as char),
        Span::new(at, at + 1),
    )
    .with_help(format!("add the matching '{close}'"))
}

fn skip_line(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i] != b'\n' {
        i += 1;
    }
    i
}

fn skip_trivia(bytes: &[u8], mut i: usize) -> usize {
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && (bytes[i] == b'#' || bytes[i..].starts_with(b"//")) {
            i = skip_line(bytes, i);
        } else {
            return i;
        }
    }
}

fn pest_error(e: &pest::error::Error<Rule>, src: &str, offset: usize) -> Diagnostic {
    let mut pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut rules: Vec<Rule> = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        ErrorVariant::CustomError { message } => {
            return Diagnostic::error(message.clone(), Span::new(pos + offset, pos + offset + 1));
        }
    };
    let mut tokens: Vec<String> = Vec::new();
    if let Some(attempts) = e.parse_attempts() {
        // pest reports the start of the rule that failed; the attempts know how far it got,
        // which is where the user's mistake is (a missing ':' after a name, say).
        if attempts.max_position > pos {
            pos = attempts.max_position;
            rules = attempts
                .call_stacks()
                .iter()
                .filter_map(|c| c.deepest.get_rule().copied())
                .collect();
        }
        tokens = attempts
            .expected_tokens()
            .into_iter()
            .filter_map(|t| token_name(&t.to_string()))
            .collect();
    }
    let mut pos = pos + offset;
    let mut found = describe_found(src, pos);
    if found.1 == 0 || found.0 == "the end of the line" {
        // Point at the end of the last thing written rather than at a blank line.
        let trimmed = src[..pos.min(src.len())].trim_end();
        if found.1 == 0 {
            pos = trimmed.len();
            found = ("the end of the file".into(), 1);
        }
    }
    let mut names: Vec<String> = rules
        .iter()
        .filter(|r| tokens.is_empty() || !is_container(**r))
        .filter_map(|r| rule_name(*r))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    let has_index = names.iter().any(|n| n.starts_with("an index"));
    tokens.retain(|t| !(has_index && t == "'['"));
    tokens.sort();
    tokens.dedup();
    names.extend(tokens);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let expected = join_or(&names);
    let span = Span::new(pos, (pos + found.1.max(1)).min(src.len()).max(pos));
    if expected.is_empty() {
        return Diagnostic::error(format!("unexpected {}", found.0), span);
    }
    let mut d = Diagnostic::error(format!("expected {expected}, found {}", found.0), span);
    if let Some(h) = help_for(&rules, &found.0) {
        d = d.with_help(h);
    }
    d
}

/// Rules that only wrap punctuation and other rules: when pest says which punctuation it wanted,
/// naming the wrapper as well ("expected a declaration or ':'") would only confuse.
fn is_container(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::decl
            | Rule::layer
            | Rule::stmt
            | Rule::let_stmt
            | Rule::tilde_stmt
            | Rule::assign_stmt
            | Rule::named_arg
            | Rule::bounds
            | Rule::bound
            | Rule::dims
            | Rule::call
            | Rule::args
            | Rule::type_expr
    ) || rule_name(rule) == rule_name(Rule::block)
}

fn help_for(positives: &[Rule], found: &str) -> Option<String> {
    if positives.contains(&Rule::data_block) && positives.len() > 3 {
        return Some(
            "a model is made of the blocks data, network NAME, param, prior, likelihood and predict"
                .into(),
        );
    }
    if found == "end of file" {
        return Some("a block may be missing its closing '}'".into());
    }
    None
}

fn join_or(names: &[&str]) -> String {
    match names.len() {
        0 => String::new(),
        1 => names[0].to_string(),
        n => format!("{} or {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

fn pratt() -> &'static PrattParser<Rule> {
    static P: OnceLock<PrattParser<Rule>> = OnceLock::new();
    P.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left))
            .op(Op::prefix(Rule::neg))
            .op(Op::infix(Rule::pow, Assoc::Right))
            .op(Op::postfix(Rule::index))
    })
}

struct Builder {
    offset: usize,
    /// Problems found while building (malformed numbers); reported like syntax errors.
    errors: std::cell::RefCell<Vec<Diagnostic>>,
}

impl Builder {
    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        Span::new(s.start() + self.offset, s.end() + self.offset)
    }

    fn ident(&self, p: Pair<Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    fn block(&self, p: Pair<Rule>) -> Block {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut inner = p.into_inner();
        let kw = inner.next().expect("internal: block keyword");
        let keyword = self.span(&kw);
        let (kind, body) = match rule {
            Rule::data_block => (
                BlockKind::Data,
                BlockBody::Decls(inner.map(|d| self.decl(d)).collect()),
            ),
            Rule::param_block => (
                BlockKind::Param,
                BlockBody::Decls(inner.map(|d| self.decl(d)).collect()),
            ),
            Rule::network_block => {
                let name = self.ident(inner.next().expect("internal: network name"));
                let layers = inner.map(|l| self.layer(l)).collect();
                (
                    BlockKind::Network,
                    BlockBody::Network(Network { name, layers }),
                )
            }
            Rule::prior_block => (
                BlockKind::Prior,
                BlockBody::Stmts(inner.map(|s| self.stmt(s)).collect()),
            ),
            Rule::likelihood_block => (
                BlockKind::Likelihood,
                BlockBody::Stmts(inner.map(|s| self.stmt(s)).collect()),
            ),
            Rule::predict_block => (
                BlockKind::Predict,
                BlockBody::Stmts(inner.map(|s| self.stmt(s)).collect()),
            ),
            r => unreachable!("internal: {r:?} is not a block"),
        };
        Block {
            kind,
            keyword,
            span,
            body,
        }
    }

    fn decl(&self, p: Pair<Rule>) -> Decl {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let name = self.ident(inner.next().expect("internal: decl name"));
        let ty = self.type_expr(inner.next().expect("internal: decl type"));
        Decl { name, ty, span }
    }

    fn type_expr(&self, p: Pair<Rule>) -> TypeExpr {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let base_pair = inner.next().expect("internal: base type");
        let base_span = self.span(&base_pair);
        let base = match base_pair.as_str() {
            "real" => BaseType::Real,
            "int" => BaseType::Int,
            "vector" => BaseType::Vector,
            _ => BaseType::Matrix,
        };
        let mut bounds = Vec::new();
        let mut dims = Vec::new();
        let mut dims_span = base_span;
        for part in inner {
            match part.as_rule() {
                Rule::bounds => {
                    for b in part.into_inner() {
                        let bspan = self.span(&b);
                        let mut bi = b.into_inner();
                        let kind = match bi.next().expect("internal: bound kind").as_str() {
                            "lower" => BoundKind::Lower,
                            _ => BoundKind::Upper,
                        };
                        let value = bi
                            .next()
                            .expect("internal: bound value")
                            .as_str()
                            .parse::<f64>()
                            .unwrap_or(f64::NAN);
                        bounds.push(Bound {
                            kind,
                            value,
                            span: bspan,
                        });
                    }
                }
                Rule::dims => {
                    dims_span = self.span(&part);
                    for d in part.into_inner() {
                        let inner = d.into_inner().next().expect("internal: dim");
                        dims.push(match inner.as_rule() {
                            Rule::integer => {
                                let s = self.span(&inner);
                                DimExpr::Lit(inner.as_str().parse().unwrap_or(usize::MAX), s)
                            }
                            _ => DimExpr::Sym(self.ident(inner)),
                        });
                    }
                }
                r => unreachable!("internal: {r:?} in a type"),
            }
        }
        TypeExpr {
            base,
            base_span,
            bounds,
            dims,
            dims_span,
            span,
        }
    }

    fn layer(&self, p: Pair<Rule>) -> Layer {
        let span = self.span(&p);
        let parts: Vec<Pair<Rule>> = p.into_inner().collect();
        let mut it = parts.into_iter().peekable();
        let first = self.ident(it.next().expect("internal: layer kind"));
        let (name, kind) = match it.peek() {
            Some(q) if q.as_rule() == Rule::ident => {
                let kind = self.ident(it.next().expect("internal: layer kind"));
                (Some(first), kind)
            }
            _ => (None, first),
        };
        let mut args = Vec::new();
        if let Some(la) = it.next() {
            for a in la.into_inner() {
                let aspan = self.span(&a);
                let inner = a.into_inner().next().expect("internal: layer arg");
                match inner.as_rule() {
                    Rule::named_arg => {
                        let mut ni = inner.into_inner();
                        let n = self.ident(ni.next().expect("internal: arg name"));
                        let v = self.expr(ni.next().expect("internal: arg value"));
                        args.push(Arg {
                            name: Some(n),
                            value: v,
                            span: aspan,
                        });
                    }
                    _ => args.push(Arg {
                        name: None,
                        value: self.expr(inner),
                        span: aspan,
                    }),
                }
            }
        }
        Layer {
            name,
            kind,
            args,
            span,
        }
    }

    fn stmt(&self, p: Pair<Rule>) -> Stmt {
        let s = p.into_inner().next().expect("internal: statement");
        let span = self.span(&s);
        let rule = s.as_rule();
        let mut inner = s.into_inner();
        match rule {
            Rule::let_stmt => {
                let _kw = inner.next();
                let name = self.ident(inner.next().expect("internal: let name"));
                let value = self.expr(inner.next().expect("internal: let value"));
                Stmt::Let { name, value, span }
            }
            Rule::tilde_stmt => {
                let target = self.path(inner.next().expect("internal: tilde target"));
                let dist = self.ident(inner.next().expect("internal: distribution"));
                let args = inner.next().map(|a| self.args(a)).unwrap_or_default();
                Stmt::Tilde {
                    target,
                    dist,
                    args,
                    span,
                }
            }
            Rule::assign_stmt => {
                let name = self.ident(inner.next().expect("internal: assign name"));
                let value = self.expr(inner.next().expect("internal: assign value"));
                Stmt::Assign { name, value, span }
            }
            r => unreachable!("internal: {r:?} is not a statement"),
        }
    }

    fn path(&self, p: Pair<Rule>) -> Path {
        let span = self.span(&p);
        let segments = p.into_inner().map(|s| self.ident(s)).collect();
        Path { segments, span }
    }

    fn args(&self, p: Pair<Rule>) -> Vec<Expr> {
        p.into_inner().map(|e| self.expr(e)).collect()
    }

    fn expr(&self, p: Pair<Rule>) -> Expr {
        pratt()
            .map_primary(|q| self.primary(q))
            .map_prefix(|op, rhs| Expr {
                span: self.span(&op).join(rhs.span),
                kind: ExprKind::Neg(Box::new(rhs)),
            })
            .map_infix(|lhs, op, rhs| {
                let op = match op.as_rule() {
                    Rule::add => BinOp::Add,
                    Rule::sub => BinOp::Sub,
                    Rule::mul => BinOp::Mul,
                    Rule::div => BinOp::Div,
                    _ => BinOp::Pow,
                };
                Expr {
                    span: lhs.span.join(rhs.span),
                    kind: ExprKind::Binary {
                        op,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                }
            })
            .map_postfix(|base, op| {
                let span = base.span.join(self.span(&op));
                let items = op
                    .into_inner()
                    .map(|it| {
                        let q = it.into_inner().next().expect("internal: index item");
                        match q.as_rule() {
                            Rule::all => IndexItem::All(self.span(&q)),
                            _ => IndexItem::At(self.expr(q)),
                        }
                    })
                    .collect();
                Expr {
                    span,
                    kind: ExprKind::Index {
                        base: Box::new(base),
                        items,
                    },
                }
            })
            .parse(p.into_inner())
    }

    fn primary(&self, p: Pair<Rule>) -> Expr {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::number => Expr {
                kind: ExprKind::Num(p.as_str().parse().unwrap_or(f64::NAN)),
                span,
            },
            Rule::bad_number => {
                self.errors.borrow_mut().push(
                    Diagnostic::error(
                        format!(
                            "malformed number '{}': an exponent needs digits",
                            p.as_str()
                        ),
                        span,
                    )
                    .with_help("write it as 1e0 or 1e-3"),
                );
                Expr {
                    kind: ExprKind::Num(0.0),
                    span,
                }
            }
            Rule::boolean => Expr {
                kind: ExprKind::Bool(p.as_str() == "true"),
                span,
            },
            Rule::ident => Expr {
                kind: ExprKind::Var(p.as_str().to_string()),
                span,
            },
            Rule::call => {
                let mut inner = p.into_inner();
                let func = self.ident(inner.next().expect("internal: callee"));
                let args = inner.next().map(|a| self.args(a)).unwrap_or_default();
                Expr {
                    kind: ExprKind::Call { func, args },
                    span,
                }
            }
            Rule::expr => self.expr(p),
            r => unreachable!("internal: {r:?} is not an operand"),
        }
    }
}
