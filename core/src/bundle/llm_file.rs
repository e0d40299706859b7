//! `llm.safetensors`: the LLM's weights under their Hugging Face names. Each matrix
//! (projections, embeddings, an untied head) is stored in the format the manifest records
//! for it ([`MatrixFormat`]): packed Q8_0 / Q4_1 panels as `U8 [bytes]` (the kernels'
//! header included), or row-major f16 / f32 as `U8 [rows, row_bytes]`; so the runtime reads
//! them in place from the map. Norms and biases stay f32.
//!
//! The header is padded with spaces (which safetensors allows) so that the data starts on
//! a 64-byte boundary of the file, hence of the page-aligned map: every packed matrix then
//! starts on a cache line when the vectors before it are whole cache lines (norms of a
//! width that is a multiple of 16 are), which the int8 GEMM reads fastest.

use std::collections::{BTreeMap, HashMap};

use reclora_kernels::qgemm::PackedView;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::error::{BundleError, LlmFileError};
use super::tensor_file::finite_f32_le;
use crate::llm::{HostTensor, LlamaConfig, LlmError, WeightSource};
use crate::quant::{MatrixFormat, QuantError, QuantizedMatrix};

/// Where the data of `llm.safetensors` starts is a multiple of this.
pub const DATA_ALIGN: usize = 64;

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

/// The `llm.safetensors` bytes of `source`'s weights, each matrix in its format in
/// `formats` (a [`QuantScheme::plan`](super::QuantScheme::plan), or any mix).
pub fn serialize_llm(
    source: &dyn WeightSource,
    config: &LlamaConfig,
    formats: &BTreeMap<String, MatrixFormat>,
) -> Result<Vec<u8>, BundleError> {
    let mut stored: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for tensor in llm_tensors(config) {
        let values = source
            .require(&tensor.name, &tensor.shape)
            .map_err(LlmFileError::Source)?;
        if tensor.is_matrix() {
            let (rows, cols) = (tensor.shape[0], tensor.shape[1]);
            let format = *formats
                .get(&tensor.name)
                .ok_or_else(|| LlmFileError::NoFormat {
                    name: tensor.name.clone(),
                })?;
            let bytes =
                format
                    .encode(&values, rows, cols)
                    .map_err(|source| LlmFileError::Quant {
                        name: tensor.name.clone(),
                        source,
                    })?;
            let shape = if format.packed().is_some() {
                vec![bytes.len()]
            } else {
                vec![rows, bytes.len() / rows.max(1)]
            };
            stored.push((tensor.name, Dtype::U8, shape, bytes));
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
    let file = safetensors::serialize(views, None).map_err(LlmFileError::Format)?;
    Ok(align_data(file))
}

/// `file` (a safetensors serialization) with its header padded by spaces so that the data
/// starts at a multiple of [`DATA_ALIGN`].
fn align_data(file: Vec<u8>) -> Vec<u8> {
    let header_len = u64::from_le_bytes(
        file[..8]
            .try_into()
            .unwrap_or_else(|_| unreachable!("a serialization starts with its header length")),
    ) as usize;
    let data_start = 8 + header_len;
    let padded = data_start.next_multiple_of(DATA_ALIGN) - 8;
    if padded == header_len {
        return file;
    }
    let mut out = Vec::with_capacity(file.len() + padded - header_len);
    out.extend_from_slice(&(padded as u64).to_le_bytes());
    out.extend_from_slice(&file[8..data_start]);
    out.resize(8 + padded, b' ');
    out.extend_from_slice(&file[data_start..]);
    out
}

/// One matrix as stored, viewed in place.
#[derive(Debug, Clone, Copy)]
pub enum StoredMatrix<'a> {
    /// Packed panels: the kernels' view and the stored bytes (header included).
    Packed {
        /// The validated view.
        view: PackedView<'a>,
        /// The tensor's bytes in the file.
        bytes: &'a [u8],
    },
    /// Row-major values.
    Rows(QuantizedMatrix<'a>),
}

impl StoredMatrix<'_> {
    /// The matrix decoded to f32, `[rows, cols]` row-major.
    pub fn dequantize(&self) -> Vec<f32> {
        match self {
            StoredMatrix::Packed { view, .. } => view.dequantize(),
            StoredMatrix::Rows(matrix) => matrix.dequantize(),
        }
    }
}

/// A validated view of a mapped `llm.safetensors`: every tensor present with the shape
/// `config` gives, every matrix in the format the manifest records for it with finite
/// scales, nothing extra.
#[derive(Debug)]
pub struct LlmFile<'a> {
    tensors: SafeTensors<'a>,
    /// Every weight's shape by name, from the config (looked up per `load`).
    shapes: HashMap<String, Vec<usize>>,
    /// Every matrix's storage, from the manifest.
    formats: BTreeMap<String, MatrixFormat>,
    /// Every block scale was found finite (by `parse`, or by an earlier `parse` of the same
    /// immutable bytes): later views skip the scan, which touches every page of the file.
    scales_checked: bool,
}

