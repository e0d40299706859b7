//! Errors of fine-tuning and LLM evaluation; every variant names the option, file or row
//! at fault.

use std::path::PathBuf;

use reclora_core::tokenizer::TokenizerError;
use reclora_core::{LlmError, PloraError};

use super::config::{FinetuneMode, TrainLoss};
use crate::data::DataError;
use crate::lsmr::LsmrError;
use crate::metrics::MetricError;
use crate::scores::ScoresError;

/// Why a fine-tuning or evaluation job failed.
#[derive(Debug, thiserror::Error)]
pub enum FinetuneError {
    /// A count option is zero.
    #[error("{option} must be positive")]
    ZeroOption {
        /// The command-line option.
        option: &'static str,
    },
    /// The learning rate is negative or not finite.
    #[error("learning rate must be finite and non-negative, got {0}")]
    BadLearningRate(f64),
    /// AdamW's epsilon is not a positive number.
    #[error("--adam-eps must be positive and finite, got {0}")]
    BadAdamEpsilon(f32),
    /// `reclora-fused` with a loss that does not see the fused logit.
    #[error("mode reclora-fused trains its fused logit with --loss yes-no, not --loss {}", loss.as_str())]
    FusedNeedsYesNoLoss {
        /// The loss asked for.
        loss: TrainLoss,
    },
    /// A gate option for a mode whose adapter has no gates.
    #[error("{option} needs gates, which mode {mode} does not have")]
    NoGates {
        /// The command-line option.
        option: &'static str,
        /// The mode.
        mode: FinetuneMode,
    },
    /// The warm start's noise is negative or not finite.
    #[error("--warm-start-noise must be finite and non-negative, got {0}")]
    BadWarmStartNoise(f64),
    /// The warm-start run is not a finished static LoRA of the same shape.
    #[error("warm start from {run}: {reason}")]
    WarmStart {
        /// The static LoRA run folder.
        run: PathBuf,
        /// What does not fit.
        reason: WarmStartProblem,
    },
    /// `reclora` was asked for without a CRM run folder.
    #[error("mode {mode} needs the CRM run folder (--crm)")]
    NeedsCrm {
        /// The mode.
        mode: FinetuneMode,
    },
    /// A retrieved mode was asked for without an item table.
    #[error("mode {mode} needs the LSMR item table (--items)")]
    NeedsItems {
        /// The mode.
        mode: FinetuneMode,
    },
    /// The adapter config does not match the mode (a hand-edited config.json).
    #[error("mode {mode} {} an adapter config", if *trains { "needs" } else { "takes no" })]
    AdapterConfig {
        /// The mode.
        mode: FinetuneMode,
        /// Whether the mode trains.
        trains: bool,
    },
    /// The CRM run folder lacks its best checkpoint or config.
    #[error("CRM checkpoint {path} is missing: train it with `reclora-train crm` first")]
    MissingCrmCheckpoint {
        /// The missing file.
        path: PathBuf,
    },
    /// The CRM's representation width differs from the gates' (a config from another CRM).
    #[error("the CRM gives R_c of width {found}, the adapter expects {expected}")]
    CrmWidth {
        /// `crm_dim` of the adapter.
        expected: usize,
        /// `representation_dim` of the CRM.
        found: usize,
    },
    /// The LSMR item table is missing.
    #[error("item table {path} is missing: run `reclora-train embed-items` first")]
    MissingItemsTable {
        /// The missing file.
        path: PathBuf,
    },
    /// The item table was made from another dataset.
    #[error("item table {path} was made from {table}, the data is {data}")]
    ItemsDataset {
        /// The table folder.
        path: PathBuf,
        /// Dataset named in `items.json`.
        table: String,
        /// Dataset being trained or scored.
        data: &'static str,
    },
    /// The LSMR item table is unreadable.
    #[error(transparent)]
    Lsmr(#[from] LsmrError),
    /// The run folder has no `config.json`.
    #[error("{path} is missing: not a fine-tuning run folder (run `reclora-train finetune`)")]
    MissingRunConfig {
        /// The expected config file.
        path: PathBuf,
    },
    /// A run folder already holds a run and `--resume` was not given.
    #[error("{path} already holds a run: pass --resume to continue it or pick another --out")]
    RunExists {
        /// The run folder.
        path: PathBuf,
    },
    /// `--resume` with options that differ from the stored run's.
    #[error("{path} was made with other options; resume with the same ones")]
    ConfigMismatch {
        /// The stored config.
        path: PathBuf,
    },
    /// The adapter to evaluate has not finished training.
    #[error("training stopped after {steps_done} of {total_steps} steps: resume it before eval")]
    TrainingIncomplete {
        /// Optimizer steps done.
        steps_done: usize,
        /// Optimizer steps planned.
        total_steps: usize,
    },
    /// `eval` asked to score the train split.
    #[error("eval scores the valid or test split, never train")]
    EvalOnTrain,
    /// The split to score or train on is empty.
    #[error("the {split} split is empty")]
    EmptySplit {
        /// Which split.
        split: &'static str,
    },
    /// The template has no end-of-turn token in this vocabulary.
    #[error("the tokenizer has no end-of-turn token for the {template} template")]
    NoEndToken {
        /// The template name.
        template: &'static str,
    },
    /// A row of an existing score file disagrees with the dataset.
    #[error("{path}: row {row} has label {found}, the dataset says {expected}")]
    ScoreLabel {
        /// The score file.
        path: PathBuf,
        /// Row index in the test split.
        row: usize,
        /// Label in the file.
        found: bool,
        /// Label in the dataset.
        expected: bool,
    },
    /// The dataset could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The LLM failed.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// The adapter config or checkpoint is bad.
    #[error(transparent)]
    Plora(#[from] PloraError),
    /// Tokenization failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The score file is unreadable.
    #[error(transparent)]
    Scores(#[from] ScoresError),
    /// AUC or LogLoss is undefined on the scored rows.
    #[error(transparent)]
    Metric(#[from] MetricError),
    /// A checkpoint could not be written or read.
    #[error("checkpoint {path}: {source}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// burn's record error.
        source: burn::store::RecordError,
    },
    /// A JSON file of a run folder cannot be written or read.
    #[error(transparent)]
    File(#[from] crate::json_file::FileError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// A fused loss or score was asked of a PLoRA without the CRM-logit weight.
    #[error("the adapter has no CRM-logit weight (not a reclora-fused run)")]
    NotFused,
    /// The backend failed to return tensor data.
    #[error("the backend failed to read back a tensor")]
    Readback,
}

impl FinetuneError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps a burn record error with the checkpoint file.
    pub fn checkpoint(path: impl Into<PathBuf>) -> impl FnOnce(burn::store::RecordError) -> Self {
        let path = path.into();
        move |source| Self::Checkpoint { path, source }
    }
}

/// Why a warm-start run cannot seed this PLoRA.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WarmStartProblem {
    /// Its training has not finished (no `adapter.bpk`).
    #[error("it has no adapter.bpk (training unfinished)")]
    Unfinished,
    /// It is not a static LoRA.
    #[error("mode {0} is not a static LoRA (lora-last or lora-retrieved)")]
    NotStatic(FinetuneMode),
    /// Its rank, alpha, targets or adapted layers differ.
    #[error("its LoRA shape differs: {0}")]
    Shape(String),
}
