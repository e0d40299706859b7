//! Mean-pooled last hidden states of items, batched with right padding.

use burn::tensor::Tensor;
use reclora_core::LlamaModel;
use reclora_core::llm::PaddedBatch;

use super::LsmrError;
use super::item_prompt::ItemTokens;

/// Pooled vectors of one batch of items, `rows.len()` vectors of the model's hidden size.
///
/// Rows are right-padded: real tokens keep their positions and, under the causal mask, never
/// see the padding, and only `pooled` positions (all inside the real tokens) are averaged.
/// The average is taken on the host in f64.
///
/// # Shapes
/// - hidden states `[batch, seq, d]` after the final norm; returns `batch` vectors of `d`
pub fn pool_batch(
    model: &LlamaModel,
    rows: &[ItemTokens],
    pad_id: u32,
) -> Result<Vec<Vec<f32>>, LsmrError> {
    let token_rows: Vec<Vec<u32>> = rows.iter().map(|r| r.ids.clone()).collect();
    let batch = PaddedBatch::new(&token_rows, pad_id, model.config.max_position_embeddings)?;
    for (row, tokens) in rows.iter().zip(&token_rows) {
        // token_tensor rejects ids outside the vocabulary before they reach the gather.
        model.token_tensor(tokens)?;
        if row.pooled.is_empty() || row.pooled.end > tokens.len() {
            return Err(reclora_core::LlmError::BadRequest {
                reason: format!(
                    "pooled span {:?} is empty or outside a row of {} tokens",
                    row.pooled,
                    tokens.len()
                ),
            }
            .into());
        }
    }
    let hidden = model.forward_hidden(batch.to_tensor(&model.device()), &batch.mask(), None, None);
    let normed = model.norm.forward(hidden);
    let [_, seq, d] = normed.dims();
    let values = read_f32(normed)?;
    Ok(rows
        .iter()
        .enumerate()
        .map(|(b, row)| {
            let mut sum = vec![0.0f64; d];
            for position in row.pooled.clone() {
                let start = (b * seq + position) * d;
                for (acc, &v) in sum.iter_mut().zip(&values[start..start + d]) {
                    *acc += f64::from(v);
                }
            }
            let count = row.pooled.len() as f64;
            sum.into_iter().map(|s| (s / count) as f32).collect()
        })
        .collect())
}

/// Pooled vectors of all `rows`, in their order, computed `batch_size` rows at a time.
///
/// Rows are batched in order of token count so that a batch pads little; `on_batch` is told
/// how many rows each finished batch held (for a progress bar).
pub fn pool_all(
    model: &LlamaModel,
    rows: &[ItemTokens],
    pad_id: u32,
    batch_size: usize,
    mut on_batch: impl FnMut(usize),
) -> Result<Vec<Vec<f32>>, LsmrError> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| (rows[i].ids.len(), i));
    let mut pooled = vec![Vec::new(); rows.len()];
    for chunk in order.chunks(batch_size.max(1)) {
        let batch: Vec<ItemTokens> = chunk.iter().map(|&i| rows[i].clone()).collect();
        for (&i, vector) in chunk.iter().zip(pool_batch(model, &batch, pad_id)?) {
            pooled[i] = vector;
        }
        on_batch(chunk.len());
    }
    Ok(pooled)
}

