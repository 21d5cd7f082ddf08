//! One test per instruction of the lowered program: the smallest program holding it, a forward
//! sweep that saves its partials, an output adjoint chosen by hand, and the reverse rule's
//! vector-Jacobian product against a closed form worked out above each assertion.
//!
//! Matrices are written row by row in the comments; slots hold them column-major, so the
//! vectors handed to and read from the arena are column-major too.

use super::sweep;
use crate::autodiff::{forward, Workspace};
use crate::ir::{Activation, BinOp, Constraint, Distribution, Func, LayerKind};
use crate::lower::{
    Instr, Norm, ParamEntry, ParamLayout, Part, Program, Slot, SlotId, SlotInfo, SlotKind, UnaryOp,
};
use rand::SeedableRng;

/// A program's arena laid out by hand: slots in the order asked (inputs before outputs, as
/// the sweeps require), saved partials where asked.
#[derive(Default)]
struct Arena {
    slots: Vec<SlotInfo>,
    init: Vec<f64>,
}

impl Arena {
    /// A rows × cols slot holding `values` (column-major), of `kind`, carrying an adjoint
    /// when `needs_grad`.
    fn add(
        &mut self,
        rows: usize,
        cols: usize,
        values: &[f64],
        kind: SlotKind,
        needs_grad: bool,
    ) -> SlotId {
        assert_eq!(
            values.len(),
            rows * cols,
            "values of a {rows} × {cols} slot"
        );
        let offset = self.init.len();
        self.init.extend_from_slice(values);
        self.slots.push(SlotInfo {
            slot: Slot { offset, rows, cols },
            kind,
            needs_grad,
        });
        self.slots.len() - 1
    }

    /// An intermediate value that carries an adjoint.
    fn temp(&mut self, rows: usize, cols: usize, values: &[f64]) -> SlotId {
        self.add(rows, cols, values, SlotKind::Temp, true)
    }

    /// A data field, which carries no adjoint.
    fn data(&mut self, rows: usize, cols: usize, values: &[f64]) -> SlotId {
        self.add(rows, cols, values, SlotKind::Data("d".into()), false)
    }

    /// `len` arena values for saved partials; their offset.
    fn aux(&mut self, len: usize) -> usize {
        let offset = self.init.len();
        self.init.resize(offset + len, 0.0);
        offset
    }

    /// The program running `instrs` over this arena, θ laid out as `layout`.
    fn program(self, instrs: Vec<Instr>, layout: ParamLayout) -> Program {
        Program {
            arena_len: self.init.len(),
            slots: self.slots,
            instrs,
            init: self.init,
            layout,
            rows: 0,
            row_data: Vec::new(),
            outputs: Vec::new(),
        }
    }
}

/// The program of one dense layer over this arena: out = activation(X·Wᵀ + b), its partials
/// saved at `deriv`.
fn dense_program(
    a: Arena,
    (x, w, bias): (SlotId, SlotId, Option<SlotId>),
    activation: Activation,
    out: SlotId,
    deriv: usize,
) -> Program {
    let kind = LayerKind::Dense {
        weight: w,
        bias,
        activation,
    };
    a.program(
        vec![Instr::Layer {
            kind,
            x,
            out,
            deriv,
        }],
        ParamLayout::default(),
    )
}

/// Runs `p` forward on θ saving partials, seeds the adjoints of `seeds` (slot, column-major
/// values) and runs the reverse sweep with `lik_scale`; returns the workspace and ∇θ.
fn run(
    p: &Program,
    theta: &[f64],
    seeds: &[(SlotId, &[f64])],
    lik_scale: f64,
) -> (Workspace, Vec<f64>) {
    let mut ws = Workspace::new(p);
    let e = forward::<true>(p, &mut ws, theta, None);
    assert_eq!(e.nonfinite, None, "a finite log-density");
    ws.clear_adjoints();
    for (s, g) in seeds {
        ws.adj[p.slots[*s].slot.range()].copy_from_slice(g);
    }
    let mut grad = vec![0.0; theta.len()];
    sweep(p, &mut ws, 1.0, lik_scale, &mut grad);
    (ws, grad)
}

