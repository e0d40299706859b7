//! Grouped-query self-attention with RoPE.

use burn::module::Module;
use burn::tensor::Tensor;

use super::adapter::{ProjectionAdapter, ProjectionKind, adapted_projection};
use super::host::{self, LayerMask, ProjectionInput};
use super::kv_cache::KvCache;
use super::projection::Projection;
use super::rope::RotaryEmbedding;

/// Multi-head attention whose keys/values have fewer heads than its queries (GQA).
#[derive(Module, Debug)]
pub struct SelfAttention {
    /// Query projection, `[d, heads·head_dim]`.
    pub q_proj: Projection,
    /// Key projection, `[d, kv_heads·head_dim]`.
    pub k_proj: Projection,
    /// Value projection, `[d, kv_heads·head_dim]`.
    pub v_proj: Projection,
    /// Output projection, `[heads·head_dim, d]`.
    pub o_proj: Projection,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads.
    pub num_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
}

impl SelfAttention {
    /// Attends over the cached and new positions; `adapter` corrects the projections of
    /// block `layer` per sample.
    ///
    /// # Shapes
    /// - `x`: `[batch, seq, d]`
    /// - `mask`: queries `[batch, seq]` over `cache.len() + seq` keys (rows, or packed
    ///   segments after the cache)
    /// - returns `[batch, seq, d]`
    pub fn forward(
        &self,
        x: Tensor<3>,
        rope: &RotaryEmbedding,
        mask: &LayerMask,
        layer: usize,
        cache: Option<&mut KvCache>,
        adapter: Option<&dyn ProjectionAdapter>,
    ) -> Tensor<3> {
        let project = |projection, input: &_, kind| {
            adapted_projection(projection, input, adapter, layer, kind)
        };
        let offset = cache.as_ref().map_or(0, |c| c.len());
        // Heads stay interleaved in the projections' `[batch, seq, heads · head_dim]`
        // layout throughout: the kernels read them strided, so nothing is transposed.
        // q, k and v read one input: packed weights quantize it once for all three.
        let input = ProjectionInput::new(x);
        let q = project(&self.q_proj, &input, ProjectionKind::Q);
        let k = project(&self.k_proj, &input, ProjectionKind::K);
        let v = project(&self.v_proj, &input, ProjectionKind::V);
        drop(input);
        let q = host::rope(q, self.num_heads, rope, mask.rope_at(offset));
        let k = host::rope(k, self.num_kv_heads, rope, mask.rope_at(offset));
        let (k, v) = match cache {
            Some(cache) => cache.append(layer, k, v),
            None => (k, v),
        };
        let context = host::attention(q, k, v, self.num_heads, self.num_kv_heads, mask);
        project(
            &self.o_proj,
            &ProjectionInput::new(context),
            ProjectionKind::O,
        )
    }
}
