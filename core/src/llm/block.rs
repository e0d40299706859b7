//! One pre-norm decoder block.

use burn::module::Module;
use burn::tensor::Tensor;

use super::adapter::ProjectionAdapter;
use super::attention::SelfAttention;
use super::host::LayerMask;
use super::kv_cache::KvCache;
use super::mlp::SwiGluMlp;
use super::norm::RmsNorm;
use super::rope::RotaryEmbedding;

/// x + attn(norm(x)), then + mlp(norm(·)).
#[derive(Module, Debug)]
pub struct DecoderBlock {
    /// Norm before attention.
    pub input_norm: RmsNorm,
    /// Self-attention.
    pub attention: SelfAttention,
    /// Norm before the MLP.
    pub post_attention_norm: RmsNorm,
    /// Feed-forward.
    pub mlp: SwiGluMlp,
}

impl DecoderBlock {
    /// `adapter` corrects this block's projections per sample (`layer` is its index).
    ///
    /// # Shapes
    /// - `x`: `[batch, seq, d]`; returns the same shape.
    pub fn forward(
        &self,
        x: Tensor<3>,
        rope: &RotaryEmbedding,
        mask: &LayerMask,
        layer: usize,
        cache: Option<&mut KvCache>,
        adapter: Option<&dyn ProjectionAdapter>,
    ) -> Tensor<3> {
        let attended = self.attention.forward(
            self.input_norm.forward(x.clone()),
            rope,
            mask,
            layer,
            cache,
            adapter,
        );
        let x = x + attended;
        let mlp_out = self
            .mlp
            .forward(self.post_attention_norm.forward(x.clone()), layer, adapter);
        x + mlp_out
    }
}