/// The adjoint of slot `s`, column-major.
fn adj(p: &Program, ws: &Workspace, s: SlotId) -> Vec<f64> {
    ws.adj[p.slots[s].slot.range()].to_vec()
}

/// Elementwise |got − want| ≤ 1e-12 · max(1, |want|).
fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-12 * w.abs().max(1.0),
            "{got:?} vs {want:?}"
        );
    }
}

#[test]
fn constrain() {
    let mut a = Arena::default();
    let m = a.add(2, 3, &[0.0; 6], SlotKind::Param(0), true);
    let m_dx = a.aux(2 * 6);
    let s = a.add(1, 1, &[0.0], SlotKind::Param(1), true);
    let s_dx = a.aux(2);
    let z = a.add(2, 2, &[0.0; 4], SlotKind::Param(2), true);
    let entry = |name: &str, offset, dims, constraint, slot| ParamEntry {
        name: name.into(),
        offset,
        dims,
        constraint,
        slot,
    };
    let layout = ParamLayout {
        params: vec![
            entry("m", 0, vec![2, 3], Constraint::Lower(0.0), m),
            entry("s", 6, vec![], Constraint::Interval(0.0, 1.0), s),
            entry("z", 7, vec![2, 2], Constraint::None, z),
        ],
    };
    let p = a.program(
        vec![
            Instr::Constrain {
                theta: 0,
                out: m,
                constraint: Constraint::Lower(0.0),
                dx: m_dx,
            },
            Instr::Constrain {
                theta: 6,
                out: s,
                constraint: Constraint::Interval(0.0, 1.0),
                dx: s_dx,
            },
            Instr::Constrain {
                theta: 7,
                out: z,
                constraint: Constraint::None,
                dx: 0,
            },
        ],
        layout,
    );
    // θ holds m row-major: θ_t = ln(t + 1) for t = 3r + c, so m[r, c] = exp(θ_t) = t + 1;
    // then s's θ_6 = 0, then z's four values (any: z = θ).
    let theta: Vec<f64> = (0..6)
        .map(|t| ((t + 1) as f64).ln())
        .chain([0.0, 0.0, 0.0, 0.0, 0.0])
        .collect();
    // Output adjoints ḡ[r, c] = 10r + c, column-major: [0, 10, 1, 11, 2, 12]; ḡ_s = 2;
    // ḡ_z = [[1, 2], [3, 4]], column-major [1, 3, 2, 4].
    let g_m = [0.0, 10.0, 1.0, 11.0, 2.0, 12.0];
    let g_z = [1.0, 3.0, 2.0, 4.0];
    let (_, grad) = run(&p, &theta, &[(m, &g_m), (s, &[2.0]), (z, &g_z)], 1.0);
    // lower=0: x = exp(u), log|dx/du| = u, so dlp/du = ḡ·exp(u) + 1 = ḡ[r, c]·(t + 1) + 1:
    // row 0: 0·1 + 1 = 1, 1·2 + 1 = 3, 2·3 + 1 = 7; row 1: 10·4 + 1 = 41, 11·5 + 1 = 56,
    // 12·6 + 1 = 73 (in θ's row-major order).
    // interval (0, 1) at u = 0: x = σ(0) = 0.5, dx/du = x(1 − x) = 0.25, and
    // d/du log(x(1 − x)) = 1 − 2x = 0, so dlp/du = 2·0.25 + 0 = 0.5.
    // unconstrained: dlp/du = ḡ, back in θ's row-major order: (1, 2, 3, 4).
    assert_close(
        &grad,
        &[1.0, 3.0, 7.0, 41.0, 56.0, 73.0, 0.5, 1.0, 2.0, 3.0, 4.0],
    );
}

