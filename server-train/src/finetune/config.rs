//! What a fine-tuning run does: its mode, PLoRA sizes, optimizer and run control. Saved as
//! the run folder's `config.json`, which `eval` reads back.

use std::path::PathBuf;

use reclora_core::PloraConfig;
use reclora_core::prompt::{HistorySelection, PromptLayout};
use reclora_core::tokenizer::PromptTemplate;
use serde::{Deserialize, Serialize};

use super::error::FinetuneError;
use crate::schedule::LrSchedule;

/// The four settings compared on the same subset and test rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FinetuneMode {
    /// No training: the base LLM, last-K history.
    ZeroShot,
    /// A static LoRA, last-K history (TALLRec-style).
    LoraLast,
    /// A static LoRA, LSMR-retrieved K history (ReLLa-style).
    LoraRetrieved,
    /// PLoRA gated by the frozen DIN's R_c, LSMR-retrieved K history (RecLoRA).
    Reclora,
    /// RecLoRA whose logit also adds the frozen DIN's click logit with a learned weight:
    /// (logit_yes − logit_no) + w · logit_DIN, w initialised at 1 (beyond the paper).
    RecloraFused,
}

impl FinetuneMode {
    /// The name used on the command line and in `config.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ZeroShot => "zero-shot",
            Self::LoraLast => "lora-last",
            Self::LoraRetrieved => "lora-retrieved",
            Self::Reclora => "reclora",
            Self::RecloraFused => "reclora-fused",
        }
    }

    /// Whether the mode trains an adapter.
    pub fn trains(self) -> bool {
        self != Self::ZeroShot
    }

    /// Whether prompts show LSMR-retrieved history (and so need the item table).
    pub fn retrieves(self) -> bool {
        matches!(
            self,
            Self::LoraRetrieved | Self::Reclora | Self::RecloraFused
        )
    }

    /// Whether the gates need the CRM representation R_c.
    pub fn needs_crm(self) -> bool {
        matches!(self, Self::Reclora | Self::RecloraFused)
    }

    /// Whether the final logit adds the CRM's click logit.
    pub fn fuses_crm_logit(self) -> bool {
        self == Self::RecloraFused
    }

    /// Which `k` earlier interactions the prompts show.
    pub fn history(self, k: usize) -> HistorySelection {
        if self.retrieves() {
            HistorySelection::Retrieved { k }
        } else {
            HistorySelection::LastK(k)
        }
    }
}

impl std::fmt::Display for FinetuneMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the adapter is trained to predict.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum TrainLoss {
    /// Causal-LM cross-entropy over the whole vocabulary on the answer word and the end
    /// token after it (the official code's; runs from before this option used it).
    #[default]
    Lm,
    /// Two-way cross-entropy of softmax([logit_yes, logit_no]) at the answer position:
    /// exactly the P(yes) that `eval` scores (for `reclora-fused`, of the fused logit).
    YesNo,
}

impl TrainLoss {
    /// The name used on the command line and in `config.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lm => "lm",
            Self::YesNo => "yes-no",
        }
    }
}

/// What the gates read, in training and evaluation alike: the command line's face of
/// [`reclora_core::plora::GateMode`] (core has no clap), whose names it shares.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum GateMode {
    /// The paper's: R_c of each (user, candidate) sample, and the mode's history.
    #[default]
    PerSample,
    /// The on-device per-user mode's: the mean R_c over the user's last
    /// [`PSEUDO_TARGETS`](reclora_core::runtime::PSEUDO_TARGETS) interactions, each the
    /// target of the events before it (no candidate), and the last K interactions in the
    /// prompt, so one slate shares one gate and one prompt prefix.
    PerUser,
}

impl GateMode {
    /// The name used on the command line and in `config.json`.
    pub fn as_str(self) -> &'static str {
        self.runtime().as_str()
    }

    /// The on-device runtime's mode of the same name.
    pub fn runtime(self) -> reclora_core::runtime::GateMode {
        match self {
            Self::PerSample => reclora_core::runtime::GateMode::PerSample,
            Self::PerUser => reclora_core::runtime::GateMode::PerUser,
        }
    }
}

/// Start PLoRA from a trained static LoRA: its A and B copied into every meta-LoRA, plus
/// Gaussian noise of std `noise` × the RMS of each copied matrix, so that the experts
/// differ and the gates get a gradient from the first step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarmStart {
    /// A finished `lora-last` or `lora-retrieved` run folder (its `adapter.bpk`).
    pub run: PathBuf,
    /// Relative std of the noise added to each copy.
    pub noise: f64,
}

/// burn's AdamW epsilon, which runs from before `--adam-eps` used.
fn burn_adam_epsilon() -> f32 {
    1e-5
}

