//! Why an export failed; the bundle folder is then left as it was.

use std::path::PathBuf;

use reclora_core::bundle::{BundleError, TensorFileError};
use reclora_core::{LlmError, PloraError};

use crate::atomic_dir::AtomicDirError;
use crate::finetune::{FinetuneError, FinetuneMode};

/// An export failure, naming the run or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Only RecLoRA(-fused) runs carry gates, a CRM and an item table.
    #[error("run {run} is {mode:?}; only reclora and reclora-fused runs can be exported")]
    NotReclora {
        /// The run folder.
        run: PathBuf,
        /// Its mode.
        mode: FinetuneMode,
    },
    /// The run has not finished training.
    #[error("run {run} has not finished training (no {file})")]
    Unfinished {
        /// The run folder.
        run: PathBuf,
        /// The missing final adapter.
        file: PathBuf,
    },
    /// Reading the run, the CRM or the item table failed.
    #[error(transparent)]
    Run(#[from] FinetuneError),
    /// The LLM could not be read.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// The adapter could not be loaded.
    #[error(transparent)]
    Plora(#[from] PloraError),
    /// A bundle file could not be made.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A module could not be serialized.
    #[error(transparent)]
    Tensors(#[from] TensorFileError),
    /// The tokenizer could not be written as JSON.
    #[error("tokenizer.json: {0}")]
    Tokenizer(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A JSON input is malformed.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The output folder cannot be replaced.
    #[error("output folder: {0:?}")]
    Output(AtomicDirError),
}

impl From<AtomicDirError> for ExportError {
    fn from(error: AtomicDirError) -> Self {
        Self::Output(error)
    }
}
