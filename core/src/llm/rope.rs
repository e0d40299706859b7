//! Rotary position embedding, Hugging Face "rotate half" convention.

use std::sync::Arc;

use burn::tensor::{Device, Int, Tensor, TensorData};

/// Precomputed cos/sin tables for every position up to `max_positions`: as tensors on the
/// model's device for burn's generic route, and on the host for the CPU kernels.
#[derive(Debug, Clone)]
pub struct RotaryEmbedding {
    cos: Tensor<2>,
    sin: Tensor<2>,
    host: Arc<(Vec<f32>, Vec<f32>)>,
    max_positions: usize,
}

impl RotaryEmbedding {
    /// Builds the tables. Angles are computed in f64 and rounded once, so they match
    /// HF's float32 tables to about 1e-7.
    pub fn new(head_dim: usize, theta: f64, max_positions: usize, device: &Device) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(max_positions * head_dim);
        let mut sin = Vec::with_capacity(max_positions * head_dim);
        // HF computes inv_freq in float32; do the same so long positions agree.
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| (1.0 / theta.powf((2 * i) as f64 / head_dim as f64)) as f32)
            .collect();
        for position in 0..max_positions {
            for _ in 0..2 {
                for &freq in &inv_freq {
                    let angle = (position as f32 * freq) as f64;
                    cos.push(angle.cos() as f32);
                    sin.push(angle.sin() as f32);
                }
            }
        }
        let shape = [max_positions, head_dim];
        Self {
            cos: Tensor::from_data(TensorData::new(cos.clone(), shape), device),
            sin: Tensor::from_data(TensorData::new(sin.clone(), shape), device),
            host: Arc::new((cos, sin)),
            max_positions,
        }
    }

    /// The cos and sin tables on the host, `[max_positions, head_dim]` row-major each.
    pub fn host_tables(&self) -> Arc<(Vec<f32>, Vec<f32>)> {
        Arc::clone(&self.host)
    }

    /// Rows `offset..offset + seq` of the cos and sin tables.
    ///
    /// # Shapes
    /// - returns `[seq, head_dim]` twice
    pub fn tables(&self, offset: usize, seq: usize) -> (Tensor<2>, Tensor<2>) {
        (
            self.cos.clone().narrow(0, offset, seq),
            self.sin.clone().narrow(0, offset, seq),
        )
    }

    /// The table rows of the given positions, in order (packed segments).
    ///
    /// # Shapes
    /// - returns `[positions.len(), head_dim]` twice
    pub fn tables_at(&self, positions: &[usize]) -> (Tensor<2>, Tensor<2>) {
        let rows: Vec<i64> = positions.iter().map(|&p| p as i64).collect();
        let index = Tensor::<1, Int>::from_data(
            TensorData::new(rows, [positions.len()]),
            &self.cos.device(),
        );
        (
            self.cos.clone().select(0, index.clone()),
            self.sin.clone().select(0, index),
        )
    }

    /// Longest sequence covered.
    pub fn max_positions(&self) -> usize {
        self.max_positions
    }
}