#[test]
fn layer_dense() {
    // X (2 rows × 2 inputs) = [[1, 2], [3, −1]], W (3 outputs × 2 inputs) = [[1, 0], [0, 1],
    // [1, −1]], b = [0, 0, −1], relu.
    let mut a = Arena::default();
    let x = a.temp(2, 2, &[1.0, 3.0, 2.0, -1.0]);
    let w = a.temp(3, 2, &[1.0, 0.0, 1.0, 0.0, 1.0, -1.0]);
    let b = a.temp(3, 1, &[0.0, 0.0, -1.0]);
    let out = a.temp(2, 3, &[0.0; 6]);
    let deriv = a.aux(6);
    let p = dense_program(a, (x, w, Some(b)), Activation::Relu, out, deriv);
    // ḡ = [[1, 2, 3], [4, 5, 6]], column-major.
    let g = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
    let (ws, _) = run(&p, &[], &[(out, &g)], 1.0);
    // Z = X·Wᵀ + b = [[1, 2, −2], [3, −1, 3]], relu'(Z) = [[1, 1, 0], [1, 0, 1]], so
    // G = ḡ ⊙ relu'(Z) = [[1, 2, 0], [4, 0, 6]].
    // dW = Gᵀ·X: row 0 = 1·(1, 2) + 4·(3, −1) = (13, −2); row 1 = 2·(1, 2) = (2, 4);
    // row 2 = 6·(3, −1) = (18, −6).
    assert_eq!(adj(&p, &ws, w), [13.0, 2.0, 18.0, -2.0, 4.0, -6.0]);
    // db = Σ_rows G = (1 + 4, 2 + 0, 0 + 6) = (5, 2, 6).
    assert_eq!(adj(&p, &ws, b), [5.0, 2.0, 6.0]);
    // dX = G·W: row 0 = 1·(1, 0) + 2·(0, 1) = (1, 2); row 1 = 4·(1, 0) + 6·(1, −1) = (10, −6).
    assert_eq!(adj(&p, &ws, x), [1.0, 10.0, 2.0, -6.0]);

    // The same X and W without a bias and with the identity: G = ḡ.
    let mut a = Arena::default();
    let x = a.temp(2, 2, &[1.0, 3.0, 2.0, -1.0]);
    let w = a.temp(3, 2, &[1.0, 0.0, 1.0, 0.0, 1.0, -1.0]);
    let out = a.temp(2, 3, &[0.0; 6]);
    let p = dense_program(a, (x, w, None), Activation::Identity, out, 0);
    let (ws, _) = run(&p, &[], &[(out, &g)], 1.0);
    // dW = ḡᵀ·X: row 0 = 1·(1, 2) + 4·(3, −1) = (13, −2); row 1 = 2·(1, 2) + 5·(3, −1) =
    // (17, −1); row 2 = 3·(1, 2) + 6·(3, −1) = (21, 0).
    assert_eq!(adj(&p, &ws, w), [13.0, 17.0, 21.0, -2.0, -1.0, 0.0]);
    // dX = ḡ·W: row 0 = 1·(1, 0) + 2·(0, 1) + 3·(1, −1) = (4, −1); row 1 = 4·(1, 0) +
    // 5·(0, 1) + 6·(1, −1) = (10, −1).
    assert_eq!(adj(&p, &ws, x), [4.0, 10.0, -1.0, -1.0]);
}

#[test]
fn a_layer_large_enough_to_fuse_its_activation_gives_the_bits_of_the_product_then_the_activation() {
    // 4,200 rows × 2 inputs → 500 tanh outputs: Z is 16.8 MB, so the activation runs on each
    // piece of Z inside the product (`dense::fuses_activation`), its partials written to the
    // piece's place after Z. Values and partials must be, bit for bit, those of the product
    // over all of Z followed by one activation call over it.
    let (rows, fan_in, width) = (4_200, 2, 500);
    assert!(crate::autodiff::dense::fuses_activation(
        rows, fan_in, width
    ));
    let x_values: Vec<f64> = (0..rows * fan_in)
        .map(|k| ((k * 37) % 101) as f64 / 50.0 - 1.0)
        .collect();
    let w_values: Vec<f64> = (0..width * fan_in)
        .map(|k| ((k * 53) % 89) as f64 / 44.0 - 1.0)
        .collect();
    let b_values: Vec<f64> = (0..width)
        .map(|k| ((k * 7) % 13) as f64 / 6.0 - 1.0)
        .collect();
    let mut a = Arena::default();
    let x = a.data(rows, fan_in, &x_values);
    let w = a.temp(width, fan_in, &w_values);
    let b = a.temp(width, 1, &b_values);
    let out = a.temp(rows, width, &vec![0.0; rows * width]);
    let deriv = a.aux(rows * width);
    let p = dense_program(a, (x, w, Some(b)), Activation::Tanh, out, deriv);
    let mut ws = Workspace::new(&p);
    forward::<true>(&p, &mut ws, &[], None);
    let mut z = vec![0.0; rows * width];
    crate::autodiff::dense::forward(
        &x_values,
        &w_values,
        Some(&b_values),
        &mut z,
        rows,
        fan_in,
        width,
        None,
        None,
    );
    let mut dz = vec![0.0; rows * width];
    crate::math::tanh_in_place_with_grad(&mut z, &mut dz);
    let same = |got: &[f64], want: &[f64]| {
        got.iter()
            .zip(want)
            .all(|(g, w)| g.to_bits() == w.to_bits())
    };
    assert!(same(&ws.vals[p.slots[out].slot.range()], &z), "values");
    assert!(same(&ws.vals[deriv..deriv + rows * width], &dz), "partials");
}

