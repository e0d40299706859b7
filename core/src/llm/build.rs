//! Building a [`LlamaModel`] from a weight source: one code path for every checkpoint,
//! with its matrices either dense f32 tensors on the device or quantized views kept where
//! they are stored (a bundle's map). Norms and biases are small f32 tensors either way.

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};

use super::attention::SelfAttention;
use super::block::DecoderBlock;
use super::config::LlamaConfig;
use super::error::LlmError;
use super::linear::linear_from_torch_layout;
use super::mlp::SwiGluMlp;
use super::model::LlamaModel;
use super::norm::RmsNorm;
use super::projection::Projection;
use super::rope::RotaryEmbedding;
use super::vocab_matrix::VocabMatrix;
use super::weights::{SharedMatrixSource, WeightSource};
use crate::quant::{PackedLinear, QuantKernel, QuantLinear, QuantWeight, SharedWeight};

impl LlamaConfig {
    /// Builds the model from any weight source, checking every shape. Every matrix becomes
    /// a dense f32 tensor on `device`.
    pub fn init_from(
        &self,
        source: &dyn WeightSource,
        device: &Device,
    ) -> Result<LlamaModel, LlmError> {
        self.build(source, &DenseMatrices { source, device }, device)
    }

    /// Builds the model over matrices that stay where `source` stores them, quantized:
    /// packed blocks are multiplied by the int8 GEMM on activations quantized once per
    /// input, row-major ones (f16) decoded block by block with `kernel`, and an embedding
    /// lookup decodes only its rows. For the CPU backend, where the host copies of the
    /// activations are memcpys; on a GPU use [`init_from`](Self::init_from).
    pub fn init_in_place(
        &self,
        source: &dyn SharedMatrixSource,
        kernel: QuantKernel,
        device: &Device,
    ) -> Result<LlamaModel, LlmError> {
        self.build(source, &InPlaceMatrices { source, kernel }, device)
    }

