//! The arithmetic cost of one log-density and of one gradient of a lowered program: floating-point
//! operations and transcendental evaluations, counted from the instructions and their sizes.
//!
//! What is counted, per instruction (n elements; a multiply-add is 2 flops, any other arithmetic
//! operation 1, a copy 0):
//!
//! - **log-density** (the forward sweep without partials):
//!   a dense layer rows × in → out 2·rows·in·out for the product, rows·out for the bias when it
//!   has one and rows·out for the activation unless it is the identity; a dropout layer 0 (a
//!   copy); `M·v` (r × c) 2·r·c; a dot product 2n; a sum or mean n; an elementwise unary or
//!   binary operation n; a constrained parameter 2n (the transform and its log-Jacobian), an
//!   unconstrained one 0; a log-density term of n elements with k inputs (the variate and its
//!   arguments) k·n, one operation per input and element, a lower bound of its formula; a
//!   categorical term n × K 3·n·K (max, shift, sum); columns, elements and draws 0.
//! - **gradient** = the log-density's flops, plus 1 flop per partial the forward sweep saves for
//!   the reverse one (act′ per element of a non-identity dense layer, one per element of a unary
//!   operation, per element and differentiated operand of a binary one, two per element of a
//!   constrained parameter, per element and differentiated input of a term, n·K softmax values
//!   of a categorical term), plus the reverse sweep's products and sums: for a dense layer
//!   G = adjoint ⊙ act′ (rows·out, unless the identity), db (rows·out sums, with a bias),
//!   dW = Gᵀ·X (2·rows·in·out) and dX = G·W (2·rows·in·out, when X carries a gradient); for
//!   `M·v` 2·r·c per differentiated operand; for a dot product 2n per differentiated operand; a
//!   sum or mean n; a column or dropout layer n adds, an element 1; a unary 2n and a binary 2n
//!   per differentiated operand (multiply-adds); a constrained parameter 3n, an unconstrained
//!   one 0; a term 2n per differentiated input (n + 1 for a broadcast one: a sum, then a
//!   product); a categorical term 2·n·K.
//! - **transcendentals** (exp, log, log1p, tanh, erf, lgamma, … each 1; sqrt counts as a flop):
//!   tanh, sigmoid, elu, gelu and swish 1 per element, softplus 2 (exp and log1p), identity and
//!   relu 0, whether a layer's activation or a unary function; `a ^ b` 2 (log and exp); a
//!   `<lower>` or `<upper>` parameter 1 per element (exp), a `<lower, upper>` one 2 (the
//!   logistic and its log-Jacobian); a term the transcendentals of its formula (ln σ of a
//!   normal, log1p of a Cauchy, the lgammas of a gamma's shape, …), each once per element when
//!   an input it depends on varies per element and once per term when they are all broadcast
//!   (the loop hoists it); a categorical term n·K exps and n logs. A gradient counts the same
//!   transcendentals as the log-density: every derivative is arithmetic on saved values.

use crate::ir::{Activation, BinOp, Constraint, Distribution, Func, LayerKind};
use crate::lower::{Instr, Program, UnaryOp};

/// The arithmetic cost of one call on a program, as counted in the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cost {
    /// Floating-point operations of one log-density.
    pub log_density_flops: u64,
    /// Floating-point operations of one gradient: the forward sweep with its saved partials and
    /// the reverse sweep.
    pub gradient_flops: u64,
    /// Transcendental evaluations (exp, log, tanh, …) of one log-density, and of one gradient.
    pub transcendentals: u64,
}

/// Counts the cost of one log-density and one gradient of `p` (see the module doc).
pub fn cost(p: &Program) -> Cost {
    let mut total = Cost::default();
    for ins in &p.instrs {
        let c = instr_cost(p, ins);
        total.log_density_flops += c.forward;
        total.gradient_flops += c.forward + c.partials + c.reverse;
        total.transcendentals += c.transcendentals;
    }
    total
}

/// The cost of one instruction, by sweep.
#[derive(Debug, Default)]
struct InstrCost {
    /// Flops of the forward sweep without partials.
    forward: u64,
    /// Partials saved by the forward sweep for the reverse one (1 flop each).
    partials: u64,
    /// Flops of the reverse sweep.
    reverse: u64,
    /// Transcendental evaluations.
    transcendentals: u64,
}

