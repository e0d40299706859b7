//! [`BenchError`]: every way a benchmark run, a comparison or a report can fail.

use std::path::PathBuf;

use reclora_core::LlmError;
use reclora_core::runtime::RuntimeError;

/// Why `reclora-bench` failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A JSON file is malformed or does not match its schema.
    #[error("{path}: not a valid {what}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
        /// The parser's reason.
        source: serde_json::Error,
    },
    /// A file declares a format or schema version this build does not read.
    #[error("{path}: format `{found}`, this build reads `{expected}`")]
    Version {
        /// The file.
        path: PathBuf,
        /// What it declares.
        found: String,
        /// What this build reads.
        expected: &'static str,
    },
    /// The bundle folder does not exist or has no manifest.
    #[error(
        "no bundle at {path}: the folder must hold the manifest.json that `reclora-train export` writes"
    )]
    MissingBundle {
        /// The folder.
        path: PathBuf,
    },
    /// The replay set has no request the run can use.
    #[error("{path}: the replay has no request{why}")]
    EmptyReplay {
        /// The replay file.
        path: PathBuf,
        /// Why (e.g. "with at least one candidate").
        why: String,
    },
    /// A command-line value out of range.
    #[error("--{option} {reason}")]
    BadArgument {
        /// The option.
        option: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The LLM failed (prefill timing, zero-shot scoring).
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// `report` or `--compare` got no file.
    #[error("no report file given")]
    NoReports,
    /// `report` got no reclora run to compare the peers with.
    #[error("no reclora per-sample or per-user report among the files")]
    NoReclora,
    /// The command line did not parse.
    #[error("{0}")]
    Usage(#[from] clap::Error),
    /// The progress bar's template (a constant) was rejected.
    #[error("progress bar: {0}")]
    Progress(#[from] indicatif::style::TemplateError),
}

impl BenchError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
