//! Semantic history retrieval (LSMR): the earlier items most similar to the target, by
//! cosine of their item embeddings. In core because phones retrieve the same way as the
//! server.

use std::collections::HashMap;

use super::retriever::{HistoryEvent, HistoryRetriever};

/// Why an item-embedding table cannot back a retriever.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbeddingTableError {
    /// A value is NaN or infinite.
    #[error("{what} holds a non-finite value")]
    NonFinite {
        /// Which array.
        what: &'static str,
    },
    /// The vectors do not have the stated width.
    #[error("{what}: expected {expected} values, found {found}")]
    Width {
        /// Which vectors.
        what: &'static str,
        /// The count required.
        expected: usize,
        /// The count given.
        found: usize,
    },
    /// The same item id appears twice.
    #[error("item {item} appears twice in the embedding table")]
    DuplicateItem {
        /// The repeated id.
        item: u32,
    },
}

/// Cosine top-K over a user's earlier interactions, from an item-embedding table.
///
/// - Only the `history` passed in is ever looked at: the caller's sample history, which holds
///   the interactions strictly before the target in the user's time order.
/// - Score = cosine(target, history item); history items missing from the table are skipped.
/// - Ties (equal scores, e.g. the same item rated twice) go to the more recent event, i.e. the
///   later position in the chronological history.
/// - A target missing from the table has no similarities: the history is then returned most
///   recent first, so `Retrieved { k }` degrades to the last `k` interactions.
/// - A zero vector has cosine 0 with everything.
#[derive(Debug, Clone)]
pub struct SemanticRetriever {
    rows: HashMap<u32, usize>,
    dim: usize,
    /// `[n, dim]` unit rows (zero rows stay zero).
    unit: Vec<f32>,
}

impl SemanticRetriever {
    /// Indexes `item_ids[r]` → row `r` of the `[n, dim]` row-major `vectors`.
    pub fn from_vectors(
        item_ids: &[u32],
        vectors: &[f32],
        dim: usize,
    ) -> Result<Self, EmbeddingTableError> {
        if vectors.len() != item_ids.len() * dim {
            return Err(EmbeddingTableError::Width {
                what: "retriever vectors",
                expected: item_ids.len() * dim,
                found: vectors.len(),
            });
        }
        if vectors.iter().any(|v| !v.is_finite()) {
            return Err(EmbeddingTableError::NonFinite {
                what: "retriever vectors",
            });
        }
        let mut rows = HashMap::with_capacity(item_ids.len());
        for (row, &item) in item_ids.iter().enumerate() {
            if rows.insert(item, row).is_some() {
                return Err(EmbeddingTableError::DuplicateItem { item });
            }
        }
        let mut unit = vectors.to_vec();
        for row in unit.chunks_exact_mut(dim.max(1)) {
            let norm = row
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                .sqrt();
            if norm > 0.0 {
                for v in row.iter_mut() {
                    *v = (f64::from(*v) / norm) as f32;
                }
            }
        }
        Ok(Self { rows, dim, unit })
    }

    fn unit_row(&self, item: u32) -> Option<&[f32]> {
        let row = *self.rows.get(&item)?;
        Some(&self.unit[row * self.dim..(row + 1) * self.dim])
    }

    /// Cosine similarity of two items; `None` if either is not in the table.
    pub fn cosine(&self, a: u32, b: u32) -> Option<f32> {
        Some(dot(self.unit_row(a)?, self.unit_row(b)?))
    }

    /// The `count` items most similar to `item` (itself excluded), best first, ties to the
    /// smaller id; for sanity checks.
    pub fn nearest(&self, item: u32, count: usize) -> Vec<(u32, f32)> {
        let Some(target) = self.unit_row(item) else {
            return Vec::new();
        };
        let mut scored: Vec<(u32, f32)> = self
            .rows
            .iter()
            .filter(|&(&other, _)| other != item)
            .map(|(&other, &row)| {
                (
                    other,
                    dot(target, &self.unit[row * self.dim..(row + 1) * self.dim]),
                )
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(count);
        scored
    }
}

impl HistoryRetriever for SemanticRetriever {
    fn select(&self, target_item: u32, history: &[HistoryEvent], k: usize) -> Vec<usize> {
        let Some(target) = self.unit_row(target_item) else {
            return (0..history.len()).rev().take(k).collect();
        };
        let mut scored: Vec<(f32, usize)> = history
            .iter()
            .enumerate()
            .filter_map(|(index, event)| Some((dot(target, self.unit_row(event.item)?), index)))
            .collect();
        // Best score first; on equal scores the later (more recent) event first.
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        scored.into_iter().take(k).map(|(_, index)| index).collect()
    }
}

/// Dot product in f64; `+ 0.0` turns a −0 sum into +0 so that zero scores tie exactly.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let sum: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    (sum + 0.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(item: u32, timestamp: i64) -> HistoryEvent {
        HistoryEvent {
            item,
            rating: 4,
            timestamp,
        }
    }

