//! Host-facing inference on token ids: batched last-position logits, greedy decoding
//! and perplexity.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::adapter::ProjectionAdapter;
use super::batch::PaddedBatch;
use super::error::LlmError;
use super::host::Route;
use super::kv_cache::KvCache;
use super::mask::AttentionMask;
use super::model::LlamaModel;

impl LlamaModel {
    /// Logits of `token_ids` at the last position of every row, in one padded forward.
    ///
    /// # Shapes
    /// - returns `rows.len()` vectors of `token_ids.len()` logits
    pub fn last_position_logits(
        &self,
        rows: &[Vec<u32>],
        token_ids: &[u32],
        pad_id: u32,
    ) -> Result<Vec<Vec<f32>>, LlmError> {
        self.last_position_logits_adapted(rows, token_ids, pad_id, None)
    }

    /// [`Self::last_position_logits`] with a per-sample adapter (one adapter row per
    /// prompt row, or one row for all).
    pub fn last_position_logits_adapted(
        &self,
        rows: &[Vec<u32>],
        token_ids: &[u32],
        pad_id: u32,
        adapter: Option<&dyn ProjectionAdapter>,
    ) -> Result<Vec<Vec<f32>>, LlmError> {
        if token_ids.is_empty() {
            return Err(LlmError::BadRequest {
                reason: "no token ids to read logits for".into(),
            });
        }
        let batch = PaddedBatch::new(rows, pad_id, self.config.max_position_embeddings)?;
        for row in rows {
            self.check_ids(row)?;
        }
        if let Some(adapter) = adapter {
            adapter.check_fits(&self.config, rows.len())?;
        }
        let device = self.device();
        let hidden = self.forward_hidden(batch.to_tensor(&device), &batch.mask(), None, adapter);
        self.logits_at_last_positions(hidden, &batch, token_ids)
    }

    /// Runs one `prefix` row into a fresh KV cache, for
    /// [`Self::last_position_logits_after`]: a prompt prefix shared by many rows is
    /// computed once.
    pub fn prefill(
        &self,
        prefix: &[u32],
        adapter: Option<&dyn ProjectionAdapter>,
    ) -> Result<KvCache, LlmError> {
        let limit = self.config.max_position_embeddings;
        if prefix.is_empty() || prefix.len() > limit {
            return Err(LlmError::BadRequest {
                reason: format!(
                    "a prefix must have 1 to {limit} tokens, got {}",
                    prefix.len()
                ),
            });
        }
        self.check_ids(prefix)?;
        if let Some(adapter) = adapter {
            adapter.check_fits(&self.config, 1)?;
        }
        let mut cache = KvCache::new(self.config.num_layers);
        self.forward_hidden(
            int_row(prefix, &self.device()),
            &AttentionMask::causal(1, prefix.len(), 0),
            Some(&mut cache),
            adapter,
        );
        Ok(cache)
    }

    /// Logits of `token_ids` at the last position of rows that each continue the one cached
    /// prefix of [`Self::prefill`], under the adapter the prefix was computed with (one
    /// adapter row for all rows). Only the rows' own tokens run: packed one after another
    /// into single-row forwards of at most [`Self::packed_token_budget`] tokens, each row
    /// attending to the one stored prefix K/V and to itself, with no padding.
    ///
    /// # Shapes
    /// - returns `rows.len()` vectors of `token_ids.len()` logits
    pub fn last_position_logits_after(
        &self,
        prefix: &KvCache,
        rows: &[Vec<u32>],
        token_ids: &[u32],
        adapter: Option<&dyn ProjectionAdapter>,
    ) -> Result<Vec<Vec<f32>>, LlmError> {
        if token_ids.is_empty() {
            return Err(LlmError::BadRequest {
                reason: "no token ids to read logits for".into(),
            });
        }
        let past = prefix.len();
        let room = self.config.max_position_embeddings.saturating_sub(past);
        for (index, row) in rows.iter().enumerate() {
            if row.is_empty() || row.len() > room {
                return Err(LlmError::BadRequest {
                    reason: format!(
                        "row {index} has {} tokens; after a {past}-token prefix a row needs 1 to {room}",
                        row.len()
                    ),
                });
            }
            self.check_ids(row)?;
        }
        if let Some(adapter) = adapter {
            adapter.check_fits(&self.config, 1)?;
        }
        self.packed_chunks_after(prefix, rows, token_ids, adapter, self.packed_token_budget())
    }

