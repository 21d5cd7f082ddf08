//! Log-density terms Σᵢ log p(targetᵢ | argsᵢ) and their partials: the generic formula of
//! `math::dist` evaluated on f64 for the value, and on `Dual64` once per input that needs a
//! gradient (seeded on that input), as everywhere else.
//!
//! Two choices make this fast without touching the formulas. The distribution is matched once,
//! outside the loop over elements, so each loop runs one inlined formula. And each input is
//! known before the loop to be either a slice or a broadcast scalar, through a compile-time
//! mask for the common patterns (a prior over a parameter's elements with scalar arguments; a
//! likelihood whose location varies per row with one scale), so the work on broadcast inputs —
//! ln σ of a normal with one σ — is loop-invariant and hoisted out by the compiler (checked:
//! bnn_toy calls libm's log about once per evaluation, not once per row), and the loop body is
//! branch-free arithmetic over blocks of [`LANES`] elements, compiled for the widest vector unit
//! (bnn_toy's gradient: 3.95 → 3.82 µs when these loops went from scalar code to vectors).
//! Other patterns, and truncations to an interval, take a general loop that decides per
//! element.
//!
//! One `Dual64` pass per varying input (rather than one pass on a dual vector with a direction
//! per input) recomputes the value, but `Dual64` is two plain floats while a dual vector's
//! derivative is an optional array that every operation branches on; with two varying inputs
//! the two passes measured faster.

use super::scalar;
use crate::ir::Distribution;
use crate::lower::{Norm, Program};
use num_dual::{Dual64, DualSVec64};

/// The inputs of one term: input 0 is the variate, then the arguments.
struct Inputs {
    /// Number of inputs (1 + number of arguments).
    n: usize,
    /// Arena offset of each input.
    offs: [usize; 4],
    /// True for an input of one element broadcast over all elements.
    bcast: [bool; 4],
    /// True for an input whose adjoint the backward sweep needs.
    vary: [bool; 4],
}

impl Inputs {
    fn new(p: &Program, target: usize, args: &[usize]) -> Inputs {
        let mut inputs = Inputs {
            n: 1 + args.len(),
            offs: [0; 4],
            bcast: [false; 4],
            vary: [false; 4],
        };
        for j in 0..inputs.n {
            let id = if j == 0 { target } else { args[j - 1] };
            let s = &p.slots[id];
            inputs.offs[j] = s.slot.offset;
            inputs.bcast[j] = s.slot.len() == 1;
            inputs.vary[j] = s.needs_grad;
        }
        inputs
    }

    /// Bit j set when input j is a slice of `len` elements (every input, when len is 1).
    fn sliced_mask(&self, len: usize) -> u8 {
        (0..self.n)
            .filter(|&j| len == 1 || !self.bcast[j])
            .fold(0, |m, j| m | 1 << j)
    }
}

