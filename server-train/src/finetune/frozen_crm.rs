//! The frozen CRM: DIN from a `reclora-train crm` run folder, run on the plain device (no
//! dropout, no graph) to give R_c, which reaches the training device as a constant.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use reclora_core::crm::{Din, DinConfig};

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
}
