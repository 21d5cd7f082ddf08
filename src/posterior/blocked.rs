//! The full-data log-density and gradient of a large data set computed in blocks of rows: each
//! block runs forward and back through the program lowered for that many rows (as a minibatch's
//! is) while its activations are still in cache, and the blocks' parts are summed in one fixed
//! order, so the bits depend on the data's size alone, not on the number of threads.
//!
//! Why: on the whole data a wide layer's activations, with their partials and adjoints (45,000
//! rows × 100 units × 3 × 8 bytes ≈ 108 MB), are written to memory and read back several times
//! per gradient; a block of [`BLOCK_ROWS`] rows keeps them in the core's L2 cache.
//!
//! The order: the blocks form [`GROUPS`] contiguous groups (fewer when there are fewer blocks);
//! within a group the blocks' log-likelihoods and gradients are added one block after another,
//! and then the groups are added in order. Threads take whole groups, so any number of threads
//! adds the same numbers in the same order. The prior and the log-Jacobians are counted once,
//! with block 0.
//!
//! Only a program whose rows are independent qualifies ([`separable`]): every value computed
//! from a row's data stays in that row until a likelihood term sums over the rows.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::autodiff::pool::{share, Pool};
use crate::autodiff::{backward_weighted, forward, Workspace};
use crate::data::BoundData;
use crate::density::DensityError;
use crate::ir::LayerKind;
use crate::lower::{Instr, Part, Program};

/// Rows per block. A 100-unit tanh layer's values, partials and adjoints for 256 rows are
/// 0.6 MB, within a core's L2 (1 MB on the AMD EPYC, 2 MB on the Intel Xeon of earlier
/// measurements). On the protein-shaped network (9-100-1 on 45,000 rows, `bnnppl bench`, two
/// interleaved rounds): on the Xeon, one thread, 22.2–22.4 ms with blocks of 256 rows, 22.2–22.3
/// ms with 512 and 23.8–24.1 ms with 1024; on the EPYC, once a block's data was copied
/// contiguously, 12.8–13.2 ms with 256 against 13.1–13.7 with 512 on one thread, and 6.65–6.71
/// against 7.22–7.30 ms on two (the two cores share the L3 the larger blocks spilled to).
pub const BLOCK_ROWS: usize = 256;
/// Data sets from this many rows on are evaluated in blocks; smaller ones fit in cache whole.
/// (4,096 rows, as when blocks were 512 rows long.)
pub const MIN_ROWS: usize = 16 * BLOCK_ROWS;
/// Groups the blocks are summed in (see the module documentation); with 2 to 16 threads each
/// gets a near-equal share.
pub const GROUPS: usize = 16;

/// The programs a blocked evaluation runs, shared by every evaluator of a posterior.
#[derive(Debug)]
pub(crate) struct BlockPrograms {
    /// Lowered for [`BLOCK_ROWS`] rows.
    block: Arc<Program>,
    /// Lowered for the last block's rows, when N is not a multiple of [`BLOCK_ROWS`].
    tail: Option<Arc<Program>>,
    /// N, the rows of the data.
    rows: usize,
    /// Each field the programs slice by row, by name, column-major over all N rows (column c
    /// at c·N): a block's rows of a column are then one contiguous copy. Copied row by row
    /// from the row-major data instead, each value went to a place a block's column (4 KiB)
    /// from the last, all in one L1 set: 7 % of the protein-shaped network's gradient.
    columns: Vec<(String, Vec<f64>)>,
}

impl BlockPrograms {
    /// The programs for `rows` rows from `lower_rows(b)` (the program for b rows, its non-row
    /// data filled in), or `None` when blocks would change the density: fewer than
    /// [`MIN_ROWS`] rows, or a program [`separable`] refuses.
    pub(crate) fn new(
        full: &Program,
        data: &BoundData,
        rows: usize,
        lower_rows: impl Fn(usize) -> Arc<Program>,
    ) -> Option<BlockPrograms> {
        if rows < MIN_ROWS {
            return None;
        }
        let block = lower_rows(BLOCK_ROWS);
        let tail = (!rows.is_multiple_of(BLOCK_ROWS)).then(|| lower_rows(rows % BLOCK_ROWS));
        let ok = separable(full, &block) && tail.as_ref().is_none_or(|t| separable(full, t));
        let columns = block
            .row_data
            .iter()
            .map(|(name, _, cols)| {
                let src = data_values(data, name);
                let mut col_major = vec![0.0; src.len()];
                crate::autodiff::transpose(src, rows, *cols, &mut col_major);
                (name.clone(), col_major)
            })
            .collect();
        ok.then_some(BlockPrograms {
            block,
            tail,
            rows,
            columns,
        })
    }

