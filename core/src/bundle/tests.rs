//! Module ↔ safetensors: exact round trips of DIN and PLoRA, and one typed error per defect.

use burn::tensor::Device;
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use super::*;
use crate::crm::DinConfig;
use crate::plora::tests::helpers::tiny_llama;
use crate::plora::{Plora, PloraConfig};

fn din_config() -> DinConfig {
    DinConfig {
        embed_dim: 4,
        attention_hidden: 6,
        mlp_hidden: 10,
        mlp_layers: 2,
        ..DinConfig::new(30, 5, 1)
    }
}

fn plora(device: &Device) -> Plora {
    PloraConfig {
        num_meta: 3,
        rank: 2,
        alpha: 4.0,
        gate_hidden: 6,
        crm_dim: 10,
        ..PloraConfig::default()
    }
    .init(&tiny_llama(), device)
    .expect("valid")
}

fn bytes_of(tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views = tensors.iter().map(|(name, dtype, shape, data)| {
        (
            name.clone(),
            TensorView::new(*dtype, shape.clone(), data).expect("view"),
        )
    });
    safetensors::serialize(views, None).expect("serialize")
}

fn as_owned(
    module: &[(String, burn::tensor::TensorData)],
) -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    module
        .iter()
        .map(|(n, d)| {
            (
                n.clone(),
                Dtype::F32,
                d.shape().to_vec(),
                d.as_bytes().to_vec(),
            )
        })
        .collect()
}

#[test]
fn din_and_plora_round_trip_bit_for_bit() {
    let device = Device::flex();
    let din = din_config().init(&device);
    let bytes = serialize_module(&din).expect("serializes");
    // A fresh init draws other values; loading must replace every one of them.
    let other = din_config().init(&device);
    assert_ne!(module_tensors(&other)[0].1, module_tensors(&din)[0].1);
    let loaded = load_module(other, &bytes).expect("loads");
    let (want, got) = (module_tensors(&din), module_tensors(&loaded));
    assert_eq!(want.len(), got.len());
    for ((name, a), (name_b, b)) in want.iter().zip(&got) {
        assert_eq!(name, name_b);
        assert_eq!(a, b, "{name}");
    }
    let names: Vec<&str> = want.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"embedding.weight"), "{names:?}");

    let adapter = plora(&device);
    let bytes = serialize_module(&adapter).expect("serializes");
    let loaded = load_module(plora(&device), &bytes).expect("loads");
    assert_eq!(module_tensors(&adapter), module_tensors(&loaded));
    let names: Vec<String> = module_tensors(&adapter)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("layers.1.")),
        "{names:?}"
    );
}