impl<'a> LlmFile<'a> {
    /// Checks `bytes` (the mapped file) against `config` and the manifest's per-matrix
    /// `formats`, every block scale included.
    pub fn parse(
        bytes: &'a [u8],
        config: &LlamaConfig,
        formats: &BTreeMap<String, MatrixFormat>,
    ) -> Result<Self, LlmFileError> {
        Self::parse_with(bytes, config, formats, false)
    }

    /// [`Self::parse`] of bytes that already passed it and cannot have changed since (the
    /// bundle's read-only map): the layout is checked again, the scales are not.
    pub(crate) fn reparse(
        bytes: &'a [u8],
        config: &LlamaConfig,
        formats: &BTreeMap<String, MatrixFormat>,
    ) -> Result<Self, LlmFileError> {
        Self::parse_with(bytes, config, formats, true)
    }

    fn parse_with(
        bytes: &'a [u8],
        config: &LlamaConfig,
        formats: &BTreeMap<String, MatrixFormat>,
        scales_checked: bool,
    ) -> Result<Self, LlmFileError> {
        let expected = llm_tensors(config);
        // The manifest's formats name exactly the config's matrices.
        for tensor in expected.iter().filter(|t| t.is_matrix()) {
            if !formats.contains_key(&tensor.name) {
                return Err(LlmFileError::NoFormat {
                    name: tensor.name.clone(),
                });
            }
        }
        if let Some(name) = formats
            .keys()
            .find(|name| !expected.iter().any(|t| t.is_matrix() && &t.name == *name))
        {
            return Err(LlmFileError::FormatOfNoMatrix { name: name.clone() });
        }
        let tensors = SafeTensors::deserialize(bytes)?;
        let mut file = Self {
            tensors,
            shapes: expected
                .iter()
                .map(|t| (t.name.clone(), t.shape.clone()))
                .collect(),
            formats: formats.clone(),
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

    /// The storage of matrix `name`, as the manifest records it.
    pub fn format(&self, name: &str) -> Option<MatrixFormat> {
        self.formats.get(name).copied()
    }

    /// The matrix `name` of shape `[rows, cols]`, viewed in place in its format.
    pub fn matrix(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<StoredMatrix<'a>, LlmFileError> {
        let format = self.format(name).ok_or_else(|| LlmFileError::NoFormat {
            name: name.to_owned(),
        })?;
        let view = self.view(name)?;
        let layout_error = || LlmFileError::Layout {
            name: name.to_owned(),
            dtype: format!("{:?}", view.dtype()),
            shape: view.shape().to_vec(),
        };
        let quant_error = |source: QuantError| LlmFileError::Quant {
            name: name.to_owned(),
            source,
        };
        let data = view.data();
        match (format.packed(), format.rows()) {
            (Some(expected), _) => {
                if view.dtype() != Dtype::U8 || view.shape() != [data.len()] {
                    return Err(layout_error());
                }
                let packed = if self.scales_checked {
                    PackedView::from_bytes_unscanned(data)
                } else {
                    PackedView::from_bytes(data)
                };
                let packed = packed.map_err(|e| quant_error(e.into()))?;
                if (packed.format(), packed.rows(), packed.cols()) != (expected, rows, cols) {
                    return Err(LlmFileError::PackedMismatch {
                        name: name.to_owned(),
                        expected: format,
                        rows,
                        cols,
                        found: format!(
                            "{:?} [{}, {}]",
                            packed.format(),
                            packed.rows(),
                            packed.cols()
                        ),
                    });
                }
                Ok(StoredMatrix::Packed {
                    view: packed,
                    bytes: data,
                })
            }
            (None, Some(quant)) => {
                if view.dtype() != Dtype::U8 || view.shape().first() != Some(&rows) {
                    return Err(layout_error());
                }
                let matrix = if self.scales_checked {
                    QuantizedMatrix::from_bytes_unscanned(quant, rows, cols, data)
                } else {
                    QuantizedMatrix::from_bytes(quant, rows, cols, data)
                };
                Ok(StoredMatrix::Rows(matrix.map_err(quant_error)?))
            }
            (None, None) => unreachable!("every matrix format is packed or row-major"),
        }
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
        "bundle llm.safetensors".to_owned()
    }

    fn load(&self, name: &str) -> Result<Option<HostTensor>, LlmError> {
        let Some(shape) = self.shapes.get(name) else {
            return Ok(None);
        };
        let values = match shape[..] {
            [rows, cols] => self.matrix(name, rows, cols).map(|m| m.dequantize()),
            _ => self.vector(name, shape[0]),
        };
        let values = values.map_err(|e| LlmError::SourceWeight {
            name: name.to_owned(),
            source: Box::new(e),
        })?;
        Ok(Some(HostTensor {
            shape: shape.clone(),
            values,
        }))
    }
}
