//! Module ↔ safetensors: exact round trips of DIN and PLoRA, and one typed error per defect.

use burn::tensor::Device;
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use super::*;
use crate::crm::DinConfig;
use crate::plora::tests::helpers::tiny_llama;
use crate::plora::{Plora, PloraConfig};
use crate::prompt::PromptLayout;
use crate::quant::MatrixFormat;

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
    let din = din_config().init_seeded(1, &device);
    let bytes = serialize_module(&din).expect("serializes");
    // Another seed draws other values; loading must replace every one of them.
    let other = din_config().init_seeded(2, &device);
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
fn plora_stored_in_f16_loads_within_half_an_f16_step_at_half_the_size() {
    let device = Device::flex();
    let mut adapter = plora(&device);
    crate::plora::tests::llm_hook::randomize_b(&mut adapter, 5, 0.2, &device);
    let f32_bytes = serialize_module(&adapter).expect("f32");
    let f16_bytes = serialize_module_as(&adapter, safetensors::Dtype::F16).expect("f16");
    let loaded = load_module(plora(&device), &f16_bytes).expect("loads f16");
    let (want, got) = (module_tensors(&adapter), module_tensors(&loaded));
    let values: usize = want.iter().map(|(_, d)| d.num_elements()).sum();
    // Same header size up to the dtype names: the payload halves.
    let header = f32_bytes.len() - 4 * values;
    assert!(
        f16_bytes.len() <= header + 2 * values + 64,
        "{}",
        f16_bytes.len()
    );
    for ((name, a), (_, b)) in want.iter().zip(&got) {
        for (&x, &y) in a
            .as_slice::<f32>()
            .unwrap()
            .iter()
            .zip(b.as_slice::<f32>().unwrap())
        {
            // Round to nearest: at most half a step, 2^-11 of |x| for normal f16 values
            // (these are ~0.01–1); below f16's normal range the step is fixed, 2^-25.
            let bound = (x.abs() * 2f32.powi(-11)).max(2f32.powi(-25));
            assert!((x - y).abs() <= bound, "{name}: {x} stored as {y}");
        }
    }
    // An f16 NaN is rejected like an f32 one.
    let (name, data) = &want[0];
    let mut bad: Vec<u8> = data
        .as_slice::<f32>()
        .unwrap()
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect();
    bad[2..4].copy_from_slice(&half::f16::NAN.to_le_bytes());
    let mut tensors: Vec<(String, safetensors::tensor::TensorView<'_>)> = Vec::new();
    let rest: Vec<(String, Vec<u8>, Vec<usize>)> = want[1..]
        .iter()
        .map(|(n, d)| {
            let bytes = d
                .as_slice::<f32>()
                .unwrap()
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect();
            (n.clone(), bytes, d.shape().to_vec())
        })
        .collect();
    tensors.push((
        name.clone(),
        safetensors::tensor::TensorView::new(safetensors::Dtype::F16, data.shape().to_vec(), &bad)
            .unwrap(),
    ));
    for (n, bytes, shape) in &rest {
        tensors.push((
            n.clone(),
            safetensors::tensor::TensorView::new(safetensors::Dtype::F16, shape.clone(), bytes)
                .unwrap(),
        ));
    }
    let bytes = safetensors::serialize(tensors, None).unwrap();
    assert!(matches!(
        load_module(plora(&device), &bytes),
        Err(TensorFileError::NonFinite { name: bad_name, index: 1 }) if &bad_name == name
    ));
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

    // F32 and F16 load; any other float type is named in the error.
    let mut bf16 = tensors.clone();
    let n = bf16[0].3.len() / 4;
    bf16[0].1 = Dtype::BF16;
    bf16[0].3 = vec![0; n * 2];
    assert!(matches!(
        load(&bytes_of(&bf16)),
        Err(TensorFileError::Dtype { found, .. }) if found == "BF16"
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
    let dir_dir = reclora_test_support::TempDir::new("bundle-files");
    let dir = dir_dir.path().to_path_buf();
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
        quant: QuantScheme::Q8,
        matrices: QuantScheme::Q8.plan(&tiny_llama()),
        crm: CrmSpec {
            din: din_config(),
            history_len: 60,
        },
        plora: PloraConfig::default(),
        prompt: PromptSpec {
            dataset: "ml-1m".to_owned(),
            template: "chatml".to_owned(),
            layout: PromptLayout::CandidateLast,
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
    let dir_dir = reclora_test_support::TempDir::new("bundle-manifest");
    let dir = dir_dir.path().to_path_buf();
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
    assert_eq!(json["format_version"], 3);
    assert_eq!(json["prompt"]["layout"], "candidate-last");
    assert_eq!(json["quant"], "q8x32");
    assert_eq!(json["matrices"]["model.embed_tokens.weight"], "q8_0x32");
    assert_eq!(
        json["matrices"]["model.layers.1.mlp.down_proj.weight"],
        "q8_0x32"
    );

    // A format-2 manifest has no layout: its prompts are ReLLa's.
    let mut format_2: serde_json::Value = json.clone();
    format_2["format_version"] = 2.into();
    format_2["prompt"]
        .as_object_mut()
        .expect("prompt")
        .remove("layout");
    std::fs::write(&path, format_2.to_string()).expect("write");
    let read = BundleManifest::read(&dir).expect("format 2 reads");
    assert_eq!(read.prompt.layout, PromptLayout::Rella);
    // An unknown layout is named.
    let mut unknown = json.clone();
    unknown["prompt"]["layout"] = "sideways".into();
    std::fs::write(&path, unknown.to_string()).expect("write");
    let error = BundleManifest::read(&dir).expect_err("unknown layout");
    assert!(error.to_string().contains("sideways"), "{error}");

    // A future version is named even when the rest no longer parses as this version.
    std::fs::write(&path, r#"{"format_version": 4, "layers": "elsewhere"}"#).expect("write");
    assert!(matches!(
        BundleManifest::read(&dir),
        Err(BundleError::UnsupportedVersion {
            found: 4,
            supported: 3
        })
    ));
    // A format-1 manifest (row-major `q8` blocks, no per-matrix formats) is refused by its
    // version, with the way out in the message, before its fields are read.
    let mut old: serde_json::Value = json.clone();
    old["format_version"] = 1.into();
    old["quant"] = "q8".into();
    old.as_object_mut().expect("object").remove("matrices");
    std::fs::write(&path, old.to_string()).expect("write");
    let error = BundleManifest::read(&dir).expect_err("format 1");
    assert!(matches!(
        error,
        BundleError::OutdatedVersion {
            found: 1,
            oldest: 2,
            supported: 3
        }
    ));
    assert!(
        error.to_string().contains("reclora-train export"),
        "{error}"
    );
    std::fs::write(&path, r#"{"format_version": 2, "llm": 5}"#).expect("write");
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

/// 2 layers, d 32 (one quant block), 2 query heads over 1 KV head, vocab 40.
pub(super) fn block_llama() -> crate::llm::LlamaConfig {
    crate::llm::LlamaConfig {
        vocab_size: 40,
        hidden_size: 32,
        intermediate_size: 64,
        num_heads: 2,
        num_kv_heads: 1,
        head_dim: 16,
        max_position_embeddings: 64,
        ..tiny_llama()
    }
}

/// ggml's Q8_0 error bound for a block of largest magnitude `max`: half a step of the f32
/// scale `d = max/127`, plus |q| ≤ 127 times the f16 rounding of `d` (≤ d·2⁻¹¹).
fn q8_bound(max: f32) -> f32 {
    max / 127.0 * (0.5 + 127.0 * 2f32.powi(-11))
}

/// The largest error of ggml's min/max Q4_1 block on values in `[min, max]`, once its
/// scale `d = (max − min)/15` and minimum are rounded to f16: half a step, plus 15 times
/// the rounding of `d` and the rounding of `min` (each ≤ 2⁻¹¹ relative).
fn q4_1_minmax_bound(min: f32, max: f32) -> f32 {
    let d = (max - min) / 15.0;
    let half_ulp = 2f32.powi(-11);
    d * (0.5 + 15.0 * half_ulp) + min.abs() * half_ulp
}

#[test]
fn a_quantized_llm_file_rebuilds_the_model_within_the_block_error() {
    use crate::llm::WeightSource;
    let config = block_llama();
    let seeded = crate::llm::SeededWeights::new(config.clone(), 9);
    let device = Device::flex();
    let reference = config.init_from(&seeded, &device).expect("f32 model");
    let prompt = vec![vec![1u32, 5, 9, 13, 17, 21, 3]];
    let want = reference
        .last_position_logits(&prompt, &[4, 6], 0)
        .expect("logits");
    for (scheme, logit_tolerance) in [
        (QuantScheme::F32, 1e-6),
        (QuantScheme::F16, 2e-3),
        (QuantScheme::Q8, 2e-2),
        (QuantScheme::Q4, 2e-1),
    ] {
        let formats = scheme.plan(&config);
        let bytes = serialize_llm(&seeded, &config, &formats).expect("serializes");
        let file = LlmFile::parse(&bytes, &config, &formats).expect("parses");
        // q4 is mixed: Q4_1 projections, Q8_0 embeddings and head.
        let embed = file.format("model.embed_tokens.weight");
        let down = file.format("model.layers.1.mlp.down_proj.weight");
        let expected = match scheme {
            QuantScheme::Q8 => (MatrixFormat::Q8Packed, MatrixFormat::Q8Packed),
            QuantScheme::Q4 => (MatrixFormat::Q8Packed, MatrixFormat::Q4Packed),
            QuantScheme::F16 => (MatrixFormat::F16, MatrixFormat::F16),
            QuantScheme::F32 => (MatrixFormat::F32, MatrixFormat::F32),
        };
        assert_eq!((embed, down), (Some(expected.0), Some(expected.1)));
        for (name, shape) in [
            ("model.layers.1.mlp.down_proj.weight", [32, 64]),
            ("model.embed_tokens.weight", [40, 32]),
        ] {
            let format = file.format(name).expect("format");
            let original = seeded.require(name, &shape).expect("weight");
            let stored = file.load(name).expect("loads").expect("present").values;
            for (block, (x, y)) in original.chunks(32).zip(stored.chunks(32)).enumerate() {
                let max = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let min_value = x.iter().fold(f32::MAX, |m, &v| m.min(v));
                let max_value = x.iter().fold(-f32::MAX, |m, &v| m.max(v));
                let errors: Vec<f32> = x.iter().zip(y).map(|(a, b)| (a - b).abs()).collect();
                let worst = errors.iter().fold(0.0f32, |m, &e| m.max(e));
                let squares: f32 = errors.iter().map(|e| e * e).sum();
                let case = format!("{scheme} {name} block {block}");
                match format {
                    MatrixFormat::Q8Packed => {
                        assert!(worst <= q8_bound(max) * 1.001 + 1e-9, "{case}: {worst}");
                    }
                    // The least-error search is never worse (in squared error) than ggml's
                    // min/max block, so the block's squared error is within 32 × its bound².
                    MatrixFormat::Q4Packed => {
                        let bound = q4_1_minmax_bound(min_value, max_value);
                        assert!(
                            squares <= 32.0 * bound * bound * 1.002 + 1e-12,
                            "{case}: {squares} vs {}",
                            32.0 * bound * bound
                        );
                    }
                    MatrixFormat::F16 => {
                        assert!(worst <= max * 2f32.powi(-11) * 1.001, "{case}: {worst}");
                    }
                    MatrixFormat::F32 => assert_eq!(worst, 0.0, "{case}"),
                }
            }
        }
        let rebuilt = config.init_from(&file, &device).expect("model from bundle");
        let got = rebuilt
            .last_position_logits(&prompt, &[4, 6], 0)
            .expect("logits");
        let diff = want[0]
            .iter()
            .zip(&got[0])
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        eprintln!("{scheme}: {} bytes, max |Δ logit| {diff:.2e}", bytes.len());
        assert!(diff <= logit_tolerance, "{scheme}: {diff}");
    }
}

/// The packed matrices are stored as the kernels' bytes (header included), each starting
/// at a 64-byte offset of the file, and read back to the same blocks.
#[test]
fn packed_matrices_round_trip_through_the_file_on_cache_lines() {
    use reclora_kernels::qgemm::{PackedView, QFormat, quantize_q4, quantize_q8};
    let config = crate::llm::LlamaConfig {
        tie_word_embeddings: false,
        ..block_llama()
    };
    let seeded = crate::llm::SeededWeights::new(config.clone(), 9);
    let formats = QuantScheme::Q4.plan(&config);
    let bytes = serialize_llm(&seeded, &config, &formats).expect("serializes");
    let header = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    assert_eq!((8 + header) % super::DATA_ALIGN, 0, "data start");
    let tensors = safetensors::SafeTensors::deserialize(&bytes).expect("parses");
    let file = LlmFile::parse(&bytes, &config, &formats).expect("parses");
    for tensor in llm_tensors(&config).iter().filter(|t| t.is_matrix()) {
        let (rows, cols) = (tensor.shape[0], tensor.shape[1]);
        let stored = tensors.tensor(&tensor.name).expect("stored");
        let offset = stored.data().as_ptr().addr() - bytes.as_ptr().addr();
        assert_eq!(offset % 64, 0, "{} at {offset}", tensor.name);
        let values = crate::llm::WeightSource::require(&seeded, &tensor.name, &tensor.shape)
            .expect("weight");
        let format = formats[&tensor.name];
        let packed = match format.packed().expect("q4 packs every matrix") {
            QFormat::Q8_0 => quantize_q8(&values, rows, cols),
            QFormat::Q4_1 => quantize_q4(&values, rows, cols),
        }
        .expect("packs");
        assert_eq!(stored.data(), packed.as_bytes(), "{}", tensor.name);
        assert_eq!(stored.shape(), [packed.as_bytes().len()]);
        let Ok(StoredMatrix::Packed { view, .. }) = file.matrix(&tensor.name, rows, cols) else {
            panic!("{} is not packed", tensor.name);
        };
        // (In a page-aligned map the 64-byte file offset is a 64-byte address; this `Vec`
        // is not aligned, so `view.is_aligned()` says nothing here.)
        let again = PackedView::from_bytes(packed.as_bytes()).expect("view");
        assert_eq!(view.to_plain_blocks(), again.to_plain_blocks());
    }
}

#[test]
fn llm_file_defects_are_typed() {
    use crate::quant::QuantError;
    use reclora_kernels::qgemm::QuantError as PackError;
    let config = block_llama();
    let seeded = crate::llm::SeededWeights::new(config.clone(), 9);
    let q8 = QuantScheme::Q8.plan(&config);
    let bytes = serialize_llm(&seeded, &config, &q8).expect("serializes");
    let parse = |bytes: &[u8], config: &crate::llm::LlamaConfig| {
        LlmFile::parse(bytes, config, &QuantScheme::Q8.plan(config)).map(|_| ())
    };
    assert!(matches!(
        parse(&bytes[..bytes.len() / 2], &config),
        Err(LlmFileError::Format(_))
    ));
    let deeper = crate::llm::LlamaConfig {
        num_layers: 3,
        ..config.clone()
    };
    assert!(matches!(
        parse(&bytes, &deeper),
        Err(LlmFileError::Missing { name }) if name.starts_with("model.layers.2.")
    ));
    let shallower = crate::llm::LlamaConfig {
        num_layers: 1,
        ..config.clone()
    };
    assert!(matches!(
        parse(&bytes, &shallower),
        Err(LlmFileError::Unexpected { name }) if name.starts_with("model.layers.1.")
    ));
    // Another width: the packed header names the stored shape.
    let wider = crate::llm::LlamaConfig {
        intermediate_size: 96,
        ..config.clone()
    };
    match parse(&bytes, &wider) {
        Err(LlmFileError::PackedMismatch {
            name, rows, found, ..
        }) => {
            assert_eq!(
                (name.as_str(), rows, found.as_str()),
                ("model.layers.0.mlp.gate_proj.weight", 96, "Q8_0 [64, 32]")
            );
        }
        other => panic!("{other:?}"),
    }
    // The manifest says Q4_1 where the file holds Q8_0 panels.
    assert!(matches!(
        LlmFile::parse(&bytes, &config, &QuantScheme::Q4.plan(&config)),
        Err(LlmFileError::PackedMismatch {
            expected: MatrixFormat::Q4Packed,
            ..
        })
    ));
    // The manifest's formats must name exactly the model's matrices.
    let mut short = q8.clone();
    short.remove("lm_head.weight");
    assert!(matches!(
        LlmFile::parse(&bytes, &config, &short),
        Err(LlmFileError::NoFormat { name }) if name == "lm_head.weight"
    ));
    let mut long = q8.clone();
    long.insert("model.norm.weight".into(), MatrixFormat::Q8Packed);
    assert!(matches!(
        LlmFile::parse(&bytes, &config, &long),
        Err(LlmFileError::FormatOfNoMatrix { name }) if name == "model.norm.weight"
    ));

    let offset_of = |name: &str| {
        let file = safetensors::SafeTensors::deserialize(&bytes).expect("parses");
        let data = file.tensor(name).expect("tensor").data().as_ptr() as usize;
        data - bytes.as_ptr() as usize
    };
    // A NaN scale: row 0's f16 scale in the first panel-block (right after the header).
    let name = "model.layers.0.self_attn.v_proj.weight";
    let scale = offset_of(name) + reclora_kernels::qgemm::PACKED_HEADER_BYTES;
    let mut poisoned = bytes.clone();
    poisoned[scale..scale + 2].copy_from_slice(&half::f16::NAN.to_le_bytes());
    match parse(&poisoned, &config) {
        Err(LlmFileError::Quant {
            name: bad,
            source: QuantError::Packed(PackError::NonFiniteScale { row, block }),
        }) => assert_eq!((bad.as_str(), row, block), (name, 0, 0)),
        other => panic!("{other:?}"),
    }
    // A corrupt packed header.
    let mut bad_magic = bytes.clone();
    bad_magic[offset_of(name)] ^= 0xFF;
    assert!(matches!(
        parse(&bad_magic, &config),
        Err(LlmFileError::Quant {
            source: QuantError::Packed(PackError::BadMagic { .. }),
            ..
        })
    ));
}

/// A complete bundle of tiny models in `dir`; returns its manifest.
fn write_tiny_bundle(dir: &std::path::Path) -> BundleManifest {
    write_bundle(dir, block_llama(), QuantScheme::Q8)
}

/// A complete bundle in `dir` around a seeded LLM of `llm`'s sizes stored in `quant`, and
/// a tiny DIN and PLoRA; returns its manifest.
pub(super) fn write_bundle(
    dir: &std::path::Path,
    llm: crate::llm::LlamaConfig,
    quant: QuantScheme,
) -> BundleManifest {
    use super::manifest::file;
    let device = Device::flex();
    let plora_config = PloraConfig {
        num_meta: 3,
        rank: 2,
        alpha: 4.0,
        gate_hidden: 6,
        crm_dim: din_config().representation_dim(),
        ..PloraConfig::default()
    };
    let seeded = crate::llm::SeededWeights::new(llm.clone(), 9);
    let matrices = quant.plan(&llm);
    let contents: Vec<(&str, Vec<u8>)> = vec![
        (
            file::LLM,
            serialize_llm(&seeded, &llm, &matrices).expect("llm"),
        ),
        (
            file::CRM,
            serialize_module(&din_config().init(&device)).expect("crm"),
        ),
        (
            file::PLORA,
            serialize_module(&plora_config.init(&llm, &device).expect("plora")).expect("plora"),
        ),
        (file::TOKENIZER, b"{}".to_vec()),
        (file::ITEMS, vec![0; 48]),
        (file::ITEMS_JSON, b"{\"table\":{}}".to_vec()),
        (file::FEATURES, b"{}".to_vec()),
    ];
    std::fs::create_dir_all(dir).expect("dir");
    let mut files = std::collections::BTreeMap::new();
    for (name, bytes) in &contents {
        std::fs::write(dir.join(name), bytes).expect("write");
        files.insert((*name).to_owned(), FileDigest::of_bytes(bytes));
    }
    let manifest = BundleManifest {
        llm,
        quant,
        matrices,
        plora: plora_config,
        files,
        ..sample_manifest()
    };
    std::fs::write(dir.join(file::MANIFEST), manifest.to_json()).expect("manifest");
    manifest
}

#[test]
fn a_tiny_bundle_opens_and_each_corruption_has_its_typed_error() {
    use super::manifest::file;
    let root_dir = reclora_test_support::TempDir::new("bundle-open");
    let root = root_dir.path().to_path_buf();
    let _ = std::fs::remove_dir_all(&root);
    let checked = BundleOptions {
        verify_checksums: true,
    };
    let fresh = |name: &str| {
        let dir = root.join(name);
        let manifest = write_tiny_bundle(&dir);
        (dir, manifest)
    };

    let (dir, manifest) = fresh("clean");
    let bundle = Bundle::open(&dir, &Device::flex(), checked).expect("opens");
    assert_eq!(bundle.manifest(), &manifest);
    assert_eq!(bundle.plora().layers.len(), 2);

    // Truncated file.
    let (dir, _) = fresh("truncated");
    let path = dir.join(file::LLM);
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() - 100]).expect("write");
    assert!(matches!(
        Bundle::open(&dir, &Device::flex(), BundleOptions::default()),
        Err(BundleError::SizeMismatch { .. })
    ));

    // One flipped byte, checksums on (a weight byte: still a valid layout).
    let (dir, _) = fresh("flipped");
    let path = dir.join(file::CRM);
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");
    match Bundle::open(&dir, &Device::flex(), checked) {
        Err(BundleError::ChecksumMismatch { path: bad, .. }) => assert_eq!(bad, path),
        other => panic!("{other:?}"),
    }

    // Missing file.
    let (dir, _) = fresh("missing");
    std::fs::remove_file(dir.join(file::PLORA)).expect("remove");
    assert!(matches!(
        Bundle::open(&dir, &Device::flex(), checked),
        Err(BundleError::MissingFile { path }) if path.ends_with(file::PLORA)
    ));

    // Future format version.
    let (dir, mut manifest) = fresh("future");
    manifest.format_version = BUNDLE_FORMAT_VERSION + 1;
    std::fs::write(dir.join(file::MANIFEST), manifest.to_json()).expect("write");
    assert!(matches!(
        Bundle::open(&dir, &Device::flex(), checked),
        Err(BundleError::UnsupportedVersion { found: 4, .. })
    ));

    // A bundle of format 1 (row-major blocks): refused by name, not misread.
    let (dir, mut manifest) = fresh("format-1");
    manifest.format_version = 1;
    std::fs::write(dir.join(file::MANIFEST), manifest.to_json()).expect("write");
    assert!(matches!(
        Bundle::open(&dir, &Device::flex(), checked),
        Err(BundleError::OutdatedVersion { found: 1, .. })
    ));

    // Shape mismatch: the manifest's DIN is wider than the stored one.
    let (dir, mut manifest) = fresh("shape");
    manifest.crm.din.embed_dim += 1;
    std::fs::write(dir.join(file::MANIFEST), manifest.to_json()).expect("write");
    assert!(matches!(
        Bundle::open(&dir, &Device::flex(), checked),
        Err(BundleError::Tensors {
            source: TensorFileError::Shape { .. },
            ..
        })
    ));

    // NaN scale in a quantized matrix (manifest re-hashed, so only the scan finds it).
    let (dir, mut manifest) = fresh("nan");
    let path = dir.join(file::LLM);
    let mut bytes = std::fs::read(&path).expect("read");
    let name = "model.layers.1.mlp.up_proj.weight";
    let offset = {
        let file = safetensors::SafeTensors::deserialize(&bytes).expect("parses");
        file.tensor(name).expect("tensor").data().as_ptr() as usize - bytes.as_ptr() as usize
    };
    // Row 0's scale in the first panel-block, after the packed header.
    let offset = offset + reclora_kernels::qgemm::PACKED_HEADER_BYTES;
    bytes[offset..offset + 2].copy_from_slice(&half::f16::NAN.to_le_bytes());
    std::fs::write(&path, &bytes).expect("write");
    manifest
        .files
        .insert(file::LLM.to_owned(), FileDigest::of_bytes(&bytes));
    std::fs::write(dir.join(file::MANIFEST), manifest.to_json()).expect("write");
    match Bundle::open(&dir, &Device::flex(), checked) {
        Err(BundleError::Llm(LlmFileError::Quant { name: bad, .. })) => assert_eq!(bad, name),
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&root);
}
