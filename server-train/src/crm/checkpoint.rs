//! Per-epoch checkpoints so an interrupted run resumes where it stopped.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a run needs besides the weights to continue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    /// Epochs finished.
    pub epochs_done: usize,
    /// Best valid AUC so far, and the epoch that reached it.
    pub best_valid_auc: f64,
    /// 1-based epoch of the best model.
    pub best_epoch: usize,
    /// Wall time spent training so far.
    pub train_seconds: f64,
    /// Training loss of each finished epoch.
    pub epoch_losses: Vec<f64>,
}

/// Files of one run folder.
#[derive(Debug, Clone)]
pub struct RunFiles {
    dir: PathBuf,
}

impl RunFiles {
    /// The layout under `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// Weights at the end of the last finished epoch.
    pub fn last_model(&self) -> PathBuf {
        self.dir.join("checkpoint-last.bpk")
    }

    /// Optimizer state at the end of the last finished epoch.
    pub fn last_optimizer(&self) -> PathBuf {
        self.dir.join("checkpoint-last-optim.bpk")
    }

    /// Weights with the best valid AUC.
    pub fn best_model(&self) -> PathBuf {
        self.dir.join("model-best.bpk")
    }

    /// [`TrainState`] as JSON.
    pub fn state(&self) -> PathBuf {
        self.dir.join("train-state.json")
    }

    /// The run's config as JSON.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// Final metrics.
    pub fn metrics(&self) -> PathBuf {
        self.dir.join("metrics.json")
    }

    /// Per-row test scores (`row,label,p_yes`) for `report`.
    pub fn scores(&self) -> PathBuf {
        self.dir.join("scores.csv")
    }
}