/// Every option of a run. Paths are stored as given (relative to the working directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneConfig {
    /// Which setting.
    pub mode: FinetuneMode,
    /// The LLM (`.gguf` or a Hugging Face folder).
    pub model: PathBuf,
    /// A folder made by `prepare`.
    pub data: PathBuf,
    /// The CRM run folder (needed by `reclora`).
    pub crm: Option<PathBuf>,
    /// The LSMR item table folder (needed by the retrieved modes).
    pub items: Option<PathBuf>,
    /// How prompts are wrapped; the answer words follow from it.
    pub template: PromptTemplate,
    /// Where the prompt names the candidate (runs before the option: ReLLa's order).
    #[serde(default)]
    pub layout: PromptLayout,
    /// K: earlier interactions shown in a prompt.
    pub history_k: usize,
    /// What the gates read (runs before the option: per sample).
    #[serde(default)]
    pub gate_mode: GateMode,
    /// Adapter sizes; `None` for zero-shot.
    pub plora: Option<PloraConfig>,
    /// Passes over the few-shot subset.
    pub epochs: usize,
    /// Peak AdamW learning rate.
    pub learning_rate: f64,
    /// Peak learning rate of the gates (and nothing else); `None`: `learning_rate`. It
    /// follows the same schedule.
    #[serde(default)]
    pub gate_learning_rate: Option<f64>,
    /// AdamW's epsilon.
    #[serde(default = "burn_adam_epsilon")]
    pub adam_epsilon: f32,
    /// The training loss.
    #[serde(default)]
    pub loss: TrainLoss,
    /// PLoRA's meta-LoRAs start as copies of a trained static LoRA.
    #[serde(default)]
    pub warm_start: Option<WarmStart>,
    /// AdamW weight decay.
    pub weight_decay: f32,
    /// Learning-rate schedule over all optimizer steps.
    pub schedule: LrSchedule,
    /// Prompts per forward/backward pass.
    pub micro_batch: usize,
    /// Micro-batches per optimizer step (effective batch = micro_batch × grad_accum).
    pub grad_accum: usize,
    /// Size of the few-shot train subset.
    pub train_size: usize,
    /// Seed of the subset, the epoch orders, the adapter init and the gate dropout.
    pub seed: u64,
    /// Checkpoint every this many optimizer steps (and at the end).
    pub checkpoint_every: usize,
    /// Long-history length of the CRM input (DIN's 60).
    pub crm_history_len: usize,
}

impl FinetuneConfig {
    /// A run of `mode` with the benchmark's defaults; adapter sizes must be set for
    /// training modes (see [`PloraOptions::adapter_for`]).
    pub fn new(mode: FinetuneMode, model: PathBuf, data: PathBuf) -> Self {
        Self {
            mode,
            model,
            data,
            crm: None,
            items: None,
            template: PromptTemplate::ChatMl,
            layout: PromptLayout::Rella,
            history_k: 10,
            gate_mode: GateMode::PerSample,
            plora: None,
            epochs: 1,
            learning_rate: 1e-3,
            gate_learning_rate: None,
            adam_epsilon: burn_adam_epsilon(),
            loss: TrainLoss::Lm,
            warm_start: None,
            weight_decay: 0.0,
            schedule: LrSchedule::Linear,
            micro_batch: 4,
            grad_accum: 4,
            train_size: 1024,
            seed: 42,
            checkpoint_every: 8,
            crm_history_len: 60,
        }
    }

    /// Which `history_k` earlier interactions the prompts show: the mode's, except that
    /// per-user gates show the last K (the prefix every candidate of a slate shares).
    pub fn history_selection(&self) -> HistorySelection {
        match self.gate_mode {
            GateMode::PerSample => self.mode.history(self.history_k),
            GateMode::PerUser => HistorySelection::LastK(self.history_k),
        }
    }

    /// Prompts per optimizer step.
    pub fn effective_batch(&self) -> usize {
        self.micro_batch * self.grad_accum
    }

