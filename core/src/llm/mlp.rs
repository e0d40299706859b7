//! SwiGLU feed-forward block.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::activation::silu;

/// down(silu(gate(x)) ⊙ up(x)).
#[derive(Module, Debug)]
pub struct SwiGluMlp {
    /// `[d, intermediate]`.
    pub gate_proj: Linear,
    /// `[d, intermediate]`.
    pub up_proj: Linear,
    /// `[intermediate, d]`.
    pub down_proj: Linear,
}

impl SwiGluMlp {
    /// # Shapes
    /// - `x`: `[batch, seq, d]`; returns the same shape.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let gate = silu(self.gate_proj.forward(x.clone()));
        self.down_proj.forward(gate * self.up_proj.forward(x))
    }
}
