//! The pre-tokenizer that a GGUF `tokenizer.ggml.pre` name stands for.
//!
//! Each kind reproduces the `pre_tokenizer` of the model's Hugging Face `tokenizer.json`, which is
//! also what llama.cpp's `llama-vocab.cpp` approximates with its regex lists for that name.

use std::fmt;

use tokenizers::SplitDelimiterBehavior;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};

use super::TokenizerError;

/// Qwen2's split regex (HF `Split`, behavior `Isolated`); llama.cpp `LLAMA_VOCAB_PRE_TYPE_QWEN2`.
pub const QWEN2_SPLIT_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Llama 3's split regex (HF `Split`, behavior `Isolated`); llama.cpp `LLAMA_VOCAB_PRE_TYPE_LLAMA3`.
pub const LLAMA3_SPLIT_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A byte-level BPE pre-tokenizer, named by `tokenizer.ggml.pre`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PreTokenizerKind {
    /// GPT-2: `ByteLevel(add_prefix_space=false, use_regex=true)`.
    /// Names: none, "default", "gpt2".
    Gpt2,
    /// SmolLM / StarCoder: `Sequence[Digits(individual_digits=true), ByteLevel(use_regex=true)]`,
    /// i.e. llama.cpp's `"\p{N}"` then the GPT-2 regex. Names: "smollm", "starcoder".
    SmolLm,
    /// Qwen2: `Sequence[Split(QWEN2_SPLIT_REGEX, Isolated), ByteLevel(use_regex=false)]`.
    /// Names: "qwen2", "deepseek-r1-qwen".
    Qwen2,
    /// Llama 3: `Sequence[Split(LLAMA3_SPLIT_REGEX, Isolated), ByteLevel(use_regex=false)]`, and
    /// its BPE model ignores merges for words already in the vocabulary (`ignore_merges`, as in
    /// its tokenizer.json and llama.cpp). Names: "llama-bpe", "llama3", "llama-v3".
    Llama3,
}

impl PreTokenizerKind {
    /// Every `tokenizer.ggml.pre` name accepted, for error messages.
    pub const KNOWN_NAMES: &'static [&'static str] = &[
        "default",
        "gpt2",
        "smollm",
        "starcoder",
        "qwen2",
        "deepseek-r1-qwen",
        "llama-bpe",
        "llama3",
        "llama-v3",
    ];

    /// The kind a `tokenizer.ggml.pre` value names; a missing value means GPT-2.
    pub fn from_gguf_name(name: Option<&str>) -> Result<Self, TokenizerError> {
        match name {
            None | Some("default" | "gpt2") => Ok(Self::Gpt2),
            Some("smollm" | "starcoder") => Ok(Self::SmolLm),
            Some("qwen2" | "deepseek-r1-qwen") => Ok(Self::Qwen2),
            Some("llama-bpe" | "llama3" | "llama-v3") => Ok(Self::Llama3),
            Some(other) => Err(TokenizerError::UnsupportedPreTokenizer(other.to_owned())),
        }
    }

    /// Whether the BPE model should take a whole pre-token that is in the vocabulary as is.
    pub fn ignore_merges(self) -> bool {
        matches!(self, Self::Llama3)
    }

    /// The `tokenizers` pre-tokenizer for this kind.
    pub fn build(self) -> Result<PreTokenizerWrapper, TokenizerError> {
        let pre = match self {
            Self::Gpt2 => ByteLevel::new(false, true, true).into(),
            Self::SmolLm => Sequence::new(vec![
                Digits::new(true).into(),
                ByteLevel::new(false, true, true).into(),
            ])
            .into(),
            Self::Qwen2 => split_then_bytes(QWEN2_SPLIT_REGEX, false)?,
            Self::Llama3 => split_then_bytes(LLAMA3_SPLIT_REGEX, true)?,
        };
        Ok(pre)
    }
}

impl fmt::Display for PreTokenizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Gpt2 => "gpt2",
            Self::SmolLm => "smollm",
            Self::Qwen2 => "qwen2",
            Self::Llama3 => "llama-bpe",
        })
    }
}

/// `Sequence[Split(regex, Isolated), ByteLevel(add_prefix_space=false, use_regex=false)]`.
fn split_then_bytes(
    regex: &str,
    trim_offsets: bool,
) -> Result<PreTokenizerWrapper, TokenizerError> {
    let split = Split::new(
        SplitPattern::Regex(regex.to_owned()),
        SplitDelimiterBehavior::Isolated,
        false,
    )
    .map_err(|e| TokenizerError::backend("compiling the pre-tokenizer split regex", e))?;
    Ok(Sequence::new(vec![
        split.into(),
        ByteLevel::new(false, trim_offsets, false).into(),
    ])
    .into())
}
