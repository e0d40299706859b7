//! Test-only: a tiny real bundle, written as `reclora-train export` writes one (a seeded
//! 2-layer Llama on the 262-token byte vocabulary, a seeded DIN and PLoRA, 12 MovieLens-like
//! items), one user, and the Rust reference results the Kotlin, Swift and Python tests
//! compare against. Built with the `test-hooks` feature (and in this crate's unit tests).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use reclora_core::bundle::manifest::file;
use reclora_core::bundle::{
    BUNDLE_FORMAT_VERSION, BundleManifest, CrmSpec, FeatureField, FeaturesFile, FileDigest,
    ItemsFile, PromptSpec, QuantScheme, load_module, module_tensors, serialize_llm,
    serialize_module,
};
use reclora_core::crm::DinConfig;
use reclora_core::llm::{LlamaConfig, SeededWeights};
use reclora_core::plora::PloraConfig;
use reclora_core::prompt::PromptLayout;
use reclora_core::rng::SplitMix64;
use reclora_core::runtime::Recommender as CoreRecommender;
use reclora_core::tokenizer::{BYTE_LEVEL_VOCAB, PromptTemplate, byte_level_tokenizer};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use crate::records::{Feedback, RecommenderOptions, UserEvent, UserProfile};

/// Any failure while writing the fixture.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Error>;

/// Raw ids of the 12 catalog items, in feature order.
pub const ITEM_IDS: [u32; 12] = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233];
/// The 10 candidates the scenario scores.
pub const CANDIDATES: [i64; 10] = [5, 34, 233, 1, 89, 21, 2, 144, 13, 55];
/// An id the catalog does not have.
pub const UNKNOWN_ITEM: i64 = 777;
/// CPU threads of every recommender in the scenario (the results do not depend on it, the
/// file says it so the foreign tests open alike).
pub const THREADS: i32 = 2;
const GENRES: [&str; 3] = ["Action", "Comedy", "Drama"];
const HISTORY_LEN: usize = 6;
const HISTORY_K: usize = 3;
const EMBED_DIM: usize = 4;

/// Folder names inside the fixture folder.
pub const BUNDLE: &str = "bundle";
/// A copy of the bundle whose LLM file has its header overwritten (same size).
pub const CORRUPT_BUNDLE: &str = "corrupt-bundle";
/// The reference results, one `key values...` line each.
pub const EXPECTED: &str = "expected.txt";

/// The scenario's options.
pub fn options() -> RecommenderOptions {
    RecommenderOptions {
        threads: THREADS,
        ..RecommenderOptions::default()
    }
}

/// The scenario's user profile.
pub fn profile() -> UserProfile {
    let fields = [
        ("user_id", "11"),
        ("gender", "F"),
        ("age", "25"),
        ("occupation", "12"),
        ("zip_code", "02139"),
    ];
    UserProfile {
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<HashMap<_, _>>(),
    }
}

/// The scenario's 20 events: every feedback kind, and one item the bundle does not know
/// (kept in the store, skipped by the models).
pub fn events() -> Vec<UserEvent> {
    (0..20)
        .map(|k: i64| {
            let item_id = if k == 7 {
                999
            } else {
                i64::from(ITEM_IDS[(k as usize * 5) % ITEM_IDS.len()])
            };
            let feedback = match k % 7 {
                3 => Feedback::Like,
                5 => Feedback::Dislike,
                _ => Feedback::Rating {
                    stars: 1 + (k * 3 % 5) as i32,
                },
            };
            UserEvent {
                item_id,
                feedback,
                timestamp_seconds: 978_300_000 + 60 * k,
            }
        })
        .collect()
}

