//! Which earlier interactions go into a prompt: the last K, or K picked by a retriever.
//!
//! ReLLa's "simple" prompts take the K most recent items; its retrieval prompts take the K
//! items most similar to the target (LSMR, semantic user-behaviour retrieval) and list them
//! back in their original time order ("sequential"). The retriever itself comes later; this
//! module fixes its contract.

use super::PromptError;

/// One earlier interaction of the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryEvent {
    /// Item id (the dataset's item feature id).
    pub item: u32,
    /// Rating code as stored by the dataset (stars, or half stars for ML-25M).
    pub rating: u8,
    /// Unix seconds.
    pub timestamp: i64,
}

/// Picks the history items most relevant to a target item.
pub trait HistoryRetriever {
    /// Indices into `history`, most relevant first, at most `k` of them. The caller drops
    /// anything past `k` and re-sorts the kept events by time.
    fn select(&self, target_item: u32, history: &[HistoryEvent], k: usize) -> Vec<usize>;
}

/// How many and which earlier interactions a prompt shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistorySelection {
    /// The `K` most recent interactions.
    LastK(usize),
    /// `k` interactions chosen by a [`HistoryRetriever`].
    Retrieved {
        /// How many to keep.
        k: usize,
    },
}

/// The events a prompt shows, in chronological order.
///
/// `history` is the user's full earlier history, chronological (ties keep their order).
/// Retrieved events are re-sorted by `(timestamp, position in history)`, a stable time sort,
/// which is ReLLa's "sequential" order for a chronological history.
pub fn select_history(
    history: &[HistoryEvent],
    target_item: u32,
    selection: HistorySelection,
    retriever: Option<&dyn HistoryRetriever>,
) -> Result<Vec<HistoryEvent>, PromptError> {
    match selection {
        HistorySelection::LastK(k) => {
            let start = history.len().saturating_sub(k);
            Ok(history[start..].to_vec())
        }
        HistorySelection::Retrieved { k } => {
            let retriever = retriever.ok_or(PromptError::NoRetriever)?;
            let mut picked = retriever.select(target_item, history, k);
            picked.truncate(k);
            let mut seen = vec![false; history.len()];
            for &index in &picked {
                let slot = seen.get_mut(index).ok_or(PromptError::RetrieverIndex {
                    index,
                    len: history.len(),
                })?;
                if *slot {
                    return Err(PromptError::RetrieverDuplicate { index });
                }
                *slot = true;
            }
            picked.sort_by_key(|&i| (history[i].timestamp, i));
            Ok(picked.into_iter().map(|i| history[i]).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(item: u32, timestamp: i64) -> HistoryEvent {
        HistoryEvent {
            item,
            rating: 3,
            timestamp,
        }
    }

    /// Returns fixed indices whatever it is asked.
    struct Fixed(Vec<usize>);

    impl HistoryRetriever for Fixed {
        fn select(&self, _: u32, _: &[HistoryEvent], _: usize) -> Vec<usize> {
            self.0.clone()
        }
    }

    fn items(events: &[HistoryEvent]) -> Vec<u32> {
        events.iter().map(|e| e.item).collect()
    }

    #[test]
    fn last_k_keeps_the_most_recent_in_order() {
        let history = [event(10, 1), event(11, 2), event(12, 3), event(13, 4)];
        let got = select_history(&history, 99, HistorySelection::LastK(2), None).expect("ok");
        assert_eq!(items(&got), [12, 13]);
        let all = select_history(&history, 99, HistorySelection::LastK(10), None).expect("ok");
        assert_eq!(items(&all), [10, 11, 12, 13]);
        let none = select_history(&history, 99, HistorySelection::LastK(0), None).expect("ok");
        assert!(none.is_empty());
    }

    #[test]
    fn retrieved_events_are_resorted_by_time_stably() {
        // Items 11 and 12 share a timestamp: they keep their history order.
        let history = [event(10, 1), event(11, 5), event(12, 5), event(13, 7)];
        let retriever = Fixed(vec![3, 2, 0, 1]);
        let got = select_history(
            &history,
            99,
            HistorySelection::Retrieved { k: 3 },
            Some(&retriever),
        )
        .expect("ok");
        // The first three picks are 3, 2, 0 -> in time order 0, 2, 3.
        assert_eq!(items(&got), [10, 12, 13]);
        let all = select_history(
            &history,
            99,
            HistorySelection::Retrieved { k: 4 },
            Some(&retriever),
        )
        .expect("ok");
        assert_eq!(items(&all), [10, 11, 12, 13]);
    }

    #[test]
    fn bad_retriever_output_is_an_error() {
        let history = [event(10, 1), event(11, 2)];
        let selection = HistorySelection::Retrieved { k: 2 };
        assert!(matches!(
            select_history(&history, 1, selection, None),
            Err(PromptError::NoRetriever)
        ));
        assert!(matches!(
            select_history(&history, 1, selection, Some(&Fixed(vec![0, 5]))),
            Err(PromptError::RetrieverIndex { index: 5, len: 2 })
        ));
        assert!(matches!(
            select_history(&history, 1, selection, Some(&Fixed(vec![1, 1]))),
            Err(PromptError::RetrieverDuplicate { index: 1 })
        ));
    }
}