    /// Checks sizes and that the mode has what it needs, before anything is loaded.
    pub fn validate(&self) -> Result<(), FinetuneError> {
        let positive = [
            ("--micro-batch", self.micro_batch),
            ("--grad-accum", self.grad_accum),
            ("--epochs", self.epochs),
            ("--train-size", self.train_size),
            ("--checkpoint-every", self.checkpoint_every),
            ("--history-k", self.history_k),
        ];
        if let Some((option, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(FinetuneError::ZeroOption { option });
        }
        let rates = [Some(self.learning_rate), self.gate_learning_rate];
        if let Some(rate) = rates
            .into_iter()
            .flatten()
            .find(|rate| !(rate.is_finite() && *rate >= 0.0))
        {
            return Err(FinetuneError::BadLearningRate(rate));
        }
        if !(self.adam_epsilon.is_finite() && self.adam_epsilon > 0.0) {
            return Err(FinetuneError::BadAdamEpsilon(self.adam_epsilon));
        }
        if self.mode.fuses_crm_logit() && self.loss != TrainLoss::YesNo {
            return Err(FinetuneError::FusedNeedsYesNoLoss { loss: self.loss });
        }
        let gated = self.plora.as_ref().is_some_and(PloraConfig::is_gated);
        if self.gate_learning_rate.is_some() && !gated {
            return Err(FinetuneError::NoGates {
                option: "--gate-lr",
                mode: self.mode,
            });
        }
        if self.gate_mode == GateMode::PerUser && !gated {
            return Err(FinetuneError::NoGates {
                option: "--gate-mode per-user",
                mode: self.mode,
            });
        }
        if let Some(warm) = &self.warm_start {
            if !gated {
                return Err(FinetuneError::NoGates {
                    option: "--warm-start",
                    mode: self.mode,
                });
            }
            if !(warm.noise.is_finite() && warm.noise >= 0.0) {
                return Err(FinetuneError::BadWarmStartNoise(warm.noise));
            }
        }
        if self.mode.needs_crm() && self.crm.is_none() {
            return Err(FinetuneError::NeedsCrm { mode: self.mode });
        }
        if self.mode.retrieves() && self.items.is_none() {
            return Err(FinetuneError::NeedsItems { mode: self.mode });
        }
        match (&self.plora, self.mode.trains()) {
            (Some(plora), true) => plora.validate()?,
            (None, false) => {}
            (_, trains) => {
                return Err(FinetuneError::AdapterConfig {
                    mode: self.mode,
                    trains,
                });
            }
        }
        Ok(())
    }
}

/// Adapter options of the command line, turned into a [`PloraConfig`] per mode.
#[derive(Debug, Clone, PartialEq)]
pub struct PloraOptions {
    /// N_m (RecLoRA only; the static baselines have one LoRA).
    pub num_meta: usize,
    /// LoRA rank r.
    pub rank: usize,
    /// Scaling numerator (deltas × alpha / r).
    pub alpha: f64,
    /// Gate softmax temperature t_p.
    pub temperature: f64,
    /// Adapted projections.
    pub targets: Vec<reclora_core::plora::ProjectionKind>,
    /// How meta-LoRAs are mixed.
    pub mixture: reclora_core::plora::MixtureForm,
    /// One gate for all layers and projections.
    pub shared_gate: bool,
    /// Dropout inside the gates while training.
    pub gate_dropout: f64,
    /// Adapt only the top this many decoder blocks (`None`: all).
    pub adapt_layers: Option<usize>,
}

impl Default for PloraOptions {
    fn default() -> Self {
        let paper = PloraConfig::default();
        Self {
            num_meta: paper.num_meta,
            rank: paper.rank,
            alpha: paper.alpha,
            temperature: paper.temperature,
            targets: paper.targets,
            mixture: paper.mixture,
            shared_gate: paper.shared_gate,
            gate_dropout: paper.gate_dropout,
            adapt_layers: paper.adapt_layers,
        }
    }
}

impl PloraOptions {
    /// The adapter `mode` trains: none for zero-shot, a static LoRA for the baselines,
    /// PLoRA over an R_c of width `crm_dim` for RecLoRA.
    pub fn adapter_for(&self, mode: FinetuneMode, crm_dim: usize) -> Option<PloraConfig> {
        match mode {
            FinetuneMode::ZeroShot => None,
            FinetuneMode::LoraLast | FinetuneMode::LoraRetrieved => Some(PloraConfig {
                adapt_layers: self.adapt_layers,
                ..PloraConfig::static_lora(self.rank, self.alpha, self.targets.clone())
            }),
            FinetuneMode::Reclora | FinetuneMode::RecloraFused => Some(PloraConfig {
                num_meta: self.num_meta,
                rank: self.rank,
                alpha: self.alpha,
                targets: self.targets.clone(),
                temperature: self.temperature,
                shared_gate: self.shared_gate,
                mixture: self.mixture,
                gate_dropout: self.gate_dropout,
                crm_dim,
                adapt_layers: self.adapt_layers,
                crm_logit_fusion: mode.fuses_crm_logit(),
                ..PloraConfig::default()
            }),
        }
    }
}

#[cfg(test)]
mod gate_mode_tests {
    use clap::ValueEnum;

    use super::GateMode;

    /// The clap names, the serde names and core's names are one set.
    #[test]
    fn command_line_names_are_cores_names() {
        for mode in GateMode::value_variants() {
            let clap_name = mode
                .to_possible_value()
                .expect("visible")
                .get_name()
                .to_owned();
            assert_eq!(clap_name, mode.as_str());
            assert_eq!(clap_name, mode.runtime().to_string());
            let json = serde_json::to_string(mode).expect("serializes");
            assert_eq!(json, format!("\"{clap_name}\""));
        }
    }
}
