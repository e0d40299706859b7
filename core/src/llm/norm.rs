//! RMSNorm as in Llama: x / sqrt(mean(x²) + eps) · weight.

use burn::module::{Module, Param};
use burn::tensor::Tensor;

/// Root-mean-square layer norm with a learned scale.
#[derive(Module, Debug)]
pub struct RmsNorm {
    /// Scale, `[d]`.
    pub weight: Param<Tensor<1>>,
    /// Added to the mean square before the root.
    pub eps: f64,
}

impl RmsNorm {
    /// Normalizes over the last dimension.
    ///
    /// # Shapes
    /// - `x`: `[..., d]`; returns the same shape.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        super::host::rms_norm(x, &self.weight, self.eps)
    }
}
