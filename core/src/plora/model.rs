//! The PLoRA module: a meta-LoRA bank (and gate) for every adapted projection of every
//! decoder block.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::bank::MetaLoraBank;
use super::config::PloraConfig;
use super::error::PloraError;
use super::gate::Gate;
use super::gate_weights::GateWeights;
use crate::llm::{LlamaConfig, ProjectionKind};
use crate::rng::{SplitMix64, derive_seed};

/// Tag of the init stream; the value fine-tuning runs have used since their first version,
/// so their adapters start from the same weights as before.
const PLORA_INIT_TAG: u64 = 2;

/// One adapted projection: its meta-LoRAs and, unless shared or static, its gate.
#[derive(Module, Debug)]
pub struct AdaptedProjection {
    /// The N_m meta-LoRA pairs.
    pub bank: MetaLoraBank,
    /// This projection's gate; `None` when the gate is shared or N_m = 1.
    pub gate: Option<Gate>,
}

/// The adapted projections of one decoder block, in `PloraConfig::targets` order.
#[derive(Module, Debug)]
pub struct PloraLayer {
    /// One entry per target projection.
    pub projections: Vec<AdaptedProjection>,
}

/// Personalized LoRA for every decoder block of a Llama-family LLM.
#[derive(Module, Debug)]
pub struct Plora {
    /// One entry per decoder block.
    pub layers: Vec<PloraLayer>,
    /// The gate of every (layer, projection) when `shared_gate` is set.
    pub shared_gate: Option<Gate>,
    /// The sizes it was built with.
    #[module(skip)]
    pub config: PloraConfig,
}

impl PloraConfig {
    /// A fresh PLoRA drawn from seed 0 (see [`Self::init_seeded`]).
    pub fn init(&self, llm: &LlamaConfig, device: &Device) -> Result<Plora, PloraError> {
        self.init_seeded(llm, 0, device)
    }

    /// A fresh PLoRA for a model of `llm`'s sizes whose weights depend on `seed` alone:
    /// A kaiming-uniform, B = 0 (so it starts as the base model), gates with burn's default
    /// laws. One host stream, in order: per layer and target the bank's A then its gate,
    /// then the shared gate.
    pub fn init_seeded(
        &self,
        llm: &LlamaConfig,
        seed: u64,
        device: &Device,
    ) -> Result<Plora, PloraError> {
        self.validate()?;
        llm.validate()?;
        let mut stream = SplitMix64::new(derive_seed(seed, PLORA_INIT_TAG));
        let gate = |stream: &mut SplitMix64| {
            Gate::init(
                self.crm_dim,
                self.gate_hidden,
                self.num_meta,
                self.gate_dropout,
                self.temperature,
                stream,
                device,
            )
        };
        let per_projection_gate = self.is_gated() && !self.shared_gate;
        let first = self.first_adapted_layer(llm.num_layers);
        let mut layers = Vec::with_capacity(llm.num_layers);
        for layer in 0..llm.num_layers {
            // Blocks below the adapted top keep an empty layer, so indices stay the model's.
            if layer < first {
                layers.push(PloraLayer {
                    projections: Vec::new(),
                });
                continue;
            }
            let mut projections = Vec::with_capacity(self.targets.len());
            for kind in &self.targets {
                let (d_in, d_out) = kind.dims(llm);
                let bank =
                    MetaLoraBank::init(d_in, d_out, self.num_meta, self.rank, &mut stream, device);
                let gate = match per_projection_gate {
                    true => Some(gate(&mut stream)?),
                    false => None,
                };
                projections.push(AdaptedProjection { bank, gate });
            }
            layers.push(PloraLayer { projections });
        }
        let shared_gate = match self.is_gated() && self.shared_gate {
            true => Some(gate(&mut stream)?),
            false => None,
        };
        Ok(Plora {
            layers,
            shared_gate,
            config: self.clone(),
        })
    }

