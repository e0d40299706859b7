//! Which rows every optimizer step trains on: the few-shot subset, visited in a seeded
//! order per epoch, cut into effective batches (the last one of an epoch may be short).

use super::config::FinetuneConfig;
use super::error::FinetuneError;
use super::subset::{epoch_order, few_shot_subset};

/// The whole run's schedule of rows, computable for any step (so resume needs no state).
#[derive(Debug, Clone)]
pub struct StepPlan {
    subset: Vec<usize>,
    effective_batch: usize,
    steps_per_epoch: usize,
    epochs: usize,
    seed: u64,
    cached_epoch: Option<(usize, Vec<usize>)>,
}

impl StepPlan {
    /// The plan of `config` over a train split of `train_len` rows.
    pub fn new(config: &FinetuneConfig, train_len: usize) -> Result<Self, FinetuneError> {
        if train_len == 0 {
            return Err(FinetuneError::EmptySplit { split: "train" });
        }
        let subset = few_shot_subset(train_len, config.train_size, config.seed);
        let effective_batch = config.effective_batch();
        Ok(Self {
            steps_per_epoch: subset.len().div_ceil(effective_batch),
            subset,
            effective_batch,
            epochs: config.epochs,
            seed: config.seed,
            cached_epoch: None,
        })
    }

    /// The few-shot subset, sorted.
    pub fn subset(&self) -> &[usize] {
        &self.subset
    }

    /// Optimizer steps in one epoch.
    pub fn steps_per_epoch(&self) -> usize {
        self.steps_per_epoch
    }

    /// Optimizer steps of the run.
    pub fn total_steps(&self) -> usize {
        self.steps_per_epoch * self.epochs
    }

    /// Prompts of the whole run.
    pub fn total_samples(&self) -> usize {
        self.subset.len() * self.epochs
    }

    /// Train indices of step `step` (0-based), in visiting order.
    pub fn rows(&mut self, step: usize) -> Vec<usize> {
        let epoch = step / self.steps_per_epoch;
        let within = step % self.steps_per_epoch;
        if self.cached_epoch.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.cached_epoch = Some((epoch, epoch_order(&self.subset, self.seed, epoch)));
        }
        let order = self
            .cached_epoch
            .as_ref()
            .map_or(&[][..], |(_, o)| o.as_slice());
        let start = within * self.effective_batch;
        let end = (start + self.effective_batch).min(order.len());
        order
            .get(start..end)
            .map_or_else(Vec::new, <[usize]>::to_vec)
    }
}
