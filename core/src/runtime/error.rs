//! What can go wrong on the phone, by cause.

use crate::BackendUnavailable;
use crate::bundle::BundleError;
use crate::history::HistoryError;
use crate::llm::LlmError;
use crate::plora::PloraError;
use crate::prompt::PromptError;
use crate::tokenizer::TokenizerError;

/// Why a [`super::Recommender`] call failed. Every variant names what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The bundle is missing, corrupt or inconsistent.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The history store cannot be opened or written.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// The LLM rejected its input (prompt too long, bad ids) or failed.
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// The adapter's gates or shapes do not fit.
    #[error(transparent)]
    Plora(#[from] PloraError),
    /// A prompt could not be built.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// Tokenizing a prompt failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The requested backend is not compiled in and no fallback applies.
    #[error(transparent)]
    Backend(#[from] BackendUnavailable),
    /// The CPU thread pool could not be built.
    #[error("building a CPU pool of {threads} threads: {source}")]
    ThreadPool {
        /// Threads asked for.
        threads: usize,
        /// The pool builder's error.
        source: rayon::ThreadPoolBuildError,
    },
    /// The user's profile lacks a field the CRM reads.
    #[error("the user profile has no `{field}`; the CRM needs it")]
    MissingProfileField {
        /// The field name.
        field: String,
    },
    /// A profile value the CRM's dictionary does not know.
    #[error("profile field `{field}` has value `{value}`, unknown to the CRM")]
    UnknownProfileValue {
        /// The field name.
        field: String,
        /// The value.
        value: String,
    },
    /// A candidate the bundle's catalog does not know.
    #[error("candidate item {item_id} is not in the bundle's catalog")]
    UnknownCandidate {
        /// The raw item id.
        item_id: u32,
    },
    /// More candidates in one call than the options allow.
    #[error("{requested} candidates in one call; the limit is {limit}")]
    TooManyCandidates {
        /// Candidates given.
        requested: usize,
        /// `RecommenderOptions::max_candidates`.
        limit: usize,
    },
    /// An option is out of range.
    #[error("option `{option}` must be at least 1")]
    ZeroOption {
        /// The option's name.
        option: &'static str,
    },
    /// A stored rating is outside the CRM's rating codes.
    #[error("item {item_id} has rating {rating}; the bundle knows 1..={levels}")]
    Rating {
        /// The raw item id.
        item_id: u32,
        /// The rating.
        rating: u8,
        /// Highest code.
        levels: u8,
    },
    /// A tensor could not be read back from the device.
    #[error("reading a tensor back from the device failed")]
    Readback,
    /// The shared prompt prefix of per-user mode does not tokenize the same inside a full
    /// prompt (a tokenizer merging across the cut).
    #[error("the shared prompt prefix tokenizes differently inside the full prompt")]
    PrefixSplit,
    /// The recommender was opened without a history store.
    #[error("this recommender was opened without a history store")]
    NoStore,
}
