//! Grouped-query self-attention with RoPE.

use burn::module::Module;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Tensor};

use super::adapter::{ProjectionAdapter, ProjectionKind, adapted_projection};
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
    /// - `mask`: `[batch, heads, seq, cache.len() + seq]`, true where attention is forbidden
    /// - returns `[batch, seq, d]`
    pub fn forward(
        &self,
        x: Tensor<3>,
        rope: &RotaryEmbedding,
        mask: &Tensor<4, Bool>,
        layer: usize,
        cache: Option<&mut KvCache>,
        adapter: Option<&dyn ProjectionAdapter>,
    ) -> Tensor<3> {
        let [batch, seq, _] = x.dims();
        let project = |projection, x, kind| adapted_projection(projection, x, adapter, layer, kind);
        let offset = cache.as_ref().map_or(0, |c| c.len());
        let split_heads = |t: Tensor<3>, heads: usize| {
            t.reshape([batch, seq, heads, self.head_dim])
                .swap_dims(1, 2)
        };
        let q = split_heads(
            project(&self.q_proj, x.clone(), ProjectionKind::Q),
            self.num_heads,
        );
        let k = split_heads(
            project(&self.k_proj, x.clone(), ProjectionKind::K),
            self.num_kv_heads,
        );
        let v = split_heads(
            project(&self.v_proj, x, ProjectionKind::V),
            self.num_kv_heads,
        );
        let q = rope.apply(q, offset);
        let k = rope.apply(k, offset);
        let (k, v) = match cache {
            Some(cache) => cache.append(layer, k, v),
            None => (k, v),
        };
        let k = self.repeat_kv(k);
        let v = self.repeat_kv(v);
        let context = attention(
            q,
            k,
            v,
            Some(mask.clone()),
            None,
            AttentionModuleOptions::default(),
        );
        let context = context
            .swap_dims(1, 2)
            .reshape([batch, seq, self.num_heads * self.head_dim]);
        project(&self.o_proj, context, ProjectionKind::O)
    }

    /// Repeats each KV head for the query heads that share it (HF `repeat_kv` order).
    fn repeat_kv(&self, t: Tensor<4>) -> Tensor<4> {
        let group = self.num_heads / self.num_kv_heads;
        if group == 1 {
            return t;
        }
        let [batch, kv_heads, seq, head_dim] = t.dims();
        t.unsqueeze_dim::<5>(2).repeat_dim(2, group).reshape([
            batch,
            kv_heads * group,
            seq,
            head_dim,
        ])
    }
}
