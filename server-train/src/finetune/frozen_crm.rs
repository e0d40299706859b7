//! The frozen CRM: DIN from a `reclora-train crm` run folder, run on the plain device (no
//! dropout, no graph) to give R_c, which reaches the training device as a constant.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use reclora_core::crm::{Din, DinConfig};

use reclora_core::runtime::PSEUDO_TARGETS;

use super::config::GateMode;
use super::error::FinetuneError;
use super::files::read_json;
use crate::crm::to_din_input;
use crate::data::{PreparedDataset, Split};

/// Weights kept by the CRM run (best on valid).
pub const CRM_WEIGHTS: &str = "model-best.bpk";
/// `(CrmTrainConfig, DinConfig)` of the CRM run.
pub const CRM_CONFIG: &str = "config.json";

/// DIN in evaluation mode, with the long-history length it was trained with.
#[derive(Debug)]
pub struct FrozenCrm {
    din: Din,
    config: DinConfig,
    history_len: usize,
    device: Device,
}

impl FrozenCrm {
    /// Loads `<dir>/model-best.bpk` sized by `<dir>/config.json` onto `device` (a plain,
    /// non-autodiff device).
    pub fn load(dir: &Path, device: &Device) -> Result<Self, FinetuneError> {
        let weights = dir.join(CRM_WEIGHTS);
        let config_path = dir.join(CRM_CONFIG);
        for path in [&weights, &config_path] {
            if !path.is_file() {
                return Err(FinetuneError::MissingCrmCheckpoint { path: path.clone() });
            }
        }
        // Only the DIN sizes and the history length are needed; the training options are
        // read loosely so fields added to them later do not break old runs.
        let (train, config): (serde_json::Value, DinConfig) = read_json(&config_path)?;
        let history_len = train
            .get("history_len")
            .and_then(serde_json::Value::as_u64)
            .map_or(60, |len| len as usize);
        let din = config
            .init(device)
            .try_load_file(&weights)
            .map_err(FinetuneError::checkpoint(&weights))?
            .valid();
        Ok(Self::from_parts(din, config, history_len, device))
    }

    /// Wraps an already built DIN (tests).
    pub fn from_parts(din: Din, config: DinConfig, history_len: usize, device: &Device) -> Self {
        Self {
            din,
            config,
            history_len,
            device: device.clone(),
        }
    }

    /// DIN's sizes.
    pub fn config(&self) -> &DinConfig {
        &self.config
    }

    /// The DIN.
    pub fn din(&self) -> &Din {
        &self.din
    }

    /// Width of R_c.
    pub fn representation_dim(&self) -> usize {
        self.config.representation_dim()
    }

    /// Long-history length of DIN's input.
    pub fn history_len(&self) -> usize {
        self.history_len
    }

    /// R_c of samples `indices` of `split`, computed on the CRM's device and copied to
    /// `target` as a constant (no gradient reaches the CRM).
    ///
    /// # Shapes
    /// - returns `[indices.len(), representation_dim]`
    pub fn representations(
        &self,
        data: &PreparedDataset,
        split: Split,
        indices: &[usize],
        target: &Device,
    ) -> Result<Tensor<2>, FinetuneError> {
        let batch = data.din_batch(split, indices, self.history_len)?;
        let r_c = self
            .din
            .forward_representation(&to_din_input(&batch, &self.device));
        let host = r_c.try_into_data().map_err(|_| FinetuneError::Readback)?;
        Ok(Tensor::from_data(host, target))
    }

    /// [`Self::representations`] and DIN's click logits of the same samples (one forward),
    /// both copied to `target` as constants.
    ///
    /// # Shapes
    /// - returns `([indices.len(), representation_dim], [indices.len()])`
    pub fn representations_and_logits(
        &self,
        data: &PreparedDataset,
        split: Split,
        indices: &[usize],
        target: &Device,
    ) -> Result<(Tensor<2>, Tensor<1>), FinetuneError> {
        let batch = data.din_batch(split, indices, self.history_len)?;
        let (r_c, logit) = self
            .din
            .forward_representation_and_logit(&to_din_input(&batch, &self.device));
        let r_c = r_c.try_into_data().map_err(|_| FinetuneError::Readback)?;
        let logit = logit.try_into_data().map_err(|_| FinetuneError::Readback)?;
        Ok((
            Tensor::from_data(r_c, target),
            Tensor::from_data(logit, target),
        ))
    }

    /// The gates' input of samples `indices` of `split` as `gate_mode` reads it, and,
    /// with `with_logits`, DIN's click logit of each sample itself (target-aware whatever
    /// the gate mode), all copied to `target` as constants.
    ///
    /// # Shapes
    /// - returns `([indices.len(), representation_dim], [indices.len()])`
    pub fn gate_inputs(
        &self,
        data: &PreparedDataset,
        split: Split,
        indices: &[usize],
        gate_mode: GateMode,
        with_logits: bool,
        target: &Device,
    ) -> Result<(Tensor<2>, Option<Tensor<1>>), FinetuneError> {
        match (gate_mode, with_logits) {
            (GateMode::PerSample, false) => {
                Ok((self.representations(data, split, indices, target)?, None))
            }
            (GateMode::PerSample, true) => {
                let (r_c, logits) =
                    self.representations_and_logits(data, split, indices, target)?;
                Ok((r_c, Some(logits)))
            }
            (GateMode::PerUser, _) => {
                let r_user = self.user_representations(data, split, indices, target)?;
                let logits = if with_logits {
                    Some(
                        self.representations_and_logits(data, split, indices, target)?
                            .1,
                    )
                } else {
                    None
                };
                Ok((r_user, logits))
            }
        }
    }

    /// The per-user gate input of samples `indices` of `split`: for each, the mean R_c of
    /// its user's last [`PSEUDO_TARGETS`] interactions before it, each taken as the target
    /// of the events before it (no candidate); a sample without past uses its own R_c.
    /// The on-device `GateMode::PerUser` computes the same from the phone's history.
    ///
    /// # Shapes
    /// - returns `[indices.len(), representation_dim]`
    pub fn user_representations(
        &self,
        data: &PreparedDataset,
        split: Split,
        indices: &[usize],
        target: &Device,
    ) -> Result<Tensor<2>, FinetuneError> {
        let (batch, counts) =
            data.pseudo_target_batch(split, indices, self.history_len, PSEUDO_TARGETS)?;
        let r_c = self
            .din
            .forward_representation(&to_din_input(&batch, &self.device));
        let dim = self.representation_dim();
        let values = r_c
            .try_into_data()
            .map_err(|_| FinetuneError::Readback)?
            .try_into_vec::<f32>()
            .map_err(|_| FinetuneError::Readback)?;
        let mut means = Vec::with_capacity(indices.len() * dim);
        let mut rows = values.chunks_exact(dim);
        for &count in &counts {
            let mut sum = vec![0.0f32; dim];
            for row in rows.by_ref().take(count) {
                sum.iter_mut().zip(row).for_each(|(s, v)| *s += v);
            }
            means.extend(sum.into_iter().map(|s| s / count as f32));
        }
        Ok(Tensor::from_data(
            burn::tensor::TensorData::new(means, [indices.len(), dim]),
            target,
        ))
    }
}
