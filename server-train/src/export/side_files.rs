//! The bundle's `features.json` and `items.json`, from the prepared dataset and the LSMR
//! item table, in core's typed formats.

use std::path::Path;

use reclora_core::bundle::{FeatureField, FeaturesFile, ItemsFile};

use super::ExportError;
use crate::data::Field;
use crate::data::store::{self, FEATURES_FILE, ITEMS_FILE, META_FILE, Meta, USERS_FILE, UsersFile};
use crate::lsmr::ItemTableInfo;
use crate::lsmr::table::INFO_FILE;

/// The CRM's dictionaries with the prompt text of every profile value.
pub fn bundle_features(data_dir: &Path) -> Result<FeaturesFile, ExportError> {
    let meta: Meta = read(&data_dir.join(META_FILE))?;
    let features: store::FeaturesFile = read(&data_dir.join(FEATURES_FILE))?;
    let users: UsersFile = read(&data_dir.join(USERS_FILE))?;
    let user_fields = features
        .fields
        .iter()
        .filter(|f| Field::from_name(&f.name).is_some_and(Field::is_user_field))
        .count();
    let fields = features
        .fields
        .into_iter()
        .map(|f| FeatureField {
            texts: users.texts.get(&f.name).cloned().unwrap_or_default(),
            name: f.name,
            offset: f.offset,
            values: f.values,
        })
        .collect();
    Ok(FeaturesFile {
        dataset: meta.dataset,
        fields,
        user_fields,
        num_features: meta.num_features,
        rating_levels: meta.rating_levels,
    })
}

/// The catalog in item-id feature order, with the item table's description.
pub fn bundle_items(data_dir: &Path, items_dir: &Path) -> Result<ItemsFile, ExportError> {
    let catalog: store::ItemsFile = read(&data_dir.join(ITEMS_FILE))?;
    let info: ItemTableInfo = read(&items_dir.join(INFO_FILE))?;
    let embedding_info = serde_json::to_value(&info).unwrap_or_default();
    Ok(ItemsFile {
        ids: catalog.ids,
        titles: catalog.titles,
        genres: catalog.genres,
        first_item_id: info.first_item_id,
        embedding_info,
    })
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ExportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ExportError::Json {
        path: path.to_path_buf(),
        source,
    })
}