    /// Copies rows `rows` of every field `prog` slices by row into its arena `vals` (as
    /// [`copy_rows`] does, from the column-major copies).
    fn copy_block(&self, prog: &Program, vals: &mut [f64], rows: std::ops::Range<usize>) {
        for (name, slot, cols) in &prog.row_data {
            let (_, src) = self
                .columns
                .iter()
                .find(|(n, _)| n == name)
                .expect("internal: every block program slices the same fields");
            let s = prog.slots[*slot].slot;
            for c in 0..*cols {
                let from = c * self.rows;
                vals[s.column(c)].copy_from_slice(&src[from + rows.start..from + rows.end]);
            }
        }
    }

    /// Number of blocks.
    fn blocks(&self) -> usize {
        self.rows.div_ceil(BLOCK_ROWS)
    }
}

/// Whether `block`, the program `full` lowered for fewer rows, computes `full`'s density block
/// by block. A slot whose row count differs between the two holds one value per row (a row
/// slot). Every instruction must keep rows apart: an instruction that reads a row slot writes
/// one (a layer, an elementwise operation, a column, a matrix times a parameter vector), and
/// only a likelihood term over a row slot sums over rows. An element, a sum, a dot product or
/// a matrix-vector product over rows, a prior on a row slot, or a likelihood term that is not
/// over rows (it would be counted once per block) disqualifies the program; so does a parameter
/// whose size depends on the rows, or a slot with one column per row.
pub(crate) fn separable(full: &Program, block: &Program) -> bool {
    if full.slots.len() != block.slots.len()
        || full.instrs.len() != block.instrs.len()
        || full.layout.dim() != block.layout.dim()
    {
        return false;
    }
    // The rows are a slot's first dimension; a slot whose other dimension depends on them
    // (a matrix laid out with one column per row) is not blocked by rows.
    if full
        .slots
        .iter()
        .zip(&block.slots)
        .any(|(f, b)| f.slot.cols != b.slot.cols)
    {
        return false;
    }
    let row = |s: usize| full.slots[s].slot.rows != block.slots[s].slot.rows;
    block.instrs.iter().all(|ins| match ins {
        Instr::Constrain { out, .. } => !row(*out),
        Instr::Layer { kind, x, out, .. } => {
            let params_apart = match kind {
                LayerKind::Dense { weight, bias, .. } => {
                    !row(*weight) && bias.is_none_or(|b| !row(b))
                }
                LayerKind::Dropout { .. } => true,
            };
            params_apart && row(*x) == row(*out)
        }
        Instr::Unary { x, out, .. } | Instr::Column { x, out, .. } => !row(*x) || row(*out),
        Instr::Binary { a, b, out, .. } => !(row(*a) || row(*b)) || row(*out),
        Instr::MatVec { m, v, out } => !row(*v) && (!row(*m) || row(*out)),
        Instr::Element { x, .. } | Instr::Reduce { x, .. } => !row(*x),
        Instr::Dot { a, b, .. } => !row(*a) && !row(*b),
        Instr::Term {
            target, args, part, ..
        } => match part {
            Part::Prior => !row(*target) && args.iter().all(|&a| !row(a)),
            Part::Likelihood => row(*target),
        },
        Instr::Categorical {
            target,
            logits,
            part,
            ..
        } => match part {
            Part::Prior => !row(*target) && !row(*logits),
            Part::Likelihood => row(*target) && row(*logits),
        },
        Instr::Draw { args, out, .. } => args.iter().all(|&a| !row(a)) && !row(*out),
    })
}

/// One thread's room: a workspace for each program and one block's gradient.
#[derive(Debug)]
struct Lane {
    /// For [`BlockPrograms::block`].
    block: Workspace,
    /// For [`BlockPrograms::tail`].
    tail: Option<Workspace>,
    /// The gradient of the block just swept, length d.
    grad: Vec<f64>,
}

/// What one group of blocks adds up to.
#[derive(Debug, Default)]
struct GroupSum {
    /// The prior part (block 0's group only; 0 elsewhere).
    prior: f64,
    /// The blocks' likelihoods, added in block order.
    likelihood: f64,
    /// The blocks' gradients, added in block order (length d; empty for a log-density).
    grad: Vec<f64>,
    /// The first block whose value is not finite, with its error.
    error: Option<DensityError>,
}

/// A blocked evaluator: the shared programs, a lane per thread and a sum per group.
#[derive(Debug)]
pub(crate) struct Blocked {
    programs: Arc<BlockPrograms>,
    lanes: Vec<Mutex<Lane>>,
    groups: Vec<Mutex<GroupSum>>,
    /// The chain's threads (`--threads-per-chain`); `None`: the calling thread alone.
    pool: Option<Arc<Pool>>,
}