    fn build(
        &self,
        source: &dyn WeightSource,
        matrices: &dyn MatrixLoader,
        device: &Device,
    ) -> Result<LlamaModel, LlmError> {
        self.validate()?;
        let d = self.hidden_size;
        let norm = |name: &str| -> Result<RmsNorm, LlmError> {
            let values = source.require(name, &[d])?;
            Ok(RmsNorm {
                weight: Param::from_tensor(Tensor::<1>::from_data(
                    TensorData::new(values, [d]),
                    device,
                )),
                eps: self.rms_norm_eps,
            })
        };
        let missing = |name: &str| LlmError::MissingWeight {
            name: name.to_owned(),
            source_name: source.source_name(),
        };

        let embed_name = "model.embed_tokens.weight";
        let embed_tokens = matrices
            .vocab_matrix(embed_name, self.vocab_size, d)?
            .ok_or_else(|| missing(embed_name))?;
        let mut layers = Vec::with_capacity(self.num_layers);
        for i in 0..self.num_layers {
            let p = format!("model.layers.{i}");
            let bias = self.attention_bias;
            let attention = SelfAttention {
                q_proj: matrices.projection(
                    &format!("{p}.self_attn.q_proj"),
                    self.q_dim(),
                    d,
                    bias,
                )?,
                k_proj: matrices.projection(
                    &format!("{p}.self_attn.k_proj"),
                    self.kv_dim(),
                    d,
                    bias,
                )?,
                v_proj: matrices.projection(
                    &format!("{p}.self_attn.v_proj"),
                    self.kv_dim(),
                    d,
                    bias,
                )?,
                o_proj: matrices.projection(
                    &format!("{p}.self_attn.o_proj"),
                    d,
                    self.q_dim(),
                    false,
                )?,
                num_heads: self.num_heads,
                num_kv_heads: self.num_kv_heads,
                head_dim: self.head_dim,
            };
            let ff = self.intermediate_size;
            let mlp = SwiGluMlp {
                gate_proj: matrices.projection(&format!("{p}.mlp.gate_proj"), ff, d, false)?,
                up_proj: matrices.projection(&format!("{p}.mlp.up_proj"), ff, d, false)?,
                down_proj: matrices.projection(&format!("{p}.mlp.down_proj"), d, ff, false)?,
            };
            layers.push(DecoderBlock {
                input_norm: norm(&format!("{p}.input_layernorm.weight"))?,
                attention,
                post_attention_norm: norm(&format!("{p}.post_attention_layernorm.weight"))?,
                mlp,
            });
        }
        // A checkpoint that ships lm_head is used as such even if the config says tied.
        let head_name = "lm_head.weight";
        let lm_head = matrices.vocab_matrix(head_name, self.vocab_size, d)?;
        if lm_head.is_none() && !self.tie_word_embeddings {
            return Err(missing(head_name));
        }
        Ok(LlamaModel {
            embed_tokens,
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

/// Where the model's matrices come from and in which form they are kept.
trait MatrixLoader {
    /// Projection `name`: `{name}.weight` `[out, inp]`, plus `{name}.bias` when `bias`.
    fn projection(
        &self,
        name: &str,
        out: usize,
        inp: usize,
        bias: bool,
    ) -> Result<Projection, LlmError>;

    /// The `[rows, cols]` matrix `name`, or `None` when the source has none.
    fn vocab_matrix(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<Option<VocabMatrix>, LlmError>;
}

/// Dense f32 tensors on the device.
struct DenseMatrices<'a> {
    source: &'a dyn WeightSource,
    device: &'a Device,
}

impl MatrixLoader for DenseMatrices<'_> {
    fn projection(
        &self,
        name: &str,
        out: usize,
        inp: usize,
        bias: bool,
    ) -> Result<Projection, LlmError> {
        let weight = self
            .source
            .require(&format!("{name}.weight"), &[out, inp])?;
        let bias = bias_of(self.source, name, out, bias)?;
        Ok(Projection::dense(linear_from_torch_layout(
            &weight,
            out,
            inp,
            bias,
            self.device,
        )))
    }

    fn vocab_matrix(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<Option<VocabMatrix>, LlmError> {
        Ok(self.source.optional(name, &[rows, cols])?.map(|values| {
            VocabMatrix::Dense(Param::from_tensor(Tensor::<2>::from_data(
                TensorData::new(values, [rows, cols]),
                self.device,
            )))
        }))
    }
}

/// Quantized views shared with the source's storage.
struct InPlaceMatrices<'a> {
    source: &'a dyn SharedMatrixSource,
    kernel: QuantKernel,
}

impl InPlaceMatrices<'_> {
    /// Matrix `name`, checked to be `[rows, cols]`.
    fn matrix(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<Option<SharedWeight>, LlmError> {
        let Some(matrix) = self.source.shared_matrix(name, rows, cols)? else {
            return Ok(None);
        };
        if matrix.shape() != (rows, cols) {
            let (found_rows, found_cols) = matrix.shape();
            return Err(LlmError::WeightShape {
                name: name.to_owned(),
                expected: vec![rows, cols],
                found: vec![found_rows, found_cols],
            });
        }
        Ok(Some(matrix))
    }
}

impl MatrixLoader for InPlaceMatrices<'_> {
    fn projection(
        &self,
        name: &str,
        out: usize,
        inp: usize,
        bias: bool,
    ) -> Result<Projection, LlmError> {
        let weight_name = format!("{name}.weight");
        let weight =
            self.matrix(&weight_name, out, inp)?
                .ok_or_else(|| LlmError::MissingWeight {
                    name: weight_name.clone(),
                    source_name: self.source.source_name(),
                })?;
        let bias = bias_of(self.source, name, out, bias)?;
        let quant_error = |source| LlmError::Quant {
            name: weight_name.clone(),
            source: Box::new(source),
        };
        Ok(match weight {
            SharedWeight::Packed(packed) => Projection::packed(
                PackedLinear::new(packed, bias, self.kernel).map_err(quant_error)?,
            ),
            SharedWeight::Rows(rows) => Projection::quantized(
                QuantLinear::new(QuantWeight::Shared(rows), bias, self.kernel)
                    .map_err(quant_error)?,
            ),
        })
    }

    fn vocab_matrix(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<Option<VocabMatrix>, LlmError> {
        let Some(matrix) = self.matrix(name, rows, cols)? else {
            return Ok(None);
        };
        match matrix {
            SharedWeight::Packed(packed) => Ok(Some(VocabMatrix::packed(packed, self.kernel))),
            SharedWeight::Rows(matrix) => {
                VocabMatrix::quantized(QuantWeight::Shared(matrix), self.kernel)
                    .map(Some)
                    .map_err(|source| LlmError::Quant {
                        name: name.to_owned(),
                        source: Box::new(source),
                    })
            }
        }
    }
}

/// `{name}.bias` `[out]` when the projection has one.
fn bias_of(
    source: &dyn WeightSource,
    name: &str,
    out: usize,
    bias: bool,
) -> Result<Option<Vec<f32>>, LlmError> {
    if !bias {
        return Ok(None);
    }
    source.require(&format!("{name}.bias"), &[out]).map(Some)
}
