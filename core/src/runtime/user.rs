//! One user's inputs, as the models see them: profile ids, the prompt's profile sentence,
//! and the known history in time order (unknown items skipped).

use crate::history::{StoredEvent, UserProfile};
use crate::prompt::{HistoryEvent, Profile};

use super::catalog::ItemCatalog;
use super::error::RuntimeError;
use super::profile::ProfileSchema;

/// What a user has on the phone: a copy taken from the store, or built by hand (tests,
/// parity runs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSnapshot {
    /// Profile fields.
    pub profile: UserProfile,
    /// Interactions in the order they were recorded.
    pub events: Vec<StoredEvent>,
}

/// A snapshot resolved against the bundle.
#[derive(Debug, Clone)]
pub struct UserContext {
    /// The CRM's user feature ids.
    pub field_ids: Vec<u32>,
    /// The prompt's profile sentence.
    pub profile: Option<Profile>,
    /// Known interactions, item-id feature ids, oldest first (stable by timestamp).
    pub history: Vec<HistoryEvent>,
}

impl UserContext {
    /// Resolves `snapshot`: unknown items are skipped (a later bundle may know them).
    pub fn new(
        snapshot: &UserSnapshot,
        schema: &ProfileSchema,
        catalog: &ItemCatalog,
        rating_levels: u8,
    ) -> Result<Self, RuntimeError> {
        let field_ids = schema.feature_ids(&snapshot.profile)?;
        let profile = schema.prompt_profile(&field_ids);
        let mut history = Vec::with_capacity(snapshot.events.len());
        for event in &snapshot.events {
            let Some(row) = catalog.row(event.item_id) else {
                continue;
            };
            let rating = event.feedback.as_rating();
            if !(1..=rating_levels).contains(&rating) {
                return Err(RuntimeError::Rating {
                    item_id: event.item_id,
                    rating,
                    levels: rating_levels,
                });
            }
            history.push(HistoryEvent {
                item: catalog.item_feature(row),
                rating,
                timestamp: event.timestamp,
            });
        }
        // Stable: events of the same second keep the order they were recorded in.
        history.sort_by_key(|e| e.timestamp);
        Ok(Self {
            field_ids,
            profile,
            history,
        })
    }
}
