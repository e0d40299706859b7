//! The contract between a dataset loader and the shared sample/feature/store code.
//!
//! A loader turns its files into users, items and interactions; everything after that
//! (sorting, histories, the ≥5 filter, the split, the feature ids, the files) is shared, so
//! every dataset follows the same protocol.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use reclora_core::prompt::Gender;

use super::source::latin1;
use super::{DataError, DatasetName, LineProblem};

/// One dataset as its loader read it, before any protocol step.
#[derive(Debug, Clone)]
pub struct RawDataset {
    /// Which dataset.
    pub name: DatasetName,
    /// How rating codes are read.
    pub rating_scale: RatingScale,
    /// How user and item ids break timestamp ties.
    pub id_order: IdOrder,
    /// Users, indexed by [`RawInteraction::user`].
    pub users: Vec<RawUser>,
    /// Items, indexed by [`RawInteraction::item`].
    pub items: Vec<RawItem>,
    /// Interactions in file order.
    pub interactions: Vec<RawInteraction>,
}

impl RawDataset {
    /// Whether every user has demographics (then the five user fields exist).
    pub fn has_profiles(&self) -> bool {
        !self.users.is_empty() && self.users.iter().all(|u| u.profile.is_some())
    }
}

/// A user: raw id and, where the dataset has them, demographics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawUser {
    /// Id as written in the files.
    pub id: String,
    /// Demographics (MovieLens-1M/100K).
    pub profile: Option<RawProfile>,
}

/// Demographics: raw values (feature keys) and the text prompts show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawProfile {
    /// Gender (feature key "M"/"F").
    pub gender: Gender,
    /// Age as written ("25" in ML-1M is a bucket code, "24" in ML-100K a real age).
    pub age: String,
    /// Age as prompts show it ("25-34", "24").
    pub age_text: String,
    /// Occupation as written ("12" in ML-1M, "programmer" in ML-100K).
    pub occupation: String,
    /// Occupation as prompts show it.
    pub occupation_text: String,
    /// Zip code as written.
    pub zip: String,
}

/// An item: raw id, title and first genre.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawItem {
    /// Id as written in the files.
    pub id: String,
    /// Display title.
    pub title: String,
    /// The first listed genre.
    pub genre: String,
}

/// One rating event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawInteraction {
    /// Index into [`RawDataset::users`].
    pub user: u32,
    /// Index into [`RawDataset::items`].
    pub item: u32,
    /// Rating code, see [`RatingScale`].
    pub rating: u8,
    /// Unix seconds.
    pub timestamp: i64,
}

/// How a rating code maps to stars; the label is "value > 3" on every scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatingScale {
    /// Code = stars, 1..=5 (ML-1M, ML-100K, GoodReads).
    Stars,
    /// Code = half stars, 1..=10 for 0.5..=5.0 (ML-25M).
    HalfStars,
}

impl RatingScale {
    /// Number of rating codes (extra embedding rows after the features).
    pub fn levels(self) -> u8 {
        match self {
            Self::Stars => 5,
            Self::HalfStars => 10,
        }
    }

    /// Positive label: rating > 3 stars (GoodReads' "≥ 4" is the same on whole stars).
    pub fn is_positive(self, code: u8) -> bool {
        match self {
            Self::Stars => code > 3,
            Self::HalfStars => code > 6,
        }
    }

    /// Name stored in meta.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stars => "stars",
            Self::HalfStars => "half_stars",
        }
    }

    /// Inverse of [`Self::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Stars, Self::HalfStars]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// How ids compare when two ratings share a timestamp.
///
/// ReLLa's ML-1M notebook keeps ids as the strings it split off each line, so pandas sorts
/// them as text ("10" < "9"); its ML-25M notebook reads them as integers. Matching that
/// reproduces ReLLa's published ML-1M test prompts exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdOrder {
    /// Byte-wise string comparison.
    Text,
    /// Integer comparison (ids that do not parse sort after all numbers, as text).
    Numeric,
}

impl IdOrder {
    /// Name stored in meta.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Numeric => "numeric",
        }
    }

    /// Rank of each id under this order (equal ids get distinct, index-ordered ranks).
    pub fn ranks<'a>(self, ids: impl ExactSizeIterator<Item = &'a str>) -> Vec<u32> {
        let keys: Vec<(Option<u64>, &str)> = ids
            .map(|id| match self {
                Self::Text => (None, id),
                Self::Numeric => (Some(id.parse::<u64>().unwrap_or(u64::MAX)), id),
            })
            .collect();
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
        let mut ranks = vec![0u32; keys.len()];
        for (rank, &index) in order.iter().enumerate() {
            ranks[index] = u32::try_from(rank).unwrap_or(u32::MAX);
        }
        ranks
    }
}

/// Whether an id names a user or an item (for error messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A user id.
    User,
    /// An item id.
    Item,
}

/// Raw id → dense index, remembering the line that introduced each id.
#[derive(Debug, Default)]
pub struct IdIndex {
    map: HashMap<String, (u32, usize)>,
}

impl IdIndex {
    /// Adds a table row's id; a repeated id is an error naming the first line.
    pub fn insert_new(&mut self, id: &str, line: usize) -> Result<u32, LineProblem> {
        let next = self.next_index()?;
        match self.map.entry(id.to_string()) {
            Entry::Occupied(e) => Err(LineProblem::DuplicateId {
                id: id.to_string(),
                first_line: e.get().1,
            }),
            Entry::Vacant(e) => {
                e.insert((next, line));
                Ok(next)
            }
        }
    }

    /// The index of `id`, adding it if new (datasets without a user table).
    pub fn intern(&mut self, id: &str, line: usize) -> Result<(u32, bool), LineProblem> {
        if let Some(&(index, _)) = self.map.get(id) {
            return Ok((index, false));
        }
        let next = self.next_index()?;
        self.map.insert(id.to_string(), (next, line));
        Ok((next, true))
    }

    /// The index of a known id.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.map.get(id).map(|&(index, _)| index)
    }

    /// The index of an id read from a line (UTF-8, else Latin-1); an unknown id is an
    /// unknown-user or unknown-item problem naming the `table` file it should be in.
    pub fn resolve(&self, id: &[u8], kind: IdKind, table: &str) -> Result<u32, LineProblem> {
        let found = match std::str::from_utf8(id) {
            Ok(text) => self.get(text),
            Err(_) => self.get(&latin1(id)),
        };
        found.ok_or_else(|| {
            let (id, table) = (latin1(id), table.to_string());
            match kind {
                IdKind::User => LineProblem::UnknownUser { id, table },
                IdKind::Item => LineProblem::UnknownItem { id, table },
            }
        })
    }

    fn next_index(&self) -> Result<u32, LineProblem> {
        u32::try_from(self.map.len()).map_err(|_| LineProblem::BadValue {
            field: "id",
            value: self.map.len().to_string(),
            expected: "below 2^32 distinct ids",
        })
    }
}

/// Checks that every interaction points into the user and item tables.
pub fn check_references(raw: &RawDataset) -> Result<(), DataError> {
    for r in &raw.interactions {
        if r.user as usize >= raw.users.len() {
            return Err(DataError::RawOutOfRange {
                what: "user",
                index: r.user,
                len: raw.users.len(),
            });
        }
        if r.item as usize >= raw.items.len() {
            return Err(DataError::RawOutOfRange {
                what: "item",
                index: r.item,
                len: raw.items.len(),
            });
        }
    }
    Ok(())
}
