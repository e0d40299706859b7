//! The Llama-family decoder: embeddings, blocks, final norm and output projection.

use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::adapter::ProjectionAdapter;
use super::attention::SelfAttention;
use super::block::DecoderBlock;
use super::config::LlamaConfig;
use super::error::LlmError;
use super::kv_cache::KvCache;
use super::linear::linear_from_torch_layout;
use super::mask::AttentionMask;
use super::mlp::SwiGluMlp;
use super::norm::RmsNorm;
use super::rope::RotaryEmbedding;
use super::weights::WeightSource;

/// A decoder-only transformer in the Llama family (Llama, SmolLM2, Qwen2).
#[derive(Module, Debug)]
pub struct LlamaModel {
    /// Token embeddings, `[vocab, d]`.
    pub embed_tokens: Param<Tensor<2>>,
    /// Decoder blocks.
    pub layers: Vec<DecoderBlock>,
    /// Final RMSNorm.
    pub norm: RmsNorm,
    /// Untied output projection, `[vocab, d]` (one row per token); `None` when tied.
    pub lm_head: Option<Param<Tensor<2>>>,
    /// Sizes.
    #[module(skip)]
    pub config: LlamaConfig,
    /// RoPE tables.
    #[module(skip)]
    pub rope: RotaryEmbedding,
}

impl LlamaConfig {
    /// Builds the model from any weight source, checking every shape.
    pub fn init_from(
        &self,
        source: &dyn WeightSource,
        device: &Device,
    ) -> Result<LlamaModel, LlmError> {
        self.validate()?;
        let d = self.hidden_size;
        let tensor1 = |values: Vec<f32>, len: usize| {
            Param::from_tensor(Tensor::<1>::from_data(
                TensorData::new(values, [len]),
                device,
            ))
        };
        let tensor2 = |values: Vec<f32>, shape: [usize; 2]| {
            Param::from_tensor(Tensor::<2>::from_data(
                TensorData::new(values, shape),
                device,
            ))
        };
        let norm = |name: &str| -> Result<RmsNorm, LlmError> {
            Ok(RmsNorm {
                weight: tensor1(source.require(name, &[d])?, d),
                eps: self.rms_norm_eps,
            })
        };
        let linear = |name: &str, out: usize, inp: usize, bias: bool| {
            let weight = source.require(&format!("{name}.weight"), &[out, inp])?;
            let bias = if bias {
                Some(source.require(&format!("{name}.bias"), &[out])?)
            } else {
                None
            };
            Ok::<_, LlmError>(linear_from_torch_layout(&weight, out, inp, bias, device))
        };

        let embed = source.require("model.embed_tokens.weight", &[self.vocab_size, d])?;
        let mut layers = Vec::with_capacity(self.num_layers);
        for i in 0..self.num_layers {
            let p = format!("model.layers.{i}");
            let bias = self.attention_bias;
            let attention = SelfAttention {
                q_proj: linear(&format!("{p}.self_attn.q_proj"), self.q_dim(), d, bias)?,
                k_proj: linear(&format!("{p}.self_attn.k_proj"), self.kv_dim(), d, bias)?,
                v_proj: linear(&format!("{p}.self_attn.v_proj"), self.kv_dim(), d, bias)?,
                o_proj: linear(&format!("{p}.self_attn.o_proj"), d, self.q_dim(), false)?,
                num_heads: self.num_heads,
                num_kv_heads: self.num_kv_heads,
                head_dim: self.head_dim,
            };
            let ff = self.intermediate_size;
            let mlp = SwiGluMlp {
                gate_proj: linear(&format!("{p}.mlp.gate_proj"), ff, d, false)?,
                up_proj: linear(&format!("{p}.mlp.up_proj"), ff, d, false)?,
                down_proj: linear(&format!("{p}.mlp.down_proj"), d, ff, false)?,
            };
            layers.push(DecoderBlock {
                input_norm: norm(&format!("{p}.input_layernorm.weight"))?,
                attention,
                post_attention_norm: norm(&format!("{p}.post_attention_layernorm.weight"))?,
                mlp,
            });
        }
        // A checkpoint that ships lm_head is used as such even if the config says tied.
        let lm_head = source
            .optional("lm_head.weight", &[self.vocab_size, d])?
            .map(|w| tensor2(w, [self.vocab_size, d]));
        if lm_head.is_none() && !self.tie_word_embeddings {
            return Err(LlmError::MissingWeight {
                name: "lm_head.weight".into(),
                source_name: source.source_name(),
            });
        }
        Ok(LlamaModel {
            embed_tokens: tensor2(embed, [self.vocab_size, d]),
            layers,
            norm: norm("model.norm.weight")?,
            lm_head,
            config: self.clone(),
            rope: RotaryEmbedding::new(
                self.head_dim,
                self.rope_theta,
                self.max_position_embeddings,
                device,
            ),
        })
    }
}

impl LlamaModel {
    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.embed_tokens.val().device()
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
        let mut x = self
            .embed_tokens
            .val()
            .select(0, flat)
            .reshape([batch, seq, d]);
        // Built once: every layer shares the same mask.
        let mask = mask.to_tensor(self.config.num_heads, &x.device());
        for (index, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x, &self.rope, &mask, index, cache.as_deref_mut(), adapter);
        }
        if let Some(cache) = cache {
            cache.advance(seq);
        }
        x
    }

    /// Output-projection rows, `[vocab, d]`.
    fn output_rows(&self) -> Tensor<2> {
        match &self.lm_head {
            Some(head) => head.val(),
            None => self.embed_tokens.val(),
        }
    }

    /// Logits over the whole vocabulary for already-normalized hidden states.
    ///
    /// # Shapes
    /// - `normed`: `[n, d]`; returns `[n, vocab]`
    pub fn full_logits(&self, normed: Tensor<2>) -> Tensor<2> {
        normed.matmul(self.output_rows().transpose())
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
        let rows = self.output_rows().select(0, ids);
        Ok(normed.matmul(rows.transpose()))
    }

    /// Hidden states at one position per row, after the final norm.
    ///
    /// # Shapes
    /// - `hidden`: `[batch, seq, d]`; `positions.len() == batch`; returns `[batch, d]`
    pub fn normed_at(&self, hidden: Tensor<3>, positions: &[usize]) -> Tensor<2> {
        let [batch, seq, d] = hidden.dims();
        let flat: Vec<i64> = positions
            .iter()
            .enumerate()
            .map(|(row, &pos)| (row * seq + pos) as i64)
            .collect();
        let index = Tensor::<1, Int>::from_data(TensorData::new(flat, [batch]), &hidden.device());
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
