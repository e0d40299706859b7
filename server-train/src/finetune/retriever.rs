//! The LSMR retriever of the retrieved modes, opened from a stored item table.

use std::path::Path;

use reclora_core::prompt::HistoryRetriever;

use super::error::FinetuneError;

/// Files of an item table written by `reclora-train embed-items`.
pub const ITEM_TABLE_FILES: [&str; 2] = ["items.safetensors", "items.json"];

/// Opens the semantic retriever over the item table in `dir`.
pub fn open_retriever(dir: &Path) -> Result<Box<dyn HistoryRetriever>, FinetuneError> {
    for name in ITEM_TABLE_FILES {
        let path = dir.join(name);
        if !path.is_file() {
            return Err(FinetuneError::MissingItemsTable { path });
        }
    }
    Err(FinetuneError::ItemsTable {
        path: dir.to_path_buf(),
        reason: "this build has no LSMR retriever (merge branch `lsmr`)".into(),
    })
}