fn llm_config() -> LlamaConfig {
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

fn din_config() -> DinConfig {
    DinConfig {
        embed_dim: 4,
        attention_hidden: 6,
        mlp_hidden: 10,
        mlp_layers: 2,
        embed_init_std: 0.5,
        ..DinConfig::new(43, 8, 5)
    }
}

fn plora_config() -> PloraConfig {
    PloraConfig {
        num_meta: 3,
        rank: 2,
        alpha: 4.0,
        gate_hidden: 6,
        crm_dim: 10,
        ..PloraConfig::default()
    }
}

fn field(name: &str, offset: u32, values: &[String], texts: &[&str]) -> FeatureField {
    FeatureField {
        name: name.to_owned(),
        offset,
        values: values.to_vec(),
        texts: texts.iter().map(|v| (*v).to_owned()).collect(),
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn titles() -> Vec<String> {
    ITEM_IDS
        .iter()
        .enumerate()
        .map(|(k, id)| format!("Movie {id} ({})", 1980 + k))
        .collect()
}

fn ids() -> Vec<String> {
    ITEM_IDS.iter().map(u32::to_string).collect()
}

fn features() -> FeaturesFile {
    FeaturesFile {
        dataset: "ml-1m".into(),
        fields: vec![
            field("user_id", 0, &strings(&["10", "11", "12"]), &[]),
            field("gender", 3, &strings(&["M", "F"]), &["male", "female"]),
            field("age", 5, &strings(&["1", "25"]), &["Under 18", "25-34"]),
            field(
                "occupation",
                7,
                &strings(&["0", "12"]),
                &["other", "programmer"],
            ),
            field("zip_code", 9, &strings(&["11106", "02139"]), &[]),
            field("item_id", 11, &ids(), &[]),
            field("title", 23, &titles(), &[]),
            field("genre", 35, &strings(&GENRES), &[]),
        ],
        user_fields: 5,
        num_features: 38,
        rating_levels: 5,
    }
}

fn items() -> ItemsFile {
    ItemsFile {
        ids: ids(),
        titles: titles(),
        genres: (0..ITEM_IDS.len())
            .map(|k| GENRES[k % 3].to_owned())
            .collect(),
        first_item_id: 11,
        embedding_info: serde_json::Value::Null,
    }
}

fn seeded_values(len: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut stream = SplitMix64::new(seed);
    (0..len)
        .map(|_| (stream.unit_f32() * 2.0 - 1.0) * scale)
        .collect()
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Every float parameter of `module` replaced by seeded values in [-scale, scale), so the
/// bundle is the same on every run and platform.
fn seeded<M: Module>(module: M, seed: u64, scale: f32) -> Result<M> {
    let owned: Vec<(String, Vec<usize>, Vec<u8>)> = module_tensors(&module)
        .iter()
        .enumerate()
        .map(|(k, (name, data))| {
            let values = seeded_values(data.num_elements(), seed + k as u64, scale);
            (name.clone(), data.shape().to_vec(), le_bytes(&values))
        })
        .collect();
    let mut views = Vec::with_capacity(owned.len());
    for (name, shape, bytes) in &owned {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes)?;
        views.push((name.clone(), view));
    }
    let bytes = safetensors::serialize(views, None)?;
    Ok(load_module(module, &bytes)?)
}

fn items_safetensors() -> Result<Vec<u8>> {
    let ids: Vec<u8> = (11u32..23).flat_map(u32::to_le_bytes).collect();
    let vectors = le_bytes(&seeded_values(ITEM_IDS.len() * EMBED_DIM, 31, 1.0));
    let views = [
        (
            "item_ids",
            TensorView::new(Dtype::U32, vec![ITEM_IDS.len()], &ids)?,
        ),
        (
            "embeddings",
            TensorView::new(Dtype::F32, vec![ITEM_IDS.len(), EMBED_DIM], &vectors)?,
        ),
    ];
    Ok(safetensors::serialize(views, None)?)
}

/// Writes the tiny f32 bundle into `dir`.
pub fn write_bundle(dir: &Path) -> Result<()> {
    let device = Device::flex();
    std::fs::create_dir_all(dir)?;
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes);
    let config = llm_config();
    let tokenizer = byte_level_tokenizer()?;
    let weights = SeededWeights::new(config.clone(), 17);
    let matrices = QuantScheme::F32.plan(&config);
    let llm = serialize_llm(&weights, &config, &matrices)?;
    write(file::LLM, &llm)?;
    let din = seeded(din_config().init(&device), 100, 0.5)?;
    write(file::CRM, &serialize_module(&din)?)?;
    let plora = plora_config().init(&config, &device)?;
    let plora = seeded(plora, 200, 0.4)?;
    write(file::PLORA, &serialize_module(&plora)?)?;
    let json = tokenizer.inner().to_string(false)?;
    write(file::TOKENIZER, json.as_bytes())?;
    write(file::ITEMS, &items_safetensors()?)?;
    write(file::ITEMS_JSON, &serde_json::to_vec(&items())?)?;
    write(file::FEATURES, &serde_json::to_vec(&features())?)?;
    let (yes, no) = tokenizer.answer_token_ids(PromptTemplate::ChatMl)?;
    let mut files = BTreeMap::new();
    for name in file::ALL {
        let digest = FileDigest::of_file(&dir.join(name))?;
        files.insert(name.to_owned(), digest);
    }
    let manifest = BundleManifest {
        format_version: BUNDLE_FORMAT_VERSION,
        llm: config,
        quant: QuantScheme::F32,
        matrices,
        crm: CrmSpec {
            din: din_config(),
            history_len: HISTORY_LEN,
        },
        plora: plora_config(),
        prompt: PromptSpec {
            dataset: "ml-1m".into(),
            template: "chatml".into(),
            layout: PromptLayout::Rella,
            history_k: HISTORY_K,
            answer_ids: [yes, no],
            pad_id: tokenizer
                .eos_token_id()
                .ok_or("the byte tokenizer has no end token")?,
        },
        item_count: ITEM_IDS.len(),
        files,
    };
    Ok(write(file::MANIFEST, manifest.to_json().as_bytes())?)
}

/// Copies the bundle in `from` to `to` and overwrites the first 64 bytes of its LLM file
/// (the safetensors header) with garbage: the sizes still match the manifest, the file
/// no longer parses.
pub fn write_corrupt_copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for name in file::ALL.iter().chain([&file::MANIFEST]) {
        std::fs::copy(from.join(name), to.join(name))?;
    }
    let path = to.join(file::LLM);
    let mut bytes = std::fs::read(&path)?;
    bytes[..64].fill(0xA5);
    Ok(std::fs::write(&path, bytes)?)
}

/// The Rust results of the scenario, from core alone (no wrapper).
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// P(yes) of [`CANDIDATES`], in order.
    pub scores: Vec<f32>,
    /// The best 3: (item id, score).
    pub top3: Vec<(u32, f32)>,
}

