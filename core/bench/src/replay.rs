//! The replay set: test users with their real profiles, histories and candidate slates
//! (`reclora-train replay` writes it), and the requests a run draws from it.

use std::path::Path;

use reclora_core::history::{Feedback, StoredEvent, UserProfile};
use reclora_core::runtime::UserSnapshot;
use serde::{Deserialize, Serialize};

use crate::error::BenchError;

/// The `format` of this version of the replay file.
pub const REPLAY_FORMAT: &str = "reclora-replay/1";

/// A replay file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// Always [`REPLAY_FORMAT`].
    pub format: String,
    /// The dataset's name (`ml-1m`).
    pub dataset: String,
    /// Where it came from (the prepared dataset folder).
    pub source: String,
    /// Seed of the filler candidates.
    pub seed: u64,
    /// One request per user.
    pub requests: Vec<ReplayRequest>,
}

/// One user and one slate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The dataset's raw user id.
    pub user: String,
    /// Profile fields by the names of the bundle's `features.json`.
    pub profile: Vec<(String, String)>,
    /// Every interaction before the slate, oldest first.
    pub history: Vec<ReplayEvent>,
    /// The slate: the user's test-split items first (labelled), then unlabelled fillers.
    pub candidates: Vec<ReplayCandidate>,
}

/// One past interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayEvent {
    /// Raw item id.
    pub item_id: u32,
    /// Rating (1..=5 on MovieLens).
    pub rating: u8,
    /// Unix seconds.
    pub timestamp: i64,
}

/// One candidate of a slate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayCandidate {
    /// Raw item id.
    pub item_id: u32,
    /// The real label (rating > 3) of a test-split row; `None` for a filler, which AUC
    /// leaves out.
    pub label: Option<bool>,
}

impl Replay {
    /// Reads and checks a replay file: format, and at least one request with a candidate.
    pub fn read(path: &Path) -> Result<Self, BenchError> {
        let text = std::fs::read_to_string(path).map_err(|e| BenchError::io(path, e))?;
        let replay: Self = serde_json::from_str(&text).map_err(|source| BenchError::Json {
            path: path.to_path_buf(),
            what: "replay file",
            source,
        })?;
        if replay.format != REPLAY_FORMAT {
            return Err(BenchError::Version {
                path: path.to_path_buf(),
                found: replay.format,
                expected: REPLAY_FORMAT,
            });
        }
        if !replay.requests.iter().any(|r| !r.candidates.is_empty()) {
            return Err(BenchError::EmptyReplay {
                path: path.to_path_buf(),
                why: " with a candidate".to_owned(),
            });
        }
        Ok(replay)
    }

    /// Writes it as pretty JSON.
    pub fn write(&self, path: &Path) -> Result<(), BenchError> {
        let text = serde_json::to_string(self).map_err(|source| BenchError::Json {
            path: path.to_path_buf(),
            what: "replay file",
            source,
        })?;
        std::fs::write(path, text).map_err(|e| BenchError::io(path, e))
    }
}

/// One request as a run scores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Index in the replay.
    pub index: usize,
    /// The user as the runtime takes it.
    pub user: UserSnapshot,
    /// Candidate raw ids.
    pub candidates: Vec<u32>,
    /// Their labels (`None` for fillers).
    pub labels: Vec<Option<bool>>,
}

/// How a run draws its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    /// Candidates per request (the first M of each slate; shorter slates are skipped).
    pub candidates: usize,
    /// Keep only the last H interactions (`None`: all).
    pub history: Option<usize>,
    /// Timed requests.
    pub requests: usize,
    /// Untimed requests before them.
    pub warmup: usize,
    /// Order of the requests (a seeded shuffle; 0 keeps the file's order).
    pub seed: u64,
}

impl Selection {
    /// `warmup + requests` requests, cycling through the usable ones when there are fewer.
    pub fn draw(&self, replay: &Replay, path: &Path) -> Result<Vec<Request>, BenchError> {
        let mut usable: Vec<usize> = (0..replay.requests.len())
            .filter(|&i| replay.requests[i].candidates.len() >= self.candidates)
            .collect();
        if usable.is_empty() {
            return Err(BenchError::EmptyReplay {
                path: path.to_path_buf(),
                why: format!(" with at least {} candidates", self.candidates),
            });
        }
        shuffle(&mut usable, self.seed);
        Ok((0..self.warmup + self.requests)
            .map(|k| self.request(replay, usable[k % usable.len()]))
            .collect())
    }

    fn request(&self, replay: &Replay, index: usize) -> Request {
        let source = &replay.requests[index];
        let shown = self
            .history
            .map_or(0, |h| source.history.len().saturating_sub(h));
        let events = source.history[shown..]
            .iter()
            .map(|e| StoredEvent {
                item_id: e.item_id,
                feedback: Feedback::Rating(e.rating),
                timestamp: e.timestamp,
            })
            .collect();
        let slate = &source.candidates[..self.candidates];
        Request {
            index,
            user: UserSnapshot {
                profile: UserProfile::new(source.profile.iter().cloned()),
                events,
            },
            candidates: slate.iter().map(|c| c.item_id).collect(),
            labels: slate.iter().map(|c| c.label).collect(),
        }
    }
}

/// Fisher–Yates with SplitMix64; seed 0 leaves the order alone.
fn shuffle(items: &mut [usize], seed: u64) {
    if seed == 0 {
        return;
    }
    let mut rng = reclora_core::rng::SplitMix64::new(seed);
    for i in (1..items.len()).rev() {
        let j = rng.below(i + 1);
        items.swap(i, j);
    }
}