/// Evaluates one term over `len` elements. Returns Σᵢ log p; with `PARTIALS`, writes
/// ∂ log pᵢ/∂ input j to `vals[partials + j·len + i]` for every input j that varies.
#[allow(clippy::too_many_arguments)]
pub(super) fn term<const PARTIALS: bool>(
    p: &Program,
    vals: &mut [f64],
    dist: Distribution,
    target: usize,
    args: &[usize],
    norm: Norm,
    partials: usize,
    len: usize,
) -> f64 {
    let inputs = Inputs::new(p, target, args);
    let mask = inputs.sliced_mask(len);
    // Half-distributions add ln 2 per element: a constant, no partials, added once here.
    let (formula_norm, constant) = match norm {
        Norm::Half => (Norm::None, len as f64 * std::f64::consts::LN_2),
        other => (other, 0.0),
    };
    if let Norm::Cdf(..) = formula_norm {
        return general::<PARTIALS>(vals, dist, norm, &inputs, partials, len);
    }
    // Inputs are read below `partials`; partials are written at and above it (the lowering
    // reserves them after every slot the term reads).
    let (lo, hi) = vals.split_at_mut(partials);
    let out = &mut hi[..inputs.n * len];
    let lo: &[f64] = lo;
    macro_rules! dispatch {
        ($n:literal, |$x:ident, $a:ident| $formula:expr) => {{
            struct F;
            impl Formula for F {
                #[inline(always)]
                fn eval<D: crate::math::Real>($x: D, $a: &[D]) -> D {
                    $formula
                }
            }
            const ALL: u8 = (1 << $n) - 1;
            // Guards rather than patterns: for two inputs 0b0011 is ALL, and 0b0101 cannot occur.
            match mask {
                m if m == ALL => passes_widest::<PARTIALS, F, $n, ALL>(lo, &inputs, out, len),
                m if m == 0b0001 => passes_widest::<PARTIALS, F, $n, 0b0001>(lo, &inputs, out, len),
                m if m == 0b0011 => passes_widest::<PARTIALS, F, $n, 0b0011>(lo, &inputs, out, len),
                m if m == 0b0101 => passes_widest::<PARTIALS, F, $n, 0b0101>(lo, &inputs, out, len),
                _ => return general::<PARTIALS>(vals, dist, norm, &inputs, partials, len),
            }
        }};
    }
    use Distribution as Ds;
    let total = match dist {
        Ds::Normal => dispatch!(3, |x, a| scalar::lpdf_untruncated(Ds::Normal, x, a)),
        Ds::StudentT => dispatch!(4, |x, a| scalar::lpdf_untruncated(Ds::StudentT, x, a)),
        Ds::Cauchy => dispatch!(3, |x, a| scalar::lpdf_untruncated(Ds::Cauchy, x, a)),
        Ds::Laplace => dispatch!(3, |x, a| scalar::lpdf_untruncated(Ds::Laplace, x, a)),
        Ds::Logistic => dispatch!(3, |x, a| scalar::lpdf_untruncated(Ds::Logistic, x, a)),
        Ds::Gamma => dispatch!(3, |x, a| scalar::lpdf_untruncated(Ds::Gamma, x, a)),
        Ds::InvGamma => dispatch!(3, |x, a| scalar::lpdf_untruncated(Ds::InvGamma, x, a)),
        Ds::Exponential => dispatch!(2, |x, a| scalar::lpdf_untruncated(Ds::Exponential, x, a)),
        Ds::LogNormal => dispatch!(3, |x, a| scalar::lpdf_untruncated(Ds::LogNormal, x, a)),
        Ds::Beta => dispatch!(3, |x, a| scalar::lpdf_untruncated(Ds::Beta, x, a)),
        Ds::Uniform => dispatch!(3, |x, a| scalar::lpdf_untruncated(Ds::Uniform, x, a)),
        Ds::BernoulliLogit => {
            dispatch!(2, |x, a| scalar::lpdf_untruncated(Ds::BernoulliLogit, x, a))
        }
        Ds::PoissonLog => dispatch!(2, |x, a| scalar::lpdf_untruncated(Ds::PoissonLog, x, a)),
        Ds::BinomialLogit => {
            dispatch!(3, |x, a| scalar::lpdf_untruncated(Ds::BinomialLogit, x, a))
        }
        Ds::CategoricalLogit => unreachable!("internal: categorical_logit has its own instruction"),
    };
    total + constant
}

/// One distribution's log-density, generic so it runs on f64 and on `Dual64`.
trait Formula {
    /// log p(x | a).
    fn eval<D: crate::math::Real>(x: D, a: &[D]) -> D;
}

/// Independent partial sums in a loop: the sum of `LANES` interleaved running totals, added in a
/// fixed order, so the loop vectorizes (a single running total is a serial dependency the
/// compiler may not reorder) and the result does not depend on the vector width.
const LANES: usize = 8;

/// [`passes`] compiled for the widest vector unit [`SimdPath::current`] allows (as the kernels'
/// `widest!` does), so its loops over elements vectorize to 8 or 4 doubles; no FMA is
/// enabled, so every path computes the same bits.
///
/// [`SimdPath::current`]: crate::math::kernel::SimdPath::current
fn passes_widest<const PARTIALS: bool, F: Formula, const N: usize, const SLICED: u8>(
    lo: &[f64],
    inputs: &Inputs,
    out: &mut [f64],
    len: usize,
) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::math::kernel::SimdPath;
        // [`passes`] under a target feature, for one vector width.
        macro_rules! compiled_for {
            ($feature:literal, $name:ident) => {
                #[target_feature(enable = $feature)]
                fn $name<const PARTIALS: bool, F: Formula, const N: usize, const SLICED: u8>(
                    lo: &[f64],
                    inputs: &Inputs,
                    out: &mut [f64],
                    len: usize,
                ) -> f64 {
                    passes::<PARTIALS, F, N, SLICED>(lo, inputs, out, len)
                }
            };
        }
        compiled_for!("avx512f", avx512);
        compiled_for!("avx2", avx2);
        match SimdPath::current() {
            // SAFETY: `current` never returns a path above the CPU's (`detected`).
            SimdPath::Avx512 => {
                return unsafe { avx512::<PARTIALS, F, N, SLICED>(lo, inputs, out, len) }
            }
            // SAFETY: as above.
            SimdPath::Avx2 => {
                return unsafe { avx2::<PARTIALS, F, N, SLICED>(lo, inputs, out, len) }
            }
            SimdPath::Baseline => {}
        }
    }
    passes::<PARTIALS, F, N, SLICED>(lo, inputs, out, len)
}

