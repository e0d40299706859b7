//! PLoRA plugged into the LLM forward: the module by reference plus this batch's α.

use burn::tensor::Tensor;

use super::error::PloraError;
use super::gate_weights::GateWeights;
use super::model::Plora;
use crate::llm::{LlamaConfig, LlmError, ProjectionAdapter, ProjectionKind};

/// A PLoRA and the gate weights of one batch, passed to
/// [`crate::llm::LlamaModel::forward_hidden`] as its adapter. No weight is copied.
#[derive(Debug, Clone)]
pub struct LoraContext<'a> {
    plora: &'a Plora,
    gates: GateWeights,
}

impl<'a> LoraContext<'a> {
    /// Pairs `plora` with gate weights computed by [`Plora::gates`] (or built by hand).
    pub fn new(plora: &'a Plora, gates: GateWeights) -> Result<Self, PloraError> {
        let slots_match = gates.num_slots() == plora.num_slots()
            && gates.targets_per_layer() == plora.config.targets.len()
            && gates.first_layer() == plora.first_adapted_layer();
        if !slots_match {
            return Err(PloraError::GateSlots {
                expected: plora.num_slots(),
                found: gates.num_slots(),
            });
        }
        Ok(Self { plora, gates })
    }

    /// Gates computed from the CRM representation.
    ///
    /// # Shapes
    /// - `r_c`: `[batch, d_c]`
    pub fn from_representation(plora: &'a Plora, r_c: &Tensor<2>) -> Result<Self, PloraError> {
        Self::new(plora, plora.gates(r_c)?)
    }

    /// The gate weights of this batch.
    pub fn gates(&self) -> &GateWeights {
        &self.gates
    }

    /// The PLoRA.
    pub fn plora(&self) -> &Plora {
        self.plora
    }
}

impl ProjectionAdapter for LoraContext<'_> {
    fn delta(&self, layer: usize, kind: ProjectionKind, x: Tensor<3>) -> Option<Tensor<3>> {
        let target = self.plora.target_index(kind)?;
        let projection = self.plora.layers.get(layer)?.projections.get(target)?;
        let alpha = self.gates.get(layer, target)?.clone();
        let config = &self.plora.config;
        Some(
            projection
                .bank
                .delta(x, alpha, config.mixture, config.scaling()),
        )
    }

    fn check_fits(&self, config: &LlamaConfig, batch: usize) -> Result<(), LlmError> {
        let mismatch = |reason: String| Err(LlmError::AdapterMismatch { reason });
        if self.plora.layers.len() != config.num_layers {
            return mismatch(format!(
                "PLoRA has {} layers, the model {}",
                self.plora.layers.len(),
                config.num_layers
            ));
        }
        for (layer, adapted) in self.plora.layers.iter().enumerate() {
            for (projection, &kind) in adapted.projections.iter().zip(&self.plora.config.targets) {
                let bank = &projection.bank;
                if (bank.d_in, bank.d_out) != kind.dims(config) {
                    return mismatch(format!(
                        "layer {layer} `{kind}` is {}→{}, the model's is {:?}",
                        bank.d_in,
                        bank.d_out,
                        kind.dims(config)
                    ));
                }
            }
        }
        for alpha in self.gates.as_slice() {
            let [rows, num_meta] = alpha.dims();
            if !(rows == batch || rows == 1) || num_meta != self.plora.config.num_meta {
                return mismatch(format!(
                    "gate weights are {rows}×{num_meta}, expected {batch}×{} (or 1×{})",
                    self.plora.config.num_meta, self.plora.config.num_meta
                ));
            }
        }
        Ok(())
    }
}