fn instr_cost(p: &Program, ins: &Instr) -> InstrCost {
    let len = |s: usize| p.slots[s].slot.len() as u64;
    let grad = |s: usize| u64::from(p.slots[s].needs_grad);
    match ins {
        Instr::Constrain {
            out, constraint, ..
        } => {
            let n = len(*out);
            let per = match constraint {
                Constraint::None => return InstrCost::default(),
                Constraint::Lower(_) | Constraint::Upper(_) => 1,
                Constraint::Interval(..) => 2,
            };
            InstrCost {
                forward: 2 * n,
                partials: 2 * n,
                reverse: 3 * n,
                transcendentals: per * n,
            }
        }
        Instr::Layer { kind, x, out, .. } => match kind {
            LayerKind::Dense {
                bias, activation, ..
            } => {
                let (xs, os) = (p.slots[*x].slot, p.slots[*out].slot);
                let (rows, fan_in, width) = (xs.rows as u64, xs.cols as u64, os.cols as u64);
                let elems = rows * width;
                let macs = 2 * rows * fan_in * width;
                let biased = u64::from(bias.is_some()) * elems;
                let activated = u64::from(*activation != Activation::Identity) * elems;
                InstrCost {
                    forward: macs + biased + activated,
                    partials: activated,
                    reverse: activated + biased + macs + grad(*x) * macs,
                    transcendentals: activation_transcendentals(*activation) * elems,
                }
            }
            LayerKind::Dropout { .. } => InstrCost {
                reverse: grad(*x) * len(*out),
                ..InstrCost::default()
            },
        },
        Instr::Unary { op, x, out, .. } => {
            let n = len(*out);
            let per = match op {
                UnaryOp::Neg => 0,
                UnaryOp::Act(a) => activation_transcendentals(*a),
                UnaryOp::Func(f) => func_transcendentals(*f),
            };
            InstrCost {
                forward: n,
                partials: n,
                reverse: grad(*x) * 2 * n,
                transcendentals: per * n,
            }
        }
        Instr::Binary { op, a, b, out, .. } => {
            let n = len(*out);
            let per = match op {
                BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => 0,
                BinOp::Pow => 2,
            };
            let operands = grad(*a) + grad(*b);
            InstrCost {
                forward: n,
                partials: operands * n,
                reverse: operands * 2 * n,
                transcendentals: per * n,
            }
        }
        // One multiply-add per element of the matrix, or of the first vector.
        Instr::MatVec { m: a, v: b, .. } | Instr::Dot { a, b, .. } => {
            let macs = 2 * len(*a);
            InstrCost {
                forward: macs,
                reverse: (grad(*a) + grad(*b)) * macs,
                ..InstrCost::default()
            }
        }
        Instr::Column { x, out, .. } => InstrCost {
            reverse: grad(*x) * len(*out),
            ..InstrCost::default()
        },
        Instr::Element { x, .. } => InstrCost {
            reverse: grad(*x),
            ..InstrCost::default()
        },
        Instr::Reduce { x, .. } => InstrCost {
            forward: len(*x),
            reverse: grad(*x) * len(*x),
            ..InstrCost::default()
        },
        Instr::Term {
            dist,
            target,
            args,
            len: n,
            ..
        } => {
            let n = *n as u64;
            let inputs: Vec<usize> = std::iter::once(*target)
                .chain(args.iter().copied())
                .collect();
            // Input j varies per element: a slice of the term's n elements (every input of a
            // one-element term).
            let sliced = |j: usize| n == 1 || len(inputs[j]) > 1;
            let (mut partials, mut reverse) = (0, 0);
            for (j, &s) in inputs.iter().enumerate() {
                if p.slots[s].needs_grad {
                    partials += n;
                    reverse += if sliced(j) { 2 * n } else { n + 1 };
                }
            }
            let transcendentals = formula_transcendentals(*dist)
                .iter()
                .map(|&(count, depends)| {
                    let varies = (0..inputs.len()).any(|j| depends & (1 << j) != 0 && sliced(j));
                    count * if varies { n } else { 1 }
                })
                .sum();
            InstrCost {
                forward: inputs.len() as u64 * n,
                partials,
                reverse,
                transcendentals,
            }
        }
        Instr::Categorical { logits, .. } => {
            let ls = p.slots[*logits].slot;
            let (rows, k) = (ls.rows as u64, ls.cols as u64);
            let d = grad(*logits);
            InstrCost {
                forward: 3 * rows * k,
                partials: d * rows * k,
                reverse: d * 2 * rows * k,
                transcendentals: rows * k + rows,
            }
        }
        // Draws belong to predict programs, which are neither timed nor differentiated.
        Instr::Draw { .. } => InstrCost::default(),
    }
}

/// Transcendental evaluations per element of an activation.
fn activation_transcendentals(a: Activation) -> u64 {
    match a {
        Activation::Identity | Activation::Relu => 0,
        Activation::Tanh
        | Activation::Sigmoid
        | Activation::Elu
        | Activation::Gelu
        | Activation::Swish => 1,
        Activation::Softplus => 2,
    }
}

/// Transcendental evaluations per element of an elementwise function.
fn func_transcendentals(f: Func) -> u64 {
    match f {
        Func::Exp | Func::Log | Func::Log1p | Func::Tanh | Func::Sigmoid => 1,
        Func::Softplus => 2,
        Func::Sqrt | Func::Square | Func::Abs | Func::Relu => 0,
        // Lowered to Reduce and Dot, never an elementwise instruction.
        Func::Sum | Func::Mean | Func::Dot => 0,
    }
}

