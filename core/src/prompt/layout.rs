//! Where a prompt names its candidate: ReLLa's own order, or last, so that everything
//! about the user is one prefix shared by every candidate of a slate.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The order of a prompt's parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PromptLayout {
    /// ReLLa's: profile, history, "deduce if the user will like the movie ***X***.", the
    /// note on stars, the yes/no instruction. The candidate's part is ~60 tokens.
    #[default]
    Rella,
    /// Profile, history, the note on stars, the question about "the movie below" with
    /// the yes/no instruction, then "Movie: ***X***" alone on the last line: the
    /// candidate's part is its title and the chat tail, ~15–20 tokens.
    CandidateLast,
}

impl PromptLayout {
    /// Every layout.
    pub const ALL: [PromptLayout; 2] = [PromptLayout::Rella, PromptLayout::CandidateLast];

    /// The name in run configs, manifests and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rella => "rella",
            Self::CandidateLast => "candidate-last",
        }
    }
}

impl fmt::Display for PromptLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A layout name that is none of [`PromptLayout::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown prompt layout {name:?} (expected rella or candidate-last)")]
pub struct UnknownLayout {
    /// The name given.
    pub name: String,
}

impl FromStr for PromptLayout {
    type Err = UnknownLayout;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|layout| layout.as_str() == name)
            .ok_or_else(|| UnknownLayout {
                name: name.to_string(),
            })
    }
}
