//! What can go wrong with the local history file.

use std::path::PathBuf;

/// A history-store failure, naming the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The file system refused an operation.
    #[error("history store {path}: {source}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file does not start with the history magic: it is some other file.
    #[error("{path} is not a reclora history file (bad magic)")]
    NotAHistoryFile {
        /// The file.
        path: PathBuf,
    },
    /// Written by a newer runtime; refusing rather than misreading it.
    #[error("{path} has history format version {found}, this runtime reads up to {supported}")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in its header.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A damaged record with intact records after it: not a torn tail, so nothing is
    /// truncated.
    #[error("{path}: corrupt record at byte {offset} ({reason}) followed by more data")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong with it.
        reason: RecordDefect,
    },
    /// An event or profile that cannot be stored.
    #[error("invalid history record: {0}")]
    InvalidRecord(#[from] InvalidRecord),
    /// The options cannot work.
    #[error("invalid history options: {0}")]
    InvalidOptions(&'static str),
}

/// Why a stored record was rejected while reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordDefect {
    /// The record's header or payload runs past the end of the file.
    #[error("truncated")]
    Truncated,
    /// The checksum over length and payload does not match.
    #[error("checksum mismatch")]
    Checksum,
    /// The stated payload length is zero or above the limit.
    #[error("payload length {0} out of range")]
    Length(u32),
    /// The checksum matches but the payload does not decode.
    #[error("undecodable payload")]
    Payload,
}

/// Why an event or profile cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRecord {
    /// Ratings are 1 to 5 stars.
    #[error("rating {0} is outside 1..=5")]
    Rating(u8),
    /// The encoded record would exceed the per-record limit.
    #[error("record of {bytes} bytes exceeds the {limit}-byte limit")]
    Oversized {
        /// Encoded payload size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// A profile holds at most 65,535 fields.
    #[error("profile has {0} fields, at most 65,535")]
    TooManyFields(usize),
    /// Profile keys and values are each at most 65,535 bytes.
    #[error("profile field `{0}` is too long")]
    FieldTooLong(String),
}

impl HistoryError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