/// Opens `bundle` in core with a fresh history at `history`, stores [`profile`] and
/// [`events`], and scores [`CANDIDATES`].
pub fn expected(bundle: &Path, history: &Path) -> Result<Expected> {
    let options = options().to_core()?;
    let core = CoreRecommender::open(bundle, history, options)?;
    core.set_profile(profile().to_core())?;
    for event in events() {
        core.record(event.to_core()?)?;
    }
    let candidates: Vec<u32> = CANDIDATES.iter().map(|&id| id as u32).collect();
    let scores = core.score(&candidates)?;
    let top3 = core
        .rank(&candidates, 3)?
        .into_iter()
        .map(|s| (s.item_id, s.score))
        .collect();
    Ok(Expected { scores, top3 })
}

/// Writes the fixture into `dir`: [`BUNDLE`], [`CORRUPT_BUNDLE`] and [`EXPECTED`], whose
/// lines are `key value...` (profile fields as `name=value`, events as
/// `item:feedback:timestamp` with feedback `1`..`5`, `like` or `dislike`, top 3 as
/// `item:score`). Scores are printed exactly (shortest round-trip f32).
pub fn write(dir: &Path) -> Result<Expected> {
    let bundle = dir.join(BUNDLE);
    write_bundle(&bundle)?;
    write_corrupt_copy(&bundle, &dir.join(CORRUPT_BUNDLE))?;
    let scratch = dir.join("reference-history.bin");
    let _ = std::fs::remove_file(&scratch);
    let expected = expected(&bundle, &scratch)?;
    let _ = std::fs::remove_file(&scratch);
    let mut out = String::from("# reclora-ffi fixture: the Rust reference results\n");
    let mut fields: Vec<_> = profile().fields.into_iter().collect();
    fields.sort();
    let line = |out: &mut String, key: &str, values: Vec<String>| {
        let _ = writeln!(out, "{key} {}", values.join(" "));
    };
    line(&mut out, "threads", vec![THREADS.to_string()]);
    line(
        &mut out,
        "profile",
        fields.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    );
    line(
        &mut out,
        "events",
        events()
            .iter()
            .map(|e| {
                let feedback = match e.feedback {
                    Feedback::Rating { stars } => stars.to_string(),
                    Feedback::Like => "like".into(),
                    Feedback::Dislike => "dislike".into(),
                };
                format!("{}:{feedback}:{}", e.item_id, e.timestamp_seconds)
            })
            .collect(),
    );
    line(
        &mut out,
        "candidates",
        CANDIDATES.iter().map(i64::to_string).collect(),
    );
    line(
        &mut out,
        "scores",
        expected.scores.iter().map(|s| format!("{s:?}")).collect(),
    );
    line(
        &mut out,
        "top3",
        expected
            .top3
            .iter()
            .map(|(id, s)| format!("{id}:{s:?}"))
            .collect(),
    );
    line(&mut out, "unknown_item", vec![UNKNOWN_ITEM.to_string()]);
    let path = dir.join(EXPECTED);
    std::fs::write(&path, out)?;
    Ok(expected)
}