fn read_f32<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, LsmrError> {
    tensor
        .try_into_data()
        .ok()
        .and_then(|d| d.try_into_vec::<f32>().ok())
        .ok_or(LsmrError::Readback)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int, TensorData};
    use reclora_core::LlamaConfig;
    use reclora_core::llm::{AttentionMask, SeededWeights};

    use super::*;

    fn tiny_model() -> LlamaModel {
        let config = LlamaConfig::tiny_for_tests();
        config
            .init_from(&SeededWeights::new(config.clone(), 7), &Device::flex())
            .expect("tiny model")
    }

    /// Reference: each row alone, every pooled position read through `normed_at` (gather,
    /// then norm: another code path than norm-all-then-slice), averaged in f64.
    fn unbatched_reference(model: &LlamaModel, row: &ItemTokens) -> Vec<f64> {
        let device = model.device();
        let values: Vec<i64> = row.ids.iter().map(|&id| i64::from(id)).collect();
        let tokens =
            Tensor::<2, Int>::from_data(TensorData::new(values, [1, row.ids.len()]), &device);
        let d = model.config.hidden_size;
        let mut sum = vec![0.0f64; d];
        for position in row.pooled.clone() {
            let hidden = model.forward_hidden(
                tokens.clone(),
                &AttentionMask::causal(1, row.ids.len(), 0),
                None,
                None,
            );
            let normed = read_f32(model.normed_at(hidden, &[position])).expect("readback");
            for (acc, v) in sum.iter_mut().zip(normed) {
                *acc += f64::from(v);
            }
        }
        sum.iter().map(|s| s / row.pooled.len() as f64).collect()
    }

    fn rows() -> Vec<ItemTokens> {
        let make = |ids: Vec<u32>, pooled: std::ops::Range<usize>| ItemTokens { ids, pooled };
        vec![
            make(vec![1, 5, 9, 12, 40, 41, 42], 2..7),
            make(vec![1, 5, 60], 2..3),
            make(vec![1, 5, 9, 33, 8, 8, 8, 70, 71, 96, 3], 2..11),
            make(vec![2, 3, 4, 5], 1..3),
        ]
    }

    /// Batched right padding gives each row's unbatched embedding; padding is never pooled.
    #[test]
    fn lsmr_batched_pooling_equals_unbatched_reference() {
        let model = tiny_model();
        let rows = rows();
        // Two different pad ids: if padding leaked into a pooled row, the results would move.
        let with_pad_0 = pool_batch(&model, &rows, 0).expect("pool");
        let with_pad_96 = pool_batch(&model, &rows, 96).expect("pool");
        let mut worst = 0.0f64;
        for (row, (a, b)) in rows.iter().zip(with_pad_0.iter().zip(&with_pad_96)) {
            let reference = unbatched_reference(&model, row);
            assert_eq!(a.len(), model.config.hidden_size);
            for ((&x, &y), &r) in a.iter().zip(b).zip(&reference) {
                worst = worst.max((f64::from(x) - r).abs());
                assert_eq!(x, y, "pad id changed a pooled value");
            }
        }
        eprintln!("pooling: max |batched - unbatched reference| = {worst:.2e}");
        assert!(worst < 1e-5, "{worst}");
    }

    /// Tokens after the pooled span (the closing ChatML turn) do not change the embedding,
    /// which is why they are not run.
    #[test]
    fn lsmr_tokens_after_the_pooled_span_do_not_matter() {
        let model = tiny_model();
        let short = ItemTokens {
            ids: vec![1, 5, 9, 12],
            pooled: 2..4,
        };
        let long = ItemTokens {
            ids: vec![1, 5, 9, 12, 90, 91, 92],
            pooled: 2..4,
        };
        let got = pool_batch(&model, &[short, long], 0).expect("pool");
        let diff = got[0]
            .iter()
            .zip(&got[1])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "{diff}");
    }

    /// `pool_all` sorts by length internally but returns rows in input order, whatever the
    /// batch size.
    #[test]
    fn lsmr_pool_all_keeps_input_order_across_batch_sizes() {
        let model = tiny_model();
        let rows = rows();
        let one = pool_all(&model, &rows, 0, 1, |_| {}).expect("pool");
        let mut seen = 0;
        let three = pool_all(&model, &rows, 0, 3, |n| seen += n).expect("pool");
        assert_eq!(seen, rows.len());
        for (a, b) in one.iter().zip(&three) {
            let diff = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(diff < 1e-5, "{diff}");
        }
        let bad = ItemTokens {
            ids: vec![1, 2],
            pooled: 1..3,
        };
        assert!(pool_batch(&model, &[bad], 0).is_err());
        let out_of_vocab = ItemTokens {
            ids: vec![1, 500],
            pooled: 0..2,
        };
        assert!(pool_batch(&model, &[out_of_vocab], 0).is_err());
    }
}
