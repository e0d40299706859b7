//! `reclora-train score-latency`: per-candidate scoring latency of one test user's slate,
//! per-sample against per-user gates, from one bundle, side by side.

use std::path::PathBuf;
use std::time::Instant;

use reclora_core::runtime::{Backend, GateMode, Recommender, RecommenderOptions};
use serde::Serialize;

use super::{ParityError, user_snapshot};
use crate::data::{PreparedDataset, Split};
use crate::finetune::files::RunFolder;

/// Options of `score-latency`.
#[derive(Debug, Clone, clap::Args)]
pub struct LatencyArgs {
    /// The run the bundle was exported from (for its dataset).
    #[arg(long)]
    pub run: PathBuf,
    /// The bundle folder.
    #[arg(long)]
    pub bundle: PathBuf,
    /// The test row whose user and history are used.
    #[arg(long, default_value_t = 0)]
    pub row: usize,
    /// Candidates in the slate: the row's target, then catalog items in id order.
    #[arg(long, default_value_t = 32)]
    pub candidates: usize,
    /// Timed repetitions per mode (after one warm-up call).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// CPU threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Prompts per forward.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
}

/// One mode's timing.
#[derive(Debug, Clone, Serialize)]
pub struct ModeLatency {
    /// Gate mode.
    pub gate_mode: String,
    /// Median seconds for the whole slate.
    pub slate_seconds: f64,
    /// `slate_seconds / candidates`.
    pub per_candidate_ms: f64,
}

/// `reclora-train score-latency`.
pub fn run_latency(args: LatencyArgs) -> Result<(), crate::error::CliError> {
    let config = RunFolder::new(&args.run)
        .read_config()
        .map_err(ParityError::from)?;
    let data = PreparedDataset::open(&config.data).map_err(ParityError::from)?;
    let mut results = Vec::new();
    let mut slate = Vec::new();
    for gate_mode in [GateMode::PerSample, GateMode::PerUser] {
        let options = RecommenderOptions {
            backend: Backend::Cpu {
                threads: args.threads,
            },
            gate_mode: Some(gate_mode),
            batch_size: args.batch,
            ..RecommenderOptions::default()
        };
        let recommender =
            Recommender::open_bundle(&args.bundle, options).map_err(ParityError::from)?;
        let (user, target) = user_snapshot(&data, recommender.features(), Split::Test, args.row)?;
        if slate.is_empty() {
            slate.push(target);
            let ids = &recommender.features().fields[recommender.features().user_fields].values;
            slate.extend(
                ids.iter()
                    .filter_map(|id| id.parse::<u32>().ok())
                    .filter(|&id| id != target)
                    .take(args.candidates.saturating_sub(1)),
            );
        }
        recommender
            .score_user(&user, &slate)
            .map_err(ParityError::from)?;
        let mut times = Vec::with_capacity(args.repeats.max(1));
        for _ in 0..args.repeats.max(1) {
            let started = Instant::now();
            recommender
                .score_user(&user, &slate)
                .map_err(ParityError::from)?;
            times.push(started.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        results.push(ModeLatency {
            gate_mode: format!("{gate_mode:?}"),
            slate_seconds: median,
            per_candidate_ms: median * 1e3 / slate.len() as f64,
        });
    }
    let speedup = results[0].slate_seconds / results[1].slate_seconds;
    println!(
        "{}",
        serde_json::json!({
            "bundle": args.bundle,
            "candidates": slate.len(),
            "history": user_events(&data, args.row),
            "modes": results,
            "per_user_speedup": speedup,
        })
    );
    Ok(())
}

fn user_events(data: &PreparedDataset, row: usize) -> usize {
    data.sample(Split::Test, row).map_or(0, |s| s.history_len)
}
