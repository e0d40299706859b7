//! PLoRA (personalized low-rank adaptation): per adapted projection, N_m meta-LoRAs
//! mixed per sample by gate weights α = softmax(FFN(R_c) / t_p) from the CRM's hidden
//! vector. A static LoRA (N_m = 1, no gate) is the baseline.
//!
//! Usage: `let gates = plora.gates(&r_c)?;` once per batch, then
//! `model.forward_hidden(tokens, &mask, None, Some(&LoraContext::new(&plora, gates)?))`.

mod bank;
mod config;
mod context;
mod error;
mod gate;
mod gate_mode;
mod gate_weights;
mod model;
#[cfg(test)]
pub(crate) mod tests;

pub use crate::llm::ProjectionKind;
pub use bank::MetaLoraBank;
pub use config::{MixtureForm, PloraConfig};
pub use context::LoraContext;
pub use error::PloraError;
pub use gate::Gate;
pub use gate_mode::GateMode;
pub use gate_weights::GateWeights;
pub use model::{AdaptedProjection, Plora, PloraLayer};
