//! Retrieved histories for prompts and, as an option, for the CRM's long history (SIM-style).
//!
//! The DIN default is the last 60 interactions ([`PreparedDataset::din_batch`]); these
//! functions instead keep the `k` earlier interactions most similar to the target, listed
//! in time order, in exactly the same `(item, rating, mask)` layout.

use reclora_core::prompt::{HistoryEvent, HistoryRetriever, HistorySelection, select_history};

use crate::data::{DataError, DinBatch, PreparedDataset, Split};

/// Long-history length of the retrieved CRM input (the same 60 as the DIN default).
pub const RETRIEVED_HISTORY_LEN: usize = 60;

/// The `k` earlier interactions of sample `index` of `split` that `retriever` ranks highest,
/// oldest first. Only the sample's history (interactions strictly before the target in the
/// user's run) is searched.
pub fn retrieved_history(
    data: &PreparedDataset,
    retriever: &dyn HistoryRetriever,
    split: Split,
    index: usize,
    k: usize,
) -> Result<Vec<HistoryEvent>, DataError> {
    let sample = data.sample(split, index)?;
    let history = data.full_history(split, index)?;
    Ok(select_history(
        &history,
        sample.item,
        HistorySelection::Retrieved { k },
        Some(retriever),
    )?)
}

/// [`PreparedDataset::din_batch`] with the history columns filled by retrieval: per row the
/// `history_len` retrieved events in time order, right-padded with id 0 and mask 0, ratings
/// as embedding rows `num_features + rating - 1`.
pub fn retrieved_din_batch(
    data: &PreparedDataset,
    retriever: &dyn HistoryRetriever,
    split: Split,
    indices: &[usize],
    history_len: usize,
) -> Result<DinBatch, DataError> {
    let mut batch = data.din_batch(split, indices, 0)?;
    let cells = indices.len() * history_len;
    batch.history_len = history_len;
    batch.history_item_ids = vec![0; cells];
    batch.history_rating_ids = vec![0; cells];
    batch.history_mask = vec![0.0; cells];
    let rating_base = i64::from(data.meta().num_features) - 1;
    for (row, &index) in indices.iter().enumerate() {
        let events = retrieved_history(data, retriever, split, index, history_len)?;
        let base = row * history_len;
        for (j, event) in events.iter().enumerate() {
            batch.history_item_ids[base + j] = i64::from(event.item);
            batch.history_rating_ids[base + j] = rating_base + i64::from(event.rating);
            batch.history_mask[base + j] = 1.0;
        }
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lsmr::SemanticRetriever;
    use crate::lsmr::item_prompt::item_id_range;

    /// splitmix64 for reproducible random cases.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            ((u128::from(self.next()) * n as u128) >> 64) as usize
        }

        fn unit(&mut self) -> f32 {
            (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        }
    }

    /// Random vectors for items `first..first + count`, with every 7th item left out of the
    /// table (missing items must be skipped).
    fn random_retriever(rng: &mut Rng, first: u32, count: u32, dim: usize) -> SemanticRetriever {
        let ids: Vec<u32> = (first..first + count).filter(|i| i % 7 != 3).collect();
        let vectors: Vec<f32> = (0..ids.len() * dim).map(|_| rng.unit()).collect();
        SemanticRetriever::from_vectors(&ids, &vectors, dim).expect("retriever")
    }

    /// Over many random timelines (repeated items, missing items, small and large K):
    /// retrieval only returns events of the history before the target, never the target or
    /// anything at or after its time, in time order, at most K, and exactly the top-K by
    /// cosine among the embedded history items.
    #[test]
    fn lsmr_retrieval_never_sees_the_target_or_later() {
        let mut rng = Rng(2024);
        let retriever = random_retriever(&mut rng, 100, 40, 8);
        let mut checked = 0usize;
        for _ in 0..2000 {
            let len = 1 + rng.below(80);
            let mut time = 1_000_000i64;
            let timeline: Vec<HistoryEvent> = (0..len)
                .map(|_| {
                    time += 1 + rng.below(5) as i64;
                    HistoryEvent {
                        item: 100 + rng.below(40) as u32,
                        rating: 1 + rng.below(5) as u8,
                        timestamp: time,
                    }
                })
                .collect();
            let target_at = rng.below(len);
            let target = timeline[target_at];
            let history = &timeline[..target_at];
            let k = rng.below(15);
            let picked = retriever.select(target.item, history, k);
            let shown = select_history(
                history,
                target.item,
                HistorySelection::Retrieved { k },
                Some(&retriever),
            )
            .expect("valid selection");
            assert!(picked.iter().all(|&i| i < target_at));
            assert!(shown.iter().all(|e| e.timestamp < target.timestamp));
            assert!(shown.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
            // Top-K by brute force: every kept event scores at least every dropped embedded one.
            let score = |i: usize| retriever.cosine(target.item, history[i].item);
            let embedded: Vec<usize> = (0..target_at).filter(|&i| score(i).is_some()).collect();
            let expect_len = if retriever.cosine(target.item, target.item).is_some() {
                k.min(embedded.len())
            } else {
                k.min(history.len())
            };
            assert_eq!(picked.len(), expect_len);
            if retriever.cosine(target.item, target.item).is_some() {
                let worst_kept = picked
                    .iter()
                    .filter_map(|&i| score(i))
                    .fold(f32::MAX, f32::min);
                for &i in embedded.iter().filter(|i| !picked.contains(i)) {
                    assert!(score(i).unwrap_or(f32::MIN) <= worst_kept);
                }
            }
            checked += shown.len();
        }
        eprintln!("random timelines: {checked} retrieved events checked");
    }

    fn real_ml1m() -> Option<PreparedDataset> {
        let dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(
                || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
                std::path::PathBuf::from,
            )
            .join("../data/ml-1m");
        if !dir.join("meta.json").is_file() {
            eprintln!("skipped: {} is not a prepared dataset", dir.display());
            return None;
        }
        Some(PreparedDataset::open(&dir).expect("open data/ml-1m"))
    }

    /// On real ML-1M rows, with random item vectors: every retrieved event is one of the
    /// sample's earlier interactions (positions before the target), never later in time; a
    /// history of at most 60 is kept whole, so the retrieved DIN batch equals `din_batch`'s.
    #[test]
    fn lsmr_retrieval_on_real_ml1m_rows_stays_before_the_target() {
        let Some(data) = real_ml1m() else { return };
        let (first, count) = item_id_range(&data);
        let mut rng = Rng(7);
        let retriever = random_retriever(&mut rng, first, count, 16);
        let (mut rows, mut same_second, mut long, mut retrieved) = (0, 0, 0, 0);
        for split in Split::ALL {
            let len = data.split_len(split);
            let indices: Vec<usize> = (0..200).map(|_| rng.below(len)).collect();
            let batch =
                retrieved_din_batch(&data, &retriever, split, &indices, RETRIEVED_HISTORY_LEN)
                    .expect("batch");
            let reference = data
                .din_batch(split, &indices, RETRIEVED_HISTORY_LEN)
                .expect("din batch");
            assert_eq!(batch.field_ids, reference.field_ids);
            assert_eq!(batch.labels, reference.labels);
            for (row, &index) in indices.iter().enumerate() {
                let sample = data.sample(split, index).expect("sample");
                let history = data.full_history(split, index).expect("history");
                let events = retrieved_history(&data, &retriever, split, index, 10).expect("k=10");
                for event in &events {
                    // Same (item, rating, time) event exists strictly before the target.
                    assert!(history.contains(event));
                    assert!(event.timestamp <= sample.timestamp);
                    same_second += usize::from(event.timestamp == sample.timestamp);
                }
                retrieved += events.len();
                let cells = row * RETRIEVED_HISTORY_LEN..(row + 1) * RETRIEVED_HISTORY_LEN;
                let shown = batch.history_mask[cells.clone()]
                    .iter()
                    .filter(|&&m| m == 1.0)
                    .count();
                // A target without a vector falls back to recency over the whole history.
                let embedded = if sample.item % 7 == 3 {
                    history.len()
                } else {
                    history.iter().filter(|e| e.item % 7 != 3).count()
                };
                assert_eq!(shown, embedded.min(RETRIEVED_HISTORY_LEN));
                for (j, cell) in cells.clone().enumerate() {
                    let item = batch.history_item_ids[cell];
                    if j < shown {
                        assert!(history.iter().any(|e| i64::from(e.item) == item));
                    } else {
                        assert_eq!((item, batch.history_mask[cell]), (0, 0.0));
                    }
                }
                if sample.history_len > RETRIEVED_HISTORY_LEN {
                    long += 1;
                } else if embedded == history.len() {
                    // Nothing skipped and nothing dropped: identical to the last-60 layout.
                    assert_eq!(
                        batch.history_item_ids[cells.clone()],
                        reference.history_item_ids[cells.clone()]
                    );
                    assert_eq!(
                        batch.history_rating_ids[cells.clone()],
                        reference.history_rating_ids[cells]
                    );
                }
                rows += 1;
            }
        }
        eprintln!(
            "ml-1m: {rows} rows, {long} with > 60 earlier events, {retrieved} retrieved \
             events, {same_second} share the target's second (earlier in the data's sort)"
        );
    }
}
