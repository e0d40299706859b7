//! The on-device runtime: a bundle, the user's local history and a backend, scoring
//! candidates privately.
//!
//! - [`recommender`]: [`Recommender`] (`open`, `score`, `rank`, `record`);
//! - [`options`]: backend, gate mode and limits;
//! - [`backend`]: the burn device, with the CPU fallback when no GPU adapter exists;
//! - [`catalog`]: raw item ids → DIN features, titles and LSMR embeddings;
//! - [`profile`]: profile values → DIN features and the prompt's profile sentence;
//! - [`user`]: one user's inputs resolved against the bundle;
//! - [`per_user`]: [`GateMode::PerUser`], one gate and a cached prompt prefix;
//! - [`prompt_ids`]: the token ids a scoring call runs, for outside peers.

pub mod backend;
pub mod catalog;
mod error;
pub mod options;
mod per_user;
pub mod profile;
pub mod prompt_ids;
pub mod recommender;
#[cfg(test)]
mod tests;
pub mod user;

pub use backend::{FallbackReason, ResolvedBackend};
pub use catalog::ItemCatalog;
pub use error::RuntimeError;
pub use options::{Backend, GateMode, RecommenderOptions};
pub use per_user::PSEUDO_TARGETS;
pub use prompt_ids::PromptIds;
pub use recommender::{Recommender, ScoredItem};
pub use user::{UserContext, UserSnapshot};