    /// Target 1 = (1, 0). Items at angles with known cosines:
    /// 2 = (1, 1) → 0.7071, 3 = (0, 1) → 0, 4 = (−1, 0) → −1, 5 = (3, 0.3) → 0.99504,
    /// 6 = (2, 2) → 0.7071 (ties with 2), 7 = (0, 0) → 0 (zero vector).
    fn retriever() -> SemanticRetriever {
        let ids = [1, 2, 3, 4, 5, 6, 7];
        let vectors = [
            1.0, 0.0, 1.0, 1.0, 0.0, 1.0, -1.0, 0.0, 3.0, 0.3, 2.0, 2.0, 0.0, 0.0,
        ];
        SemanticRetriever::from_vectors(&ids, &vectors, 2).expect("valid")
    }

    #[test]
    fn lsmr_cosine_values_by_hand() {
        let r = retriever();
        let close = |a: Option<f32>, b: f32| (a.expect("known") - b).abs() < 1e-6;
        assert!(close(r.cosine(1, 2), std::f32::consts::FRAC_1_SQRT_2));
        assert!(close(r.cosine(1, 3), 0.0));
        assert!(close(r.cosine(1, 4), -1.0));
        assert!(close(r.cosine(1, 5), 3.0 / (9.09f32).sqrt()));
        assert!(close(r.cosine(2, 6), 1.0));
        assert!(close(r.cosine(7, 2), 0.0));
        assert_eq!(r.cosine(1, 99), None);
        // Nearest to 1: 5 (0.995), then 2 and 6 tie at 0.7071 → smaller id first.
        let nearest: Vec<u32> = r.nearest(1, 3).into_iter().map(|(i, _)| i).collect();
        assert_eq!(nearest, [5, 2, 6]);
    }

    #[test]
    fn lsmr_select_known_order_k_larger_and_empty() {
        let r = retriever();
        let history = [event(4, 10), event(3, 11), event(5, 12), event(2, 13)];
        // Scores: 4 → −1, 3 → 0, 5 → 0.995, 2 → 0.707.
        assert_eq!(r.select(1, &history, 2), [2, 3]);
        assert_eq!(r.select(1, &history, 10), [2, 3, 1, 0]);
        assert_eq!(r.select(1, &history, 0), Vec::<usize>::new());
        assert!(r.select(1, &[], 5).is_empty());
    }

    /// Duplicates and equal scores go to the more recent event; items missing from the table
    /// are skipped; a zero vector scores 0 and ties with an orthogonal item.
    #[test]
    fn lsmr_select_ties_duplicates_and_missing_items() {
        let r = retriever();
        // 2 twice, 6 (same direction as 2), 99 missing, 3 and 7 both score 0.
        let history = [
            event(2, 1),
            event(3, 2),
            event(99, 3),
            event(6, 4),
            event(2, 5),
            event(7, 6),
        ];
        assert_eq!(r.select(1, &history, 10), [4, 3, 0, 5, 1]);
        assert_eq!(r.select(1, &history, 2), [4, 3]);
        // Deterministic: the same answer every time.
        for _ in 0..5 {
            assert_eq!(r.select(1, &history, 10), [4, 3, 0, 5, 1]);
        }
        // Through select_history the kept events come back in time order.
        let shown = super::super::select_history(
            &history,
            1,
            super::super::HistorySelection::Retrieved { k: 3 },
            Some(&r),
        )
        .expect("valid");
        let items: Vec<u32> = shown.iter().map(|e| e.item).collect();
        assert_eq!(items, [2, 6, 2]);
    }

    /// A target without an embedding falls back to recency.
    #[test]
    fn lsmr_select_unknown_target_falls_back_to_most_recent() {
        let r = retriever();
        let history = [event(2, 1), event(3, 2), event(5, 3)];
        assert_eq!(r.select(42, &history, 2), [2, 1]);
    }

    #[test]
    fn lsmr_retriever_rejects_bad_tables() {
        assert!(matches!(
            SemanticRetriever::from_vectors(&[1, 1], &[1.0, 2.0], 1),
            Err(EmbeddingTableError::DuplicateItem { item: 1 })
        ));
        assert!(matches!(
            SemanticRetriever::from_vectors(&[1, 2], &[1.0], 1),
            Err(EmbeddingTableError::Width { .. })
        ));
        assert!(matches!(
            SemanticRetriever::from_vectors(&[1], &[f32::INFINITY], 1),
            Err(EmbeddingTableError::NonFinite { .. })
        ));
    }
}
