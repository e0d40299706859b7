//! The hook through which per-sample adapters (PLoRA, static LoRA) correct the decoder's
//! projections without copying its weights.

use std::fmt;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::config::LlamaConfig;
use super::error::LlmError;
use super::host::ProjectionInput;
use super::projection::Projection;

/// One of the seven dense projections of a decoder block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProjectionKind {
    /// Attention query, d → q_dim.
    Q,
    /// Attention key, d → kv_dim.
    K,
    /// Attention value, d → kv_dim.
    V,
    /// Attention output, q_dim → d.
    O,
    /// MLP gate, d → intermediate.
    Gate,
    /// MLP up, d → intermediate.
    Up,
    /// MLP down, intermediate → d.
    Down,
}

impl ProjectionKind {
    /// Every projection, in block order.
    pub const ALL: [Self; 7] = [
        Self::Q,
        Self::K,
        Self::V,
        Self::O,
        Self::Gate,
        Self::Up,
        Self::Down,
    ];

    /// `(d_in, d_out)` of this projection in a model of `config`'s sizes.
    pub fn dims(self, config: &LlamaConfig) -> (usize, usize) {
        let d = config.hidden_size;
        let ff = config.intermediate_size;
        match self {
            Self::Q => (d, config.q_dim()),
            Self::K | Self::V => (d, config.kv_dim()),
            Self::O => (config.q_dim(), d),
            Self::Gate | Self::Up => (d, ff),
            Self::Down => (ff, d),
        }
    }

    /// The short name used in configs ("q", "gate", ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Q => "q",
            Self::K => "k",
            Self::V => "v",
            Self::O => "o",
            Self::Gate => "gate",
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

impl fmt::Display for ProjectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Adds a per-sample correction to some projections of the decoder.
///
/// The base weights stay shared and untouched; the adapter only sees each projection's
/// input and returns what to add to its output.
pub trait ProjectionAdapter {
    /// The correction for projection `kind` of block `layer`, or `None` when that
    /// projection is not adapted.
    ///
    /// # Shapes
    /// - `x`: `[batch, seq, d_in]`, the projection's input
    /// - returns `[batch, seq, d_out]`
    fn delta(&self, layer: usize, kind: ProjectionKind, x: Tensor<3>) -> Option<Tensor<3>>;

    /// Checks that the adapter fits a model of `config`'s sizes and a batch of `batch`
    /// rows. Forward passes do not check (they return tensors, not results), so entry
    /// points that take an adapter from the outside call this first.
    fn check_fits(&self, config: &LlamaConfig, batch: usize) -> Result<(), LlmError>;
}

/// `projection(x)` (dense or quantized), plus the adapter's correction when there is one.
/// `input` may be shared with other projections (its Q8 blocks are computed once).
///
/// # Shapes
/// - `input`: `[batch, seq, d_in]`; returns `[batch, seq, d_out]`
pub(crate) fn adapted_projection(
    projection: &Projection,
    input: &ProjectionInput<3>,
    adapter: Option<&dyn ProjectionAdapter>,
    layer: usize,
    kind: ProjectionKind,
) -> Tensor<3> {
    let base = projection.forward_input(input);
    let Some(adapter) = adapter else {
        // Exactly the pre-adapter code path, so unadapted outputs stay bit-identical.
        return base;
    };
    match adapter.delta(layer, kind, input.tensor().clone()) {
        Some(delta) => base + delta,
        None => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_names_round_trip_through_serde() {
        for kind in ProjectionKind::ALL {
            let json = serde_json::to_string(&kind).expect("serializes");
            assert_eq!(json, format!("\"{}\"", kind.name()));
            let back: ProjectionKind = serde_json::from_str(&json).expect("parses");
            assert_eq!(back, kind);
        }
        assert!(serde_json::from_str::<ProjectionKind>("\"qkv\"").is_err());
    }

    #[test]
    fn projection_dims_follow_the_config() {
        let c = LlamaConfig::tiny_for_tests(); // d 32, 4×8 q, 2×8 kv, ff 48
        assert_eq!(ProjectionKind::Q.dims(&c), (32, 32));
        assert_eq!(ProjectionKind::K.dims(&c), (32, 16));
        assert_eq!(ProjectionKind::V.dims(&c), (32, 16));
        assert_eq!(ProjectionKind::O.dims(&c), (32, 32));
        assert_eq!(ProjectionKind::Gate.dims(&c), (32, 48));
        assert_eq!(ProjectionKind::Up.dims(&c), (32, 48));
        assert_eq!(ProjectionKind::Down.dims(&c), (48, 32));
    }
}
