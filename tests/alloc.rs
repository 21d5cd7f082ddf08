//! The hot path allocates nothing: a counting global allocator watches log-density, gradient and
//! minibatch evaluations of every bundled model and the benchmark networks.
//!
//! The one exception is by design: a dense-layer product of at least 2¹⁸ multiply-adds with
//! every dimension ≥ 10 goes to matrixmultiply, which allocates its packing buffer per call (see
//! `autodiff/dense.rs`); bench/mlp_13_100_100_1 has two such products forward and three more
//! backward, and models/uci_nuts_neal (boston's 455 training rows) one forward and one more
//! backward.

use bnnppl::api::Model;
use bnnppl::density::Density;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts allocations (and reallocations) and passes everything to the system allocator.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`, which upholds the contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made while running `f`.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    f();
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// Allocations per call of the value, the gradient and (when the model has rows) a minibatch
/// gradient over every other row, after one warm-up call of each.
fn per_call(bnn: &str, data: &str) -> [usize; 3] {
    let model = Model::from_file(bnn).unwrap_or_else(|e| panic!("{e}"));
    let post = model.bind_file(data).unwrap_or_else(|e| panic!("{e}"));
    let d = post.layout().dim();
    let theta: Vec<f64> = (0..d)
        .map(|i| ((i * 13 % 29) as f64 - 14.0) / 20.0)
        .collect();
    let mut grad = vec![0.0; d];
    let mut eval = post.evaluator();
    let rows: Vec<usize> = (0..post.n_rows()).step_by(2).collect();
    let mut value = || {
        eval.log_density(&theta).expect("finite");
    };
    value();
    let v = allocations(|| (0..5).for_each(|_| value()));
    let mut eval = post.evaluator();
    let mut gradient = || {
        eval.log_density_grad(&theta, &mut grad).expect("finite");
    };
    gradient();
    let g = allocations(|| (0..5).for_each(|_| gradient()));
    let mut eval = post.evaluator();
    let mut minibatch = || {
        if !rows.is_empty() {
            eval.minibatch_grad(&theta, &rows, &mut grad)
                .expect("finite");
        }
    };
    minibatch(); // builds the batch program once
    let m = allocations(|| (0..5).for_each(|_| minibatch()));
    [v / 5, g / 5, m / 5]
}

// One test, so no other test thread allocates while counting.
#[test]
fn evaluations_do_not_allocate() {
    let mut models: Vec<(String, String)> = std::fs::read_dir("models")
        .expect("models/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "bnn"))
        .map(|p| {
            let data = p.with_extension("json");
            (p.display().to_string(), data.display().to_string())
        })
        .collect();
    models.sort();
    assert!(models.len() >= 8, "{models:?}");
    for stem in ["bnn_mlp50", "mlp_10_50_1"] {
        models.push((format!("bench/{stem}.bnn"), format!("bench/{stem}.json")));
    }
    for (bnn, data) in &models {
        let counts = per_call(bnn, data);
        // uci_nuts_neal's data is boston's split 0: the hidden layer's product is 455 rows ×
        // 13 inputs × 50 units = 295 750 ≥ 2¹⁸ multiply-adds with every dimension ≥ 10, so it
        // goes to matrixmultiply: one packing buffer forward, and with the backward one more
        // for dW = Gᵀ·X (no dX: x is data). The minibatch of 228 rows (148 200) stays below.
        let expected = if bnn.ends_with("uci_nuts_neal.bnn") {
            [1, 2, 0]
        } else {
            [0, 0, 0]
        };
        assert_eq!(
            counts, expected,
            "{bnn}: allocations per value, gradient, minibatch"
        );
    }
    // Above the gemm threshold: matrixmultiply's packing buffers, one per large product.
    let counts = per_call("bench/mlp_13_100_100_1.bnn", "bench/mlp_13_100_100_1.json");
    assert_eq!(
        counts[..2],
        [2, 5],
        "two large products forward, five with the backward"
    );
}
