//! Errors: a detailed internal [`Error`] for logs and Rust tests, and the coarse public
//! [`RecloraError`] that Kotlin, Swift and Python catch by type.

use reclora_core::bundle::BundleError;
use reclora_core::history::HistoryError;
use reclora_core::runtime::RuntimeError;

/// Why a reclora call failed. Kotlin: `RecloraException.*`; Swift: `RecloraError.*`;
/// Python: `RecloraError.*`. `reason` is for logs and bug reports, not for parsing.
#[derive(Debug, Clone, PartialEq, thiserror::Error, uniffi::Error)]
pub enum RecloraError {
    /// The bundle is corrupt, inconsistent, or from a newer format; shipping a new bundle
    /// fixes it, retrying does not.
    #[error("invalid bundle: {reason}")]
    BundleInvalid {
        /// What is wrong, naming the file.
        reason: String,
    },
    /// A file or folder could not be read or written: a missing bundle, a history path in
    /// a folder that does not exist, a full disk, a history file that is not one.
    #[error("i/o: {reason}")]
    Io {
        /// The path and the OS error.
        reason: String,
    },
    /// The call itself is wrong: an empty candidate list, a rating outside 1 to 5, a
    /// profile the bundle cannot read, a negative count.
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// Which argument and why.
        reason: String,
    },
    /// A candidate that is not in the bundle's catalog.
    #[error("item {item_id} is not in the bundle's catalog")]
    UnknownItem {
        /// The item id as given.
        item_id: i64,
    },
    /// The recommender was closed; open a new one.
    #[error("the recommender is closed")]
    Closed,
    /// A bug in reclora (a panic, caught before it reached the app) or a failure of the
    /// model runtime; the next call may succeed.
    #[error("internal error: {reason}")]
    Internal {
        /// What failed.
        reason: String,
    },
}

/// A bad argument, found at the boundary before core is called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgumentError {
    /// `score` and `rank` need at least one candidate.
    #[error("the candidate list is empty")]
    NoCandidates,
    /// Item ids are 0..=4294967295 (u32 in the bundle).
    #[error("item id {0} is outside 0..=4294967295")]
    ItemId(i64),
    /// `top_k` is at least 1.
    #[error("top_k must be at least 1, got {0}")]
    TopK(i32),
    /// Star ratings are 1 to 5.
    #[error("rating {0} is outside 1..=5")]
    Rating(i32),
    /// A count option below its minimum.
    #[error("option `{name}` must be at least {min}, got {value}")]
    Option {
        /// The option.
        name: &'static str,
        /// Its smallest value.
        min: i32,
        /// The value given.
        value: i32,
    },
}

/// Everything that can go wrong inside the wrapper, in full detail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Core refused or failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A bad argument.
    #[error(transparent)]
    Argument(#[from] ArgumentError),
    /// The recommender was closed.
    #[error("the recommender is closed")]
    Closed,
    /// Rust code panicked; caught at the boundary.
    #[error("panic in `{call}`: {message}")]
    Panic {
        /// The exported call.
        call: &'static str,
        /// The panic's message.
        message: String,
    },
}

impl From<Error> for RecloraError {
    fn from(error: Error) -> Self {
        let reason = error.to_string();
        match error {
            Error::Runtime(runtime) => from_runtime(runtime, reason),
            Error::Argument(_) => Self::InvalidArgument { reason },
            Error::Closed => Self::Closed,
            Error::Panic { .. } => Self::Internal { reason },
        }
    }
}

fn from_runtime(error: RuntimeError, reason: String) -> RecloraError {
    use RecloraError as Public;
    match error {
        RuntimeError::Bundle(BundleError::Io { .. } | BundleError::MissingFile { .. }) => {
            Public::Io { reason }
        }
        RuntimeError::Bundle(_) => Public::BundleInvalid { reason },
        RuntimeError::History(history) => match history {
            HistoryError::InvalidRecord(_) | HistoryError::InvalidOptions(_) => {
                Public::InvalidArgument { reason }
            }
            HistoryError::Io { .. }
            | HistoryError::NotAHistoryFile { .. }
            | HistoryError::UnsupportedVersion { .. }
            | HistoryError::Corrupt { .. } => Public::Io { reason },
        },
        RuntimeError::UnknownCandidate { item_id } => Public::UnknownItem {
            item_id: i64::from(item_id),
        },
        RuntimeError::MissingProfileField { .. }
        | RuntimeError::UnknownProfileValue { .. }
        | RuntimeError::TooManyCandidates { .. }
        | RuntimeError::ZeroOption { .. }
        | RuntimeError::Rating { .. }
        | RuntimeError::Backend(_) => Public::InvalidArgument { reason },
        RuntimeError::Llm(_)
        | RuntimeError::Plora(_)
        | RuntimeError::Prompt(_)
        | RuntimeError::Tokenizer(_)
        | RuntimeError::ThreadPool { .. }
        | RuntimeError::Readback
        | RuntimeError::PrefixSplit
        | RuntimeError::NoStore => Public::Internal { reason },
    }
}