    /// A PLoRA for `llm` with the weights saved at `path` by [`Plora::save`].
    pub fn load(
        &self,
        llm: &LlamaConfig,
        path: &Path,
        device: &Device,
    ) -> Result<Plora, PloraError> {
        self.init(llm, device)?
            .try_load_file(path)
            .map_err(|source| PloraError::Checkpoint {
                path: path.to_path_buf(),
                source,
            })
    }
}

impl Plora {
    /// Where `kind` sits in every layer's `projections`, if adapted.
    pub fn target_index(&self, kind: ProjectionKind) -> Option<usize> {
        self.config.targets.iter().position(|&t| t == kind)
    }

    /// The adapted projection `kind` of block `layer`, if any.
    pub fn projection(&self, layer: usize, kind: ProjectionKind) -> Option<&AdaptedProjection> {
        self.layers
            .get(layer)?
            .projections
            .get(self.target_index(kind)?)
    }

    /// The first adapted decoder block (blocks below it have no meta-LoRAs).
    pub fn first_adapted_layer(&self) -> usize {
        self.config.first_adapted_layer(self.layers.len())
    }

    /// Number of adapted (layer, projection) slots.
    pub fn num_slots(&self) -> usize {
        (self.layers.len() - self.first_adapted_layer()) * self.config.targets.len()
    }

    /// The gate weights α of every (layer, projection), computed once per batch.
    ///
    /// For a static LoRA (N_m = 1) α ≡ 1 and `r_c` only gives the batch size.
    ///
    /// # Shapes
    /// - `r_c`: `[batch, d_c]`
    /// - every α is `[batch, N_m]`
    pub fn gates(&self, r_c: &Tensor<2>) -> Result<GateWeights, PloraError> {
        let [batch, width] = r_c.dims();
        if !self.config.is_gated() {
            return Ok(self.constant_gates(batch, &r_c.device()));
        }
        if width != self.config.crm_dim {
            return Err(PloraError::RepresentationWidth {
                expected: self.config.crm_dim,
                found: width,
            });
        }
        let per_slot = match &self.shared_gate {
            Some(gate) => vec![gate.forward(r_c.clone()); self.num_slots()],
            None => {
                let mut per_slot = Vec::with_capacity(self.num_slots());
                for (layer, adapted) in self.layers.iter().enumerate() {
                    for (projection, &kind) in adapted.projections.iter().zip(&self.config.targets)
                    {
                        let gate = projection
                            .gate
                            .as_ref()
                            .ok_or(PloraError::MissingGate { layer, kind })?;
                        per_slot.push(gate.forward(r_c.clone()));
                    }
                }
                per_slot
            }
        };
        Ok(GateWeights::new(
            per_slot,
            self.config.targets.len(),
            self.first_adapted_layer(),
        ))
    }

    /// α ≡ 1 for a static LoRA (N_m = 1), which has no gate.
    ///
    /// # Shapes
    /// - every α is `[batch, 1]`
    pub fn static_gates(&self, batch: usize, device: &Device) -> Result<GateWeights, PloraError> {
        if self.config.is_gated() {
            return Err(PloraError::GatesNeedRepresentation {
                num_meta: self.config.num_meta,
            });
        }
        Ok(self.constant_gates(batch, device))
    }

    fn constant_gates(&self, batch: usize, device: &Device) -> GateWeights {
        let ones = uniform(batch, self.config.num_meta, device);
        GateWeights::new(
            vec![ones; self.num_slots()],
            self.config.targets.len(),
            self.first_adapted_layer(),
        )
    }

    /// Saves the weights as a burnpack file (the config is serde, saved by the caller).
    pub fn save(self, path: &Path) -> Result<(), PloraError> {
        self.save_file(path)
            .map_err(|source| PloraError::Checkpoint {
                path: path.to_path_buf(),
                source,
            })
    }
}

/// 1/N_m everywhere (1 for a static LoRA).
fn uniform(batch: usize, num_meta: usize, device: &Device) -> Tensor<2> {
    Tensor::ones([batch, num_meta], device).div_scalar(num_meta as f64)
}
