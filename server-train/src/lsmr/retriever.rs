//! The LSMR retriever over a stored item table: core's [`SemanticRetriever`], built from
//! [`ItemEmbeddings`].

pub use reclora_core::prompt::SemanticRetriever;

use super::LsmrError;
use super::table::ItemEmbeddings;

/// Indexes a stored table (validated first).
pub fn semantic_retriever(table: &ItemEmbeddings) -> Result<SemanticRetriever, LsmrError> {
    table.validate()?;
    Ok(SemanticRetriever::from_vectors(
        &table.item_ids,
        &table.embeddings,
        table.dim,
    )?)
}
