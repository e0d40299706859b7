//! LSMR, the Long-Short Modality Retriever: semantic item embeddings from the frozen LLM and
//! the retrieval of the earlier interactions most similar to a target.
//!
//! - [`item_prompt`]: each item's ChatML-wrapped description and the pooled token span;
//! - [`pooling`]: last hidden state after the final RMSNorm, mean-pooled over that span;
//! - [`pca`]: centering and the top principal components (nalgebra `SymmetricEigen`);
//! - [`table`]: the stored table (`items.safetensors`, `items.json`), written atomically;
//! - [`embed`]: the `embed-items` job tying these together, and nearest-neighbour checks;
//! - [`retriever`]: [`SemanticRetriever`], cosine top-K behind core's `HistoryRetriever`;
//! - [`long_history`]: retrieved short histories for prompts and a retrieved long history
//!   for the CRM (SIM-style option; the DIN default stays the last 60).

pub mod embed;
mod error;
pub mod item_prompt;
pub mod long_history;
pub mod pca;
pub mod pooling;
pub mod retriever;
pub mod table;
#[cfg(test)]
mod tests;

pub use embed::{EmbedItemsConfig, EmbedItemsSummary, Neighbours, embed_items, nearest_by_title};
pub use error::{LsmrError, TableProblem};
pub use item_prompt::{ItemText, ItemTokens};
pub use long_history::{RETRIEVED_HISTORY_LEN, retrieved_din_batch, retrieved_history};
pub use pca::Pca;
pub use retriever::{SemanticRetriever, semantic_retriever};
pub use table::{ItemEmbeddings, ItemTableInfo};
