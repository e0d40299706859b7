//! Rotary position embedding, Hugging Face "rotate half" convention.

use burn::tensor::{Device, Tensor, TensorData};

/// Precomputed cos/sin tables for every position up to `max_positions`.
#[derive(Debug, Clone)]
pub struct RotaryEmbedding {
    cos: Tensor<2>,
    sin: Tensor<2>,
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
            cos: Tensor::from_data(TensorData::new(cos, shape), device),
            sin: Tensor::from_data(TensorData::new(sin, shape), device),
            max_positions,
        }
    }

    /// Longest sequence covered.
    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// Rotates queries or keys that start at absolute position `offset`.
    ///
    /// # Shapes
    /// - `x`: `[batch, heads, seq, head_dim]`
    /// - returns the same shape
    pub fn apply(&self, x: Tensor<4>, offset: usize) -> Tensor<4> {
        let [_, _, seq, head_dim] = x.dims();
        let cos = self
            .cos
            .clone()
            .narrow(0, offset, seq)
            .unsqueeze_dims::<4>(&[0, 1]);
        let sin = self
            .sin
            .clone()
            .narrow(0, offset, seq)
            .unsqueeze_dims::<4>(&[0, 1]);
        let half = head_dim / 2;
        let first = x.clone().narrow(3, 0, half);
        let second = x.clone().narrow(3, half, half);
        let rotated = Tensor::cat(vec![second.neg(), first], 3);
        x * cos + rotated * sin
    }
}
