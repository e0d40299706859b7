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
