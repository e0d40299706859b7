//! The on-disk layout of a prepared dataset, and its writer.
//!
//! A folder with five files:
//! - `meta.json`: format version, dataset, protocol parameters, counts, field offsets.
//! - `arrays.safetensors` (little-endian, memory-mappable):
//!   - `user_offsets` U64 `[users + 1]`: run of local user `u` is `[offsets[u], offsets[u+1])`;
//!   - `interaction_item` U32 `[interactions]`: item-id global feature id;
//!   - `interaction_rating` U8 `[interactions]`: rating code;
//!   - `interaction_timestamp` I64 `[interactions]`: Unix seconds;
//!   - `sample_user` U32, `sample_position` U32, `sample_label` U8, each `[samples]`,
//!     samples in protocol order (train, then valid, then test);
//!   - `user_features` U32 `[users, user fields]`, `item_features` U32 `[items, item fields]`:
//!     global feature ids per local user / item.
//! - `features.json`: per field its name, offset, count and raw values in id order.
//! - `items.json`: per local item its raw id, title and genre.
//! - `users.json`: prompt text of each demographic value, per field, in id order.
//!
//! About 13 bytes per interaction and 9 per sample: histories are slices of a user's run.
//! The writer is `writer.rs`; the reader `prepared.rs` with `mapped.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::features::Field;
use super::raw::RatingScale;
use super::samples::SplitSizes;
use super::{DataError, DatasetName, StoreProblem};

/// Bumped whenever the layout changes; `open` refuses other versions.
pub const FORMAT_VERSION: u32 = 1;
/// Long-history length for the CRM (RecLoRA: last 60 interactions).
pub const HISTORY_LEN: usize = 60;

/// File names.
pub const META_FILE: &str = "meta.json";
/// Arrays.
pub const ARRAYS_FILE: &str = "arrays.safetensors";
/// Dictionaries.
pub const FEATURES_FILE: &str = "features.json";
/// Item texts.
pub const ITEMS_FILE: &str = "items.json";
/// Demographic texts.
pub const USERS_FILE: &str = "users.json";

/// Array names.
pub mod arrays {
    /// U64 `[users + 1]`.
    pub const USER_OFFSETS: &str = "user_offsets";
    /// U32 `[interactions]`.
    pub const INTERACTION_ITEM: &str = "interaction_item";
    /// U8 `[interactions]`.
    pub const INTERACTION_RATING: &str = "interaction_rating";
    /// I64 `[interactions]`.
    pub const INTERACTION_TIMESTAMP: &str = "interaction_timestamp";
    /// U32 `[samples]`.
    pub const SAMPLE_USER: &str = "sample_user";
    /// U32 `[samples]`.
    pub const SAMPLE_POSITION: &str = "sample_position";
    /// U8 `[samples]`.
    pub const SAMPLE_LABEL: &str = "sample_label";
    /// U32 `[users, user fields]`.
    pub const USER_FEATURES: &str = "user_features";
    /// U32 `[items, item fields]`.
    pub const ITEM_FEATURES: &str = "item_features";
}

/// `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Dataset name ("ml-1m", ...).
    pub dataset: String,
    /// How the samples were made.
    pub protocol: Protocol,
    /// Sizes.
    pub counts: Counts,
    /// Present fields in table order.
    pub fields: Vec<FieldMeta>,
    /// Sum of the field counts.
    pub num_features: u32,
    /// "stars" or "half_stars".
    pub rating_scale: String,
    /// Rating codes 1..=levels.
    pub rating_levels: u8,
    /// `num_features + rating_levels`: rows of the embedding table.
    pub embedding_rows: u64,
    /// Whether the demographic fields exist.
    pub has_profiles: bool,
}

/// Protocol parameters, written for the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protocol {
    /// Samples need at least this many earlier interactions.
    pub min_history: usize,
    /// Long-history length for the CRM.
    pub history_len: usize,
    /// Train:valid:test proportions.
    pub split: [u32; 3],
    /// Label rule.
    pub label: String,
    /// Sort key.
    pub sort: String,
    /// "text" or "numeric" id comparison.
    pub id_order: String,
    /// How feature ids are assigned.
    pub feature_ids: String,
}

/// Sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Rating events.
    pub interactions: u64,
    /// Users with at least one interaction.
    pub users: u64,
    /// Items with at least one interaction.
    pub items: u64,
    /// Samples after the filter.
    pub samples: u64,
    /// Train samples.
    pub train: u64,
    /// Valid samples.
    pub valid: u64,
    /// Test samples.
    pub test: u64,
}

/// One field of the offset table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldMeta {
    /// Field name.
    pub name: String,
    /// Global id of its first value.
    pub offset: u32,
    /// Number of values.
    pub count: u32,
}

/// `features.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeaturesFile {
    /// Dictionaries in table order.
    pub fields: Vec<FieldValues>,
}

/// One dictionary: the id of `values[k]` is `offset + k`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldValues {
    /// Field name.
    pub name: String,
    /// Global id of `values[0]`.
    pub offset: u32,
    /// Number of values.
    pub count: u32,
    /// Raw values in id order.
    pub values: Vec<String>,
}

/// `items.json`, indexed by local item (item feature id − item offset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemsFile {
    /// Raw ids.
    pub ids: Vec<String>,
    /// Titles.
    pub titles: Vec<String>,
    /// First genres.
    pub genres: Vec<String>,
}

/// `users.json`: prompt text of every value of each demographic field, in id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsersFile {
    /// Field name → texts.
    pub texts: BTreeMap<String, Vec<String>>,
}

/// What a consistent meta.json implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaSummary {
    /// Dataset.
    pub name: DatasetName,
    /// Rating scale.
    pub rating_scale: RatingScale,
    /// Present fields in table order.
    pub fields: Vec<Field>,
    /// How many of them describe the user.
    pub user_fields: usize,
    /// Split sizes.
    pub split: SplitSizes,
}

impl Meta {
    /// Checks that meta.json agrees with itself: known dataset and scale, the dataset's field
    /// list with cumulative offsets summing to `num_features`, the 8:1:1 split of `samples`,
    /// user and item counts equal to their id-field sizes, `embedding_rows`.
    pub fn check(&self) -> Result<MetaSummary, &'static str> {
        let name: DatasetName = self.dataset.parse().map_err(|_| "unknown dataset name")?;
        let rating_scale = RatingScale::from_name(&self.rating_scale)
            .filter(|s| s.levels() == self.rating_levels)
            .ok_or("rating_scale and rating_levels disagree")?;
        let fields: Vec<Field> = self
            .fields
            .iter()
            .map(|f| Field::from_name(&f.name))
            .collect::<Option<_>>()
            .ok_or("unknown field name")?;
        let expected: Vec<Field> = Field::ALL
            .into_iter()
            .filter(|f| self.has_profiles || !f.is_user_field() || *f == Field::UserId)
            .collect();
        if fields != expected {
            return Err("fields are not the dataset's field list in table order");
        }
        let mut offset = 0u64;
        for f in &self.fields {
            if u64::from(f.offset) != offset {
                return Err("field offsets are not cumulative");
            }
            offset += u64::from(f.count);
        }
        if offset != u64::from(self.num_features) {
            return Err("field counts do not sum to num_features");
        }
        let c = self.counts;
        let split = SplitSizes {
            train: c.train as usize,
            valid: c.valid as usize,
            test: c.test as usize,
        };
        if split != SplitSizes::of(c.samples as usize) {
            return Err("train/valid/test are not the 8:1:1 split of samples");
        }
        if self.embedding_rows != u64::from(self.num_features) + u64::from(self.rating_levels) {
            return Err("embedding_rows is not num_features + rating_levels");
        }
        let user_fields = fields.iter().filter(|f| f.is_user_field()).count();
        let (users, items) = (&self.fields[0], &self.fields[user_fields]);
        if u64::from(users.count) != c.users || u64::from(items.count) != c.items {
            return Err("user or item counts differ from their id-field sizes");
        }
        Ok(MetaSummary {
            name,
            rating_scale,
            fields,
            user_fields,
            split,
        })
    }
}

/// Reads a JSON file of the store; a missing file says to run prepare.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, DataError> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::MissingFile {
            path: path.to_path_buf(),
            what: "prepared-dataset file (run prepare first)",
        },
        _ => DataError::io(path, e),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| DataError::store(path, StoreProblem::Json(e)))
}
