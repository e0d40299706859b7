//! A tiny bundle written like `reclora-train export` writes one: a seeded 2-layer Llama on
//! the 262-token byte vocabulary, a random DIN and PLoRA, 12 items, 3 users.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use crate::bundle::QuantScheme;
use crate::bundle::manifest::file;
use crate::bundle::{
    BUNDLE_FORMAT_VERSION, BundleManifest, CrmSpec, FeatureField, FeaturesFile, FileDigest,
    ItemsFile, PromptSpec, load_module, module_tensors, serialize_llm, serialize_module,
};
use crate::crm::{Din, DinConfig};
use crate::llm::{LlamaConfig, SeededWeights};
use crate::plora::tests::helpers::random_values;
use crate::plora::{Plora, PloraConfig};
use crate::prompt::PromptLayout;
use crate::tokenizer::{BYTE_LEVEL_VOCAB, PromptTemplate, byte_level_tokenizer};

pub const LLM_SEED: u64 = 17;
pub const HISTORY_LEN: usize = 6;
pub const HISTORY_K: usize = 3;
pub const EMBED_DIM: usize = 4;

/// Raw MovieLens-like ids of the 12 catalog items, in feature order.
pub const ITEM_IDS: [u32; 12] = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233];
const GENRES: [&str; 3] = ["Action", "Comedy", "Drama"];

pub fn llm_config() -> LlamaConfig {
    LlamaConfig {
        vocab_size: BYTE_LEVEL_VOCAB,
        hidden_size: 32,
        intermediate_size: 64,
        num_layers: 2,
        num_heads: 4,
        num_kv_heads: 2,
        head_dim: 8,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        max_position_embeddings: 2048,
        tie_word_embeddings: false,
        attention_bias: false,
    }
}

fn field(name: &str, offset: u32, values: &[&str], texts: &[&str]) -> FeatureField {
    FeatureField {
        name: name.to_owned(),
        offset,
        values: values.iter().map(|v| (*v).to_owned()).collect(),
        texts: texts.iter().map(|v| (*v).to_owned()).collect(),
    }
}

pub fn titles() -> Vec<String> {
    ITEM_IDS
        .iter()
        .enumerate()
        .map(|(k, id)| format!("Movie {id} ({})", 1980 + k))
        .collect()
}

pub fn features() -> FeaturesFile {
    let ids: Vec<String> = ITEM_IDS.iter().map(u32::to_string).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let titles = titles();
    let titles: Vec<&str> = titles.iter().map(String::as_str).collect();
    FeaturesFile {
        dataset: "ml-1m".into(),
        fields: vec![
            field("user_id", 0, &["10", "11", "12"], &[]),
            field("gender", 3, &["M", "F"], &["male", "female"]),
            field("age", 5, &["1", "25"], &["Under 18", "25-34"]),
            field("occupation", 7, &["0", "12"], &["other", "programmer"]),
            field("zip_code", 9, &["11106", "02139"], &[]),
            field("item_id", 11, &ids, &[]),
            field("title", 23, &titles, &[]),
            field("genre", 35, &GENRES, &[]),
        ],
        user_fields: 5,
        num_features: 38,
        rating_levels: 5,
    }
}

pub fn items() -> ItemsFile {
    ItemsFile {
        ids: ITEM_IDS.iter().map(u32::to_string).collect(),
        titles: titles(),
        genres: (0..ITEM_IDS.len())
            .map(|k| GENRES[k % 3].to_owned())
            .collect(),
        first_item_id: 11,
        embedding_info: serde_json::Value::Null,
    }
}

/// `[12, EMBED_DIM]` item embeddings.
pub fn item_embeddings() -> Vec<f32> {
    random_values(ITEM_IDS.len() * EMBED_DIM, 31, 1.0)
}

pub fn din_config() -> DinConfig {
    DinConfig {
        embed_dim: 4,
        attention_hidden: 6,
        mlp_hidden: 10,
        mlp_layers: 2,
        embed_init_std: 0.5,
        ..DinConfig::new(43, 8, 5)
    }
}

pub fn plora_config() -> PloraConfig {
    PloraConfig {
        num_meta: 3,
        rank: 2,
        alpha: 4.0,
        gate_hidden: 6,
        crm_dim: 10,
        ..PloraConfig::default()
    }
}

