//! `llm.safetensors`: the LLM's weights under their Hugging Face names. Matrices
//! (projections, embeddings, an untied head) are stored block-quantized as `U8
//! [rows, row_bytes]`, so the runtime reads them in place from the map; norms and biases
//! stay f32.

use std::collections::HashMap;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::error::{BundleError, LlmFileError};
use super::tensor_file::finite_f32_le;
use crate::llm::{HostTensor, LlamaConfig, LlmError, WeightSource};
use crate::quant::{QuantizedMatrix, QuantizedMatrixBuf, WeightQuant};

/// One weight the model needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmTensor {
    /// Hugging Face name.
    pub name: String,
    /// `[out, in]` for matrices, `[len]` for vectors.
    pub shape: Vec<usize>,
}

impl LlmTensor {
    fn new(name: String, shape: &[usize]) -> Self {
        Self {
            name,
            shape: shape.to_vec(),
        }
    }

    /// Whether it is stored quantized (matrices) or as f32 (vectors).
    pub fn is_matrix(&self) -> bool {
        self.shape.len() == 2
    }
}

/// Every weight of `config`, in model order. `lm_head.weight` only when untied.
pub fn llm_tensors(config: &LlamaConfig) -> Vec<LlmTensor> {
    let d = config.hidden_size;
    let ff = config.intermediate_size;
    let mut tensors = vec![LlmTensor::new(
        "model.embed_tokens.weight".into(),
        &[config.vocab_size, d],
    )];
    for i in 0..config.num_layers {
        let p = format!("model.layers.{i}");
        tensors.push(LlmTensor::new(format!("{p}.input_layernorm.weight"), &[d]));
        for (name, out, inp) in [
            ("self_attn.q_proj", config.q_dim(), d),
            ("self_attn.k_proj", config.kv_dim(), d),
            ("self_attn.v_proj", config.kv_dim(), d),
        ] {
            tensors.push(LlmTensor::new(format!("{p}.{name}.weight"), &[out, inp]));
            if config.attention_bias {
                tensors.push(LlmTensor::new(format!("{p}.{name}.bias"), &[out]));
            }
        }
        tensors.push(LlmTensor::new(
            format!("{p}.self_attn.o_proj.weight"),
            &[d, config.q_dim()],
        ));
        tensors.push(LlmTensor::new(
            format!("{p}.post_attention_layernorm.weight"),
            &[d],
        ));
        tensors.push(LlmTensor::new(
            format!("{p}.mlp.gate_proj.weight"),
            &[ff, d],
        ));
        tensors.push(LlmTensor::new(format!("{p}.mlp.up_proj.weight"), &[ff, d]));
        tensors.push(LlmTensor::new(
            format!("{p}.mlp.down_proj.weight"),
            &[d, ff],
        ));
    }
    tensors.push(LlmTensor::new("model.norm.weight".into(), &[d]));
    if !config.tie_word_embeddings {
        tensors.push(LlmTensor::new(
            "lm_head.weight".into(),
            &[config.vocab_size, d],
        ));
    }
    tensors
}

