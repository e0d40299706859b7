//! The few-shot subset and the order each epoch visits it.
//!
//! Sampler: a partial Fisher–Yates shuffle of the train indices `0..train_len` driven by
//! splitmix64 seeded with `--seed` draws `train_size` distinct rows uniformly without
//! replacement; they are then sorted, so the subset is a set that depends only on
//! `(train_len, train_size, seed)`, never on the mode. Each epoch then visits the subset in
//! its own seeded order (a full Fisher–Yates shuffle with a seed derived from `seed` and
//! the epoch), so a resumed run replays exactly the same batches.

use super::random::{SplitMix64, derive_seed};

/// Tag of the subset stream.
const SUBSET_TAG: u64 = 1;
/// Tag of the epoch-order streams (plus the epoch).
const EPOCH_TAG: u64 = 1 << 32;

/// Tag of the evaluation-sample stream (`eval --test-sample`, `--valid-sample`).
const EVAL_SAMPLE_TAG: u64 = 5 << 32;

/// `size` distinct train indices out of `0..train_len`, sorted; all of them when
/// `size ≥ train_len`.
pub fn few_shot_subset(train_len: usize, size: usize, seed: u64) -> Vec<usize> {
    seeded_rows(train_len, size, derive_seed(seed, SUBSET_TAG))
}

/// `size` distinct rows of a split of `split_len` drawn uniformly across the whole split
/// (not its first rows) with `seed`, sorted: `eval --test-sample N --seed S`. A smaller
/// sample with the same seed is a subset of a larger one.
pub fn eval_sample(split_len: usize, size: usize, seed: u64) -> Vec<usize> {
    seeded_rows(split_len, size, derive_seed(seed, EVAL_SAMPLE_TAG))
}

/// The first `size` positions of a partial Fisher–Yates shuffle of `0..len` driven by
/// splitmix64 from `stream_seed`, sorted. The first k draws do not depend on `size`, so
/// samples of one seed are nested.
fn seeded_rows(len: usize, size: usize, stream_seed: u64) -> Vec<usize> {
    let size = size.min(len);
    let mut pool: Vec<usize> = (0..len).collect();
    let mut stream = SplitMix64::new(stream_seed);
    for i in 0..size {
        let j = i + stream.below(len - i);
        pool.swap(i, j);
    }
    pool.truncate(size);
    pool.sort_unstable();
    pool
}

/// The subset in the order epoch `epoch` (0-based) visits it.
pub fn epoch_order(subset: &[usize], seed: u64, epoch: usize) -> Vec<usize> {
    let mut order = subset.to_vec();
    let mut stream = SplitMix64::new(derive_seed(seed, EPOCH_TAG + epoch as u64));
    for i in (1..order.len()).rev() {
        order.swap(i, stream.below(i + 1));
    }
    order
}
