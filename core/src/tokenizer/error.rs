//! The one error type of the tokenizer module.

use std::path::PathBuf;

/// Everything that can go wrong while building or using a [`super::TextTokenizer`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenizerError {
    /// A `tokenizer.json` could not be read or parsed.
    #[error("cannot load tokenizer file {}: {message}", path.display())]
    LoadFile {
        /// The file that was asked for.
        path: PathBuf,
        /// The backend's description of the failure.
        message: String,
    },

    /// `tokenizer.ggml.model` names a tokenizer this module cannot rebuild.
    #[error("unsupported GGUF tokenizer model {0:?}: only byte-level BPE (\"gpt2\") is supported")]
    UnsupportedModel(String),

    /// `tokenizer.ggml.pre` names a pre-tokenizer this module does not know.
    #[error(
        "unsupported GGUF pre-tokenizer {0:?}: expected one of {names}",
        names = super::PreTokenizerKind::KNOWN_NAMES.join(", ")
    )]
    UnsupportedPreTokenizer(String),

    /// The GGUF vocabulary has no tokens at all.
    #[error("the GGUF vocabulary is empty")]
    EmptyVocabulary,

    /// The vocabulary has more tokens than `u32` ids can name.
    #[error("the GGUF vocabulary has {0} tokens, more than u32 ids can name")]
    VocabularyTooLarge(usize),

    /// `tokenizer.ggml.token_type` does not give exactly one type per token.
    #[error("the GGUF vocabulary has {tokens} tokens but {token_types} token types")]
    TokenTypeCountMismatch {
        /// `tokens.len()`.
        tokens: usize,
        /// `token_types.len()`.
        token_types: usize,
    },

    /// The same token text appears under two ids, so text could not map back to one id.
    #[error("token {token:?} appears twice in the GGUF vocabulary, as ids {first} and {second}")]
    DuplicateToken {
        /// The repeated token text.
        token: String,
        /// Its first id.
        first: u32,
        /// Its next id.
        second: u32,
    },

    /// A merge is not two non-empty tokens separated by one space.
    #[error("merge #{index} {merge:?} is not two tokens separated by a space")]
    MalformedMerge {
        /// Rank of the merge (its position in `tokenizer.ggml.merges`).
        index: usize,
        /// The merge text.
        merge: String,
    },

    /// A merge uses, or produces, a token that the vocabulary lacks.
    #[error("merge #{index} {merge:?} needs token {token:?}, which is not in the vocabulary")]
    MergeTokenNotInVocabulary {
        /// Rank of the merge.
        index: usize,
        /// The merge text.
        merge: String,
        /// The missing token (a side of the merge, or both sides joined).
        token: String,
    },

    /// A special token id (BOS, EOS, ...) does not name a token of the vocabulary.
    #[error("{which} token id {id} is outside the vocabulary of {vocab_size} tokens")]
    SpecialTokenIdOutOfRange {
        /// Which special token: "bos", "eos", "unknown" or "padding".
        which: &'static str,
        /// The id given.
        id: u32,
        /// The vocabulary size.
        vocab_size: usize,
    },

    /// A control or user-defined token did not keep its GGUF id once added to the tokenizer.
    #[error("added token {token:?} should have id {expected} but the tokenizer gives {actual:?}")]
    AddedTokenIdMismatch {
        /// The token text.
        token: String,
        /// Its id in the GGUF vocabulary.
        expected: u32,
        /// The id the tokenizer resolves it to.
        actual: Option<u32>,
    },

    /// Text that must be one token (an answer word such as " Yes") encodes to some other count.
    #[error("text {text:?} encodes to {count} tokens {ids:?}, expected exactly one", count = ids.len())]
    NotSingleToken {
        /// The text encoded.
        text: String,
        /// The ids it gave.
        ids: Vec<u32>,
    },

    /// An id given for decoding names no token.
    #[error("token id {id} is outside the vocabulary of {vocab_size} tokens")]
    TokenIdOutOfRange {
        /// The id given.
        id: u32,
        /// The vocabulary size, added tokens included.
        vocab_size: usize,
    },

    /// A prompt-template name that is neither "chatml" nor "plain".
    #[error("unknown prompt template {0:?}: expected \"chatml\" or \"plain\"")]
    UnknownPromptTemplate(String),

    /// The `tokenizers` crate failed; its boxed error is kept by its text.
    #[error("tokenizers backend failed while {context}: {message}")]
    Backend {
        /// What this module was doing.
        context: &'static str,
        /// The backend error's `Display` text.
        message: String,
    },
}

impl TokenizerError {
    /// Wraps an error of the `tokenizers` crate, keeping its text.
    pub(crate) fn backend(context: &'static str, error: impl std::fmt::Display) -> Self {
        Self::Backend {
            context,
            message: error.to_string(),
        }
    }
}