/// The `llm.safetensors` bytes of `source`'s weights, matrices quantized to `quant`.
pub fn serialize_llm(
    source: &dyn WeightSource,
    config: &LlamaConfig,
    quant: WeightQuant,
) -> Result<Vec<u8>, BundleError> {
    let mut stored: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for tensor in llm_tensors(config) {
        let values = source
            .require(&tensor.name, &tensor.shape)
            .map_err(LlmFileError::Source)?;
        if tensor.is_matrix() {
            let (rows, cols) = (tensor.shape[0], tensor.shape[1]);
            let matrix =
                QuantizedMatrixBuf::quantize(quant, rows, cols, &values).map_err(|source| {
                    LlmFileError::Quant {
                        name: tensor.name.clone(),
                        source,
                    }
                })?;
            let bytes = matrix.view().as_bytes().to_vec();
            let row_bytes = bytes.len() / rows.max(1);
            stored.push((tensor.name, Dtype::U8, vec![rows, row_bytes], bytes));
        } else {
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            stored.push((tensor.name, Dtype::F32, tensor.shape, bytes));
        }
    }
    let views = stored
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes).map(|view| (name.clone(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(LlmFileError::Format)?;
    Ok(safetensors::serialize(views, None).map_err(LlmFileError::Format)?)
}

/// A validated view of a mapped `llm.safetensors`: every tensor present with the shape
/// `config` gives, every matrix in `quant` with finite scales, nothing extra.
#[derive(Debug)]
pub struct LlmFile<'a> {
    tensors: SafeTensors<'a>,
    /// Every weight's shape by name, from the config (looked up per `load`).
    shapes: HashMap<String, Vec<usize>>,
    quant: WeightQuant,
    /// Every block scale was found finite (by `parse`, or by an earlier `parse` of the same
    /// immutable bytes): later views skip the scan, which touches every page of the file.
    scales_checked: bool,
}

impl<'a> LlmFile<'a> {
    /// Checks `bytes` (the mapped file) against `config` and `quant`, every block scale
    /// included.
    pub fn parse(
        bytes: &'a [u8],
        config: &LlamaConfig,
        quant: WeightQuant,
    ) -> Result<Self, LlmFileError> {
        Self::parse_with(bytes, config, quant, false)
    }

    /// [`Self::parse`] of bytes that already passed it and cannot have changed since (the
    /// bundle's read-only map): the layout is checked again, the scales are not.
    pub(crate) fn reparse(
        bytes: &'a [u8],
        config: &LlamaConfig,
        quant: WeightQuant,
    ) -> Result<Self, LlmFileError> {
        Self::parse_with(bytes, config, quant, true)
    }

    fn parse_with(
        bytes: &'a [u8],
        config: &LlamaConfig,
        quant: WeightQuant,
        scales_checked: bool,
    ) -> Result<Self, LlmFileError> {
        let tensors = SafeTensors::deserialize(bytes)?;
        let expected = llm_tensors(config);
        let mut file = Self {
            tensors,
            shapes: expected
                .iter()
                .map(|t| (t.name.clone(), t.shape.clone()))
                .collect(),
            quant,
            scales_checked,
        };
        // In model order, so the first defect reported is the same on every run.
        for tensor in &expected {
            match tensor.shape[..] {
                [rows, cols] => drop(file.matrix(&tensor.name, rows, cols)?),
                _ => drop(file.vector(&tensor.name, tensor.shape[0])?),
            }
        }
        let mut extra: Vec<&str> = file
            .tensors
            .names()
            .into_iter()
            .filter(|n| !file.shapes.contains_key(*n))
            .collect();
        extra.sort_unstable();
        if let Some(name) = extra.first() {
            return Err(LlmFileError::Unexpected {
                name: (*name).to_owned(),
            });
        }
        file.scales_checked = true;
        Ok(file)
    }

    /// Whether the model has a weight `name` (the file holds exactly those).
    pub fn contains(&self, name: &str) -> bool {
        self.shapes.contains_key(name)
    }

    /// The quantized matrix `name` of shape `[rows, cols]`, viewed in place.
    pub fn matrix(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<QuantizedMatrix<'a>, LlmFileError> {
        let view = self.view(name)?;
        if view.dtype() != Dtype::U8 || view.shape().first() != Some(&rows) {
            return Err(LlmFileError::Layout {
                name: name.to_owned(),
                dtype: format!("{:?}", view.dtype()),
                shape: view.shape().to_vec(),
            });
        }
        let matrix = if self.scales_checked {
            QuantizedMatrix::from_bytes_unscanned(self.quant, rows, cols, view.data())
        } else {
            QuantizedMatrix::from_bytes(self.quant, rows, cols, view.data())
        };
        matrix.map_err(|source| LlmFileError::Quant {
            name: name.to_owned(),
            source,
        })
    }

    /// The f32 vector `name` of length `len`.
    pub fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, LlmFileError> {
        let view = self.view(name)?;
        if view.dtype() != Dtype::F32 || view.shape() != [len] {
            return Err(LlmFileError::Layout {
                name: name.to_owned(),
                dtype: format!("{:?}", view.dtype()),
                shape: view.shape().to_vec(),
            });
        }
        finite_f32_le(view.data()).map_err(|index| LlmFileError::NonFinite {
            name: name.to_owned(),
            index,
        })
    }

    fn view(&self, name: &str) -> Result<safetensors::tensor::TensorView<'a>, LlmFileError> {
        self.tensors
            .tensor(name)
            .map_err(|_| LlmFileError::Missing {
                name: name.to_owned(),
            })
    }
}

/// Dequantizes on request: builds an f32 model from a bundle (parity references, and
/// backends without in-place quantized kernels).
impl WeightSource for LlmFile<'_> {
    fn source_name(&self) -> String {
        format!("bundle llm.safetensors ({})", self.quant)
    }

    fn load(&self, name: &str) -> Result<Option<HostTensor>, LlmError> {
        let Some(shape) = self.shapes.get(name) else {
            return Ok(None);
        };
        let values = match shape[..] {
            [rows, cols] => self.matrix(name, rows, cols).map(|m| m.dequantize()),
            _ => self.vector(name, shape[0]),
        };
        let values = values.map_err(|e| LlmError::BundleWeight {
            name: name.to_owned(),
            source: Box::new(e),
        })?;
        Ok(Some(HostTensor {
            shape: shape.clone(),
            values,
        }))
    }
}
