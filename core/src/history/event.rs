//! What the store keeps: the user's interactions and profile.

use super::error::InvalidRecord;

/// The user's reaction to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    /// A star rating, 1 to 5.
    Rating(u8),
    /// A thumbs-up.
    Like,
    /// A thumbs-down.
    Dislike,
}

impl Feedback {
    /// The rating the models see: stars as given, a like as 5 and a dislike as 1 (the
    /// label threshold is rating > 3).
    pub fn as_rating(self) -> u8 {
        match self {
            Self::Rating(stars) => stars,
            Self::Like => 5,
            Self::Dislike => 1,
        }
    }

    pub(crate) fn validate(self) -> Result<(), InvalidRecord> {
        match self {
            Self::Rating(stars) if !(1..=5).contains(&stars) => Err(InvalidRecord::Rating(stars)),
            _ => Ok(()),
        }
    }
}

/// One interaction. Item ids the bundle does not know are kept (a later bundle may know
/// them) and skipped by the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredEvent {
    /// The dataset's item id (MovieLens movie id).
    pub item_id: u32,
    /// The reaction.
    pub feedback: Feedback,
    /// Seconds since the Unix epoch.
    pub timestamp: i64,
}

/// Profile fields by name, as the bundle's `features.json` names them (MovieLens:
/// `user_id`, `gender`, `age`, `occupation`, `zip_code`); the CRM's dictionaries map the
/// raw values (`"F"`, `"25"`) to ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserProfile {
    /// `(name, value)` pairs.
    pub fields: Vec<(String, String)>,
}

impl UserProfile {
    /// A profile from `(name, value)` pairs.
    pub fn new<K: Into<String>, V: Into<String>>(fields: impl IntoIterator<Item = (K, V)>) -> Self {
        Self {
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The value of field `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}