/// Every float parameter of `module` replaced by seeded values in [-scale, scale).
pub fn randomized<M: Module>(module: M, seed: u64, scale: f32) -> M {
    let tensors = module_tensors(&module);
    let owned: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .enumerate()
        .map(|(k, (name, data))| {
            let values = random_values(data.num_elements(), seed + k as u64, scale);
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.clone(), data.shape().to_vec(), bytes)
        })
        .collect();
    let views = owned.iter().map(|(name, shape, bytes)| {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes).expect("view");
        (name.clone(), view)
    });
    let bytes = safetensors::serialize(views, None).expect("serialize");
    load_module(module, &bytes).expect("loads")
}

/// The f32 modules the bundle is written from (the "training-time" side).
pub struct Sources {
    pub din: Din,
    pub plora: Plora,
}

pub fn sources(device: &Device) -> Sources {
    let din = randomized(din_config().init(device), 100, 0.5);
    let plora = plora_config().init(&llm_config(), device).expect("plora");
    Sources {
        din,
        plora: randomized(plora, 200, 0.4),
    }
}

fn items_safetensors() -> Vec<u8> {
    let ids: Vec<u8> = (11u32..23).flat_map(u32::to_le_bytes).collect();
    let vectors: Vec<u8> = item_embeddings()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let views = [
        (
            "item_ids",
            TensorView::new(Dtype::U32, vec![12], &ids).expect("ids"),
        ),
        (
            "embeddings",
            TensorView::new(Dtype::F32, vec![12, EMBED_DIM], &vectors).expect("emb"),
        ),
    ];
    safetensors::serialize(views, None).expect("serialize")
}

/// Writes the bundle of `sources` with LLM matrices stored as `quant` into `dir`, then lets
/// `edit` change any file before the manifest's digests are taken.
pub fn write_bundle_with(
    dir: &Path,
    sources: &Sources,
    quant: QuantScheme,
    edit: impl FnOnce(&Path),
) {
    write_bundle_laid_out(dir, sources, quant, PromptLayout::Rella, edit);
}

/// [`write_bundle_with`] for prompts in `layout`.
pub fn write_bundle_laid_out(
    dir: &Path,
    sources: &Sources,
    quant: QuantScheme,
    layout: PromptLayout,
    edit: impl FnOnce(&Path),
) {
    std::fs::create_dir_all(dir).expect("bundle dir");
    let config = llm_config();
    let tokenizer = byte_level_tokenizer().expect("tokenizer");
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).expect(name);
    let seeded = SeededWeights::new(config.clone(), LLM_SEED);
    let matrices = quant.plan(&config);
    write(
        file::LLM,
        &serialize_llm(&seeded, &config, &matrices).expect("llm"),
    );
    write(file::CRM, &serialize_module(&sources.din).expect("crm"));
    write(
        file::PLORA,
        &serialize_module(&sources.plora).expect("plora"),
    );
    let json = tokenizer.inner().to_string(false).expect("tokenizer json");
    write(file::TOKENIZER, json.as_bytes());
    write(file::ITEMS, &items_safetensors());
    write(
        file::ITEMS_JSON,
        &serde_json::to_vec(&items()).expect("items"),
    );
    write(
        file::FEATURES,
        &serde_json::to_vec(&features()).expect("features"),
    );
    edit(dir);
    let (yes, no) = tokenizer
        .answer_token_ids(PromptTemplate::ChatMl)
        .expect("answers");
    let mut files = BTreeMap::new();
    for name in file::ALL {
        files.insert(
            name.to_owned(),
            FileDigest::of_file(&dir.join(name)).expect("digest"),
        );
    }
    let manifest = BundleManifest {
        format_version: BUNDLE_FORMAT_VERSION,
        llm: config,
        quant,
        matrices,
        crm: CrmSpec {
            din: din_config(),
            history_len: HISTORY_LEN,
        },
        plora: plora_config(),
        prompt: PromptSpec {
            dataset: "ml-1m".into(),
            template: "chatml".into(),
            layout,
            history_k: HISTORY_K,
            answer_ids: [yes, no],
            pad_id: tokenizer.eos_token_id().expect("eos"),
        },
        item_count: ITEM_IDS.len(),
        files,
    };
    write(file::MANIFEST, manifest.to_json().as_bytes());
}

pub fn write_bundle(dir: &Path, sources: &Sources, quant: QuantScheme) {
    write_bundle_with(dir, sources, quant, |_| {});
}
