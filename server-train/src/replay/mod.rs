//! `reclora-train replay`: ML-1M test users with their real profiles, histories and
//! candidate slates, written as the replay set `reclora-bench` runs
//! ([`reclora_bench::replay`]).
//!
//! A user's request is taken at their first test-split row: the history is every
//! interaction before it (what the phone would hold), and the slate is that row and the
//! user's next test rows in time order, each with its real label (rating > 3), filled up to
//! `--candidates` with seeded catalog items the user has not rated in the slate or the
//! history, unlabelled (AUC skips them).

#[cfg(test)]
pub(crate) mod tests;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use reclora_bench::replay::{REPLAY_FORMAT, Replay, ReplayCandidate, ReplayEvent, ReplayRequest};
use reclora_core::bundle::FeaturesFile;
use reclora_core::rng::SplitMix64;

use crate::data::{PreparedDataset, Split};
use crate::error::CliError;
use crate::export::bundle_features;
use crate::finetune::files::RunFolder;
use crate::parity::{ParityError, raw_item_id, user_snapshot};

/// Options of `replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// A folder made by `prepare` (default: the `--run`'s dataset).
    #[arg(long, required_unless_present = "run")]
    pub data: Option<PathBuf>,
    /// A fine-tuning run, for its dataset.
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// Test users to replay (the first ones in test-split order).
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Candidates per slate.
    #[arg(long, default_value_t = 50)]
    pub candidates: usize,
    /// Seed of the filler candidates.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The replay file to write (JSON).
    #[arg(long)]
    pub out: PathBuf,
}

/// Why `replay` failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Reading a test row failed.
    #[error(transparent)]
    Parity(#[from] ParityError),
    /// The features could not be read.
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    /// Writing the file failed.
    #[error(transparent)]
    Bench(#[from] reclora_bench::BenchError),
    /// `--users 0` or `--candidates 0`.
    #[error("--{option} must be at least 1")]
    Zero {
        /// The option.
        option: &'static str,
    },
    /// Neither `--data` nor `--run`.
    #[error("give --data (a prepared dataset) or --run (a run whose dataset to use)")]
    NoData,
    /// No test row.
    #[error("{path} has no test rows to replay")]
    NoTestRows {
        /// The dataset.
        path: PathBuf,
    },
}

/// `reclora-train replay`.
pub fn run_replay(args: ReplayArgs) -> Result<(), CliError> {
    let data_dir = match (&args.data, &args.run) {
        (Some(dir), _) => dir.clone(),
        (None, Some(run)) => {
            RunFolder::new(run)
                .read_config()
                .map_err(ParityError::from)
                .map_err(ReplayError::from)?
                .data
        }
        (None, None) => return Err(ReplayError::NoData.into()),
    };
    let replay = build(&data_dir, args.users, args.candidates, args.seed)?;
    replay.write(&args.out).map_err(ReplayError::from)?;
    let labelled: usize = replay
        .requests
        .iter()
        .map(|r| r.candidates.iter().filter(|c| c.label.is_some()).count())
        .sum();
    println!(
        "{}",
        serde_json::json!({
            "out": args.out,
            "requests": replay.requests.len(),
            "candidates": args.candidates,
            "labelled": labelled,
        })
    );
    Ok(())
}

/// The replay of the first `users` test users of `data_dir`.
pub fn build(
    data_dir: &Path,
    users: usize,
    candidates: usize,
    seed: u64,
) -> Result<Replay, ReplayError> {
    for (option, value) in [("users", users), ("candidates", candidates)] {
        if value == 0 {
            return Err(ReplayError::Zero { option });
        }
    }
    let data = PreparedDataset::open(data_dir).map_err(ParityError::from)?;
    let features = bundle_features(data_dir)?;
    // Test rows per user, in order; users in order of their first test row.
    let mut order: Vec<u32> = Vec::new();
    let mut rows: HashMap<u32, Vec<usize>> = HashMap::new();
    for index in 0..data.split_len(Split::Test) {
        let sample = data.sample(Split::Test, index).map_err(ParityError::from)?;
        let list = rows.entry(sample.user).or_default();
        if list.is_empty() {
            if order.len() == users {
                continue;
            }
            order.push(sample.user);
        }
        list.push(index);
    }
    if order.is_empty() {
        return Err(ReplayError::NoTestRows {
            path: data_dir.to_path_buf(),
        });
    }
    let catalog = catalog_ids(&features);
    let mut rng = SplitMix64::new(seed);
    let requests = order
        .iter()
        .map(|user| {
            request(
                &data,
                &features,
                &rows[user],
                candidates,
                &catalog,
                &mut rng,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Replay {
        format: REPLAY_FORMAT.to_owned(),
        dataset: data.dataset().as_str().to_owned(),
        source: data_dir.display().to_string(),
        seed,
        requests,
    })
}

/// Raw ids of the catalog (the item-id field's values).
fn catalog_ids(features: &FeaturesFile) -> Vec<u32> {
    features
        .fields
        .get(features.user_fields)
        .map(|f| f.values.iter().filter_map(|v| v.parse().ok()).collect())
        .unwrap_or_default()
}

fn request(
    data: &PreparedDataset,
    features: &FeaturesFile,
    rows: &[usize],
    candidates: usize,
    catalog: &[u32],
    rng: &mut SplitMix64,
) -> Result<ReplayRequest, ReplayError> {
    let (snapshot, _) = user_snapshot(data, features, Split::Test, rows[0])?;
    let mut slate = Vec::with_capacity(candidates);
    for &row in rows.iter().take(candidates) {
        let sample = data.sample(Split::Test, row).map_err(ParityError::from)?;
        slate.push(ReplayCandidate {
            item_id: raw_item_id(data, sample.item)?,
            label: Some(sample.label),
        });
    }
    let mut taken: HashSet<u32> = snapshot.events.iter().map(|e| e.item_id).collect();
    taken.extend(slate.iter().map(|c| c.item_id));
    // Fillers: catalog items new to this user, a seeded partial shuffle.
    let mut fresh: Vec<u32> = catalog
        .iter()
        .copied()
        .filter(|id| !taken.contains(id))
        .collect();
    let needed = candidates.saturating_sub(slate.len()).min(fresh.len());
    for k in 0..needed {
        let pick = k + rng.below(fresh.len() - k);
        fresh.swap(k, pick);
        slate.push(ReplayCandidate {
            item_id: fresh[k],
            label: None,
        });
    }
    let history = snapshot
        .events
        .iter()
        .map(|e| ReplayEvent {
            item_id: e.item_id,
            rating: e.feedback.as_rating(),
            timestamp: e.timestamp,
        })
        .collect();
    let user = snapshot
        .profile
        .fields
        .first()
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    Ok(ReplayRequest {
        user,
        profile: snapshot.profile.fields,
        history,
        candidates: slate,
    })
}
