//! Errors of the command-line jobs.

use std::path::PathBuf;

use reclora_core::{BackendUnavailable, DeviceError, LlmError};

use crate::data::DataError;
use crate::finetune::FinetuneError;
use crate::lsmr::LsmrError;
use crate::metrics::MetricError;

/// Why a command failed; every variant names the file or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The LLM could not be loaded or run.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// The requested backend is not in this build.
    #[error(transparent)]
    Backend(#[from] BackendUnavailable),
    /// The requested backend is not in this build, or this machine has no device for it.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// A line of a JSONL input is not what the command expects.
    #[error("{path}:{line}: {message}")]
    BadInputLine {
        /// The input file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A dataset could not be prepared or read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Item embedding or retrieval failed.
    #[error(transparent)]
    Lsmr(#[from] LsmrError),
    /// A metric could not be computed (one class only, NaN scores...).
    #[error(transparent)]
    Metric(#[from] MetricError),
    /// A training checkpoint could not be written or read.
    #[error("checkpoint {path}: {source}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// burn's record error.
        source: burn::store::RecordError,
    },
    /// A JSON file of a run folder (state, config, metrics) cannot be written or read.
    #[error(transparent)]
    File(#[from] crate::json_file::FileError),
    /// A run comparison failed.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// A per-row score file is unreadable.
    #[error(transparent)]
    Scores(#[from] crate::scores::ScoresError),
    /// The CRM architecture is not implemented.
    #[error("unknown CRM model `{0}`: expected din")]
    UnknownModel(String),
    /// The backend failed to return tensor data.
    #[error("the backend failed to read back a tensor")]
    Readback,
    /// Fine-tuning or LLM evaluation failed.
    #[error(transparent)]
    Finetune(#[from] FinetuneError),
    /// Packaging a bundle failed.
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    /// A bundle-vs-server comparison failed.
    #[error(transparent)]
    Parity(#[from] crate::parity::ParityError),
    /// Writing a replay set failed.
    #[error(transparent)]
    Replay(#[from] crate::replay::ReplayError),
    /// A bundle given as `--model` does not open.
    #[error(transparent)]
    Bundle(#[from] reclora_core::bundle::BundleError),
    /// A pipeline run failed or its recipe is refused.
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    /// Ranking a slate failed.
    #[error(transparent)]
    Rank(#[from] crate::rank::RankError),
    /// A command line built by `pipeline` was refused by its parser.
    #[error("{0}")]
    Arguments(Box<clap::Error>),
    /// The input holds no request.
    #[error("{path}: no prompts to score")]
    EmptyInput {
        /// The input file.
        path: PathBuf,
    },
}

impl CliError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