#[test]
fn layer_dropout() {
    // X (2 rows × 2 inputs) = [[1, 2], [3, −1]], dropout at p = 0.5: the density's identity, so
    // the forward sweep copies X and the reverse sweep adds ḡ into X's adjoint unchanged.
    let mut a = Arena::default();
    let x = a.temp(2, 2, &[1.0, 3.0, 2.0, -1.0]);
    let out = a.temp(2, 2, &[0.0; 4]);
    let p = a.program(
        vec![Instr::Layer {
            kind: LayerKind::Dropout { p: 0.5 },
            x,
            out,
            deriv: 0,
        }],
        ParamLayout::default(),
    );
    // ḡ = [[1, 2], [3, 4]], column-major.
    let (ws, _) = run(&p, &[], &[(out, &[1.0, 3.0, 2.0, 4.0])], 1.0);
    assert_eq!(
        ws.vals[p.slots[out].slot.range()],
        [1.0, 3.0, 2.0, -1.0],
        "Y = X"
    );
    // dX = ḡ.
    assert_eq!(adj(&p, &ws, x), [1.0, 3.0, 2.0, 4.0]);
}

#[test]
fn unary() {
    let mut a = Arena::default();
    let x = a.temp(2, 1, &[0.0, 1.0]);
    let out = a.temp(2, 1, &[0.0; 2]);
    let deriv = a.aux(2);
    let p = a.program(
        vec![Instr::Unary {
            op: UnaryOp::Func(Func::Softplus),
            x,
            out,
            deriv,
        }],
        ParamLayout::default(),
    );
    let (ws, _) = run(&p, &[], &[(out, &[2.0, 3.0])], 1.0);
    // d/dx softplus(x) = sigmoid(x): 0.5 at x = 0 and 1 / (1 + e^−1) = 0.7310585786300049 at
    // x = 1; with ḡ = (2, 3): (2·0.5, 3·0.7310585786300049) = (1, 2.1931757358900147).
    let sigmoid_1 = 1.0 / (1.0 + (-1.0f64).exp());
    assert_close(&adj(&p, &ws, x), &[1.0, 3.0 * sigmoid_1]);
}

#[test]
fn binary() {
    let mut a = Arena::default();
    let num = a.temp(2, 1, &[2.0, 3.0]);
    let den = a.temp(1, 1, &[4.0]);
    let out = a.temp(2, 1, &[0.0; 2]);
    let deriv = a.aux(4);
    let p = a.program(
        vec![Instr::Binary {
            op: BinOp::Div,
            a: num,
            b: den,
            out,
            deriv,
        }],
        ParamLayout::default(),
    );
    let (ws, _) = run(&p, &[], &[(out, &[1.0, 10.0])], 1.0);
    // out_i = a_i / b with b broadcast: d/da_i = 1/b, so ḡ/4 = (0.25, 2.5);
    assert_eq!(adj(&p, &ws, num), [0.25, 2.5]);
    // d/db = −Σ ḡ_i a_i / b² = −(1·2 + 10·3)/16 = −2, the broadcast scalar collecting both.
    assert_eq!(adj(&p, &ws, den), [-2.0]);
}

