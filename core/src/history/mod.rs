//! The local history store: the user's lifelong history lives only on the phone, in one
//! append-only file of length-prefixed, checksummed records.
//!
//! - [`event`]: what is stored (interactions, profile);
//! - [`record`]: the byte format;
//! - [`store`]: open with torn-tail recovery, append with an fsync policy, bounded
//!   compaction by write-then-rename.

mod error;
mod event;
pub mod record;
mod store;
#[cfg(test)]
mod tests;

pub use error::{HistoryError, InvalidRecord, RecordDefect};
pub use event::{Feedback, StoredEvent, UserProfile};
pub use store::{FsyncPolicy, HistoryOptions, HistoryStore};
