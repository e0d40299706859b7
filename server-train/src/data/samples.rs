//! The ReLLa sample protocol: global sort, per-user histories, the ≥ 5 filter, the 8:1:1 split.
//!
//! 1. All interactions are sorted stably by (timestamp, user id, item id), ids compared as
//!    the dataset's [`IdOrder`](super::raw::IdOrder) says.
//! 2. Each interaction is a candidate sample whose history is every earlier interaction of
//!    the same user in that order.
//! 3. Candidates with fewer than `min_history` earlier interactions are dropped (they stay
//!    in later samples' histories).
//! 4. The remaining samples, in sorted order, are split 8:1:1: train = ⌊0.8 n⌋,
//!    valid = ⌊0.1 n⌋, test = the rest. Integer ⌊8n/10⌋ equals Python's `int(0.8 * n)`
//!    because the doubles 0.8 and 0.1 lie just above 8/10 and 1/10.
//!
//! The result is stored compactly: interactions grouped into one chronological run per user,
//! and each sample as (user, position in the run). A sample's history is the run before its
//! position, so no history is ever copied.

use std::fmt;

use super::DataError;
use super::raw::{RawDataset, check_references};

/// Minimum number of earlier interactions for a sample (ReLLa: `len(history) >= 5`).
pub const MIN_HISTORY: usize = 5;

/// One of the three row-order splits.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// First 80 %.
    Train,
    /// Next 10 %.
    Valid,
    /// The rest.
    Test,
}

impl Split {
    /// The three splits in row order.
    pub const ALL: [Self; 3] = [Self::Train, Self::Valid, Self::Test];

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Valid => "valid",
            Self::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Split sizes; together they cover all samples in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitSizes {
    /// ⌊0.8 n⌋.
    pub train: usize,
    /// ⌊0.1 n⌋.
    pub valid: usize,
    /// n − train − valid.
    pub test: usize,
}

impl SplitSizes {
    /// The 8:1:1 split of `n` samples.
    pub fn of(n: usize) -> Self {
        let train = n / 10 * 8 + n % 10 * 8 / 10;
        let valid = n / 10;
        Self {
            train,
            valid,
            test: n - train - valid,
        }
    }

    /// Total samples.
    pub fn total(&self) -> usize {
        self.train + self.valid + self.test
    }

    /// The global sample range of `split`.
    pub fn range(&self, split: Split) -> std::ops::Range<usize> {
        match split {
            Split::Train => 0..self.train,
            Split::Valid => self.train..self.train + self.valid,
            Split::Test => self.train + self.valid..self.total(),
        }
    }
}

/// Interactions grouped per user plus the samples, as the protocol defines them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleTable {
    /// Local user → raw user index; local ids follow first appearance in the sorted table.
    pub user_order: Vec<u32>,
    /// Local item → raw item index, first-appearance order; never-rated items are absent.
    pub item_order: Vec<u32>,
    /// Run of local user `u` = `user_offsets[u]..user_offsets[u + 1]`.
    pub user_offsets: Vec<u64>,
    /// Local item of each interaction, runs in local-user order, chronological within.
    pub items: Vec<u32>,
    /// Rating code of each interaction.
    pub ratings: Vec<u8>,
    /// Unix seconds of each interaction.
    pub timestamps: Vec<i64>,
    /// Local user of each sample, samples in sorted order.
    pub sample_user: Vec<u32>,
    /// Position of the sample's own interaction in its user's run (= history length).
    pub sample_position: Vec<u32>,
    /// 1 if positive.
    pub sample_label: Vec<u8>,
    /// The 8:1:1 split of the samples.
    pub split: SplitSizes,
}

/// Runs the protocol on `raw`.
pub fn build_samples(raw: &RawDataset, min_history: usize) -> Result<SampleTable, DataError> {
    check_references(raw)?;
    let n = raw.interactions.len();
    if u32::try_from(n).is_err() {
        return Err(DataError::TooMany {
            what: "interactions",
            count: n,
        });
    }
    let user_rank = raw.id_order.ranks(raw.users.iter().map(|u| u.id.as_str()));
    let item_rank = raw.id_order.ranks(raw.items.iter().map(|i| i.id.as_str()));
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by_key(|&i| {
        let r = &raw.interactions[i as usize];
        (
            r.timestamp,
            user_rank[r.user as usize],
            item_rank[r.item as usize],
        )
    });

    let mut user_local = vec![u32::MAX; raw.users.len()];
    let mut item_local = vec![u32::MAX; raw.items.len()];
    let mut user_order = Vec::new();
    let mut item_order = Vec::new();
    let mut counts: Vec<u32> = Vec::new();
    let mut sample_user = Vec::new();
    let mut sample_position = Vec::new();
    let mut sample_label = Vec::new();
    for &i in &order {
        let r = &raw.interactions[i as usize];
        let user = first_seen(&mut user_local[r.user as usize], &mut user_order, r.user);
        first_seen(&mut item_local[r.item as usize], &mut item_order, r.item);
        if user as usize == counts.len() {
            counts.push(0);
        }
        let position = counts[user as usize];
        counts[user as usize] += 1;
        if position as usize >= min_history {
            sample_user.push(user);
            sample_position.push(position);
            sample_label.push(u8::from(raw.rating_scale.is_positive(r.rating)));
        }
    }
    if sample_user.is_empty() {
        return Err(DataError::NoSamples {
            dataset: raw.name.to_string(),
            min_history,
        });
    }

    let mut user_offsets = Vec::with_capacity(counts.len() + 1);
    user_offsets.push(0u64);
    for &c in &counts {
        let last = user_offsets.last().copied().unwrap_or(0);
        user_offsets.push(last + u64::from(c));
    }
    let mut cursor: Vec<u64> = user_offsets[..counts.len()].to_vec();
    let mut items = vec![0u32; n];
    let mut ratings = vec![0u8; n];
    let mut timestamps = vec![0i64; n];
    for &i in &order {
        let r = &raw.interactions[i as usize];
        let user = user_local[r.user as usize] as usize;
        let slot = cursor[user] as usize;
        cursor[user] += 1;
        items[slot] = item_local[r.item as usize];
        ratings[slot] = r.rating;
        timestamps[slot] = r.timestamp;
    }
    let split = SplitSizes::of(sample_user.len());
    Ok(SampleTable {
        user_order,
        item_order,
        user_offsets,
        items,
        ratings,
        timestamps,
        sample_user,
        sample_position,
        sample_label,
        split,
    })
}

/// The local id in `slot`, assigning the next one (and recording `raw`) on first sight.
fn first_seen(slot: &mut u32, order: &mut Vec<u32>, raw: u32) -> u32 {
    if *slot == u32::MAX {
        *slot = order.len() as u32;
        order.push(raw);
    }
    *slot
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The floor split for every n up to 10 000 equals Python's int(0.8 * n), int(0.1 * n),
    /// computed here in f64 exactly as CPython does.
    #[test]
    fn split_matches_python_float_floor() {
        for n in 0..10_000usize {
            let s = SplitSizes::of(n);
            assert_eq!(s.train, (0.8 * n as f64) as usize, "n={n}");
            assert_eq!(s.valid, (0.1 * n as f64) as usize, "n={n}");
            assert_eq!(s.total(), n);
        }
        let s = SplitSizes::of(970_009);
        assert_eq!((s.train, s.valid, s.test), (776_007, 97_000, 97_002));
        assert_eq!(s.range(Split::Valid), 776_007..873_007);
    }
}
