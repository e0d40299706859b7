//! Key/value cache for incremental decoding and shared-prefix scoring.

use burn::tensor::Tensor;

/// Keys and values of one layer, before GQA head repetition.
#[derive(Debug, Clone)]
struct LayerCache {
    keys: Tensor<3>,
    values: Tensor<3>,
}

/// Cached keys and values of every layer for a batch of sequences.
///
/// Keys and values are stored per KV head, position-major (`[batch, seq, kv_heads ·
/// head_dim]`, the projections' own layout, so appending needs no transpose), and GQA
/// models keep `num_heads / num_kv_heads` times less memory than after repetition.
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<Option<LayerCache>>,
    len: usize,
}

impl KvCache {
    /// An empty cache for `num_layers` layers.
    pub fn new(num_layers: usize) -> Self {
        Self {
            layers: vec![None; num_layers],
            len: 0,
        }
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends this step's keys and values for `layer` and returns all of them.
    ///
    /// # Shapes
    /// - `keys`, `values`: `[batch, new_seq, kv_heads · head_dim]`
    /// - returns `[batch, cached + new_seq, kv_heads · head_dim]` twice
    pub(crate) fn append(
        &mut self,
        layer: usize,
        keys: Tensor<3>,
        values: Tensor<3>,
    ) -> (Tensor<3>, Tensor<3>) {
        let merged = match self.layers[layer].take() {
            Some(old) => LayerCache {
                keys: Tensor::cat(vec![old.keys, keys], 1),
                values: Tensor::cat(vec![old.values, values], 1),
            },
            None => LayerCache { keys, values },
        };
        let out = (merged.keys.clone(), merged.values.clone());
        self.layers[layer] = Some(merged);
        out
    }

    /// Records that `new_tokens` positions were appended to every layer.
    pub(crate) fn advance(&mut self, new_tokens: usize) {
        self.len += new_tokens;
    }
}
