//! End-to-end LSMR tests: the `embed-items` job on the tiny ML-1M fixture with a tiny
//! random model and the real SmolLM2 tokenizer, and the pooled span on real item texts.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use reclora_core::gguf::GgufFile;
use reclora_core::llm::{SeededWeights, gguf_vocab};
use reclora_core::tokenizer::TextTokenizer;
use reclora_core::{LanguageModel, LlamaConfig};

use super::item_prompt::{item_id_range, item_texts, item_tokens, rendered_item_prompt};
use super::pooling::pool_batch;
use super::{EmbedItemsConfig, ItemEmbeddings, embed_items, nearest_by_title, semantic_retriever};
use crate::data::{DatasetName, PreparedDataset, prepare};

const ML1M_TINY: [(&str, &[u8]); 3] = [
    (
        "users.dat",
        include_bytes!("../../tests/fixtures/ml-1m-tiny/users.dat.fixture"),
    ),
    (
        "movies.dat",
        include_bytes!("../../tests/fixtures/ml-1m-tiny/movies.dat.fixture"),
    ),
    (
        "ratings.dat",
        include_bytes!("../../tests/fixtures/ml-1m-tiny/ratings.dat.fixture"),
    ),
];

fn workspace_path(relative: &str) -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            std::path::PathBuf::from,
        )
        .join("..")
        .join(relative)
}

/// The real SmolLM2 tokenizer, read from the GGUF header only (no weights).
fn smollm2_tokenizer() -> TextTokenizer {
    let gguf = workspace_path("assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(gguf.is_file(), "run scripts/fetch-assets.sh first");
    let file = GgufFile::open(&gguf).expect("gguf");
    TextTokenizer::from_gguf_vocab(&gguf_vocab(&file).expect("vocab")).expect("tokenizer")
}

fn tiny_fixture_dataset(root: &Path) -> PreparedDataset {
    let raw = root.join("raw");
    std::fs::create_dir_all(&raw).expect("raw dir");
    for (name, bytes) in ML1M_TINY {
        std::fs::write(raw.join(name), bytes).expect("fixture");
    }
    let out = root.join("ml-1m-tiny");
    prepare(DatasetName::Ml1m, &raw, &out).expect("prepare");
    PreparedDataset::open(&out).expect("open")
}

/// `embed-items` on 7 fixture movies with a tiny random model over the real vocabulary:
/// the stored mean is the mean of independently pooled (unbatched) vectors, the components
/// are orthonormal, each stored row is `components · (pooled − mean)`, and the variance
/// ratios descend.
#[test]
fn lsmr_embed_items_end_to_end_on_the_tiny_fixture() {
    let root_dir = reclora_test_support::TempDir::new("embed");
    let root = root_dir.path().to_path_buf();
    let data = tiny_fixture_dataset(&root);
    let tokenizer = smollm2_tokenizer();
    let config = LlamaConfig {
        vocab_size: tokenizer.vocab_size(),
        ..LlamaConfig::tiny_for_tests()
    };
    let model = config
        .init_from(&SeededWeights::new(config.clone(), 3), &Device::flex())
        .expect("tiny model");
    let model = LanguageModel::from_parts(model, tokenizer);
    let out = root.join("items");
    let summary = embed_items(
        &model,
        "tiny",
        &data,
        &EmbedItemsConfig {
            dim: 4,
            batch_size: 3,
        },
        &out,
    )
    .expect("embed");
    assert_eq!(
        (summary.items, summary.dim, summary.hidden_size),
        (7, 4, 32)
    );

    let (table, info) = ItemEmbeddings::load(&out).expect("load");
    let (first, count) = item_id_range(&data);
    assert_eq!(table.item_ids, (first..first + count).collect::<Vec<_>>());
    assert_eq!(
        (info.item_count, info.dim, info.dataset.as_str()),
        (7, 4, "ml-1m")
    );
    assert!(
        info.prompt_template
            .starts_with("<|im_start|>user\n{description}")
    );

    // Independent reference: every item alone, pooled in its own forward.
    let texts = item_texts(&data).expect("texts");
    let pooled: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| {
            let tokens = item_tokens(model.tokenizer(), &t.description).expect("tokens");
            pool_batch(model.model(), &[tokens], 0)
                .expect("pool")
                .remove(0)
        })
        .collect();
    let d = 32;
    let mut worst = 0.0f64;
    for j in 0..d {
        let mean = pooled.iter().map(|p| f64::from(p[j])).sum::<f64>() / 7.0;
        worst = worst.max((mean - f64::from(table.mean[j])).abs());
    }
    for a in 0..4 {
        for b in 0..4 {
            let dot: f64 = (0..d)
                .map(|j| f64::from(table.components[a * d + j] * table.components[b * d + j]))
                .sum();
            let want = if a == b { 1.0 } else { 0.0 };
            assert!((dot - want).abs() < 1e-5, "components {a}·{b} = {dot}");
        }
    }
    for (row, p) in pooled.iter().enumerate() {
        for k in 0..4 {
            let want: f64 = (0..d)
                .map(|j| {
                    f64::from(table.components[k * d + j])
                        * (f64::from(p[j]) - f64::from(table.mean[j]))
                })
                .sum();
            worst = worst.max((want - f64::from(table.row(row)[k])).abs());
        }
    }
    eprintln!("embed-items: max deviation from the unbatched reference {worst:.2e}");
    assert!(worst < 1e-4, "{worst}");
    let ratios = &info.explained_variance_ratio;
    assert!(ratios.windows(2).all(|w| w[0] >= w[1]));
    assert!(info.explained_variance_ratio_total <= 1.0 + 1e-9);

    let retriever = semantic_retriever(&table).expect("retriever");
    let neighbours = nearest_by_title(&data, &retriever, "toy story", 2).expect("found");
    assert_eq!(neighbours.title, "Toy Story (1995)");
    assert_eq!(neighbours.nearest.len(), 2);
    assert!(nearest_by_title(&data, &retriever, "no such film", 2).is_err());
    std::fs::remove_dir_all(&root).ok();
}

/// The separately tokenized header + description equals the start of the rendered prompt
/// tokenized whole, so the pooled span is exactly the description, for every real ML-1M
/// item (or the fixture's when data/ml-1m is absent).
#[test]
fn lsmr_pooled_span_is_the_description_for_real_items() {
    let tokenizer = smollm2_tokenizer();
    let real = workspace_path("data/ml-1m");
    let root_dir = reclora_test_support::TempDir::new("span");
    let root = root_dir.path().to_path_buf();
    let data = if real.join("meta.json").is_file() {
        PreparedDataset::open(&real).expect("open data/ml-1m")
    } else {
        eprintln!("data/ml-1m absent: checking the fixture's items only");
        tiny_fixture_dataset(&root)
    };
    let texts = item_texts(&data).expect("texts");
    let mut longest = 0;
    for text in &texts {
        let tokens = item_tokens(&tokenizer, &text.description).expect("tokens");
        let whole = tokenizer
            .encode(&rendered_item_prompt(&text.description))
            .expect("whole");
        assert_eq!(
            tokens.ids,
            whole[..tokens.ids.len()],
            "{:?}",
            text.description
        );
        let span = tokenizer
            .decode(&tokens.ids[tokens.pooled.clone()])
            .expect("decode");
        assert_eq!(span, text.description);
        longest = longest.max(tokens.ids.len());
    }
    eprintln!(
        "{} item prompts: pooled span = description, longest input {longest} tokens",
        texts.len()
    );
    std::fs::remove_dir_all(&root).ok();
}