/// A lock nobody else holds while a job runs (each part locks its own lane and its own groups);
/// a poisoned one means a part panicked, which the pool reports.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Blocked {
    /// An evaluator of `programs` running its groups on `pool`'s threads.
    pub(crate) fn new(programs: Arc<BlockPrograms>, pool: Option<Arc<Pool>>) -> Blocked {
        let threads = pool.as_ref().map_or(1, |p| p.threads());
        let dim = programs.block.layout.dim();
        let lanes = (0..threads)
            .map(|_| {
                Mutex::new(Lane {
                    block: Workspace::new(&programs.block),
                    tail: programs.tail.as_deref().map(Workspace::new),
                    grad: vec![0.0; dim],
                })
            })
            .collect();
        let groups = (0..GROUPS.min(programs.blocks()))
            .map(|_| {
                Mutex::new(GroupSum {
                    grad: vec![0.0; dim],
                    ..GroupSum::default()
                })
            })
            .collect();
        Blocked {
            programs,
            lanes,
            groups,
            pool,
        }
    }

    /// The prior and likelihood parts of log p(θ) over every row, and with `GRAD` the gradient
    /// of `weights.0` · prior + `weights.1` · likelihood in `grad` (length d, overwritten).
    /// Each block's rows are copied from the programs' column-major data; `check(program, value)`
    /// turns a block's non-finite value into the error naming its term.
    pub(crate) fn evaluate<const GRAD: bool>(
        &self,
        theta: &[f64],
        weights: (f64, f64),
        grad: &mut [f64],
        check: &(dyn Fn(&Program, &crate::autodiff::Eval) -> Result<(), DensityError> + Sync),
    ) -> Result<(f64, f64), DensityError> {
        let (prior_w, lik_w) = weights;
        let blocks = self.programs.blocks();
        let groups = self.groups.len();
        let job = |part: usize| {
            let parts = self.lanes.len();
            let mut lane = lock(&self.lanes[part]);
            let lane = &mut *lane;
            for g in (part..groups).step_by(parts) {
                let mut sum = lock(&self.groups[g]);
                let sum = &mut *sum;
                sum.prior = 0.0;
                sum.likelihood = 0.0;
                if GRAD {
                    sum.grad.fill(0.0);
                }
                sum.error = None;
                for b in share(blocks, groups, g) {
                    let start = b * BLOCK_ROWS;
                    let end = (start + BLOCK_ROWS).min(self.programs.rows);
                    let (prog, ws) = match (&self.programs.tail, &mut lane.tail) {
                        (Some(p), Some(ws)) if end - start != BLOCK_ROWS => (&**p, ws),
                        _ => (&*self.programs.block, &mut lane.block),
                    };
                    self.programs.copy_block(prog, &mut ws.vals, start..end);
                    let e = forward::<GRAD>(prog, ws, theta, None);
                    if let Err(error) = check(prog, &e) {
                        sum.error = Some(error);
                        break;
                    }
                    if b == 0 {
                        sum.prior = e.prior;
                    }
                    sum.likelihood += e.likelihood;
                    if GRAD {
                        let prior_w = if b == 0 { prior_w } else { 0.0 };
                        backward_weighted(prog, ws, prior_w, lik_w, &mut lane.grad);
                        sum.grad
                            .iter_mut()
                            .zip(&lane.grad)
                            .for_each(|(s, g)| *s += g);
                    }
                }
            }
        };
        match &self.pool {
            Some(pool) => pool.run(&job),
            None => job(0),
        }
        let mut likelihood = 0.0;
        let mut prior = 0.0;
        if GRAD {
            grad.fill(0.0);
        }
        for group in &self.groups {
            let sum = lock(group);
            if let Some(e) = &sum.error {
                return Err(e.clone());
            }
            prior += sum.prior;
            likelihood += sum.likelihood;
            if GRAD {
                grad.iter_mut().zip(&sum.grad).for_each(|(a, g)| *a += g);
            }
        }
        Ok((prior, likelihood))
    }
}

/// A data field's values (row-major), by name; the lowering only slices fields the data has.
fn data_values<'a>(data: &'a BoundData, name: &str) -> &'a [f64] {
    &data
        .get(name)
        .expect("internal: row data bound by the posterior")
        .values
}

/// Copies rows `rows` of every field `prog` slices by row into its arena `vals`: row r of a
/// field (row-major in `src`) becomes row k of the program's slot (column-major, stride = the
/// program's rows), k counting the rows in the order given.
pub(crate) fn copy_rows<'a>(
    prog: &Program,
    vals: &mut [f64],
    src: impl Fn(&str) -> &'a [f64],
    rows: impl Iterator<Item = usize> + Clone,
) {
    for (name, slot, cols) in &prog.row_data {
        let src = src(name);
        let s = prog.slots[*slot].slot;
        for (k, r) in rows.clone().enumerate() {
            for c in 0..*cols {
                vals[s.at(k, c)] = src[r * cols + c];
            }
        }
    }
}
