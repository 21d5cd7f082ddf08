//! The minibatch epoch order every minibatch engine shares: a seeded permutation of the rows per
//! epoch, cut into batches of exactly B rows.

use rand::{Rng, RngExt};

/// The minibatch schedule: a seeded permutation of the rows per epoch, cut into batches of B.
#[derive(Debug, Clone)]
pub struct Batches {
    /// The current epoch's order of the rows.
    perm: Vec<usize>,
    /// Rows per batch, B.
    batch: usize,
    /// Next batch start in `perm`.
    next: usize,
}

impl Batches {
    /// Batches of `batch` rows out of `n`; the first call to [`Batches::next`] shuffles.
    pub fn new(n: usize, batch: usize) -> Batches {
        Batches {
            perm: (0..n).collect(),
            batch,
            next: n,
        }
    }

    /// Rows per batch, B.
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// The next batch; a new epoch reshuffles. The last N mod B rows of a permutation are
    /// dropped, so every batch has exactly B rows (one lowered batch program, no rebuilding)
    /// and is a uniform random B-subset of the rows (the N/B-scaled estimate stays unbiased).
    pub fn next<R: Rng + ?Sized>(&mut self, rng: &mut R) -> &[usize] {
        if self.next + self.batch > self.perm.len() {
            // Fisher–Yates.
            for i in (1..self.perm.len()).rev() {
                let j = rng.random_range(0..=i);
                self.perm.swap(i, j);
            }
            self.next = 0;
        }
        let s = self.next;
        self.next += self.batch;
        &self.perm[s..s + self.batch]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::chain_rng;

    #[test]
    fn batches_cover_every_row_once_per_epoch_and_drop_the_remainder() {
        let mut rng = chain_rng(1, 0);
        let mut b = Batches::new(10, 3);
        let mut seen: Vec<usize> = Vec::new();
        for _ in 0..3 {
            seen.extend_from_slice(b.next(&mut rng));
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 9);
    }

    #[test]
    fn a_new_epoch_reshuffles_and_every_batch_has_b_rows() {
        // 10 rows in batches of 4: two batches per epoch (2 rows dropped), then a new order.
        let mut rng = chain_rng(5, 0);
        let mut b = Batches::new(10, 4);
        let first: Vec<Vec<usize>> = (0..2).map(|_| b.next(&mut rng).to_vec()).collect();
        let second: Vec<Vec<usize>> = (0..2).map(|_| b.next(&mut rng).to_vec()).collect();
        for batch in first.iter().chain(&second) {
            assert_eq!(batch.len(), 4);
        }
        let mut epoch: Vec<usize> = first.concat();
        epoch.sort();
        epoch.dedup();
        assert_eq!(epoch.len(), 8, "no row twice within an epoch");
        assert_ne!(first, second, "the second epoch is reshuffled");
    }

    #[test]
    fn same_seed_gives_the_same_batches() {
        let (mut r1, mut r2) = (chain_rng(9, 2), chain_rng(9, 2));
        let (mut a, mut b) = (Batches::new(50, 7), Batches::new(50, 7));
        for _ in 0..20 {
            assert_eq!(a.next(&mut r1), b.next(&mut r2));
        }
    }
}
