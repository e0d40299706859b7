//! Dataset names as typed on the command line.

use std::fmt;
use std::str::FromStr;

use reclora_core::prompt::RellaTemplate;

use super::DataError;

/// A dataset `prepare` knows how to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetName {
    /// MovieLens-1M (`ratings.dat`, `users.dat`, `movies.dat`).
    Ml1m,
    /// MovieLens-100K (`u.data`, `u.user`, `u.item`, `u.genre`).
    Ml100k,
    /// MovieLens-25M (`ratings.csv`, `movies.csv`).
    Ml25m,
    /// UCSD Book Graph GoodReads (`goodreads_interactions*.json`, `goodreads_books*.json`).
    Goodreads,
}

impl DatasetName {
    /// All names, in the order error messages list them.
    pub const ALL: [Self; 4] = [Self::Ml1m, Self::Ml100k, Self::Ml25m, Self::Goodreads];

    /// The command-line spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ml1m => "ml-1m",
            Self::Ml100k => "ml-100k",
            Self::Ml25m => "ml-25m",
            Self::Goodreads => "goodreads",
        }
    }

    /// The ReLLa prompt template for this dataset's items and rating scale.
    pub fn prompt_template(self) -> RellaTemplate {
        match self {
            Self::Ml1m | Self::Ml100k => RellaTemplate::MOVIELENS,
            Self::Ml25m => RellaTemplate::MOVIELENS_HALF_STARS,
            Self::Goodreads => RellaTemplate::BOOKS,
        }
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetName {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|name| name.as_str() == s)
            .ok_or_else(|| DataError::UnknownDataset {
                name: s.to_string(),
            })
    }
}
