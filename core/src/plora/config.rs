//! Hyper-parameters of PLoRA and of the static-LoRA baseline.

use serde::{Deserialize, Serialize};

use super::error::PloraError;
use super::gate_mode::GateMode;
use crate::llm::ProjectionKind;

/// How the N_m meta-LoRAs are mixed by the gate weights α.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MixtureForm {
    /// The paper's formula, ΔW = Σ_k α_k A_k B_kᵀ.
    #[default]
    SumOfProducts,
    /// The official code, ΔW = (Σ_k α_k A_k)(Σ_k α_k B_k)ᵀ.
    ProductOfSums,
}

/// Sizes of a PLoRA. Defaults follow the RecLoRA paper and official code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PloraConfig {
    /// Number of meta-LoRAs N_m; 1 means a static LoRA without gate (α ≡ 1).
    pub num_meta: usize,
    /// LoRA rank r of every meta-LoRA.
    pub rank: usize,
    /// Scaling numerator: deltas are multiplied by alpha / rank.
    pub alpha: f64,
    /// Adapted projections of every decoder block.
    pub targets: Vec<ProjectionKind>,
    /// Hidden width of each gate.
    pub gate_hidden: usize,
    /// Dropout inside each gate (active only while training).
    pub gate_dropout: f64,
    /// Softmax temperature t_p of the gates.
    pub temperature: f64,
    /// One gate for every layer and projection instead of one each.
    pub shared_gate: bool,
    /// How the meta-LoRAs are mixed.
    pub mixture: MixtureForm,
    /// Width d_c of the CRM representation R_c (256 for DIN).
    pub crm_dim: usize,
    /// Adapt only the top this many decoder blocks (`None`: all of them, the paper's). The
    /// backward then stops at the lowest adapted block.
    pub adapt_layers: Option<usize>,
    /// RecLoRA-fused: a learned weight w (initialised at 1) on the CRM's click logit,
    /// added to the LLM's (logit_yes − logit_no). Stored as `crm_logit_weight`.
    pub crm_logit_fusion: bool,
    /// What the gates were trained to read (runs and bundles before the field: per
    /// sample). The on-device runtime serves this mode unless told otherwise.
    pub gate_mode: GateMode,
}

impl Default for PloraConfig {
    fn default() -> Self {
        Self {
            num_meta: 16,
            rank: 8,
            alpha: 16.0,
            targets: vec![ProjectionKind::Q, ProjectionKind::V],
            gate_hidden: 60,
            gate_dropout: 0.1,
            temperature: 5.0,
            shared_gate: false,
            mixture: MixtureForm::SumOfProducts,
            crm_dim: 256,
            adapt_layers: None,
            crm_logit_fusion: false,
            gate_mode: GateMode::PerSample,
        }
    }
}

impl PloraConfig {
    /// A plain LoRA for baselines: one meta-LoRA, no gate, α ≡ 1.
    pub fn static_lora(rank: usize, alpha: f64, targets: Vec<ProjectionKind>) -> Self {
        Self {
            num_meta: 1,
            rank,
            alpha,
            targets,
            ..Self::default()
        }
    }

    /// Whether the PLoRA has gates (N_m > 1); with one meta-LoRA the softmax is 1.
    pub fn is_gated(&self) -> bool {
        self.num_meta > 1
    }

    /// The first adapted block of a model with `num_layers` blocks.
    pub fn first_adapted_layer(&self, num_layers: usize) -> usize {
        self.adapt_layers
            .map_or(0, |top| num_layers.saturating_sub(top))
    }

    /// The factor applied to every delta, alpha / r.
    pub fn scaling(&self) -> f64 {
        self.alpha / self.rank as f64
    }

