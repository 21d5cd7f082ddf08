//! Times bnnppl's activation buffer kernels (tanh, sigmoid, swish, softplus, elu) against the
//! generic formulas on Dual64 with libm and glibc's scalar tanh and exp, in ns per element.
//!
//! Run as `cargo run --release --example tanh_speed -- [N]` (buffer length N, default 500, the
//! size of one bnn_toy activation buffer). Each figure is the best of 20,000 passes over the
//! buffer, arguments evenly spread over [−3, 3]; BENCHMARKS.md quotes them.

use std::hint::black_box;
use std::time::Instant;

fn time(name: &str, x: &[f64], f: &mut dyn FnMut(&mut [f64], &mut [f64])) {
    let mut z = x.to_vec();
    let mut dz = vec![0.0; x.len()];
    let mut best = f64::INFINITY;
    for _ in 0..20_000 {
        z.copy_from_slice(x);
        let t = Instant::now();
        f(black_box(&mut z), black_box(&mut dz));
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("{name:<38} {:6.2} ns/element", best / x.len() as f64 * 1e9);
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let x: Vec<f64> = (0..n).map(|i| -3.0 + 6.0 * i as f64 / n as f64).collect();
    time("bnnppl tanh_in_place", &x, &mut |z, _| {
        bnnppl::math::tanh_in_place(z)
    });
    time("bnnppl tanh_in_place_with_grad", &x, &mut |z, dz| {
        bnnppl::math::tanh_in_place_with_grad(z, dz)
    });
    time("generic tanh on Dual64 (libm expm1)", &x, &mut |z, dz| {
        for (v, d) in z.iter_mut().zip(dz.iter_mut()) {
            let y = bnnppl::math::tanh(num_dual::Dual64::new(*v, 1.0));
            *v = y.re;
            *d = y.eps;
        }
    });
    use bnnppl::math::activation as act;
    type Kernel = fn(&mut [f64], &mut [f64]);
    type Generic = fn(num_dual::Dual64) -> num_dual::Dual64;
    let others: [(&str, Kernel, Generic); 4] = [
        ("sigmoid", act::sigmoid_in_place_with_grad, act::sigmoid),
        ("swish", act::swish_in_place_with_grad, act::swish),
        ("softplus", act::softplus_in_place_with_grad, act::softplus),
        ("elu", act::elu_in_place_with_grad, act::elu),
    ];
    for (name, kernel, generic) in others {
        time(
            &format!("bnnppl {name}_in_place_with_grad"),
            &x,
            &mut |z, dz| kernel(z, dz),
        );
        time(
            &format!("generic {name} on Dual64 (libm)"),
            &x,
            &mut |z, dz| {
                for (v, d) in z.iter_mut().zip(dz.iter_mut()) {
                    let y = generic(num_dual::Dual64::new(*v, 1.0));
                    *v = y.re;
                    *d = y.eps;
                }
            },
        );
    }
    time("glibc f64::tanh", &x, &mut |z, _| {
        z.iter_mut().for_each(|v| *v = v.tanh())
    });
    time("glibc f64::exp", &x, &mut |z, _| {
        z.iter_mut().for_each(|v| *v = v.exp())
    });
    time("bnnppl kernel::exp, baseline ISA", &x, &mut |z, _| {
        z.iter_mut()
            .for_each(|v| *v = bnnppl::math::kernel::exp(*v))
    });
}
