//! Tiny stand-ins for every input of a run: a synthetic ML-1M-format dataset, a byte-level
//! tokenizer, a seeded tiny Llama, a small random DIN and a fixed retriever.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use reclora_core::PloraConfig;
use reclora_core::crm::DinConfig;
use reclora_core::llm::{LlamaConfig, LlamaModel, SeededWeights};
use reclora_core::plora::ProjectionKind;
use reclora_core::prompt::{HistoryEvent, HistoryRetriever};
use reclora_core::tokenizer::TextTokenizer;

use crate::data::{DatasetName, PreparedDataset, prepare};
use crate::finetune::config::{FinetuneConfig, FinetuneMode, TrainLoss};
use crate::finetune::frozen_crm::FrozenCrm;

pub use reclora_test_support::TempDir;

/// 8 users × `ratings_per_user` ratings of 20 movies, interleaved in time; ratings cycle so
/// both labels appear in every split. With 14, positions ≥ 5 give 9 samples per user:
/// 72 → 57 / 7 / 8.
pub fn write_synthetic_ml1m_sized(dir: &Path, ratings_per_user: usize) {
    std::fs::create_dir_all(dir).expect("raw dir");
    let ages = [1, 18, 25, 35, 45, 50, 56, 25];
    let users: String = (0..8)
        .map(|u| {
            let gender = if u % 2 == 0 { "F" } else { "M" };
            format!(
                "{}::{gender}::{}::{}::{:05}\n",
                u + 1,
                ages[u],
                u * 2,
                10_000 + u
            )
        })
        .collect();
    let genres = ["Comedy", "Drama", "Action", "Horror"];
    let movies: String = (0..20)
        .map(|m| format!("{}::Film {m} (199{})::{}\n", m + 1, m % 10, genres[m % 4]))
        .collect();
    let mut ratings = String::new();
    for k in 0..ratings_per_user {
        for u in 0..8usize {
            let movie = (u * 3 + k * 7) % 20 + 1;
            let rating = 1 + (u * 7 + k * 3) % 5;
            let timestamp = 978_300_000 + (k * 8 + u) * 60;
            ratings.push_str(&format!("{}::{movie}::{rating}::{timestamp}\n", u + 1));
        }
    }
    std::fs::write(dir.join("users.dat"), users).expect("users");
    std::fs::write(dir.join("movies.dat"), movies).expect("movies");
    std::fs::write(dir.join("ratings.dat"), ratings).expect("ratings");
}

/// The synthetic dataset, prepared under `root`.
pub fn synthetic_dataset(root: &TempDir) -> PreparedDataset {
    synthetic_dataset_sized(root, 14)
}

/// The synthetic dataset with `ratings_per_user` ratings per user, prepared under `root`.
pub fn synthetic_dataset_sized(root: &TempDir, ratings_per_user: usize) -> PreparedDataset {
    let raw = root.join("raw");
    write_synthetic_ml1m_sized(&raw, ratings_per_user);
    let out = root.join("data");
    prepare(DatasetName::Ml1m, &raw, &out).expect("prepares");
    PreparedDataset::open(&out).expect("opens")
}

/// Core's 262-token byte-level tokenizer (ChatML markers, "Yes", "No" single tokens).
pub fn byte_tokenizer() -> TextTokenizer {
    reclora_core::tokenizer::byte_level_tokenizer().expect("tokenizer")
}

pub const VOCAB: usize = reclora_core::tokenizer::BYTE_LEVEL_VOCAB;

/// 2 layers, d 16, 2 query heads over 1 KV head, the byte vocabulary.
pub fn tiny_llama_config() -> LlamaConfig {
    LlamaConfig {
        vocab_size: VOCAB,
        hidden_size: 16,
        intermediate_size: 24,
        num_layers: 2,
        num_heads: 2,
        num_kv_heads: 1,
        head_dim: 8,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        max_position_embeddings: 2048,
        tie_word_embeddings: false,
        attention_bias: false,
    }
}

/// The tiny Llama widened for bundles: Q8 blocks are 32 wide, so every matrix width is a
/// multiple of 32 (d 32, 4 query heads over 2 KV heads).
pub fn tiny_bundle_llama_config() -> LlamaConfig {
    LlamaConfig {
        hidden_size: 32,
        intermediate_size: 64,
        num_heads: 4,
        num_kv_heads: 2,
        head_dim: 8,
        ..tiny_llama_config()
    }
}

/// The seeded tiny Llama on `device`, frozen.
pub fn tiny_llm(device: &Device) -> LlamaModel {
    let config = tiny_llama_config();
    config
        .init_from(&SeededWeights::new(config.clone(), 5), device)
        .expect("tiny model")
        .no_grad()
}

/// A small random DIN for `data` on the plain `device` (no dropout there).
pub fn tiny_crm(data: &PreparedDataset, device: &Device) -> FrozenCrm {
    let config = DinConfig {
        embed_dim: 4,
        attention_hidden: 6,
        mlp_hidden: 10,
        mlp_layers: 2,
        ..DinConfig::new(data.embedding_rows(), data.num_fields(), data.item_field())
    };
    let din = config.init(device);
    FrozenCrm::from_parts(din, config, 60, device)
}

/// Picks the k earliest events (not the last k), so retrieved prompts differ.
#[derive(Debug)]
pub struct EarliestRetriever;

impl HistoryRetriever for EarliestRetriever {
    fn select(&self, _: u32, history: &[HistoryEvent], k: usize) -> Vec<usize> {
        (0..k.min(history.len())).collect()
    }
}

/// A run on the tiny inputs: K = 3, micro-batch 2 × 2, 12 prompts, a checkpoint every
/// 2 steps, no gate dropout (so runs do not depend on the shared RNG).
pub fn tiny_config(mode: FinetuneMode, crm_dim: usize) -> FinetuneConfig {
    let plora = match mode {
        FinetuneMode::ZeroShot => None,
        FinetuneMode::LoraLast | FinetuneMode::LoraRetrieved => Some(PloraConfig::static_lora(
            2,
            4.0,
            vec![ProjectionKind::Q, ProjectionKind::V],
        )),
        FinetuneMode::Reclora | FinetuneMode::RecloraFused => Some(PloraConfig {
            num_meta: 3,
            rank: 2,
            alpha: 4.0,
            gate_hidden: 6,
            gate_dropout: 0.0,
            crm_dim,
            crm_logit_fusion: mode.fuses_crm_logit(),
            ..PloraConfig::default()
        }),
    };
    // The fused logit is trained with the loss eval scores.
    let loss = if mode.fuses_crm_logit() {
        TrainLoss::YesNo
    } else {
        TrainLoss::Lm
    };
    FinetuneConfig {
        crm: Some(PathBuf::from("crm")),
        items: Some(PathBuf::from("items")),
        history_k: 3,
        plora,
        learning_rate: 1e-2,
        micro_batch: 2,
        grad_accum: 2,
        train_size: 12,
        seed: 7,
        checkpoint_every: 2,
        loss,
        ..FinetuneConfig::new(mode, PathBuf::from("tiny"), PathBuf::from("data"))
    }
}

/// Every float parameter of a module, in visit order.
pub fn param_values<M: Module>(module: &M) -> Vec<Vec<f32>> {
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0
                .push(param.val().into_data().try_into_vec::<f32>().expect("f32"));
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect.0
}

/// Largest |a − b| over two parameter lists of the same shapes.
pub fn max_param_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| f64::from((p - q).abs()))
        })
        .fold(0.0, f64::max)
}
