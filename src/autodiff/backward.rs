//! The reverse sweep: one exhaustive match over the instructions, in reverse, accumulating
//! adjoints from the partials the forward sweep saved; matrix products written out as
//! vector-Jacobian products.

use super::gemm::gemm;
use super::Workspace;
use crate::lower::{Instr, Part, Program};

/// Writes ∇θ (prior + `lik_scale` · likelihood) into `grad`. Requires a forward sweep with
/// partials on the same θ.
pub fn backward(p: &Program, ws: &mut Workspace, lik_scale: f64, grad: &mut [f64]) {
    ws.clear_adjoints();
    grad.fill(0.0);
    let vals = &ws.vals;
    let adj = &mut ws.adj;
    for ins in p.instrs.iter().rev() {
        match ins {
            Instr::Constrain {
                theta,
                out,
                constraint,
                dx,
            } => {
                let s = p.slots[*out].slot;
                let n = s.len();
                let g = &mut grad[*theta..*theta + n];
                if let crate::ir::Constraint::None = constraint {
                    g.copy_from_slice(&adj[s.range()]);
                    continue;
                }
                // dlp/du = dlp/dx · dx/du + d log|dx/du| / du.
                for i in 0..n {
                    g[i] = adj[s.offset + i] * vals[dx + i] + vals[dx + n + i];
                }
            }
            Instr::Dense {
                x,
                w,
                b,
                out,
                act,
                deriv,
            } => {
                let xs = p.slots[*x].slot;
                let wsl = p.slots[*w].slot;
                let os = p.slots[*out].slot;
                let (rows, fan_in, width) = (xs.rows, xs.cols, os.cols);
                // G = dL/dZ = dL/dA ⊙ act'(Z), in place in the output's adjoint.
                if *act != crate::ir::Activation::Identity {
                    for (g, d) in adj[os.range()]
                        .iter_mut()
                        .zip(&vals[*deriv..*deriv + os.len()])
                    {
                        *g *= d;
                    }
                }
                // db = column sums of G.
                if let Some(b) = b {
                    let bs = p.slots[*b].slot;
                    for r in 0..rows {
                        for j in 0..width {
                            adj[bs.offset + j] += adj[os.offset + r * width + j];
                        }
                    }
                }
                // dW (out × in) += Gᵀ·X: Gᵀ is out × rows, read from row-major G with strides
                // (1, out); X is rows × in with strides (in, 1).
                {
                    let (lo, hi) = split_two(adj, wsl.range(), os.range());
                    gemm(
                        width,
                        rows,
                        fan_in,
                        hi,
                        (1, width as isize),
                        &vals[xs.range()],
                        (fan_in as isize, 1),
                        1.0,
                        lo,
                    );
                }
                // dX (rows × in) += G·W: G rows × out (strides (out, 1)), W out × in (in, 1).
                if p.slots[*x].needs_grad {
                    let (dx, g) = split_two(adj, xs.range(), os.range());
                    gemm(
                        rows,
                        width,
                        fan_in,
                        g,
                        (width as isize, 1),
                        &vals[wsl.range()],
                        (fan_in as isize, 1),
                        1.0,
                        dx,
                    );
                }
            }
            Instr::Unary { x, out, deriv, .. } => {
                if !p.slots[*x].needs_grad {
                    continue;
                }
                let xs = p.slots[*x].slot;
                let os = p.slots[*out].slot;
                for i in 0..os.len() {
                    adj[xs.offset + i] += adj[os.offset + i] * vals[deriv + i];
                }
            }
            Instr::Binary {
                a, b, out, deriv, ..
            } => {
                let os = p.slots[*out].slot;
                let n = os.len();
                for (k, operand) in [*a, *b].into_iter().enumerate() {
                    if !p.slots[operand].needs_grad {
                        continue;
                    }
                    let s = p.slots[operand].slot;
                    let bc = s.len() == 1;
                    for i in 0..n {
                        // d out_i / d operand (a scalar operand collects every element's share).
                        adj[s.offset + if bc { 0 } else { i }] +=
                            adj[os.offset + i] * vals[deriv + k * n + i];
                    }
                }
            }
            Instr::MatVec { m, v, out } => {
                let ms = p.slots[*m].slot;
                let vs = p.slots[*v].slot;
                let os = p.slots[*out].slot;
                // out = M·v: dM[r, c] += g[r]·v[c]; dv[c] += Σ_r M[r, c]·g[r].
                for r in 0..ms.rows {
                    let g = adj[os.offset + r];
                    if g == 0.0 {
                        continue;
                    }
                    if p.slots[*m].needs_grad {
                        for c in 0..ms.cols {
                            adj[ms.offset + r * ms.cols + c] += g * vals[vs.offset + c];
                        }
                    }
                    if p.slots[*v].needs_grad {
                        for c in 0..ms.cols {
                            adj[vs.offset + c] += g * vals[ms.offset + r * ms.cols + c];
                        }
                    }
                }
            }
            Instr::Column { x, col, out } => {
                if !p.slots[*x].needs_grad {
                    continue;
                }
                let xs = p.slots[*x].slot;
                let os = p.slots[*out].slot;
                for r in 0..xs.rows {
                    adj[xs.offset + r * xs.cols + col] += adj[os.offset + r];
                }
            }
            Instr::Element { x, index, out } => {
                if p.slots[*x].needs_grad {
                    let g = adj[p.slots[*out].slot.offset];
                    adj[p.slots[*x].slot.offset + index] += g;
                }
            }
            Instr::Reduce { x, out, mean } => {
                if !p.slots[*x].needs_grad {
                    continue;
                }
                let xs = p.slots[*x].slot;
                let mut g = adj[p.slots[*out].slot.offset];
                if *mean {
                    g /= xs.len() as f64;
                }
                for a in &mut adj[xs.range()] {
                    *a += g;
                }
            }
            Instr::Dot { a, b, out } => {
                let g = adj[p.slots[*out].slot.offset];
                let (sa, sb) = (p.slots[*a].slot, p.slots[*b].slot);
                // d(a·b)/da = b, d(a·b)/db = a.
                if p.slots[*a].needs_grad {
                    for i in 0..sa.len() {
                        adj[sa.offset + i] += g * vals[sb.offset + i];
                    }
                }
                if p.slots[*b].needs_grad {
                    for i in 0..sb.len() {
                        adj[sb.offset + i] += g * vals[sa.offset + i];
                    }
                }
            }
            Instr::Term {
                target,
                args,
                part,
                partials,
                len,
                ..
            } => {
                let seed = match part {
                    Part::Prior => 1.0,
                    Part::Likelihood => lik_scale,
                };
                for (j, input) in std::iter::once(target).chain(args.iter()).enumerate() {
                    if !p.slots[*input].needs_grad {
                        continue;
                    }
                    let s = p.slots[*input].slot;
                    let bc = s.len() == 1;
                    for i in 0..*len {
                        adj[s.offset + if bc { 0 } else { i }] +=
                            seed * vals[partials + j * len + i];
                    }
                }
            }
            Instr::Categorical {
                target,
                logits,
                part,
                softmax,
                ..
            } => {
                if !p.slots[*logits].needs_grad {
                    continue;
                }
                let seed = match part {
                    Part::Prior => 1.0,
                    Part::Likelihood => lik_scale,
                };
                let ls = p.slots[*logits].slot;
                let ys = p.slots[*target].slot;
                let k = ls.cols;
                // d/dz_j [z_y − log Σ exp z] = 1{j = y} − softmax(z)_j.
                for r in 0..ls.rows {
                    let y = vals[ys.offset + r] as usize;
                    for j in 0..k {
                        let onehot = if j == y { 1.0 } else { 0.0 };
                        adj[ls.offset + r * k + j] += seed * (onehot - vals[softmax + r * k + j]);
                    }
                }
            }
            // Draws belong to predict programs, which are never differentiated.
            Instr::Draw { .. } => {}
        }
    }
}

/// Two disjoint mutable ranges of one slice, the first returned first.
fn split_two(
    v: &mut [f64],
    first: std::ops::Range<usize>,
    second: std::ops::Range<usize>,
) -> (&mut [f64], &mut [f64]) {
    if first.start < second.start {
        assert!(first.end <= second.start, "internal: overlapping slots");
        let (lo, hi) = v.split_at_mut(second.start);
        (&mut lo[first], &mut hi[..second.end - second.start])
    } else {
        assert!(second.end <= first.start, "internal: overlapping slots");
        let (lo, hi) = v.split_at_mut(first.start);
        (&mut hi[..first.end - first.start], &mut lo[second])
    }
}
