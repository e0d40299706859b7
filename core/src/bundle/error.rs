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
