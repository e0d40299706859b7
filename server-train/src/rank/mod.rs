//! `reclora-train rank`: what an app would show. A test-split user's profile and history
//! are rebuilt as the phone would hold them (every interaction before their first test
//! row, under raw ids), and a slate is ranked through the on-device [`Recommender`] from a
//! bundle: by default the user's own test items, whose labels say whether they liked each.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use comfy_table::Table;
use comfy_table::presets::ASCII_MARKDOWN;
use reclora_bench::cli::ActivationsArg;
use reclora_core::runtime::{Backend, Recommender, RecommenderOptions, RuntimeError};
use serde::{Deserialize, Serialize};

use crate::data::{PreparedDataset, Split};
use crate::error::CliError;
use crate::export::bundle_features;
use crate::parity::{GateModeArg, ParityError, raw_item_id, raw_user_id, user_snapshot};

/// Options of `rank`.
#[derive(Debug, Clone, clap::Args)]
pub struct RankArgs {
    /// An exported bundle folder.
    #[arg(long)]
    pub bundle: PathBuf,
    /// The prepared dataset whose test split the user comes from.
    #[arg(long)]
    pub data: PathBuf,
    /// The user's raw id, as in the dataset's files (default: the first user of the test
    /// split).
    #[arg(long)]
    pub user: Option<String>,
    /// Items to show, best first.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Raw item ids to rank, comma-separated (default: the user's test items).
    #[arg(long, value_delimiter = ',')]
    pub candidates: Vec<u32>,
    /// The default slate: at most this many of the user's test items, in time order.
    #[arg(long, default_value_t = 20)]
    pub slate: usize,
    /// Gates per sample (the paper's) or once per user and slate; unset: the mode the
    /// bundle's adapter was trained for.
    #[arg(long, value_enum)]
    pub gate_mode: Option<GateModeArg>,
    /// DIN orders the slate and the LLM re-scores only its best N.
    #[arg(long)]
    pub llm_rerank: Option<usize>,
    /// CPU threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Activations of the quantized projections: exact (the default) or q8.
    #[arg(long, value_enum, default_value = "exact")]
    pub activations: ActivationsArg,
    /// Print the slate as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the slate as JSON to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// A ranked slate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedSlate {
    /// The bundle.
    pub bundle: PathBuf,
    /// The user's raw id.
    pub user: String,
    /// Interactions the phone holds for them.
    pub history_len: usize,
    /// Candidates ranked.
    pub candidates: usize,
    /// per-sample or per-user.
    pub gate_mode: String,
    /// LLM re-scoring of DIN's best N, if set.
    pub llm_rerank: Option<usize>,
    /// Wall seconds of the ranking (bundle already open).
    pub seconds: f64,
    /// The top items, best first.
    pub items: Vec<RankedItem>,
}

/// One row of a ranked slate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedItem {
    /// 1-based place.
    pub rank: usize,
    /// Raw item id.
    pub item_id: u32,
    /// Title.
    pub title: String,
    /// Genres.
    pub genres: String,
    /// The ranking score: the LLM's P(yes), or DIN's P(click) past `llm_rerank`.
    pub score: f32,
    /// DIN's P(click) alone.
    pub din: f32,
    /// Whether the user liked it in the data (rating > 3); `None` when not rated.
    pub liked: Option<bool>,
}

