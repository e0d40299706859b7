//! The run folder: `config.json`, checkpoints named by step, `train-state.json` pointing at
//! the last complete pair, the final adapter, `scores.csv` and `metrics.json`.
//!
//! A checkpoint is written as new step-named files first and only then published by
//! replacing `train-state.json` atomically, so a run killed at any moment resumes from a
//! complete (adapter, optimizer) pair.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::FinetuneConfig;
use super::error::FinetuneError;
use crate::data::Split;

/// What a run needs besides the weights to continue, and its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimizer steps done.
    pub steps_done: usize,
    /// Optimizer steps of the whole run.
    pub total_steps: usize,
    /// Prompts trained on so far (all epochs).
    pub samples_seen: usize,
    /// Wall time spent in training steps.
    pub train_seconds: f64,
    /// Mean cross-entropy of every optimizer step, over the answer and end tokens.
    pub step_losses: Vec<f64>,
    /// Mean cross-entropy of the answer token alone, every step (runs from before this
    /// field have none).
    #[serde(default)]
    pub answer_losses: Vec<f64>,
    /// The checkpoint of `steps_done`, if any step was done.
    pub checkpoint: Option<CheckpointNames>,
    /// Whether all steps are done and the final adapter is written.
    pub finished: bool,
}

impl TrainState {
    /// A run that has not started.
    pub fn new(total_steps: usize) -> Self {
        Self {
            steps_done: 0,
            total_steps,
            samples_seen: 0,
            train_seconds: 0.0,
            step_losses: Vec::new(),
            answer_losses: Vec::new(),
            checkpoint: None,
            finished: false,
        }
    }
}

/// File names (inside the run folder) of one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointNames {
    /// The adapter weights.
    pub adapter: String,
    /// The optimizer state.
    pub optimizer: String,
}

/// Paths of one run folder.
#[derive(Debug, Clone)]
pub struct RunFolder {
    dir: PathBuf,
}

impl RunFolder {
    /// The layout under `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The run's `config.json`, checked: a folder without one is not a run.
    pub fn read_config(&self) -> Result<FinetuneConfig, FinetuneError> {
        let path = self.config();
        if !path.is_file() {
            return Err(FinetuneError::MissingRunConfig { path });
        }
        let config: FinetuneConfig = read_json(&path)?;
        config.validate()?;
        Ok(config)
    }

    /// Every option of the run.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// [`TrainState`].
    pub fn state(&self) -> PathBuf {
        self.dir.join("train-state.json")
    }

    /// The trained adapter, written once training has finished.
    pub fn adapter(&self) -> PathBuf {
        self.dir.join("adapter.bpk")
    }

    /// Checkpoint file names of step `step`.
    pub fn checkpoint_names(step: usize) -> CheckpointNames {
        CheckpointNames {
            adapter: format!("adapter-step{step:06}.bpk"),
            optimizer: format!("optimizer-step{step:06}.bpk"),
        }
    }

    /// A file of the folder by name.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Per-row test scores.
    pub fn scores(&self) -> PathBuf {
        self.dir.join(scores_file(Split::Test))
    }

    /// Final metrics.
    pub fn metrics(&self) -> PathBuf {
        self.dir.join(metrics_file(Split::Test))
    }

    /// Per-row scores of `split` (`scores.csv` for test, `scores-valid.csv` for valid).
    pub fn scores_of(&self, split: Split) -> PathBuf {
        self.dir.join(scores_file(split))
    }

    /// Metrics of `split` (`metrics.json` for test, `metrics-valid.json` for valid).
    pub fn metrics_of(&self, split: Split) -> PathBuf {
        self.dir.join(metrics_file(split))
    }
}

pub use crate::json_file::{read_json, write_json};

/// The score file of `split` in a run folder: the test split keeps the name `report` and
/// older runs use.
pub fn scores_file(split: Split) -> String {
    match split {
        Split::Test => "scores.csv".to_owned(),
        other => format!("scores-{other}.csv"),
    }
}

/// The metrics file of `split` in a run folder.
pub fn metrics_file(split: Split) -> String {
    match split {
        Split::Test => "metrics.json".to_owned(),
        other => format!("metrics-{other}.json"),
    }
}
