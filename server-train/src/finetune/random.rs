//! The seeded generator of the fine-tuning streams: core's splitmix64 (same stream on every
//! platform, never burn's process-global RNG).

pub use reclora_core::rng::{SplitMix64, derive_seed};
