//! The values that cross the boundary, and their checked conversions to core's types.
//! Signed integers only: Java and Kotlin have no unsigned ints that map cleanly.

use std::collections::HashMap;

use reclora_core::history::{Feedback as CoreFeedback, StoredEvent, UserProfile as CoreProfile};
use reclora_core::runtime::{
    Backend as CoreBackend, GateMode as CoreGateMode, RecommenderOptions as CoreOptions,
};

use crate::error::ArgumentError;

/// Where the models run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Backend {
    /// The CPU (burn-flex: NEON on phones), in `RecommenderOptions::threads` threads.
    Cpu,
    /// The GPU (Vulkan, Metal) when the library is built with `wgpu` and the device has an
    /// adapter; otherwise the CPU, with the reason in the log.
    Gpu,
}

/// Where the LoRA gates come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum GateMode {
    /// The paper's: each candidate gets its own gates and retrieved history.
    PerSample,
    /// One set of gates per user and a cached prompt prefix: about 4x faster per slate.
    PerUser,
}

/// How a recommender runs. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecommenderOptions {
    /// Backend; unset: the CPU.
    #[uniffi(default = None)]
    pub backend: Option<Backend>,
    /// CPU threads; 0 means one per core.
    #[uniffi(default = 0)]
    pub threads: i32,
    /// Gate mode; unset: the mode the bundle's adapter was trained for.
    #[uniffi(default = None)]
    pub gate_mode: Option<GateMode>,
    /// Hash every bundle file against the manifest at open (slower; catches corruption
    /// that keeps the sizes).
    #[uniffi(default = false)]
    pub verify_checksums: bool,
    /// Prompts per LLM forward.
    #[uniffi(default = 8)]
    pub batch_size: i32,
    /// Most candidates one `score` or `rank` call accepts.
    #[uniffi(default = 1000)]
    pub max_candidates: i32,
    /// `rank` only: DIN orders every candidate and the LLM re-scores DIN's best this many;
    /// the rest follow in DIN's order with DIN's P(click) as score. 0: the LLM scores all.
    #[uniffi(default = 0)]
    pub llm_rerank: i32,
}

impl Default for RecommenderOptions {
    fn default() -> Self {
        Self {
            backend: None,
            threads: 0,
            gate_mode: None,
            verify_checksums: false,
            batch_size: 8,
            max_candidates: 1000,
            llm_rerank: 0,
        }
    }
}

/// The user's reaction to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Feedback {
    /// 1 to 5 stars.
    Rating {
        /// The stars.
        stars: i32,
    },
    /// A thumbs-up (counts as 5 stars).
    Like,
    /// A thumbs-down (counts as 1 star).
    Dislike,
}

/// One interaction to remember.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct UserEvent {
    /// The catalog's item id. Ids the bundle does not know are kept and skipped.
    pub item_id: i64,
    /// The reaction.
    pub feedback: Feedback,
    /// Seconds since the Unix epoch.
    pub timestamp_seconds: i64,
}

/// The user's profile, by the field names of the bundle's `features.json` (MovieLens:
/// `user_id`, `gender`, `age`, `occupation`, `zip_code`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UserProfile {
    /// Field name to raw value (`"gender"` to `"F"`).
    pub fields: HashMap<String, String>,
}

/// One ranked candidate.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct ScoredItem {
    /// The item id.
    pub item_id: i64,
    /// P(yes) that the user likes it, in 0..1 (computed in f32).
    pub score: f64,
}

pub(crate) fn item_id(id: i64) -> Result<u32, ArgumentError> {
    u32::try_from(id).map_err(|_| ArgumentError::ItemId(id))
}

pub(crate) fn candidate_ids(ids: &[i64]) -> Result<Vec<u32>, ArgumentError> {
    if ids.is_empty() {
        return Err(ArgumentError::NoCandidates);
    }
    ids.iter().map(|&id| item_id(id)).collect()
}

fn at_least(name: &'static str, value: i32, min: i32) -> Result<usize, ArgumentError> {
    if value < min {
        return Err(ArgumentError::Option { name, min, value });
    }
    usize::try_from(value).map_err(|_| ArgumentError::Option { name, min, value })
}

impl RecommenderOptions {
    pub(crate) fn to_core(&self) -> Result<CoreOptions, ArgumentError> {
        let threads = match at_least("threads", self.threads, 0)? {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        Ok(CoreOptions {
            backend: match self.backend.unwrap_or(Backend::Cpu) {
                Backend::Cpu => CoreBackend::Cpu { threads },
                Backend::Gpu => CoreBackend::Wgpu,
            },
            gate_mode: self.gate_mode.map(|mode| match mode {
                GateMode::PerSample => CoreGateMode::PerSample,
                GateMode::PerUser => CoreGateMode::PerUser,
            }),
            batch_size: at_least("batch_size", self.batch_size, 1)?,
            max_candidates: at_least("max_candidates", self.max_candidates, 1)?,
            verify_checksums: self.verify_checksums,
            llm_rerank: match at_least("llm_rerank", self.llm_rerank, 0)? {
                0 => None,
                n => Some(n),
            },
            ..CoreOptions::default()
        })
    }
}

impl UserEvent {
    pub(crate) fn to_core(self) -> Result<StoredEvent, ArgumentError> {
        let feedback = match self.feedback {
            Feedback::Rating { stars } => match u8::try_from(stars) {
                Ok(stars @ 1..=5) => CoreFeedback::Rating(stars),
                _ => return Err(ArgumentError::Rating(stars)),
            },
            Feedback::Like => CoreFeedback::Like,
            Feedback::Dislike => CoreFeedback::Dislike,
        };
        Ok(StoredEvent {
            item_id: item_id(self.item_id)?,
            feedback,
            timestamp: self.timestamp_seconds,
        })
    }
}

impl UserProfile {
    /// Sorted by name, so the same profile is stored the same way.
    pub(crate) fn to_core(&self) -> CoreProfile {
        let mut fields: Vec<(&String, &String)> = self.fields.iter().collect();
        fields.sort();
        CoreProfile::new(fields.into_iter().map(|(k, v)| (k.clone(), v.clone())))
    }
}