/// The transcendentals of a distribution's log-density formula (`math::dist`), as (count, the
/// inputs they depend on: bit 0 the variate, bit j argument j).
fn formula_transcendentals(d: Distribution) -> &'static [(u64, u8)] {
    match d {
        // ln σ
        Distribution::Normal => &[(1, 0b100)],
        // lgamma((ν+1)/2), lgamma(ν/2), ln(νπ); ln σ; ln(1 + z²/ν)
        Distribution::StudentT => &[(3, 0b0010), (1, 0b1000), (1, 0b1111)],
        // ln(1 + z²); ln σ
        Distribution::Cauchy => &[(1, 0b111), (1, 0b100)],
        // ln b
        Distribution::Laplace => &[(1, 0b100)],
        // exp(−z) and log1p; ln s
        Distribution::Logistic => &[(2, 0b111), (1, 0b100)],
        // ln β; lgamma α; ln y
        Distribution::Gamma | Distribution::InvGamma => &[(1, 0b100), (1, 0b010), (1, 0b001)],
        // ln λ
        Distribution::Exponential => &[(1, 0b10)],
        // ln y; ln σ
        Distribution::LogNormal => &[(1, 0b001), (1, 0b100)],
        // lgamma(a + b); lgamma a; lgamma b; ln y and ln(1 − y)
        Distribution::Beta => &[(1, 0b110), (1, 0b010), (1, 0b100), (2, 0b001)],
        // ln(b − a)
        Distribution::Uniform => &[(1, 0b110)],
        // ln σ(±α): exp and log1p
        Distribution::BernoulliLogit => &[(2, 0b11)],
        // exp η; lgamma(y + 1)
        Distribution::PoissonLog => &[(1, 0b10), (1, 0b01)],
        // the three lgammas of C(n, y); ln σ(α) and ln σ(−α)
        Distribution::BinomialLogit => &[(3, 0b011), (4, 0b100)],
        // Its own instruction, counted there.
        Distribution::CategoricalLogit => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Model;

    /// A 3-5-1 network with biases, tanh then identity, normal likelihood with one σ.
    const NET_3_5_1: &str = "
data {
  x: matrix[N, D]
  y: vector[N]
}
network f {
  dense(5, tanh)
  dense(1)
}
param {
  sigma: real<lower=0>
}
prior {
  f.weight ~ normal(0, 1)
  f.bias ~ normal(0, 1)
  sigma ~ normal(0, 1)
}
likelihood {
  y ~ normal(f(x), sigma)
}
";

    #[test]
    fn cost_of_a_3_5_1_network_on_10_rows_by_hand() {
        let x: Vec<String> = (0..10)
            .map(|r| format!("[{}, 0.5, -1]", r as f64 / 10.0))
            .collect();
        let y: Vec<String> = (0..10).map(|r| format!("{}", r as f64 / 5.0)).collect();
        let json = format!(
            r#"{{"N": 10, "D": 3, "x": [{}], "y": [{}]}}"#,
            x.join(", "),
            y.join(", ")
        );
        let model = Model::from_str("net.bnn", NET_3_5_1).expect("model checks");
        let post = model.bind_json(&json).expect("data binds");
        // The program (bnnppl print --stage program):
        //   0: sigma = constrain(<lower=0>)            1-4: the four weights and biases, none
        //   5: prior normal(sigma | 0, 1), 1 element   6: prior of f.0.weight, 15 elements
        //   7: prior of f.0.bias, 5                    8: prior of f.1.weight, 5
        //   9: prior of f.1.bias, 1
        //  10: t9 = tanh(x[10x3]·W0ᵀ + b0)            11: t10 = t9[10x5]·W1ᵀ + b1
        //  12: likelihood normal(y | t10, sigma), 10 elements
        //
        // log-density flops: constrain sigma 2; priors 3 inputs × (1 + 15 + 5 + 5 + 1) = 81;
        // layer 0: 2·10·3·5 = 300 products + 50 bias + 50 tanh = 400;
        // layer 1: 2·10·5·1 = 100 + 10 bias = 110; likelihood 3 × 10 = 30.
        // 2 + 81 + 400 + 110 + 30 = 623.
        //
        // transcendentals: exp of sigma's transform 1; ln σ once per prior term (σ = 1 is
        // broadcast; the one-element term of sigma counts it once too) 5; tanh 50; ln σ of the
        // likelihood, σ broadcast, 1. 1 + 5 + 50 + 1 = 57.
        //
        // saved partials: sigma's dx and d log|J| 2; priors, the variate only: 1 + 15 + 5 + 5
        // + 1 = 27; tanh′ 50; likelihood ∂/∂t10 and ∂/∂sigma per element 20. 2 + 27 + 50 + 20
        // = 99.
        //
        // reverse sweep: likelihood t10 2·10 = 20 and broadcast sigma 10 + 1 = 11, 31;
        // layer 1 (identity): db 10, dW 2·10·5 = 100, dX 100 (t9 carries a gradient), 210;
        // layer 0: G = adj ⊙ tanh′ 50, db 50, dW 2·10·3·5 = 300, no dX (x is data), 400;
        // priors 2·(1 + 15 + 5 + 5 + 1) = 54; sigma's constrain 3. 31 + 210 + 400 + 54 + 3 = 698.
        //
        // gradient: 623 + 99 + 698 = 1420.
        assert_eq!(
            cost(post.program()),
            Cost {
                log_density_flops: 623,
                gradient_flops: 1420,
                transcendentals: 57,
            }
        );
    }
}