    /// [`Self::last_position_logits_after`] on checked rows, `budget` tokens a forward.
    fn packed_chunks_after(
        &self,
        prefix: &KvCache,
        rows: &[Vec<u32>],
        token_ids: &[u32],
        adapter: Option<&dyn ProjectionAdapter>,
        budget: usize,
    ) -> Result<Vec<Vec<f32>>, LlmError> {
        let mut logits = Vec::with_capacity(rows.len());
        let mut start = 0;
        while start < rows.len() {
            // At least one row a forward, then as many as fit in the budget.
            let mut end = start + 1;
            let mut tokens = rows[start].len();
            while end < rows.len() && tokens + rows[end].len() <= budget {
                tokens += rows[end].len();
                end += 1;
            }
            logits.extend(self.packed_logits_after(
                prefix,
                &rows[start..end],
                token_ids,
                adapter,
            )?);
            start = end;
        }
        Ok(logits)
    }

    /// Most suffix tokens one packed forward of [`Self::last_position_logits_after`] runs: a
    /// 50-candidate slate of ~20-token suffixes in one forward on the CPU kernels (each weight
    /// read once for all), fewer where burn's generic attention materializes a
    /// `[heads, tokens, prefix + tokens]` mask.
    pub fn packed_token_budget(&self) -> usize {
        if Route::of(&self.device()) == Route::Host {
            2048
        } else {
            512
        }
    }

    /// One packed forward of `rows` after `prefix` (see [`Self::last_position_logits_after`]).
    fn packed_logits_after(
        &self,
        prefix: &KvCache,
        rows: &[Vec<u32>],
        token_ids: &[u32],
        adapter: Option<&dyn ProjectionAdapter>,
    ) -> Result<Vec<Vec<f32>>, LlmError> {
        let lengths: Vec<usize> = rows.iter().map(Vec::len).collect();
        let ids: Vec<u32> = rows.concat();
        let last_positions: Vec<usize> = lengths
            .iter()
            .scan(0, |end, &len| {
                *end += len;
                Some(*end - 1)
            })
            .collect();
        // The clone shares the prefix's tensors; this forward appends to the clone only.
        let mut cache = prefix.clone();
        let mask = AttentionMask::packed_after(&lengths, prefix.len());
        let hidden = self.forward_hidden(
            int_row(&ids, &self.device()),
            &mask,
            Some(&mut cache),
            adapter,
        );
        let normed = self.normed_at_flat(hidden, &last_positions);
        let values = read_f32(self.logits_for_tokens(normed, token_ids)?)?;
        Ok(values
            .chunks_exact(token_ids.len())
            .map(<[f32]>::to_vec)
            .collect())
    }

    /// Logits of `token_ids` at each row's last real position, one vector per row.
    fn logits_at_last_positions(
        &self,
        hidden: Tensor<3>,
        batch: &PaddedBatch,
        token_ids: &[u32],
    ) -> Result<Vec<Vec<f32>>, LlmError> {
        let normed = self.normed_at(hidden, &batch.last_positions());
        let logits = self.logits_for_tokens(normed, token_ids)?;
        let values = read_f32(logits)?;
        Ok(values
            .chunks_exact(token_ids.len())
            .map(<[f32]>::to_vec)
            .collect())
    }

    /// Greedy continuation of `prompt_ids`, at most `max_new_tokens`, stopping at `eos`.
    pub fn generate_greedy(
        &self,
        prompt_ids: &[u32],
        max_new_tokens: usize,
        eos: Option<u32>,
    ) -> Result<Vec<u32>, LlmError> {
        let limit = self.config.max_position_embeddings;
        if prompt_ids.is_empty() || prompt_ids.len() + max_new_tokens > limit {
            return Err(LlmError::BadRequest {
                reason: format!(
                    "prompt of {} tokens plus {max_new_tokens} new ones must be non-empty and fit in {limit}",
                    prompt_ids.len()
                ),
            });
        }
        self.check_ids(prompt_ids)?;
        let device = self.device();
        let mut cache = KvCache::new(self.config.num_layers);
        let mut step_ids = prompt_ids.to_vec();
        let mut generated = Vec::new();
        for _ in 0..max_new_tokens {
            let mask = AttentionMask::causal(1, step_ids.len(), cache.len());
            let hidden =
                self.forward_hidden(int_row(&step_ids, &device), &mask, Some(&mut cache), None);
            let normed = self.normed_at(hidden, &[step_ids.len() - 1]);
            let next = argmax(&read_f32(self.full_logits(normed))?);
            generated.push(next);
            if Some(next) == eos {
                break;
            }
            step_ids = vec![next];
        }
        Ok(generated)
    }

