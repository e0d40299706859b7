//! Writes the seed corpus of both fuzz targets from tiny seeded models:
//! `cargo run --release --bin make_seeds [OUT]` (OUT defaults to this crate's `corpus/`).
//! The same build writes the same bytes, and first checks that each seed reads as its
//! name says (the valid ones parse, each broken one fails with its own error).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use reclora_core::bundle::manifest::file;
use reclora_core::bundle::{
    BUNDLE_FORMAT_VERSION, BundleError, BundleManifest, CrmSpec, FileDigest, LlmFile, PromptSpec,
    QuantScheme, load_module, serialize_llm, serialize_module,
};
use reclora_core::llm::SeededWeights;
use reclora_core::prompt::PromptLayout;
use reclora_core_fuzz::{AlignedBytes, QUANTS, Selector, din_config, llm_config, plora_config};

fn main() {
    let root = std::env::args_os().nth(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"),
        PathBuf::from,
    );
    let device = Device::flex();

    let untied = |quant| Selector {
        quant,
        tied: false,
        bias: false,
    };
    let llm = |selector: Selector| {
        let config = selector.llm_config();
        serialize_llm(
            &SeededWeights::new(config.clone(), 9),
            &config,
            &selector.formats(),
        )
        .expect("the tiny LLM serializes")
    };
    let crm = serialize_module(&din_config().init_seeded(7, &device)).expect("the tiny DIN serializes");
    let plora_init = || {
        plora_config()
            .init_seeded(&llm_config(), 7, &device)
            .expect("the fixed PLoRA config fits the fixed LLM config")
    };
    let plora = serialize_module(&plora_init()).expect("the tiny PLoRA serializes");

    // Safetensors seeds: the selector byte, then the file.
    let mut safetensors: Vec<(String, Selector, Vec<u8>)> = QUANTS
        .iter()
        .map(|&quant| (format!("llm_{}", quant.short_name()), untied(quant), llm(untied(quant))))
        .collect();
    let tied_bias = Selector {
        quant: QuantScheme::Q4,
        tied: true,
        bias: true,
    };
    safetensors.push(("llm_q4_tied_bias".into(), tied_bias, llm(tied_bias)));
    let q8 = llm(untied(QuantScheme::Q8));
    safetensors.push((
        "llm_q8_truncated".into(),
        untied(QuantScheme::Q8),
        q8[..q8.len() / 2].to_vec(),
    ));
    safetensors.push((
        "llm_q8_header_only".into(),
        untied(QuantScheme::Q8),
        header_only(&q8),
    ));
    safetensors.push(("crm".into(), untied(QuantScheme::Q8), crm.clone()));
    safetensors.push(("plora".into(), untied(QuantScheme::Q8), plora.clone()));
    // Each seed reads as its name says, so the corpus starts past the early exits.
    for (name, selector, bytes) in &safetensors {
        let bytes = AlignedBytes::new(bytes);
        let llm = LlmFile::parse(
            bytes.as_slice(),
            &selector.llm_config(),
            &selector.formats(),
        );
        let broken = name.ends_with("truncated") || name.ends_with("header_only");
        assert_eq!(
            llm.is_ok(),
            name.starts_with("llm_") && !broken,
            "{name}: {llm:?}"
        );
    }
    load_module(din_config().init(&device), &crm).expect("the DIN seed loads");
    load_module(plora_init(), &plora).expect("the PLoRA seed loads");
    let dir = root.join("bundle_safetensors");
    std::fs::create_dir_all(&dir).expect("create the safetensors corpus folder");
    for (name, selector, bytes) in &safetensors {
        let mut seed = vec![selector.byte()];
        seed.extend_from_slice(bytes);
        write(&dir.join(format!("{name}.bin")), &seed);
    }

    // Manifest seeds: the manifest of a bundle holding the files above, and variants.
    let mut files = BTreeMap::new();
    for name in file::ALL {
        let content: &[u8] = match name {
            file::LLM => &q8,
            file::CRM => &crm,
            file::PLORA => &plora,
            other => other.as_bytes(),
        };
        files.insert(name.to_owned(), FileDigest::of_bytes(content));
    }
    let manifest = BundleManifest {
        format_version: BUNDLE_FORMAT_VERSION,
        llm: llm_config(),
        quant: QuantScheme::Q8,
        matrices: untied(QuantScheme::Q8).formats(),
        crm: CrmSpec {
            din: din_config(),
            history_len: 60,
        },
        plora: plora_config(),
        prompt: PromptSpec {
            dataset: "ml-1m".into(),
            template: "chatml".into(),
            layout: PromptLayout::Rella,
            history_k: 10,
            answer_ids: [7, 8],
            pad_id: 2,
        },
        item_count: 3,
        files,
    };
    let valid = manifest.to_json();
    let json: serde_json::Value = serde_json::from_str(&valid).expect("to_json is JSON");
    let variant = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut value = json.clone();
        edit(&mut value);
        serde_json::to_string_pretty(&value).expect("JSON values serialize")
    };
    let manifests = [
        (
            "future_version",
            variant(&|v| v["format_version"] = (BUNDLE_FORMAT_VERSION + 1).into()),
        ),
        ("zero_version", variant(&|v| v["format_version"] = 0.into())),
        (
            "format_1",
            variant(&|v| {
                v["format_version"] = 1.into();
                v["quant"] = "q8".into();
                drop(v.as_object_mut().map(|m| m.remove("matrices")));
            }),
        ),
        (
            "missing_file",
            variant(&|v| drop(v["files"].as_object_mut().map(|f| f.remove(file::FEATURES)))),
        ),
        (
            "wrong_types",
            variant(&|v| {
                v["llm"] = 5.into();
                v["item_count"] = "three".into();
            }),
        ),
        ("truncated", valid[..valid.len() / 2].to_owned()),
    ];
    let path = Path::new(file::MANIFEST);
    assert_eq!(BundleManifest::parse(&valid, path).ok(), Some(manifest));
    for (name, text) in &manifests {
        let refused = BundleManifest::parse(text, path);
        let expected = match *name {
            "future_version" => matches!(
                refused,
                Err(BundleError::UnsupportedVersion { found: 3, .. })
            ),
            "zero_version" => matches!(
                refused,
                Err(BundleError::UnsupportedVersion { found: 0, .. })
            ),
            "format_1" => matches!(
                refused,
                Err(BundleError::OutdatedVersion { found: 1, .. })
            ),
            "missing_file" => matches!(refused, Err(BundleError::NotInManifest { .. })),
            _ => matches!(refused, Err(BundleError::Manifest { .. })),
        };
        assert!(expected, "{name}: {refused:?}");
    }
    let dir = root.join("bundle_manifest");
    std::fs::create_dir_all(&dir).expect("create the manifest corpus folder");
    write(&dir.join("valid.json"), valid.as_bytes());
    for (name, text) in &manifests {
        write(&dir.join(format!("{name}.json")), text.as_bytes());
    }
}

/// The 8-byte length and the JSON header of a safetensors file, without its data.
fn header_only(bytes: &[u8]) -> Vec<u8> {
    let mut len = [0; 8];
    len.copy_from_slice(&bytes[..8]);
    let header = usize::try_from(u64::from_le_bytes(len)).expect("a small header");
    bytes[..8 + header].to_vec()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    println!("{} ({} bytes)", path.display(), bytes.len());
}
