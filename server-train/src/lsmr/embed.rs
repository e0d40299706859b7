//! The `embed-items` job: describe, encode, pool, PCA, store.

use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use reclora_core::LanguageModel;
use serde::Serialize;

use super::LsmrError;
use super::item_prompt::{
    ITEM_DESCRIPTION_TEMPLATE, POOLING_RULE, item_id_range, item_texts, item_tokens,
    rendered_item_prompt,
};
use super::pca::Pca;
use super::pooling::pool_all;
use super::retriever::SemanticRetriever;
use super::table::{ItemEmbeddings, ItemTableInfo, TABLE_FORMAT_VERSION, write_atomically};
use crate::data::PreparedDataset;

/// Options of `embed-items`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbedItemsConfig {
    /// PCA components to keep (clamped to `min(items, hidden size)`).
    pub dim: usize,
    /// Items per forward pass.
    pub batch_size: usize,
}

impl Default for EmbedItemsConfig {
    fn default() -> Self {
        Self {
            dim: 256,
            batch_size: 32,
        }
    }
}

/// What `embed-items` produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbedItemsSummary {
    /// Items embedded.
    pub items: usize,
    /// LLM hidden size.
    pub hidden_size: usize,
    /// Components kept.
    pub dim: usize,
    /// Share of variance the kept components explain.
    pub explained_variance_ratio_total: f64,
    /// Tokens run through the model, over all items.
    pub tokens: usize,
    /// Wall time, model loading excluded.
    pub seconds: f64,
}

/// Embeds every item of `data` with `model` and writes the table to `out` (atomically).
/// `model_name` is recorded in `items.json`.
pub fn embed_items(
    model: &LanguageModel,
    model_name: &str,
    data: &PreparedDataset,
    config: &EmbedItemsConfig,
    out: &Path,
) -> Result<EmbedItemsSummary, LsmrError> {
    let started = Instant::now();
    let texts = item_texts(data)?;
    let tokens = texts
        .iter()
        .map(|t| item_tokens(model.tokenizer(), &t.description))
        .collect::<Result<Vec<_>, _>>()?;
    let token_count = tokens.iter().map(|t| t.ids.len()).sum();
    let progress = ProgressBar::new(tokens.len() as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} items {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let pad_id = model.tokenizer().eos_token_id().unwrap_or(0);
    let pooled = pool_all(model.model(), &tokens, pad_id, config.batch_size, |n| {
        progress.inc(n as u64)
    })?;
    progress.finish_and_clear();
    tracing::info!(
        items = pooled.len(),
        tokens = token_count,
        seconds = started.elapsed().as_secs_f64(),
        "items encoded"
    );

    let pca = Pca::fit(&pooled, config.dim)?;
    let mut embeddings = Vec::with_capacity(pooled.len() * pca.dim());
    for vector in &pooled {
        embeddings.extend(pca.project(vector)?);
    }
    let table = ItemEmbeddings {
        item_ids: texts.iter().map(|t| t.item).collect(),
        dim: pca.dim(),
        embeddings,
        mean: pca.mean().iter().map(|&v| v as f32).collect(),
        components: pca.components().iter().map(|&v| v as f32).collect(),
    };
    let ratio = pca.explained_variance_ratio();
    let ratio_total = ratio.iter().sum();
    let info = ItemTableInfo {
        format_version: TABLE_FORMAT_VERSION,
        model: model_name.to_string(),
        dataset: data.dataset().to_string(),
        hidden_size: pca.input_dim(),
        dim: pca.dim(),
        item_count: table.len(),
        first_item_id: item_id_range(data).0,
        explained_variance_ratio: ratio,
        explained_variance_ratio_total: ratio_total,
        pooling: POOLING_RULE.to_string(),
        description_template: ITEM_DESCRIPTION_TEMPLATE.to_string(),
        prompt_template: rendered_item_prompt("{description}"),
        seconds: started.elapsed().as_secs_f64(),
    };
    write_atomically(out, |tmp| table.write(tmp, &info))?;
    Ok(EmbedItemsSummary {
        items: table.len(),
        hidden_size: pca.input_dim(),
        dim: pca.dim(),
        explained_variance_ratio_total: ratio_total,
        tokens: token_count,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Nearest neighbours of one item, for sanity checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Neighbours {
    /// The item's title.
    pub title: String,
    /// Item-id feature id.
    pub item: u32,
    /// (title, cosine) of the nearest items, best first.
    pub nearest: Vec<(String, f32)>,
}

/// The `count` nearest items of the first item whose title contains `query` (ASCII case
/// ignored; an exact title match wins).
pub fn nearest_by_title(
    data: &PreparedDataset,
    retriever: &SemanticRetriever,
    query: &str,
    count: usize,
) -> Result<Neighbours, LsmrError> {
    let (first, items) = item_id_range(data);
    let title_of = |item: u32| data.item_text(item).map_or("", |(title, _)| title);
    let lower = query.to_ascii_lowercase();
    let item = (first..first + items)
        .find(|&i| title_of(i) == query)
        .or_else(|| {
            (first..first + items).find(|&i| title_of(i).to_ascii_lowercase().contains(&lower))
        })
        .ok_or_else(|| LsmrError::NoSuchTitle {
            query: query.to_string(),
        })?;
    Ok(Neighbours {
        title: title_of(item).to_string(),
        item,
        nearest: retriever
            .nearest(item, count)
            .into_iter()
            .map(|(other, cosine)| (title_of(other).to_string(), cosine))
            .collect(),
    })
}
