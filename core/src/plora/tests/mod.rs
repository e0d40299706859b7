//! PLoRA against independent references: dense per-sample loops, a scalar gate, merged
//! weights, finite differences.

mod gate;
pub(crate) mod helpers;
pub(crate) mod llm_hook;
mod mixture;
mod model;
mod training;