    /// Checks the sizes, so a bad config fails here and not mid-forward.
    pub fn validate(&self) -> Result<(), PloraError> {
        if self.rank == 0 {
            return Err(PloraError::ZeroRank);
        }
        if self.num_meta == 0 {
            return Err(PloraError::ZeroMeta);
        }
        if !self.alpha.is_finite() {
            return Err(PloraError::BadAlpha(self.alpha));
        }
        if self.targets.is_empty() {
            return Err(PloraError::NoTargets);
        }
        if self.adapt_layers == Some(0) {
            return Err(PloraError::NoAdaptedLayers);
        }
        for (i, kind) in self.targets.iter().enumerate() {
            if self.targets[..i].contains(kind) {
                return Err(PloraError::DuplicateTarget(*kind));
            }
        }
        if !self.is_gated() {
            return Ok(());
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(PloraError::BadTemperature(self.temperature));
        }
        if !(0.0..1.0).contains(&self.gate_dropout) {
            return Err(PloraError::BadDropout(self.gate_dropout));
        }
        if self.gate_hidden == 0 || self.crm_dim == 0 {
            return Err(PloraError::ZeroGateSize {
                gate_hidden: self.gate_hidden,
                crm_dim: self.crm_dim,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_paper() {
        let config = PloraConfig::default();
        assert_eq!(
            (config.num_meta, config.rank, config.gate_hidden),
            (16, 8, 60)
        );
        assert_eq!(config.scaling(), 2.0);
        assert_eq!(config.targets, vec![ProjectionKind::Q, ProjectionKind::V]);
        assert!(config.is_gated());
        config.validate().expect("defaults are valid");
        let baseline = PloraConfig::static_lora(4, 8.0, vec![ProjectionKind::O]);
        assert!(!baseline.is_gated());
        baseline.validate().expect("valid");
    }

    #[test]
    fn serde_uses_short_names_and_fills_defaults() {
        let json = r#"{"targets":["q","k","down"],"mixture":"product_of_sums","rank":4}"#;
        let config: PloraConfig = serde_json::from_str(json).expect("parses");
        assert_eq!(
            config.targets,
            vec![ProjectionKind::Q, ProjectionKind::K, ProjectionKind::Down]
        );
        assert_eq!(config.mixture, MixtureForm::ProductOfSums);
        assert_eq!(config.rank, 4);
        assert_eq!(config.num_meta, 16);
        let back: PloraConfig =
            serde_json::from_str(&serde_json::to_string(&config).expect("writes")).expect("reads");
        assert_eq!(back, config);
    }

    #[test]
    fn validation_errors_are_typed() {
        let base = PloraConfig::default();
        let check = |edit: fn(&mut PloraConfig)| {
            let mut config = base.clone();
            edit(&mut config);
            config.validate().expect_err("invalid")
        };
        assert!(matches!(check(|c| c.rank = 0), PloraError::ZeroRank));
        assert!(matches!(check(|c| c.num_meta = 0), PloraError::ZeroMeta));
        assert!(matches!(
            check(|c| c.temperature = 0.0),
            PloraError::BadTemperature(t) if t == 0.0
        ));
        assert!(matches!(
            check(|c| c.temperature = f64::NAN),
            PloraError::BadTemperature(_)
        ));
        assert!(matches!(
            check(|c| c.targets.clear()),
            PloraError::NoTargets
        ));
        assert!(matches!(
            check(|c| c.targets = vec![ProjectionKind::V, ProjectionKind::Up, ProjectionKind::V]),
            PloraError::DuplicateTarget(ProjectionKind::V)
        ));
        assert!(matches!(
            check(|c| c.gate_dropout = 1.0),
            PloraError::BadDropout(_)
        ));
        assert!(matches!(
            check(|c| c.crm_dim = 0),
            PloraError::ZeroGateSize { crm_dim: 0, .. }
        ));
        assert!(matches!(
            check(|c| c.alpha = f64::INFINITY),
            PloraError::BadAlpha(_)
        ));
        assert!(matches!(
            check(|c| c.adapt_layers = Some(0)),
            PloraError::NoAdaptedLayers
        ));
        // A static LoRA has no gate, so gate sizes do not matter.
        let mut baseline = PloraConfig::static_lora(2, 2.0, vec![ProjectionKind::Q]);
        baseline.temperature = 0.0;
        baseline.crm_dim = 0;
        baseline.validate().expect("gate fields are unused");
    }
}
