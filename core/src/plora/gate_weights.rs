//! Per-sample gate weights α of every (layer, projection), computed once per batch.

use burn::tensor::Tensor;

/// α of every adapted (layer, projection), layer-major in `PloraConfig::targets` order,
/// from the first adapted layer up.
#[derive(Debug, Clone)]
pub struct GateWeights {
    per_slot: Vec<Tensor<2>>,
    targets_per_layer: usize,
    first_layer: usize,
}

impl GateWeights {
    /// Wraps one α per slot, layer-major from block `first_layer`: slot
    /// `(layer − first_layer) · targets_per_layer + target`.
    ///
    /// # Shapes
    /// - every α: `[batch, N_m]`
    pub fn new(per_slot: Vec<Tensor<2>>, targets_per_layer: usize, first_layer: usize) -> Self {
        Self {
            per_slot,
            targets_per_layer,
            first_layer,
        }
    }

    /// α of target `target` (its index in `targets`) of block `layer`; `None` below the
    /// first adapted block.
    ///
    /// # Shapes
    /// - returns `[batch, N_m]`
    pub fn get(&self, layer: usize, target: usize) -> Option<&Tensor<2>> {
        if target >= self.targets_per_layer || layer < self.first_layer {
            return None;
        }
        self.per_slot
            .get((layer - self.first_layer) * self.targets_per_layer + target)
    }

    /// Number of (layer, projection) slots.
    pub fn num_slots(&self) -> usize {
        self.per_slot.len()
    }

    /// The first adapted block.
    pub fn first_layer(&self) -> usize {
        self.first_layer
    }

    /// Adapted projections per layer.
    pub fn targets_per_layer(&self) -> usize {
        self.targets_per_layer
    }

    /// Every α, layer-major.
    pub fn as_slice(&self) -> &[Tensor<2>] {
        &self.per_slot
    }
}
