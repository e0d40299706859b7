//! The frozen LLM: a Llama-family decoder in burn, its weight loaders and P(yes) scoring.
//!
//! Weights come from GGUF (llama.cpp) or Hugging Face safetensors; both are read through
//! [`WeightSource`] under Hugging Face names, so the model is built by one code path.

mod adapter;
mod attention;
mod batch;
mod block;
mod build;
mod config;
mod error;
mod gguf_source;
mod hf_source;
pub(crate) mod host;
mod inference;
mod kv_cache;
mod language_model;
mod linear;
mod mask;
mod mlp;
mod model;
mod norm;
mod projection;
mod rope;
mod scoring;
mod vocab_matrix;
mod weights;

pub use adapter::{ProjectionAdapter, ProjectionKind};
pub use attention::SelfAttention;
pub use batch::PaddedBatch;
pub use block::DecoderBlock;
pub use config::{HfLlamaConfig, LlamaConfig};
pub use error::LlmError;
pub use gguf_source::GgufWeights;
pub use hf_source::{SafetensorsWeights, read_hf_config};
#[cfg(test)]
pub(crate) use host::with_generic_route;
pub use host::{CPU_KERNELS_ENV, LayerMask, PackedWeight, ProjectionInput};
pub use kv_cache::KvCache;
pub use language_model::{LanguageModel, gguf_vocab};
pub use mask::AttentionMask;
pub use mlp::SwiGluMlp;
pub use model::LlamaModel;
pub use norm::RmsNorm;
pub use projection::{DenseProjection, PackedProjection, Projection, QuantProjection};
pub use rope::RotaryEmbedding;
pub use scoring::{YesNoScore, fused_logit, sigmoid_probability};
pub use vocab_matrix::{PackedVocabMatrix, QuantVocabMatrix, VocabMatrix};
pub use weights::{HostTensor, SeededWeights, SharedMatrixSource, WeightSource};
