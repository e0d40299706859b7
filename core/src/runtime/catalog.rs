//! The item catalog on the phone: raw item ids → DIN feature ids, titles for prompts, and
//! the LSMR item embeddings, all checked against each other at open.

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use crate::bundle::{BundleError, CatalogProblem, FeaturesFile, ItemsFile, TensorFileError};
use crate::prompt::{ItemTitles, SemanticRetriever};

/// The catalog, in item-id feature order.
#[derive(Debug, Clone)]
pub struct ItemCatalog {
    rows_by_raw_id: HashMap<u32, usize>,
    first_item_id: u32,
    titles: Vec<String>,
    /// `[n, item_fields]` global feature ids (item id, title, genre).
    item_features: Vec<u32>,
    item_fields: usize,
}

impl ItemCatalog {
    /// Builds the catalog of `items` against the dictionaries of `features`; `path` names
    /// `items.json` in errors.
    pub fn new(
        items: &ItemsFile,
        features: &FeaturesFile,
        item_count: usize,
        path: &Path,
    ) -> Result<Self, BundleError> {
        let problem = |problem| BundleError::Catalog {
            path: path.to_path_buf(),
            problem,
        };
        let lists = [
            ("ids", items.ids.len()),
            ("titles", items.titles.len()),
            ("genres", items.genres.len()),
        ];
        for (list, found) in lists {
            if found != item_count {
                return Err(problem(CatalogProblem::Length {
                    list,
                    expected: item_count,
                    found,
                }));
            }
        }
        let item_fields = &features.fields[features.user_fields.min(features.fields.len())..];
        let mut item_features = Vec::with_capacity(item_count * item_fields.len());
        for field in item_fields {
            let column: &[String] = match field.name.as_str() {
                "item_id" => &items.ids,
                "title" => &items.titles,
                "genre" => &items.genres,
                _ => {
                    return Err(problem(CatalogProblem::Layout {
                        what: "item fields must be item_id, title and genre",
                    }));
                }
            };
            if field.name == "item_id" {
                let in_order = field.offset == items.first_item_id && field.values == items.ids;
                if !in_order {
                    return Err(problem(CatalogProblem::Layout {
                        what: "item_id values must be the catalog ids in row order",
                    }));
                }
            }
            let ids: HashMap<&str, u32> = field
                .values
                .iter()
                .enumerate()
                .rev() // the first of repeated values wins, as when interned
                .map(|(k, v)| (v.as_str(), field.offset + k as u32))
                .collect();
            for (row, value) in column.iter().enumerate() {
                let id = ids.get(value.as_str()).ok_or_else(|| {
                    problem(CatalogProblem::UnknownValue {
                        row,
                        field: field.name.clone(),
                        value: value.clone(),
                    })
                })?;
                item_features.push(*id);
            }
        }
        // Columns were pushed field by field; store them row by row.
        let width = item_fields.len();
        let mut by_row = vec![0; item_features.len()];
        for (column, values) in item_features.chunks_exact(item_count.max(1)).enumerate() {
            for (row, &id) in values.iter().enumerate() {
                by_row[row * width + column] = id;
            }
        }
        let mut rows_by_raw_id = HashMap::with_capacity(item_count);
        for (row, id) in items.ids.iter().enumerate() {
            let duplicate_or_bad = || {
                problem(CatalogProblem::ItemId {
                    row,
                    id: id.clone(),
                })
            };
            let raw: u32 = id.parse().map_err(|_| duplicate_or_bad())?;
            if rows_by_raw_id.insert(raw, row).is_some() {
                return Err(duplicate_or_bad());
            }
        }
        Ok(Self {
            rows_by_raw_id,
            first_item_id: items.first_item_id,
            titles: items.titles.clone(),
            item_features: by_row,
            item_fields: width,
        })
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.titles.len()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.titles.is_empty()
    }

    /// The row of a raw item id (MovieLens movie id), if the bundle knows it.
    pub fn row(&self, raw_id: u32) -> Option<usize> {
        self.rows_by_raw_id.get(&raw_id).copied()
    }

    /// The item-id feature id of a row (what prompts and the retriever key items by).
    pub fn item_feature(&self, row: usize) -> u32 {
        self.first_item_id + row as u32
    }

    /// Global feature ids of a row's item fields (item id, title, genre).
    pub fn item_field_ids(&self, row: usize) -> &[u32] {
        &self.item_features[row * self.item_fields..(row + 1) * self.item_fields]
    }
}

impl ItemTitles for ItemCatalog {
    fn title(&self, item: u32) -> Option<&str> {
        let row = item.checked_sub(self.first_item_id)? as usize;
        self.titles.get(row).map(String::as_str)
    }
}

/// The LSMR retriever over `items.safetensors`, whose `item_ids` must be the catalog's
/// item-id feature ids in row order.
pub fn item_retriever(
    bytes: &[u8],
    catalog: &ItemCatalog,
    path: &Path,
) -> Result<SemanticRetriever, BundleError> {
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| BundleError::Tensors {
        path: path.to_path_buf(),
        source: TensorFileError::Format(e),
    })?;
    let layout = |name: &'static str, dtype: String, shape: Vec<usize>| BundleError::Catalog {
        path: path.to_path_buf(),
        problem: CatalogProblem::EmbeddingLayout { name, dtype, shape },
    };
    let n = catalog.len();
    let ids = tensors
        .tensor("item_ids")
        .map_err(|_| layout("item_ids", String::new(), Vec::new()))?;
    if ids.dtype() != Dtype::U32 || ids.shape() != [n] {
        return Err(layout(
            "item_ids",
            ids.dtype().to_string(),
            ids.shape().to_vec(),
        ));
    }
    let item_ids: Vec<u32> = ids
        .data()
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if item_ids
        .iter()
        .enumerate()
        .any(|(row, &id)| id != catalog.item_feature(row))
    {
        return Err(layout(
            "item_ids",
            ids.dtype().to_string(),
            ids.shape().to_vec(),
        ));
    }
    let embeddings = tensors
        .tensor("embeddings")
        .map_err(|_| layout("embeddings", String::new(), Vec::new()))?;
    let shape = embeddings.shape().to_vec();
    if embeddings.dtype() != Dtype::F32 || shape.len() != 2 || shape[0] != n {
        return Err(layout("embeddings", embeddings.dtype().to_string(), shape));
    }
    let vectors: Vec<f32> = embeddings
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    SemanticRetriever::from_vectors(&item_ids, &vectors, shape[1]).map_err(|e| {
        BundleError::Catalog {
            path: path.to_path_buf(),
            problem: CatalogProblem::EmbeddingTable(e),
        }
    })
}
