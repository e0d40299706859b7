//! `reclora-train parity`: scores test samples through the on-device runtime from a bundle
//! and compares them with the server's scores of the same run (`scores.csv`), the
//! acceptance check that a bundle reproduces the training-time model; and
//! `reclora-train score-latency`, per-sample against per-user gates on one slate.

mod latency;
mod snapshot;
#[cfg(test)]
pub(crate) mod tests;

use std::path::PathBuf;
use std::time::Instant;

pub use reclora_bench::cli::ActivationsArg;
use reclora_core::bundle::FeaturesFile;
use reclora_core::runtime::{Backend, Recommender, RecommenderOptions, RuntimeError};
use serde::Serialize;

pub use latency::{LatencyArgs, run_latency};
pub use snapshot::{raw_item_id, raw_user_id, user_snapshot};

use crate::data::{DataError, PreparedDataset, Split};
use crate::finetune::FinetuneError;
use crate::finetune::files::RunFolder;
use crate::metrics::{self, MetricError};
use crate::scores::{ScoredRow, ScoresError, read_scores};

/// Why a parity run failed.
#[derive(Debug, thiserror::Error)]
pub enum ParityError {
    /// The runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The dataset could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The run could not be read.
    #[error(transparent)]
    Run(#[from] FinetuneError),
    /// The reference scores could not be read.
    #[error(transparent)]
    Scores(#[from] ScoresError),
    /// AUC could not be computed.
    #[error(transparent)]
    Metric(#[from] MetricError),
    /// The run's `scores.csv` holds no scored row.
    #[error("{path} holds no scores; evaluate the run first")]
    NoScores {
        /// The score file.
        path: PathBuf,
    },
    /// A user id outside the dataset.
    #[error("user {user} has no features")]
    UnknownUser {
        /// Local user id.
        user: u32,
    },
    /// A feature id outside its field's dictionary.
    #[error("feature id {id} is not a value of field `{field}`")]
    FeatureId {
        /// The field.
        field: String,
        /// The id.
        id: u32,
    },
    /// An item whose raw id is not a number (the phone's store keys items by u32).
    #[error("item feature {item} has no numeric raw id")]
    ItemId {
        /// The item feature id.
        item: u32,
    },
    /// `--test-rows 0`.
    #[error("--test-rows must be at least 1")]
    NoRows,
}

/// Options of `parity`.
#[derive(Debug, Clone, clap::Args)]
pub struct ParityArgs {
    /// The finished, evaluated reclora run the bundle was exported from.
    #[arg(long)]
    pub run: PathBuf,
    /// The bundle folder.
    #[arg(long)]
    pub bundle: PathBuf,
    /// Compare the first this many test rows that the run scored (by row index).
    #[arg(long, default_value_t = 500)]
    pub test_rows: usize,
    /// Run on wgpu (falls back to the CPU when there is no adapter).
    #[arg(long)]
    pub wgpu: bool,
    /// CPU threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Gate per (user, candidate) or per user with a cached prompt prefix; unset: the mode
    /// the bundle's adapter was trained for (the run's, whose scores are compared).
    #[arg(long, value_enum)]
    pub gate_mode: Option<GateModeArg>,
    /// How q8/q4 bundles quantize activations: exact (Q8 blocks and their residual's) or
    /// q8 (one 8-bit pass, as llama.cpp).
    #[arg(long, value_enum, default_value = "exact")]
    pub activations: ActivationsArg,
    /// Write the report here as JSON too.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `--gate-mode`: the same two modes as `finetune --gate-mode`.
pub use crate::finetune::GateMode as GateModeArg;

/// What `parity` measured.
#[derive(Debug, Clone, Serialize)]
pub struct ParityReport {
    /// The bundle.
    pub bundle: PathBuf,
    /// Its quant scheme.
    pub quant: String,
    /// The backend that ran (and why not the GPU, if asked for).
    pub backend: String,
    /// Gate mode.
    pub gate_mode: String,
    /// Activations of the int8 GEMM (`Exact` or `Q8`).
    pub activations: String,
    /// Rows compared.
    pub rows: usize,
    /// max |P_bundle − P_server|.
    pub max_abs_diff: f64,
    /// mean |P_bundle − P_server|.
    pub mean_abs_diff: f64,
    /// AUC of the server's scores on these rows.
    pub auc_server: f64,
    /// AUC of the bundle's scores.
    pub auc_bundle: f64,
    /// `auc_bundle − auc_server`.
    pub auc_diff: f64,
    /// Opening the bundle.
    pub open_seconds: f64,
    /// From the start of open to the first score returned.
    pub first_score_seconds: f64,
    /// Mean seconds per scored row after the first.
    pub seconds_per_row: f64,
}

/// `reclora-train parity`.
pub fn run_parity(args: ParityArgs) -> Result<(), crate::error::CliError> {
    let report = parity(&args)?;
    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
    if let Some(out) = &args.out {
        std::fs::write(out, &json).map_err(|e| crate::error::CliError::io(out, e))?;
    }
    println!("{json}");
    Ok(())
}

/// Scores the run's first `args.test_rows` scored test rows from the bundle and compares.
pub fn parity(args: &ParityArgs) -> Result<ParityReport, ParityError> {
    if args.test_rows == 0 {
        return Err(ParityError::NoRows);
    }
    let folder = RunFolder::new(&args.run);
    let config = folder.read_config()?;
    let data = PreparedDataset::open(&config.data)?;
    let scores_path = folder.scores();
    // The first rows the run scored: rows 0.. after `eval --test-rows`, the seeded sample's
    // smallest row indices after `eval --test-sample`.
    let mut server = read_scores(&scores_path)?;
    server.sort_by_key(|s| s.row);
    server.dedup_by_key(|s| s.row);
    server.truncate(args.test_rows);
    if server.is_empty() {
        return Err(ParityError::NoScores { path: scores_path });
    }
    let rows: Vec<usize> = server.iter().map(|s| s.row).collect();
    let options = RecommenderOptions {
        backend: if args.wgpu {
            Backend::Wgpu
        } else {
            Backend::Cpu {
                threads: args.threads,
            }
        },
        gate_mode: args.gate_mode.map(GateModeArg::runtime),
        kernel: args.activations.into(),
        ..RecommenderOptions::default()
    };
    let started = Instant::now();
    let recommender = Recommender::open_bundle(&args.bundle, options)?;
    let open_seconds = started.elapsed().as_secs_f64();
    let features: FeaturesFile = recommender.features().clone();
    let mut bundle_scores = Vec::with_capacity(rows.len());
    let mut first_score_seconds = 0.0;
    let scoring = Instant::now();
    for (k, &row) in rows.iter().enumerate() {
        let (user, target) = user_snapshot(&data, &features, Split::Test, row)?;
        let score = recommender.score_user(&user, &[target])?;
        bundle_scores.push(score[0]);
        if k == 0 {
            first_score_seconds = started.elapsed().as_secs_f64();
        }
    }
    let rest = scoring.elapsed().as_secs_f64() - (first_score_seconds - open_seconds);
    report(
        args,
        &recommender,
        &server,
        &bundle_scores,
        open_seconds,
        first_score_seconds,
        rest,
    )
}

fn report(
    args: &ParityArgs,
    recommender: &Recommender,
    server: &[ScoredRow],
    bundle_scores: &[f32],
    open_seconds: f64,
    first_score_seconds: f64,
    rest_seconds: f64,
) -> Result<ParityReport, ParityError> {
    let labels: Vec<bool> = server.iter().map(|s| s.label).collect();
    let server_scores: Vec<f32> = server.iter().map(|s| s.p_yes).collect();
    let diffs: Vec<f64> = server_scores
        .iter()
        .zip(bundle_scores)
        .map(|(&a, &b)| f64::from((a - b).abs()))
        .collect();
    let auc_server = metrics::auc(&labels, &server_scores)?;
    let auc_bundle = metrics::auc(&labels, bundle_scores)?;
    let backend = recommender.backend();
    Ok(ParityReport {
        bundle: args.bundle.clone(),
        quant: recommender.manifest().quant.short_name().to_owned(),
        backend: match &backend.fallback {
            Some(reason) => format!("{:?} (fallback: {reason})", backend.kind),
            None => format!("{:?}", backend.kind),
        },
        gate_mode: recommender.gate_mode().as_str().into(),
        activations: format!("{:?}", args.activations),
        rows: diffs.len(),
        max_abs_diff: diffs.iter().copied().fold(0.0, f64::max),
        mean_abs_diff: diffs.iter().sum::<f64>() / diffs.len().max(1) as f64,
        auc_server,
        auc_bundle,
        auc_diff: auc_bundle - auc_server,
        open_seconds,
        first_score_seconds,
        seconds_per_row: rest_seconds / (diffs.len().saturating_sub(1)).max(1) as f64,
    })
}
