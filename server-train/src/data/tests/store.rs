//! `PreparedDataset::open` rejects stale or damaged folders with a typed error naming the file.

use std::path::{Path, PathBuf};

use safetensors::SafeTensors;

use super::{ML1M_TINY, TempDir, entries, write_files};
use crate::data::store::{ARRAYS_FILE, META_FILE, arrays};
use crate::data::{DataError, DatasetName, PreparedDataset, StoreProblem, prepare};

fn prepared(root: &TempDir) -> PathBuf {
    let raw = write_files(root, "raw", &ML1M_TINY);
    let out = root.join("out");
    prepare(DatasetName::Ml1m, &raw, &out).expect("prepare");
    out
}

fn edit_meta(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(META_FILE);
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    edit(&mut meta);
    std::fs::write(&path, serde_json::to_vec(&meta).expect("json")).expect("write");
}

#[test]
fn writes_the_documented_files() {
    let root = TempDir::new("store-files");
    let out = prepared(&root);
    assert_eq!(
        entries(&out),
        [
            "arrays.safetensors",
            "features.json",
            "items.json",
            "meta.json",
            "users.json"
        ]
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(META_FILE)).expect("read")).expect("json");
    assert_eq!(meta["format_version"], 1);
    assert_eq!(meta["protocol"]["min_history"], 5);
    assert_eq!(meta["protocol"]["history_len"], 60);
    assert_eq!(meta["protocol"]["split"], serde_json::json!([8, 1, 1]));
    assert_eq!(meta["protocol"]["id_order"], "text");
    let features: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("features.json")).expect("read"))
            .expect("json");
    assert_eq!(features["fields"][6]["name"], "title");
    assert_eq!(features["fields"][6]["values"][6], "Misérables, Les (1995)");
}

#[test]
fn other_format_version_is_refused() {
    let root = TempDir::new("store-version");
    let out = prepared(&root);
    edit_meta(&out, |m| m["format_version"] = 99.into());
    let err = PreparedDataset::open(&out).expect_err("version");
    assert!(matches!(
        &err,
        DataError::BadStore { path, problem: StoreProblem::Version { found: 99, expected: 1 } }
            if path.ends_with(META_FILE)
    ));
    assert!(err.to_string().contains("run prepare again"), "{err}");
}

#[test]
fn array_length_mismatch_names_file_and_array() {
    let root = TempDir::new("store-shape");
    let out = prepared(&root);
    edit_meta(&out, |m| m["counts"]["interactions"] = 21.into());
    let err = PreparedDataset::open(&out).expect_err("shape");
    assert!(matches!(
        &err,
        DataError::BadStore { path, problem: StoreProblem::Shape { name: arrays::INTERACTION_ITEM, found, expected } }
            if path.ends_with(ARRAYS_FILE) && found == &[20] && expected == &[21]
    ));
    let message = err.to_string();
    assert!(
        message.contains("arrays.safetensors: interaction_item has shape [20], expected [21]"),
        "{message}"
    );
}

#[test]
fn inconsistent_meta_is_refused() {
    let root = TempDir::new("store-meta");
    let out = prepared(&root);
    edit_meta(&out, |m| m["counts"]["train"] = 2.into());
    assert!(matches!(
        PreparedDataset::open(&out),
        Err(DataError::BadStore {
            problem: StoreProblem::Meta { .. },
            ..
        })
    ));
}

#[test]
fn out_of_range_ids_are_caught_at_open() {
    let root = TempDir::new("store-range");
    let out = prepared(&root);
    let path = out.join(ARRAYS_FILE);
    let mut bytes = std::fs::read(&path).expect("read");
    let (start, _) = {
        let tensors = SafeTensors::deserialize(&bytes).expect("safetensors");
        let data = tensors
            .tensor(arrays::SAMPLE_POSITION)
            .expect("array")
            .data();
        let offset = data.as_ptr() as usize - bytes.as_ptr() as usize;
        (offset, data.len())
    };
    bytes[start..start + 4].copy_from_slice(&1000u32.to_le_bytes());
    std::fs::write(&path, &bytes).expect("write");
    let err = PreparedDataset::open(&out).expect_err("range");
    assert!(matches!(
        err,
        DataError::BadStore {
            problem: StoreProblem::ValueRange {
                name: arrays::SAMPLE_POSITION,
                index: 0,
                value: 1000,
                ..
            },
            ..
        }
    ));
}

#[test]
fn missing_files_are_named() {
    let root = TempDir::new("store-missing");
    let out = prepared(&root);
    std::fs::remove_file(out.join(ARRAYS_FILE)).expect("rm");
    match PreparedDataset::open(&out) {
        Err(DataError::MissingFile { path, .. }) => assert!(path.ends_with(ARRAYS_FILE)),
        other => panic!("unexpected {other:?}"),
    }
    match PreparedDataset::open(&root.join("nothing")) {
        Err(DataError::MissingFile { path, .. }) => assert!(path.ends_with(META_FILE)),
        other => panic!("unexpected {other:?}"),
    }
}
