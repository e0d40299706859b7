//! What can be wrong with a bundle.

use std::path::PathBuf;

/// A module's tensor file does not fit the module.
#[derive(Debug, thiserror::Error)]
pub enum TensorFileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The safetensors header or layout is invalid (truncated, overlapping, bad JSON).
    #[error("invalid safetensors: {0}")]
    Format(#[from] safetensors::SafeTensorError),
    /// A parameter the module has is not in the file.
    #[error("tensor `{name}` is missing")]
    Missing {
        /// Its module path.
        name: String,
    },
    /// The file holds a tensor the module does not have (another config's file).
    #[error("tensor `{name}` is not a parameter of this module")]
    Unexpected {
        /// Its name in the file.
        name: String,
    },
    /// Stored in another element type.
    #[error("tensor `{name}` is {found}, expected F32")]
    Dtype {
        /// Its module path.
        name: String,
        /// The stored dtype.
        found: String,
    },
    /// Stored with another shape than the config gives.
    #[error("tensor `{name}` has shape {found:?}, the config says {expected:?}")]
    Shape {
        /// Its module path.
        name: String,
        /// The module's shape.
        expected: Vec<usize>,
        /// The stored shape.
        found: Vec<usize>,
    },
    /// NaN or infinity in a weight.
    #[error("tensor `{name}` has a non-finite value at element {index}")]
    NonFinite {
        /// Its module path.
        name: String,
        /// The first bad element.
        index: usize,
    },
}

/// A bundle that cannot be opened, naming the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file the bundle needs is not there.
    #[error("bundle file {path} is missing")]
    MissingFile {
        /// Where it should be.
        path: PathBuf,
    },
    /// The manifest has no entry for a file the runtime needs.
    #[error("the manifest lists no `{file}`")]
    NotInManifest {
        /// The file name.
        file: String,
    },
    /// Truncated or grown since export.
    #[error("{path} has {found} bytes, the manifest says {expected}")]
    SizeMismatch {
        /// The file.
        path: PathBuf,
        /// Size in the manifest.
        expected: u64,
        /// Size on disk.
        found: u64,
    },
    /// Same size, other content (checked only when asked: it reads every byte).
    #[error("{path} has sha256 {found}, the manifest says {expected}")]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// Hash in the manifest.
        expected: String,
        /// Hash of the content.
        found: String,
    },
    /// `manifest.json` is not valid JSON of the expected shape.
    #[error("{path}: invalid manifest: {source}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Exported by a newer format than this runtime reads.
    #[error("bundle format version {found}; this runtime reads up to {supported}")]
    UnsupportedVersion {
        /// The manifest's version.
        found: u32,
        /// The newest this build reads.
        supported: u32,
    },
    /// `llm.safetensors` does not fit the manifest, or the export could not write it.
    #[error("llm.safetensors: {0}")]
    Llm(#[from] LlmFileError),
    /// The manifest's PLoRA config does not fit its LLM config.
    #[error("manifest: {source}")]
    Config {
        /// What does not fit.
        source: crate::plora::PloraError,
    },
    /// A module's tensors do not fit its config.
    #[error("{path}: {source}")]
    Tensors {
        /// The tensor file.
        path: PathBuf,
        /// What does not fit.
        source: TensorFileError,
    },
}

impl BundleError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// `llm.safetensors` does not hold what the manifest's LLM config and quant scheme need.
#[derive(Debug, thiserror::Error)]
pub enum LlmFileError {
    /// The safetensors header or layout is invalid (truncated, overlapping, bad JSON).
    #[error("invalid safetensors: {0}")]
    Format(#[from] safetensors::SafeTensorError),
    /// A weight the model needs is absent.
    #[error("weight `{name}` is missing")]
    Missing {
        /// Hugging Face name.
        name: String,
    },
    /// A tensor the config has no place for.
    #[error("tensor `{name}` is not a weight of this model")]
    Unexpected {
        /// Its name in the file.
        name: String,
    },
    /// Wrong dtype or shape for its kind (U8 rows for matrices, F32 for vectors).
    #[error("weight `{name}` is {dtype} {shape:?}, which does not fit the config")]
    Layout {
        /// Hugging Face name.
        name: String,
        /// Stored dtype.
        dtype: String,
        /// Stored shape.
        shape: Vec<usize>,
    },
    /// The quantized bytes are invalid (length, alignment, NaN scale).
    #[error("weight `{name}`: {source}")]
    Quant {
        /// Hugging Face name.
        name: String,
        /// What the quantized view rejected.
        source: crate::quant::QuantError,
    },
    /// NaN or infinity in an f32 vector.
    #[error("weight `{name}` has a non-finite value at element {index}")]
    NonFinite {
        /// Hugging Face name.
        name: String,
        /// The first bad element.
        index: usize,
    },
    /// The export's weight source failed.
    #[error("reading the source model: {0}")]
    Source(#[from] crate::llm::LlmError),
}