/// The value, then one `Dual64` pass per varying input, for inputs whose slice/broadcast pattern
/// is the compile-time mask `SLICED` over `N` inputs (bit j set: input j is a slice of `len`).
/// With partials, the first dual pass gives the value too.
#[inline(always)]
fn passes<const PARTIALS: bool, F: Formula, const N: usize, const SLICED: u8>(
    lo: &[f64],
    inputs: &Inputs,
    out: &mut [f64],
    len: usize,
) -> f64 {
    debug_assert_eq!(inputs.n, N);
    let mut sl: [&[f64]; N] = [&[]; N];
    let mut bc = [0.0f64; N];
    for j in 0..N {
        let o = inputs.offs[j];
        if SLICED & (1 << j) != 0 {
            sl[j] = &lo[o..o + len];
        } else {
            bc[j] = lo[o];
        }
    }
    // Input j of element i, the branch resolved at compile time.
    let get = |j: usize, i: usize| -> f64 {
        if SLICED & (1 << j) != 0 {
            sl[j][i]
        } else {
            bc[j]
        }
    };
    let full = len - len % LANES;
    let mut total = None;
    if PARTIALS {
        for v in 0..N {
            if !inputs.vary[v] {
                continue;
            }
            let part = &mut out[v * len..(v + 1) * len];
            // Seeded on input v: ∂/∂v; inputs other than v are constants (eps 0).
            let seed = |j: usize| if j == v { 1.0 } else { 0.0 };
            let dual = |j: usize, x: f64| Dual64::new(x, seed(j));
            // Σ in LANES interleaved partial sums, then the tail's.
            let mut acc = [0.0f64; LANES];
            for (i0, p) in (0..full).step_by(LANES).zip(part.chunks_exact_mut(LANES)) {
                let xs = lanes::<N, SLICED>(&sl, i0);
                for k in 0..LANES {
                    let d: [Dual64; N] =
                        std::array::from_fn(|j| dual(j, lane_input::<N, SLICED>(&xs, &bc, j, k)));
                    let y = F::eval(d[0], &d[1..]);
                    p[k] = y.eps;
                    acc[k] += y.re;
                }
            }
            let mut tail = 0.0;
            for (i, p) in part.iter_mut().enumerate().skip(full) {
                let d: [Dual64; N] = std::array::from_fn(|j| dual(j, get(j, i)));
                let y = F::eval(d[0], &d[1..]);
                *p = y.eps;
                tail += y.re;
            }
            total.get_or_insert(acc.iter().sum::<f64>() + tail);
        }
    }
    total.unwrap_or_else(|| {
        let mut acc = [0.0f64; LANES];
        for i0 in (0..full).step_by(LANES) {
            let xs = lanes::<N, SLICED>(&sl, i0);
            for (k, a) in acc.iter_mut().enumerate() {
                let x: [f64; N] = std::array::from_fn(|j| lane_input::<N, SLICED>(&xs, &bc, j, k));
                *a += F::eval(x[0], &x[1..]);
            }
        }
        let mut tail = 0.0;
        for i in full..len {
            let x: [f64; N] = std::array::from_fn(|j| get(j, i));
            tail += F::eval(x[0], &x[1..]);
        }
        acc.iter().sum::<f64>() + tail
    })
}

