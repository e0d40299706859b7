//! The bundle's JSON side files, typed: `features.json` (the CRM's ID dictionaries and the
//! prompt texts of profile values) and `items.json` (the catalog in feature-id order).
//! `reclora-train export` writes them from these types and the runtime reads them back.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{BundleError, CatalogProblem};
use crate::crm::DinConfig;

/// One categorical field of the CRM's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureField {
    /// `user_id`, `gender`, `age`, `occupation`, `zip_code`, `item_id`, `title`, `genre`.
    pub name: String,
    /// Global feature id of `values[0]`.
    pub offset: u32,
    /// Raw values; value `k` has global id `offset + k`.
    pub values: Vec<String>,
    /// Prompt text of each value (`"25"` → `"25-34"`); empty when the raw value is shown.
    #[serde(default)]
    pub texts: Vec<String>,
}

/// `features.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeaturesFile {
    /// Dataset whose dictionaries these are (`ml-1m`).
    pub dataset: String,
    /// Every field in DIN's column order: user fields first, then item fields.
    pub fields: Vec<FeatureField>,
    /// How many leading fields describe the user.
    pub user_fields: usize,
    /// Sum of the field sizes; rating code `r` is embedding row `num_features + r - 1`.
    pub num_features: u32,
    /// Highest rating code.
    pub rating_levels: u8,
}

impl FeaturesFile {
    /// Checks that these are the dictionaries `din` was trained with: same columns, same
    /// rows, consecutive offsets, one text per value; `path` names the file in errors.
    pub fn check_against(&self, din: &DinConfig, path: &Path) -> Result<(), BundleError> {
        let layout = |what| BundleError::Catalog {
            path: path.to_path_buf(),
            problem: CatalogProblem::Layout { what },
        };
        if self.fields.len() != din.num_fields || self.user_fields != din.item_field {
            return Err(layout("field count or item column differs from the CRM's"));
        }
        let rows = self.num_features as usize + usize::from(self.rating_levels);
        if rows != din.embedding_rows {
            return Err(layout(
                "features plus rating codes differ from the CRM's embedding rows",
            ));
        }
        let mut next = 0u32;
        for field in &self.fields {
            let texts_fit = field.texts.is_empty() || field.texts.len() == field.values.len();
            if field.offset != next || !texts_fit {
                return Err(layout(
                    "field offsets must be consecutive and texts one per value",
                ));
            }
            next += field.values.len() as u32;
        }
        if next != self.num_features {
            return Err(layout("field sizes do not add up to num_features"));
        }
        Ok(())
    }
}

/// `items.json`: the catalog, row `k` being item-id feature `first_item_id + k` and row `k`
/// of `items.safetensors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemsFile {
    /// Raw dataset ids (MovieLens movie ids), as text.
    pub ids: Vec<String>,
    /// Titles.
    pub titles: Vec<String>,
    /// First genres.
    pub genres: Vec<String>,
    /// Item-id feature id of row 0.
    pub first_item_id: u32,
    /// How the LSMR embeddings were made (the item table's own description).
    #[serde(default)]
    pub embedding_info: serde_json::Value,
}
