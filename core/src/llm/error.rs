//! Errors of the LLM: loading, shapes and requests.

use crate::gguf::GgufError;
use crate::tokenizer::TokenizerError;

/// Everything that can go wrong while loading or running the LLM.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The sizes in a config do not fit together.
    #[error("invalid model config: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// The checkpoint is of a model family we cannot run.
    #[error("unsupported architecture `{0}` (supported: llama, qwen2, mistral)")]
    UnsupportedArchitecture(String),
    /// A weight the architecture needs is absent.
    #[error("missing weight `{name}` in {source_name}")]
    MissingWeight {
        /// Canonical (Hugging Face) weight name.
        name: String,
        /// The file or folder searched.
        source_name: String,
    },
    /// A weight has the wrong shape for the config.
    #[error("weight `{name}` has shape {found:?}, expected {expected:?}")]
    WeightShape {
        /// Canonical weight name.
        name: String,
        /// Shape required by the config.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// A weight is stored in a dtype we cannot convert.
    #[error("weight `{name}` has unsupported dtype {dtype}")]
    WeightDtype {
        /// Canonical weight name.
        name: String,
        /// The dtype in the file.
        dtype: String,
    },
    /// The GGUF file is malformed.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// The tokenizer could not be built or used.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// A safetensors file is malformed.
    #[error("safetensors file {path}: {message}")]
    Safetensors {
        /// File path.
        path: String,
        /// The library's description.
        message: String,
    },
    /// A JSON file (config, shard index) is malformed.
    #[error("JSON file {path}: {source}")]
    Json {
        /// File path.
        path: String,
        /// Parser error.
        source: serde_json::Error,
    },
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// OS error.
        source: std::io::Error,
    },
    /// The path is neither a GGUF file nor a Hugging Face folder.
    #[error("{path} is neither a .gguf file nor a folder with config.json")]
    UnknownModelFormat {
        /// The path given.
        path: String,
    },
    /// A request was empty or exceeds what the model supports.
    #[error("bad request: {reason}")]
    BadRequest {
        /// What is wrong with it.
        reason: String,
    },
    /// A weight source (a bundle's file, say) could not give a weight back. The source's own
    /// error type stays with the source: the models know no file format (downcast `source`
    /// to it, e.g. `bundle::LlmFileError`).
    #[error("weight `{name}`: {source}")]
    SourceWeight {
        /// Hugging Face name.
        name: String,
        /// What is wrong with it.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A quantized weight does not make a projection (a bias of the wrong length).
    #[error("weight `{name}`: {source}")]
    Quant {
        /// Hugging Face name.
        name: String,
        /// What the quantized projection rejected (boxed: a `QuantError` can hold a
        /// backend read error, and this variant is rare).
        source: Box<crate::quant::QuantError>,
    },
    /// A per-sample adapter does not fit the model or the batch.
    #[error("adapter does not fit: {reason}")]
    AdapterMismatch {
        /// Which size disagrees.
        reason: String,
    },
    /// A token id is outside the vocabulary.
    #[error("token id {id} is outside the vocabulary of {vocab_size}")]
    TokenOutOfRange {
        /// Offending id.
        id: u32,
        /// Vocabulary size.
        vocab_size: usize,
    },
    /// The backend failed to return tensor data.
    #[error("backend failed to read back a tensor: {0}")]
    Readback(String),
}
