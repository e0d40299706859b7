//! Writes a prepared-dataset folder (layout in `store.rs`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde::Serialize;

use super::features::{FeatureTable, Field};
use super::raw::RawDataset;
use super::samples::{MIN_HISTORY, SampleTable};
use super::store::{
    ARRAYS_FILE, Counts, FEATURES_FILE, FORMAT_VERSION, FeaturesFile, FieldMeta, FieldValues,
    HISTORY_LEN, ITEMS_FILE, ItemsFile, META_FILE, Meta, Protocol, USERS_FILE, UsersFile, arrays,
};
use super::{DataError, StoreProblem};

/// Writes all files of a prepared dataset into `dir` (which must exist) and returns the meta.
pub fn write_store(
    dir: &Path,
    raw: &RawDataset,
    table: &SampleTable,
    features: &FeatureTable,
) -> Result<Meta, DataError> {
    let meta = make_meta(raw, table, features);
    write_arrays(&dir.join(ARRAYS_FILE), table, features)?;
    let dictionaries = FeaturesFile {
        fields: features
            .dictionaries
            .iter()
            .map(|d| FieldValues {
                name: d.field.as_str().to_string(),
                offset: d.offset,
                count: d.values.len() as u32,
                values: d.values.clone(),
            })
            .collect(),
    };
    write_json(&dir.join(FEATURES_FILE), &dictionaries, false)?;
    let items = ItemsFile {
        ids: table
            .item_order
            .iter()
            .map(|&i| raw.items[i as usize].id.clone())
            .collect(),
        titles: table
            .item_order
            .iter()
            .map(|&i| raw.items[i as usize].title.clone())
            .collect(),
        genres: table
            .item_order
            .iter()
            .map(|&i| raw.items[i as usize].genre.clone())
            .collect(),
    };
    write_json(&dir.join(ITEMS_FILE), &items, false)?;
    let users = UsersFile {
        texts: features
            .dictionaries
            .iter()
            .filter(|d| d.field.is_user_field() && d.field != Field::UserId)
            .map(|d| (d.field.as_str().to_string(), d.texts.clone()))
            .collect(),
    };
    write_json(&dir.join(USERS_FILE), &users, false)?;
    write_json(&dir.join(META_FILE), &meta, true)?;
    Ok(meta)
}

fn make_meta(raw: &RawDataset, table: &SampleTable, features: &FeatureTable) -> Meta {
    let levels = raw.rating_scale.levels();
    Meta {
        format_version: FORMAT_VERSION,
        dataset: raw.name.to_string(),
        protocol: Protocol {
            min_history: MIN_HISTORY,
            history_len: HISTORY_LEN,
            split: [8, 1, 1],
            label: "rating > 3".to_string(),
            sort: "stable by (timestamp, user id, item id)".to_string(),
            id_order: raw.id_order.as_str().to_string(),
            feature_ids: "first appearance in the sorted interaction table".to_string(),
        },
        counts: Counts {
            interactions: table.items.len() as u64,
            users: table.user_order.len() as u64,
            items: table.item_order.len() as u64,
            samples: table.sample_user.len() as u64,
            train: table.split.train as u64,
            valid: table.split.valid as u64,
            test: table.split.test as u64,
        },
        fields: features
            .dictionaries
            .iter()
            .map(|d| FieldMeta {
                name: d.field.as_str().to_string(),
                offset: d.offset,
                count: d.values.len() as u32,
            })
            .collect(),
        num_features: features.num_features,
        rating_scale: raw.rating_scale.as_str().to_string(),
        rating_levels: levels,
        embedding_rows: u64::from(features.num_features) + u64::from(levels),
        has_profiles: raw.has_profiles(),
    }
}

fn write_arrays(
    path: &Path,
    table: &SampleTable,
    features: &FeatureTable,
) -> Result<(), DataError> {
    let item_offset = features.item_offset();
    let users = table.user_order.len();
    let items = table.item_order.len();
    let owned: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = vec![
        (
            arrays::USER_OFFSETS,
            Dtype::U64,
            vec![table.user_offsets.len()],
            le_bytes(&table.user_offsets, |v| v.to_le_bytes()),
        ),
        (
            arrays::INTERACTION_ITEM,
            Dtype::U32,
            vec![table.items.len()],
            le_bytes(&table.items, |v| (v + item_offset).to_le_bytes()),
        ),
        (
            arrays::INTERACTION_RATING,
            Dtype::U8,
            vec![table.ratings.len()],
            table.ratings.clone(),
        ),
        (
            arrays::INTERACTION_TIMESTAMP,
            Dtype::I64,
            vec![table.timestamps.len()],
            le_bytes(&table.timestamps, |v| v.to_le_bytes()),
        ),
        (
            arrays::SAMPLE_USER,
            Dtype::U32,
            vec![table.sample_user.len()],
            le_bytes(&table.sample_user, |v| v.to_le_bytes()),
        ),
        (
            arrays::SAMPLE_POSITION,
            Dtype::U32,
            vec![table.sample_position.len()],
            le_bytes(&table.sample_position, |v| v.to_le_bytes()),
        ),
        (
            arrays::SAMPLE_LABEL,
            Dtype::U8,
            vec![table.sample_label.len()],
            table.sample_label.clone(),
        ),
        (
            arrays::USER_FEATURES,
            Dtype::U32,
            vec![users, features.user_fields()],
            le_bytes(&features.user_features, |v| v.to_le_bytes()),
        ),
        (
            arrays::ITEM_FEATURES,
            Dtype::U32,
            vec![items, features.item_fields()],
            le_bytes(&features.item_features, |v| v.to_le_bytes()),
        ),
    ];
    let mut views = Vec::with_capacity(owned.len());
    for (name, dtype, shape, bytes) in &owned {
        let view = TensorView::new(*dtype, shape.clone(), bytes)
            .map_err(|e| DataError::store(path, StoreProblem::Safetensors(e)))?;
        views.push((name.to_string(), view));
    }
    let info = BTreeMap::from([
        ("format".to_string(), "reclora-prepared-dataset".to_string()),
        ("format_version".to_string(), FORMAT_VERSION.to_string()),
    ]);
    safetensors::serialize_to_file(views, Some(info.into_iter().collect()), path)
        .map_err(|e| DataError::store(path, StoreProblem::Safetensors(e)))
}

/// Little-endian bytes of a slice of numbers.
fn le_bytes<T: Copy, const N: usize>(values: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * N);
    for &v in values {
        out.extend_from_slice(&f(v));
    }
    out
}

fn write_json<T: Serialize>(path: &Path, value: &T, pretty: bool) -> Result<(), DataError> {
    let file = File::create(path).map_err(|e| DataError::io(path, e))?;
    let mut writer = BufWriter::new(file);
    let written = if pretty {
        serde_json::to_writer_pretty(&mut writer, value)
    } else {
        serde_json::to_writer(&mut writer, value)
    };
    written.map_err(|e| DataError::store(path, StoreProblem::Json(e)))?;
    writer
        .write_all(b"\n")
        .and_then(|()| writer.flush())
        .map_err(|e| DataError::io(path, e))
}
