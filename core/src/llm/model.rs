//! The Llama-family decoder: embeddings, blocks, final norm and output projection.
//! Built by [`LlamaConfig::init_from`] (dense) or [`LlamaConfig::init_in_place`]
//! (quantized, CPU) in `build.rs`.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::adapter::ProjectionAdapter;
use super::block::DecoderBlock;
use super::config::LlamaConfig;
use super::error::LlmError;
use super::host::LayerMask;
use super::kv_cache::KvCache;
use super::mask::AttentionMask;
use super::norm::RmsNorm;
use super::rope::RotaryEmbedding;
use super::vocab_matrix::VocabMatrix;

/// A decoder-only transformer in the Llama family (Llama, SmolLM2, Qwen2).
#[derive(Module, Debug)]
pub struct LlamaModel {
    /// Token embeddings, `[vocab, d]`.
    pub embed_tokens: VocabMatrix,
    /// Decoder blocks.
    pub layers: Vec<DecoderBlock>,
    /// Final RMSNorm.
    pub norm: RmsNorm,
    /// Untied output projection, `[vocab, d]` (one row per token); `None` when tied.
    pub lm_head: Option<VocabMatrix>,
    /// Sizes.
    #[module(skip)]
    pub config: LlamaConfig,
    /// RoPE tables.
    #[module(skip)]
    pub rope: RotaryEmbedding,
}

impl LlamaModel {
    /// The device the model computes on (where its norms live; quantized matrices stay
    /// on the host and return their outputs there).
    pub fn device(&self) -> Device {
        self.norm.weight.val().device()
    }

    /// Whether the matrices stay quantized ([`LlamaConfig::init_in_place`]).
    pub fn is_quantized(&self) -> bool {
        self.embed_tokens.is_quantized()
    }

    /// Runs the blocks and returns hidden states *before* the final norm.
    ///
    /// `adapter` (PLoRA, static LoRA) adds its per-sample corrections to the projections;
    /// it must fit this model and batch (see [`ProjectionAdapter::check_fits`]), else
    /// the backend panics on mismatched shapes.
    ///
    /// # Shapes
    /// - `tokens`: `[batch, seq]`
    /// - `mask`: `[batch, seq]` queries over `cache.len() + seq` keys
    /// - returns `[batch, seq, d]`
    pub fn forward_hidden(
        &self,
        tokens: Tensor<2, Int>,
        mask: &AttentionMask,
        mut cache: Option<&mut KvCache>,
        adapter: Option<&dyn ProjectionAdapter>,
    ) -> Tensor<3> {
        let [batch, seq] = tokens.dims();
        let d = self.config.hidden_size;
        let flat = tokens.reshape([batch * seq]);
        let mut x = self.embed_tokens.rows(flat).reshape([batch, seq, d]);
        // Built once: every layer shares the same mask.
        let mask = LayerMask::new(mask, self.config.num_heads, &x.device());
        for (index, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x, &self.rope, &mask, index, cache.as_deref_mut(), adapter);
        }
        if let Some(cache) = cache {
            cache.advance(seq);
        }
        x
    }

    /// Output-projection rows, `[vocab, d]`: the head, or the embeddings when tied.
    fn output_rows(&self) -> &VocabMatrix {
        self.lm_head.as_ref().unwrap_or(&self.embed_tokens)
    }

    /// Logits over the whole vocabulary for already-normalized hidden states.
    ///
    /// # Shapes
    /// - `normed`: `[n, d]`; returns `[n, vocab]`
    pub fn full_logits(&self, normed: Tensor<2>) -> Tensor<2> {
        self.output_rows().logits(normed)
    }

    /// Logits of just `token_ids`, computing only those rows of the output projection.
    ///
    /// # Shapes
    /// - `normed`: `[n, d]`; returns `[n, token_ids.len()]`
    pub fn logits_for_tokens(
        &self,
        normed: Tensor<2>,
        token_ids: &[u32],
    ) -> Result<Tensor<2>, LlmError> {
        let ids = self.token_tensor(token_ids)?;
        Ok(self.output_rows().logits_of(normed, ids))
    }

    /// Hidden states at one position per row, after the final norm.
    ///
    /// # Shapes
    /// - `hidden`: `[batch, seq, d]`; `positions.len() == batch`; returns `[batch, d]`
    pub fn normed_at(&self, hidden: Tensor<3>, positions: &[usize]) -> Tensor<2> {
        let seq = hidden.dims()[1];
        let flat: Vec<usize> = positions
            .iter()
            .enumerate()
            .map(|(row, &pos)| row * seq + pos)
            .collect();
        self.normed_at_flat(hidden, &flat)
    }

    /// The final-normalized hidden states at flat indices `row · seq + position`, in order.
    ///
    /// # Shapes
    /// - `hidden`: `[batch, seq, d]`; returns `[flat.len(), d]`
    pub fn normed_at_flat(&self, hidden: Tensor<3>, flat: &[usize]) -> Tensor<2> {
        let [batch, seq, d] = hidden.dims();
        let flat: Vec<i64> = flat.iter().map(|&index| index as i64).collect();
        let count = flat.len();
        let index = Tensor::<1, Int>::from_data(TensorData::new(flat, [count]), &hidden.device());
        let picked = hidden.reshape([batch * seq, d]).select(0, index);
        self.norm.forward(picked)
    }

    /// Ids as an int tensor, rejecting ids outside the vocabulary.
    pub fn token_tensor(&self, token_ids: &[u32]) -> Result<Tensor<1, Int>, LlmError> {
        self.check_ids(token_ids)?;
        let values: Vec<i64> = token_ids.iter().map(|&id| i64::from(id)).collect();
        Ok(Tensor::from_data(
            TensorData::new(values, [token_ids.len()]),
            &self.device(),
        ))
    }

    /// Rejects ids outside the vocabulary before they reach an index op.
    pub(crate) fn check_ids(&self, ids: &[u32]) -> Result<(), LlmError> {
        let vocab_size = self.config.vocab_size;
        match ids.iter().find(|&&id| id as usize >= vocab_size) {
            Some(&id) => Err(LlmError::TokenOutOfRange { id, vocab_size }),
            None => Ok(()),
        }
    }
}
