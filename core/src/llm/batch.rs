//! Host-side batching: right padding and per-row answer positions.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::error::LlmError;
use super::mask::AttentionMask;

/// Token rows right-padded to one length, with the mask that hides the padding.
///
/// Right padding keeps every real token at its natural position, so RoPE needs no
/// per-row offsets and the causal mask alone already hides padding from real tokens.
#[derive(Debug, Clone)]
pub struct PaddedBatch {
    /// Row-major `[batch, seq]` ids.
    pub ids: Vec<i64>,
    /// Real length of every row.
    pub lengths: Vec<usize>,
    /// Padded length.
    pub seq: usize,
}

impl PaddedBatch {
    /// Pads `rows` with `pad_id`; rejects empty batches, empty rows and rows longer
    /// than `max_len`.
    pub fn new(rows: &[Vec<u32>], pad_id: u32, max_len: usize) -> Result<Self, LlmError> {
        if rows.is_empty() {
            return Err(LlmError::BadRequest {
                reason: "empty batch".into(),
            });
        }
        if let Some(row) = rows.iter().position(Vec::is_empty) {
            return Err(LlmError::BadRequest {
                reason: format!("row {row} has no tokens"),
            });
        }
        let seq = rows.iter().map(Vec::len).max().unwrap_or(0);
        if seq > max_len {
            return Err(LlmError::BadRequest {
                reason: format!("a row has {seq} tokens, the model supports at most {max_len}"),
            });
        }
        let mut ids = Vec::with_capacity(rows.len() * seq);
        for row in rows {
            ids.extend(row.iter().map(|&id| i64::from(id)));
            ids.extend(std::iter::repeat_n(i64::from(pad_id), seq - row.len()));
        }
        Ok(Self {
            ids,
            lengths: rows.iter().map(Vec::len).collect(),
            seq,
        })
    }

    /// Number of rows.
    pub fn batch(&self) -> usize {
        self.lengths.len()
    }

    /// Position of every row's last real token.
    pub fn last_positions(&self) -> Vec<usize> {
        self.lengths.iter().map(|&len| len - 1).collect()
    }

    /// The causal + padding mask.
    pub fn mask(&self) -> AttentionMask {
        AttentionMask::right_padded(&self.lengths, self.seq)
    }

    /// The ids as a `[batch, seq]` tensor.
    pub fn to_tensor(&self, device: &Device) -> Tensor<2, Int> {
        Tensor::from_data(
            TensorData::new(self.ids.clone(), [self.batch(), self.seq]),
            device,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_on_the_right_and_checks_limits() {
        let batch = PaddedBatch::new(&[vec![5, 6, 7], vec![8]], 0, 16).expect("valid");
        assert_eq!(batch.ids, vec![5, 6, 7, 8, 0, 0]);
        assert_eq!(batch.last_positions(), vec![2, 0]);
        assert!(matches!(
            PaddedBatch::new(&[vec![1; 17]], 0, 16),
            Err(LlmError::BadRequest { .. })
        ));
        assert!(PaddedBatch::new(&[], 0, 16).is_err());
        assert!(PaddedBatch::new(&[vec![]], 0, 16).is_err());
    }
}