/// Why `rank` failed.
#[derive(Debug, thiserror::Error)]
pub enum RankError {
    /// The user has no test row.
    #[error("user `{user}` has no row in the test split of {data}")]
    UnknownUser {
        /// The raw id asked for.
        user: String,
        /// The dataset.
        data: PathBuf,
    },
    /// The test split is empty.
    #[error("{data} has no test rows")]
    NoTestRows {
        /// The dataset.
        data: PathBuf,
    },
    /// `--top 0` or `--slate 0`.
    #[error("--{option} must be at least 1")]
    Zero {
        /// The option.
        option: &'static str,
    },
    /// A candidate the dataset does not know.
    #[error("candidate {item_id} is not an item of {data}")]
    UnknownItem {
        /// The raw id.
        item_id: u32,
        /// The dataset.
        data: PathBuf,
    },
    /// Rebuilding the user's history failed.
    #[error(transparent)]
    Snapshot(#[from] ParityError),
    /// The dataset's features could not be read.
    #[error(transparent)]
    Features(#[from] crate::export::ExportError),
    /// The runtime refused (bundle, candidates).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// `reclora-train rank`.
pub fn run_rank(args: RankArgs) -> Result<(), CliError> {
    let slate = rank(&args)?;
    let json = serde_json::to_string_pretty(&slate).unwrap_or_default();
    if let Some(out) = &args.out {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
        }
        crate::json_file::write_json(out, &slate)?;
    }
    if args.json {
        println!("{json}");
    } else {
        print!("{}", table(&slate));
    }
    Ok(())
}

/// Ranks the slate of `args`.
pub fn rank(args: &RankArgs) -> Result<RankedSlate, RankError> {
    for (option, value) in [("top", args.top), ("slate", args.slate)] {
        if value == 0 {
            return Err(RankError::Zero { option });
        }
    }
    let data = PreparedDataset::open(&args.data).map_err(ParityError::from)?;
    let features = bundle_features(&args.data)?;
    let (user_raw, rows) = user_test_rows(&data, &features, args)?;
    let (snapshot, _) = user_snapshot(&data, &features, Split::Test, rows[0])?;
    // The user's rated test items: raw id → liked.
    let mut labels: HashMap<u32, bool> = HashMap::new();
    let mut own_items = Vec::new();
    for &row in &rows {
        let sample = data.sample(Split::Test, row).map_err(ParityError::from)?;
        let item_id = raw_item_id(&data, sample.item)?;
        if labels.insert(item_id, sample.label).is_none() && own_items.len() < args.slate {
            own_items.push(item_id);
        }
    }
    let catalog = item_texts(&data);
    let candidates = if args.candidates.is_empty() {
        own_items
    } else {
        args.candidates.clone()
    };
    if let Some(&item_id) = candidates.iter().find(|id| !catalog.contains_key(id)) {
        return Err(RankError::UnknownItem {
            item_id,
            data: args.data.clone(),
        });
    }
    let options = RecommenderOptions {
        backend: Backend::Cpu {
            threads: args.threads,
        },
        gate_mode: args.gate_mode.map(GateModeArg::runtime),
        kernel: args.activations.into(),
        llm_rerank: args.llm_rerank,
        ..RecommenderOptions::default()
    };
    let recommender = Recommender::open_bundle(&args.bundle, options)?;
    let started = Instant::now();
    let ranked = recommender.rank_user(&snapshot, &candidates, args.top)?;
    let seconds = started.elapsed().as_secs_f64();
    let din: HashMap<u32, f32> = candidates
        .iter()
        .copied()
        .zip(recommender.crm_scores(&snapshot, &candidates)?)
        .collect();
    let items = ranked
        .iter()
        .enumerate()
        .map(|(k, scored)| {
            let (title, genres) = catalog.get(&scored.item_id).cloned().unwrap_or_default();
            RankedItem {
                rank: k + 1,
                item_id: scored.item_id,
                title,
                genres,
                score: scored.score,
                din: din.get(&scored.item_id).copied().unwrap_or(f32::NAN),
                liked: labels.get(&scored.item_id).copied(),
            }
        })
        .collect();
    Ok(RankedSlate {
        bundle: args.bundle.clone(),
        user: user_raw,
        history_len: snapshot.events.len(),
        candidates: candidates.len(),
        gate_mode: recommender.gate_mode().as_str().into(),
        llm_rerank: args.llm_rerank,
        seconds,
        items,
    })
}

/// The raw id and test rows (in order) of the user asked for, or of the first test user.
fn user_test_rows(
    data: &PreparedDataset,
    features: &reclora_core::bundle::FeaturesFile,
    args: &RankArgs,
) -> Result<(String, Vec<usize>), RankError> {
    let mut chosen: Option<(u32, String)> = None;
    let mut rows = Vec::new();
    for index in 0..data.split_len(Split::Test) {
        let user = data
            .sample(Split::Test, index)
            .map_err(ParityError::from)?
            .user;
        match &chosen {
            Some((id, _)) if *id == user => rows.push(index),
            Some(_) => {}
            None => {
                let raw = raw_user_id(data, features, user)?;
                if args.user.as_ref().is_none_or(|wanted| *wanted == raw) {
                    chosen = Some((user, raw));
                    rows.push(index);
                }
            }
        }
    }
    match chosen {
        Some((_, raw)) => Ok((raw, rows)),
        None => Err(match &args.user {
            Some(user) => RankError::UnknownUser {
                user: user.clone(),
                data: args.data.clone(),
            },
            None => RankError::NoTestRows {
                data: args.data.clone(),
            },
        }),
    }
}

/// Raw item id → (title, genres).
fn item_texts(data: &PreparedDataset) -> HashMap<u32, (String, String)> {
    let first = data.meta().fields[data.item_field()].offset;
    let count = u32::try_from(data.meta().counts.items).unwrap_or(u32::MAX);
    (first..first.saturating_add(count))
        .filter_map(|item| {
            let raw = data.item_raw_id(item)?.parse::<u32>().ok()?;
            let (title, genres) = data.item_text(item)?;
            Some((raw, (title.to_owned(), genres.to_owned())))
        })
        .collect()
}

/// The slate as a markdown table, with a one-line header.
pub fn table(slate: &RankedSlate) -> String {
    let mut table = Table::new();
    table.load_preset(ASCII_MARKDOWN);
    table.set_header(["rank", "title", "genres", "score", "DIN", "liked"]);
    for item in &slate.items {
        table.add_row([
            item.rank.to_string(),
            item.title.clone(),
            item.genres.clone(),
            format!("{:.4}", item.score),
            format!("{:.4}", item.din),
            match item.liked {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => "-".into(),
            },
        ]);
    }
    format!(
        "user {}: {} interactions on the phone, {} candidates ranked in {:.2} s ({}{})\n{table}\n",
        slate.user,
        slate.history_len,
        slate.candidates,
        slate.seconds,
        slate.gate_mode,
        slate
            .llm_rerank
            .map_or(String::new(), |n| format!(", LLM re-scores DIN's best {n}")),
    )
}