#[test]
fn every_defect_gets_its_own_typed_error() {
    let device = Device::flex();
    let din = din_config().init(&device);
    let tensors = as_owned(&module_tensors(&din));
    let load = |bytes: &[u8]| load_module(din_config().init(&device), bytes);

    let bytes = serialize_module(&din).expect("serializes");
    assert!(matches!(
        load(&bytes[..bytes.len() - 3]),
        Err(TensorFileError::Format(_))
    ));

    let missing: Vec<_> = tensors[1..].to_vec();
    match load(&bytes_of(&missing)) {
        Err(TensorFileError::Missing { name }) => assert_eq!(name, tensors[0].0),
        other => panic!("{other:?}"),
    }

    let mut extra = tensors.clone();
    extra.push(("head.bonus".to_owned(), Dtype::F32, vec![1], vec![0; 4]));
    match load(&bytes_of(&extra)) {
        Err(TensorFileError::Unexpected { name }) => assert_eq!(name, "head.bonus"),
        other => panic!("{other:?}"),
    }

    let mut reshaped = tensors.clone();
    let shape = reshaped[0].2.clone();
    reshaped[0].2 = vec![shape.iter().product::<usize>()];
    match load(&bytes_of(&reshaped)) {
        Err(TensorFileError::Shape {
            name,
            expected,
            found,
        }) => {
            assert_eq!(name, tensors[0].0);
            assert_eq!((expected, found.len()), (shape, 1));
        }
        other => panic!("{other:?}"),
    }

    let mut half = tensors.clone();
    let n = half[0].3.len() / 4;
    half[0].1 = Dtype::F16;
    half[0].3 = vec![0; n * 2];
    assert!(matches!(
        load(&bytes_of(&half)),
        Err(TensorFileError::Dtype { .. })
    ));

    let mut poisoned = tensors;
    poisoned[0].3[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    match load(&bytes_of(&poisoned)) {
        Err(TensorFileError::NonFinite { index, .. }) => assert_eq!(index, 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn mapped_files_are_checked_against_the_manifest_table() {
    use std::collections::BTreeMap;
    // FIPS 180-2's example: sha256("abc").
    assert_eq!(
        FileDigest::of_bytes(b"abc").sha256,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let dir = std::env::temp_dir().join(format!("reclora-bundle-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let content: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("crm.safetensors"), &content).expect("write");
    let digest = FileDigest::of_file(&dir.join("crm.safetensors")).expect("hash");
    assert_eq!(digest, FileDigest::of_bytes(&content));
    let table = BTreeMap::from([
        ("crm.safetensors".to_owned(), digest),
        ("plora.safetensors".to_owned(), FileDigest::of_bytes(b"x")),
    ]);

    let mapped = map_checked(&dir, "crm.safetensors", &table, true).expect("maps");
    assert_eq!(mapped.bytes(), &content[..]);
    drop(mapped);
    assert!(matches!(
        map_checked(&dir, "plora.safetensors", &table, false),
        Err(BundleError::MissingFile { .. })
    ));
    assert!(matches!(
        map_checked(&dir, "items.json", &table, false),
        Err(BundleError::NotInManifest { file }) if file == "items.json"
    ));

    let mut flipped = content.clone();
    flipped[5_000] ^= 1;
    std::fs::write(dir.join("crm.safetensors"), &flipped).expect("write");
    assert!(matches!(
        map_checked(&dir, "crm.safetensors", &table, true),
        Err(BundleError::ChecksumMismatch { .. })
    ));
    // Without checksums only the size is checked: the cheap open trusts the content.
    assert!(map_checked(&dir, "crm.safetensors", &table, false).is_ok());

    std::fs::write(dir.join("crm.safetensors"), &content[..9_000]).expect("write");
    match map_checked(&dir, "crm.safetensors", &table, false) {
        Err(BundleError::SizeMismatch {
            expected, found, ..
        }) => assert_eq!((expected, found), (10_000, 9_000)),
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn sample_manifest() -> BundleManifest {
    BundleManifest {
        format_version: BUNDLE_FORMAT_VERSION,
        llm: tiny_llama(),
        quant: crate::quant::WeightQuant::Q8,
        crm: CrmSpec {
            din: din_config(),
            history_len: 60,
        },
        plora: PloraConfig::default(),
        prompt: PromptSpec {
            dataset: "ml-1m".to_owned(),
            template: "chatml".to_owned(),
            history_k: 10,
            answer_ids: [7, 8],
            pad_id: 2,
        },
        item_count: 3,
        files: super::manifest::file::ALL
            .iter()
            .map(|name| ((*name).to_owned(), FileDigest::of_bytes(name.as_bytes())))
            .collect(),
    }
}

#[test]
fn the_manifest_round_trips_and_newer_or_incomplete_ones_are_refused() {
    let dir = std::env::temp_dir().join(format!("reclora-bundle-manifest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("manifest.json");
    assert!(matches!(
        BundleManifest::read(&dir),
        Err(BundleError::MissingFile { .. })
    ));
    let manifest = sample_manifest();
    std::fs::write(&path, manifest.to_json()).expect("write");
    assert_eq!(BundleManifest::read(&dir).expect("reads"), manifest);
    let json: serde_json::Value = serde_json::from_str(&manifest.to_json()).expect("json");
    assert_eq!(json["quant"], "q8");

    // A future version is named even when the rest no longer parses as this version.
    std::fs::write(&path, r#"{"format_version": 2, "layers": "elsewhere"}"#).expect("write");
    assert!(matches!(
        BundleManifest::read(&dir),
        Err(BundleError::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    ));
    std::fs::write(&path, r#"{"format_version": 1, "llm": 5}"#).expect("write");
    assert!(matches!(
        BundleManifest::read(&dir),
        Err(BundleError::Manifest { .. })
    ));
    let mut missing = sample_manifest();
    missing.files.remove("features.json");
    std::fs::write(&path, missing.to_json()).expect("write");
    assert!(matches!(
        BundleManifest::read(&dir),
        Err(BundleError::NotInManifest { file }) if file == "features.json"
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