#[test]
fn mat_vec() {
    // M = [[1, 2, 3], [4, 5, 6]], v = (1, 0, −1).
    let mut a = Arena::default();
    let m = a.temp(2, 3, &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    let v = a.temp(3, 1, &[1.0, 0.0, -1.0]);
    let out = a.temp(2, 1, &[0.0; 2]);
    let p = a.program(vec![Instr::MatVec { m, v, out }], ParamLayout::default());
    let (ws, _) = run(&p, &[], &[(out, &[1.0, 2.0])], 1.0);
    // dM[r, c] = ḡ[r]·v[c] = [[1, 0, −1], [2, 0, −2]].
    assert_eq!(adj(&p, &ws, m), [1.0, 2.0, 0.0, 0.0, -1.0, -2.0]);
    // dv[c] = Σ_r M[r, c]·ḡ[r] = (1 + 8, 2 + 10, 3 + 12) = (9, 12, 15).
    assert_eq!(adj(&p, &ws, v), [9.0, 12.0, 15.0]);
}

#[test]
fn column() {
    let mut a = Arena::default();
    let x = a.temp(3, 2, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let out = a.temp(3, 1, &[0.0; 3]);
    let p = a.program(
        vec![Instr::Column { x, col: 1, out }],
        ParamLayout::default(),
    );
    let (ws, _) = run(&p, &[], &[(out, &[1.0, 2.0, 3.0])], 1.0);
    // out = x[:, 1]: column 1 of dX is ḡ = (1, 2, 3), column 0 stays 0.
    assert_eq!(adj(&p, &ws, x), [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]);
}

#[test]
fn element() {
    let mut a = Arena::default();
    let x = a.temp(3, 1, &[1.0, 2.0, 3.0]);
    let out = a.temp(1, 1, &[0.0]);
    let p = a.program(
        vec![Instr::Element { x, index: 2, out }],
        ParamLayout::default(),
    );
    let (ws, _) = run(&p, &[], &[(out, &[5.0])], 1.0);
    // out = x[2]: dx = (0, 0, ḡ) = (0, 0, 5).
    assert_eq!(adj(&p, &ws, x), [0.0, 0.0, 5.0]);
}

#[test]
fn reduce() {
    for (mean, want) in [(false, 2.0), (true, 0.5)] {
        let mut a = Arena::default();
        let x = a.temp(2, 2, &[1.0, 2.0, 3.0, 4.0]);
        let out = a.temp(1, 1, &[0.0]);
        let p = a.program(vec![Instr::Reduce { x, out, mean }], ParamLayout::default());
        let (ws, _) = run(&p, &[], &[(out, &[2.0])], 1.0);
        // d/dx_i Σ x = 1, so ḡ = 2 each; d/dx_i mean x = 1/4, so 2/4 = 0.5 each.
        assert_eq!(adj(&p, &ws, x), [want; 4], "mean = {mean}");
    }
}

#[test]
fn dot() {
    let mut a = Arena::default();
    let u = a.temp(3, 1, &[1.0, 2.0, 3.0]);
    let v = a.temp(3, 1, &[4.0, 5.0, 6.0]);
    let out = a.temp(1, 1, &[0.0]);
    let p = a.program(vec![Instr::Dot { a: u, b: v, out }], ParamLayout::default());
    let (ws, _) = run(&p, &[], &[(out, &[2.0])], 1.0);
    // d(u·v)/du = v and d(u·v)/dv = u, times ḡ = 2: (8, 10, 12) and (2, 4, 6).
    assert_eq!(adj(&p, &ws, u), [8.0, 10.0, 12.0]);
    assert_eq!(adj(&p, &ws, v), [2.0, 4.0, 6.0]);
}

#[test]
fn term() {
    let mut a = Arena::default();
    let y = a.temp(2, 1, &[1.0, 2.0]);
    let mu = a.temp(1, 1, &[0.0]);
    let sigma = a.temp(1, 1, &[2.0]);
    let t = a.temp(1, 1, &[0.5]);
    let zero = a.data(1, 1, &[0.0]);
    let one = a.data(1, 1, &[1.0]);
    let lik_partials = a.aux(3 * 2);
    let prior_partials = a.aux(3);
    let normal = |target, args, part, partials, len| Instr::Term {
        dist: Distribution::Normal,
        target,
        args,
        part,
        norm: Norm::None,
        partials,
        len,
        label: "the term".into(),
    };
    let p = a.program(
        vec![
            normal(y, vec![mu, sigma], Part::Likelihood, lik_partials, 2),
            normal(t, vec![zero, one], Part::Prior, prior_partials, 1),
        ],
        ParamLayout::default(),
    );
    // The output is log p itself: its adjoint is lik_scale = 3 for the likelihood, 1 for the
    // prior.
    let (ws, _) = run(&p, &[], &[], 3.0);
    // log N(y | μ, σ) with z_i = (y_i − μ)/σ = (0.5, 1):
    // ∂/∂y_i = −z_i/σ = (−0.25, −0.5), times 3: (−0.75, −1.5);
    assert_close(&adj(&p, &ws, y), &[-0.75, -1.5]);
    // ∂/∂μ = Σ z_i/σ = 0.25 + 0.5 = 0.75, times 3: 2.25 (μ broadcast over both rows);
    assert_close(&adj(&p, &ws, mu), &[2.25]);
    // ∂/∂σ = Σ (z_i² − 1)/σ = (−0.75 + 0)/2 = −0.375, times 3: −1.125.
    assert_close(&adj(&p, &ws, sigma), &[-1.125]);
    // The prior log N(t | 0, 1) at t = 0.5: ∂/∂t = −t = −0.5, not scaled.
    assert_close(&adj(&p, &ws, t), &[-0.5]);
}

#[test]
fn categorical() {
    // Logits (2 rows × 3 classes) = [[0, 0, ln 2], [1, 1, 1]], labels y = (2, 0).
    let mut a = Arena::default();
    let labels = a.data(2, 1, &[2.0, 0.0]);
    let ln2 = 2f64.ln();
    let logits = a.temp(2, 3, &[0.0, 1.0, 0.0, 1.0, ln2, 1.0]);
    let softmax = a.aux(6);
    let p = a.program(
        vec![Instr::Categorical {
            target: labels,
            logits,
            part: Part::Likelihood,
            softmax,
            label: "the term".into(),
        }],
        ParamLayout::default(),
    );
    let (ws, _) = run(&p, &[], &[], 2.0);
    // d/dz_j [z_y − log Σ exp z] = 1{j = y} − softmax(z)_j, times lik_scale = 2:
    // row 0: softmax = (1, 1, 2)/4, so 2·((0, 0, 1) − (0.25, 0.25, 0.5)) = (−0.5, −0.5, 1);
    // row 1: softmax = (1, 1, 1)/3, so 2·((1, 0, 0) − 1/3) = (4/3, −2/3, −2/3).
    let third = 1.0 / 3.0;
    assert_close(
        &adj(&p, &ws, logits),
        &[-0.5, 4.0 * third, -0.5, -2.0 * third, 1.0, -2.0 * third],
    );
}

#[test]
fn draw() {
    let mut a = Arena::default();
    let mu = a.temp(1, 1, &[0.0]);
    let sigma = a.temp(1, 1, &[1.0]);
    let out = a.add(3, 1, &[0.0; 3], SlotKind::Temp, false);
    let p = a.program(
        vec![Instr::Draw {
            dist: Distribution::Normal,
            args: vec![mu, sigma],
            out,
        }],
        ParamLayout::default(),
    );
    let mut ws = Workspace::new(&p);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let e = forward::<true>(&p, &mut ws, &[], Some(&mut rng));
    assert_eq!(e.nonfinite, None, "draws");
    ws.clear_adjoints();
    ws.adj[p.slots[out].slot.range()].fill(1.0);
    sweep(&p, &mut ws, 1.0, 1.0, &mut []);
    // A predictive draw is not differentiated: whatever the draws' adjoint, none reaches the
    // arguments.
    assert_eq!(adj(&p, &ws, mu), [0.0]);
    assert_eq!(adj(&p, &ws, sigma), [0.0]);
}