/// The inputs of elements i0..i0 + LANES as arrays (a broadcast input's entry is [`ZEROS`], never
/// read), so the loop over the lanes in [`passes`] has no bounds checks and vectorizes.
#[inline(always)]
fn lanes<'a, const N: usize, const SLICED: u8>(
    sl: &[&'a [f64]; N],
    i0: usize,
) -> [&'a [f64; LANES]; N] {
    std::array::from_fn(|j| {
        let (s, at) = if SLICED & (1 << j) != 0 {
            (sl[j], i0)
        } else {
            (&ZEROS[..], 0)
        };
        s[at..at + LANES]
            .try_into()
            .expect("internal: LANES elements")
    })
}

/// Input j of lane k of a block from [`lanes`]: its slice's element, or its broadcast value.
#[inline(always)]
fn lane_input<const N: usize, const SLICED: u8>(
    xs: &[&[f64; LANES]; N],
    bc: &[f64; N],
    j: usize,
    k: usize,
) -> f64 {
    if SLICED & (1 << j) != 0 {
        xs[j][k]
    } else {
        bc[j]
    }
}

/// LANES zeros: the block a broadcast input's lanes point at in [`passes`] (never read).
static ZEROS: [f64; LANES] = [0.0; LANES];

/// The per-element loop for any pattern: each input's index is chosen per element.
fn general<const PARTIALS: bool>(
    vals: &mut [f64],
    dist: Distribution,
    norm: Norm,
    inputs: &Inputs,
    partials: usize,
    len: usize,
) -> f64 {
    let n_in = inputs.n;
    let vary = &inputs.vary;
    let n_vary = vary[..n_in].iter().filter(|v| **v).count();
    let at = |j: usize, i: usize| -> usize { inputs.offs[j] + if inputs.bcast[j] { 0 } else { i } };
    let mut total = 0.0;
    if !PARTIALS || n_vary == 0 {
        let mut xs = [0.0f64; 4];
        for i in 0..len {
            for j in 0..n_in {
                xs[j] = vals[at(j, i)];
            }
            total += scalar::lpdf(dist, norm, xs[0], &xs[1..n_in]);
        }
    } else if n_vary == 1 {
        let v = vary.iter().position(|x| *x).expect("one input varies");
        let mut d = [Dual64::from_re(0.0); 4];
        for i in 0..len {
            for j in 0..n_in {
                d[j] = Dual64::new(vals[at(j, i)], if j == v { 1.0 } else { 0.0 });
            }
            let y = scalar::lpdf(dist, norm, d[0], &d[1..n_in]);
            total += y.re;
            vals[partials + v * len + i] = y.eps;
        }
    } else {
        let mut d = [DualSVec64::<4>::from_re(0.0); 4];
        for i in 0..len {
            for j in 0..n_in {
                let x = DualSVec64::<4>::from_re(vals[at(j, i)]);
                d[j] = if vary[j] { x.derivative(j) } else { x };
            }
            let y = scalar::lpdf(dist, norm, d[0], &d[1..n_in]);
            total += y.re;
            let e = y.eps.unwrap_generic(nalgebra::Const::<4>, nalgebra::U1);
            for j in 0..n_in {
                if vary[j] {
                    vals[partials + j * len + i] = e[j];
                }
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lower::{ParamLayout, Slot, SlotInfo, SlotKind};

    /// A valid value of input j (0 = the variate) at element i for each distribution.
    fn value(dist: Distribution, j: usize, i: usize) -> f64 {
        use Distribution as Ds;
        let t = i as f64;
        let pos = 0.4 + 0.37 * t + 0.1 * j as f64;
        match (dist, j) {
            (Ds::Beta, 0) => 0.02 + 0.05 * t,
            (Ds::Uniform, 0) => -0.5 + 0.1 * t,
            (Ds::Uniform, 1) => -2.0 - 0.1 * t,
            (Ds::Uniform, 2) => 1.5 + 0.2 * t,
            (Ds::BernoulliLogit, 0) => (i % 2) as f64,
            (Ds::PoissonLog, 0) => (i % 4) as f64,
            (Ds::BinomialLogit, 0) => (i % 5) as f64,
            (Ds::BinomialLogit, 1) => 6.0,
            (Ds::BernoulliLogit | Ds::PoissonLog, 1) | (Ds::BinomialLogit, 2) => -1.0 + 0.3 * t,
            (Ds::Normal | Ds::Cauchy | Ds::Laplace | Ds::Logistic | Ds::LogNormal, 1) => {
                -0.7 + 0.29 * t
            }
            (Ds::StudentT, 2) => -0.7 + 0.29 * t,
            (Ds::Normal | Ds::Cauchy | Ds::Laplace | Ds::Logistic | Ds::StudentT, 0) => {
                -1.3 + 0.41 * t
            }
            _ => pos,
        }
    }

    /// A program holding one term's inputs: input j is a slice of `len` when bit j of `sliced`
    /// is set, else one element; `vary` marks inputs that need gradients.
    fn setup(
        dist: Distribution,
        n: usize,
        len: usize,
        sliced: u8,
        vary: u8,
    ) -> (Program, Vec<f64>, usize) {
        let mut slots = Vec::new();
        let mut vals = Vec::new();
        for j in 0..n {
            let elems = if sliced & 1 << j != 0 { len } else { 1 };
            slots.push(SlotInfo {
                slot: Slot {
                    offset: vals.len(),
                    rows: elems,
                    cols: 1,
                },
                kind: SlotKind::Temp,
                needs_grad: vary & 1 << j != 0,
            });
            vals.extend((0..elems).map(|i| value(dist, j, i)));
        }
        let partials = vals.len();
        vals.resize(partials + n * len, f64::NAN);
        let p = Program {
            slots,
            instrs: Vec::new(),
            init: vals.clone(),
            arena_len: vals.len(),
            layout: ParamLayout::default(),
            rows: len,
            row_data: Vec::new(),
            outputs: Vec::new(),
        };
        (p, vals, partials)
    }

    #[test]
    fn fast_passes_agree_with_the_general_loop() {
        use Distribution as Ds;
        let dists = [
            (Ds::Normal, 3),
            (Ds::StudentT, 4),
            (Ds::Cauchy, 3),
            (Ds::Laplace, 3),
            (Ds::Logistic, 3),
            (Ds::Gamma, 3),
            (Ds::InvGamma, 3),
            (Ds::Exponential, 2),
            (Ds::LogNormal, 3),
            (Ds::Beta, 3),
            (Ds::Uniform, 3),
            (Ds::BernoulliLogit, 2),
            (Ds::PoissonLog, 2),
            (Ds::BinomialLogit, 3),
        ];
        let mut checked = 0;
        for (dist, n) in dists {
            let all = (1u8 << n) - 1;
            // 19 elements: two full lanes of 8 and a tail of 3.
            for (len, sliced) in [
                (19, all),
                (19, 0b0001),
                (19, 0b0011),
                (19, 0b0101),
                (1, all),
            ] {
                if sliced > all {
                    continue;
                }
                for vary in 0..=all {
                    // integer inputs (counts, trials) never carry gradients
                    let ints = match dist {
                        Ds::BernoulliLogit | Ds::PoissonLog => 0b001,
                        Ds::BinomialLogit => 0b011,
                        _ => 0,
                    };
                    if vary & ints != 0 {
                        continue;
                    }
                    for norm in [Norm::None, Norm::Half] {
                        let (p, vals, partials) = setup(dist, n, len, sliced, vary);
                        let args: Vec<usize> = (1..n).collect();
                        let mut fast = vals.clone();
                        let f = term::<true>(&p, &mut fast, dist, 0, &args, norm, partials, len);
                        let mut slow = vals.clone();
                        let inputs = Inputs::new(&p, 0, &args);
                        let g = general::<true>(&mut slow, dist, norm, &inputs, partials, len);
                        let what = format!("{dist:?} len {len} sliced {sliced:b} vary {vary:b}");
                        assert!(f.is_finite(), "{what}: {f}");
                        assert!(
                            (f - g).abs() <= 1e-13 * g.abs().max(1.0),
                            "{what}: {f} vs {g}"
                        );
                        for j in 0..n {
                            if vary & 1 << j == 0 {
                                continue;
                            }
                            for i in 0..len {
                                let (a, b) =
                                    (fast[partials + j * len + i], slow[partials + j * len + i]);
                                assert!(
                                    (a - b).abs() <= 1e-13 * b.abs().max(1.0),
                                    "{what} input {j} element {i}: {a} vs {b}"
                                );
                            }
                        }
                        // without partials: the value alone
                        let mut value_only = vals.clone();
                        let v =
                            term::<false>(&p, &mut value_only, dist, 0, &args, norm, partials, len);
                        assert!(
                            (v - g).abs() <= 1e-13 * g.abs().max(1.0),
                            "{what}: {v} vs {g}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 300, "{checked} cases");
    }
}
