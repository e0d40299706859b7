//! Recommendation prompts in the ReLLa/RecLoRA format.
//!
//! Lives in core because phones build the same prompts as the server. Input is plain text
//! and rating codes ([`PromptInput`]), or history events plus a title lookup
//! ([`RellaTemplate::build`]); nothing here knows about dataset files.
//!
//! - [`rella`]: the template (profile sentence, rated history, target, question).
//! - [`layout`]: where the candidate goes (ReLLa's order, or last for a shared prefix).
//! - [`python_repr`]: Python's `repr` of strings and lists, which the template embeds.
//! - [`retriever`]: last-K or retrieved history selection.
//! - [`semantic`]: LSMR's cosine retriever over item embeddings.

mod layout;
mod python_repr;
mod rella;
mod retriever;
mod semantic;

pub use layout::{PromptLayout, UnknownLayout};
pub use python_repr::{python_list_repr, python_str_repr};
pub use rella::{Domain, Gender, ItemTitles, Profile, PromptInput, RatingStyle, RellaTemplate};
pub use retriever::{HistoryEvent, HistoryRetriever, HistorySelection, select_history};
pub use semantic::{EmbeddingTableError, SemanticRetriever};

/// Why a prompt could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    /// `HistorySelection::Retrieved` was asked for without a retriever.
    #[error("retrieved history selection needs a retriever")]
    NoRetriever,
    /// The retriever returned an index outside the history.
    #[error("retriever returned index {index} for a history of {len} events")]
    RetrieverIndex {
        /// The bad index.
        index: usize,
        /// History length.
        len: usize,
    },
    /// The retriever returned the same index twice.
    #[error("retriever returned index {index} twice")]
    RetrieverDuplicate {
        /// The repeated index.
        index: usize,
    },
    /// No title is known for an item id.
    #[error("no title for item {item}")]
    UnknownItem {
        /// The item id.
        item: u32,
    },
}
