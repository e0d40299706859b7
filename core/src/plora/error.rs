//! Errors of PLoRA: bad configs, inputs that do not fit, checkpoint files.

use std::path::PathBuf;

use crate::llm::{LlmError, ProjectionKind};

/// Everything that can go wrong while building, running or saving PLoRA.
#[derive(Debug, thiserror::Error)]
pub enum PloraError {
    /// The LoRA rank r is zero.
    #[error("PLoRA rank must be positive")]
    ZeroRank,
    /// The number of meta-LoRAs N_m is zero.
    #[error("PLoRA num_meta must be positive")]
    ZeroMeta,
    /// The gate temperature t_p is not a positive finite number.
    #[error("gate temperature must be positive and finite, got {0}")]
    BadTemperature(f64),
    /// The LoRA scaling numerator is not finite.
    #[error("LoRA alpha must be finite, got {0}")]
    BadAlpha(f64),
    /// The gate dropout is outside [0, 1).
    #[error("gate dropout must be in [0, 1), got {0}")]
    BadDropout(f64),
    /// A gated PLoRA (N_m > 1) needs a positive gate width and R_c width.
    #[error("gate_hidden ({gate_hidden}) and crm_dim ({crm_dim}) must be positive")]
    ZeroGateSize {
        /// Hidden width of the gate.
        gate_hidden: usize,
        /// Width of R_c.
        crm_dim: usize,
    },
    /// No projection is adapted.
    #[error("PLoRA needs at least one target projection")]
    NoTargets,
    /// `adapt_layers` is zero: no decoder block would be adapted.
    #[error("adapt_layers must be at least 1 (or unset for every layer)")]
    NoAdaptedLayers,
    /// A projection appears twice in `targets`.
    #[error("projection `{0}` is targeted twice")]
    DuplicateTarget(ProjectionKind),
    /// R_c does not have the width the gates were built for.
    #[error("R_c has width {found}, the gates expect {expected}")]
    RepresentationWidth {
        /// `crm_dim` of the config.
        expected: usize,
        /// Width of the tensor given.
        found: usize,
    },
    /// Gate weights were requested without R_c for a gated PLoRA.
    #[error("a PLoRA with {num_meta} meta-LoRAs needs R_c to compute its gates")]
    GatesNeedRepresentation {
        /// N_m of the config.
        num_meta: usize,
    },
    /// A gated PLoRA lacks the gate of one projection (a hand-assembled module).
    #[error("layer {layer}, projection `{kind}` has no gate")]
    MissingGate {
        /// Decoder block.
        layer: usize,
        /// Projection.
        kind: ProjectionKind,
    },
    /// The gate weights were computed for a different PLoRA.
    #[error("gate weights have {found} (layer, projection) slots, the PLoRA has {expected}")]
    GateSlots {
        /// Slots of the PLoRA.
        expected: usize,
        /// Slots of the gate weights.
        found: usize,
    },
    /// The LLM config is invalid.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// Saving or loading the weights failed.
    #[error("PLoRA checkpoint {path}: {source}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// burn's description.
        source: burn::store::RecordError,
    },
}