    /// Mean next-token negative log-likelihood of `ids`, in nats.
    pub fn mean_nll(&self, ids: &[u32]) -> Result<f64, LlmError> {
        let limit = self.config.max_position_embeddings;
        if ids.len() < 2 || ids.len() > limit {
            return Err(LlmError::BadRequest {
                reason: format!("NLL needs 2 to {limit} tokens, got {}", ids.len()),
            });
        }
        self.check_ids(ids)?;
        let device = self.device();
        let seq = ids.len();
        let hidden = self.forward_hidden(
            int_row(ids, &device),
            &AttentionMask::causal(1, seq, 0),
            None,
            None,
        );
        let [_, _, d] = hidden.dims();
        let states = hidden.reshape([seq, d]).narrow(0, 0, seq - 1);
        let log_probs = log_softmax(self.full_logits(self.norm.forward(states)), 1);
        let targets: Vec<i64> = ids[1..].iter().map(|&id| i64::from(id)).collect();
        let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, [seq - 1, 1]), &device);
        let picked = read_f32(log_probs.gather(1, targets))?;
        let total: f64 = picked.iter().map(|&v| -f64::from(v)).sum();
        Ok(total / (seq - 1) as f64)
    }
}

fn int_row(ids: &[u32], device: &Device) -> Tensor<2, Int> {
    let values: Vec<i64> = ids.iter().map(|&id| i64::from(id)).collect();
    Tensor::from_data(TensorData::new(values, [1, ids.len()]), device)
}

fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u32
}

/// Reads a float tensor back to the host.
pub(crate) fn read_f32<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, LlmError> {
    tensor
        .try_into_data()
        .map_err(|e| LlmError::Readback(format!("{e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| LlmError::Readback(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{LlamaConfig, SeededWeights};

    /// Rows continuing a cached prefix score as the whole rows do in one padded forward.
    #[test]
    fn rows_after_a_cached_prefix_match_the_full_rows() {
        let config = LlamaConfig::tiny_for_tests();
        let device = Device::flex();
        let model = config
            .init_from(&SeededWeights::new(config.clone(), 3), &device)
            .expect("model");
        let prefix = [5u32, 9, 2, 14];
        let suffixes = vec![vec![7u32, 1, 30], vec![11], vec![3, 3]];
        let full: Vec<Vec<u32>> = suffixes
            .iter()
            .map(|s| prefix.iter().chain(s).copied().collect())
            .collect();
        let want = model
            .last_position_logits(&full, &[4, 6], 0)
            .expect("full rows");
        let cache = model.prefill(&prefix, None).expect("prefill");
        let got = model
            .last_position_logits_after(&cache, &suffixes, &[4, 6], None)
            .expect("after prefix");
        for (w, g) in want.iter().flatten().zip(got.iter().flatten()) {
            assert!((w - g).abs() < 1e-5, "{want:?} vs {got:?}");
        }
        assert!(matches!(
            model.prefill(&[], None),
            Err(LlmError::BadRequest { .. })
        ));
        // Rows split over several packed forwards (budget 3: [7, 1, 30], then [11] and [3, 3])
        // score as in one.
        let chunked = model
            .packed_chunks_after(&cache, &suffixes, &[4, 6], None, 3)
            .expect("chunked");
        for (w, g) in got.iter().flatten().zip(chunked.iter().flatten()) {
            assert!((w - g).abs() < 1e-5, "{got:?} vs {chunked:?}");
        }
        let empty = vec![vec![7u32], vec![]];
        assert!(matches!(
            model.last_position_logits_after(&cache, &empty, &[4], None),
            Err(LlmError::BadRequest { reason }) if reason.contains("row 1 has 0 tokens")
        ));
    }
}
