//! The LSMR retriever of the retrieved modes, opened from a stored item table.

use std::path::Path;

use reclora_core::prompt::HistoryRetriever;

use super::error::FinetuneError;
use crate::data::DatasetName;
use crate::lsmr::table::{INFO_FILE, TABLE_FILE};
use crate::lsmr::{ItemEmbeddings, semantic_retriever};

/// Checks that `dir` holds an item table's files (before anything slow is loaded).
pub fn check_item_table(dir: &Path) -> Result<(), FinetuneError> {
    for name in [TABLE_FILE, INFO_FILE] {
        let path = dir.join(name);
        if !path.is_file() {
            return Err(FinetuneError::MissingItemsTable { path });
        }
    }
    Ok(())
}

/// Opens the semantic retriever over the item table in `dir`, which must have been made
/// from `dataset`.
pub fn open_retriever(
    dir: &Path,
    dataset: DatasetName,
) -> Result<Box<dyn HistoryRetriever>, FinetuneError> {
    check_item_table(dir)?;
    let (table, info) = ItemEmbeddings::load(dir)?;
    if info.dataset != dataset.as_str() {
        return Err(FinetuneError::ItemsDataset {
            path: dir.to_path_buf(),
            table: info.dataset,
            data: dataset.as_str(),
        });
    }
    Ok(Box::new(semantic_retriever(&table)?))
}
