//! Errors of item encoding, PCA and the stored item-embedding table.

use std::path::PathBuf;

use reclora_core::LlmError;

use crate::data::DataError;

/// Why embedding items or reading an embedding table failed.
#[derive(Debug, thiserror::Error)]
pub enum LsmrError {
    /// The prepared dataset could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The LLM failed (tokenizer, forward pass, bad ids).
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// An item has an empty title, so there is nothing to describe it with.
    #[error("item {item} (raw id {raw_id:?}) has no title to embed")]
    MissingItemText {
        /// Item-id feature id.
        item: u32,
        /// The dataset's own id.
        raw_id: String,
    },
    /// PCA needs at least one row and one column.
    #[error("PCA needs a non-empty matrix, got {rows} x {cols}")]
    EmptyPcaInput {
        /// Rows (items).
        rows: usize,
        /// Columns (hidden size).
        cols: usize,
    },
    /// A value that must be finite is NaN or infinite.
    #[error("{what} holds a non-finite value")]
    NonFinite {
        /// Which array.
        what: &'static str,
    },
    /// Vectors of different widths were mixed.
    #[error("{what}: expected width {expected}, found {found}")]
    Width {
        /// Which vectors.
        what: &'static str,
        /// The width required.
        expected: usize,
        /// The width given.
        found: usize,
    },
    /// The same item id appears twice in an embedding table.
    #[error("item {item} appears twice in the embedding table")]
    DuplicateItem {
        /// The repeated id.
        item: u32,
    },
    /// The backend failed to return tensor data.
    #[error("the backend failed to read back a tensor")]
    Readback,
    /// A stored embedding table is malformed.
    #[error("{}: {problem}", path.display())]
    Table {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        problem: TableProblem,
    },
    /// The output path has no file name.
    #[error("{}: not usable as an output folder", path.display())]
    BadOutputPath {
        /// The path.
        path: PathBuf,
    },
    /// The output folder exists and is not an earlier item-embedding table.
    #[error("{}: exists and is not an item-embedding folder; refusing to replace it", path.display())]
    OutputNotItemTable {
        /// The path.
        path: PathBuf,
    },
    /// No item title contains the text asked for.
    #[error("no item title contains {query:?}")]
    NoSuchTitle {
        /// What was searched.
        query: String,
    },
}

/// What is wrong with a stored table.
#[derive(Debug, thiserror::Error)]
pub enum TableProblem {
    /// The safetensors container is invalid.
    #[error(transparent)]
    Safetensors(#[from] safetensors::SafeTensorError),
    /// The JSON file is invalid.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// An array is missing.
    #[error("array {name} is missing")]
    MissingArray {
        /// Array name.
        name: &'static str,
    },
    /// An array has the wrong element type.
    #[error("array {name} has dtype {found:?}, expected {expected:?}")]
    Dtype {
        /// Array name.
        name: &'static str,
        /// Stored dtype.
        found: safetensors::Dtype,
        /// Required dtype.
        expected: safetensors::Dtype,
    },
    /// An array has the wrong shape.
    #[error("array {name} has shape {found:?}, expected {expected:?}")]
    Shape {
        /// Array name.
        name: &'static str,
        /// Stored shape.
        found: Vec<usize>,
        /// Required shape.
        expected: Vec<usize>,
    },
    /// The format version is not the one this build reads.
    #[error("format version {found}, this build reads {expected}")]
    Version {
        /// Stored version.
        found: u32,
        /// Supported version.
        expected: u32,
    },
}

impl LsmrError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// A problem with a stored table file.
    pub fn table(path: impl Into<PathBuf>, problem: impl Into<TableProblem>) -> Self {
        Self::Table {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

impl From<reclora_core::prompt::EmbeddingTableError> for LsmrError {
    fn from(error: reclora_core::prompt::EmbeddingTableError) -> Self {
        use reclora_core::prompt::EmbeddingTableError as E;
        match error {
            E::NonFinite { what } => Self::NonFinite { what },
            E::Width {
                what,
                expected,
                found,
            } => Self::Width {
                what,
                expected,
                found,
            },
            E::DuplicateItem { item } => Self::DuplicateItem { item },
        }
    }
}
