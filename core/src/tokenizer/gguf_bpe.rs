//! Rebuilding a byte-level BPE tokenizer from GGUF `tokenizer.ggml.*` metadata.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Merges, Vocab};
use tokenizers::{AddedToken, Tokenizer};

use super::{PreTokenizerKind, TokenizerError};

/// `tokenizer.ggml.token_type` of an ordinary token.
pub const TOKEN_TYPE_NORMAL: i32 = 1;
/// `tokenizer.ggml.token_type` of the unknown token.
pub const TOKEN_TYPE_UNKNOWN: i32 = 2;
/// `tokenizer.ggml.token_type` of a control token such as `<|im_start|>`.
pub const TOKEN_TYPE_CONTROL: i32 = 3;
/// `tokenizer.ggml.token_type` of a user-defined (added, not special) token.
pub const TOKEN_TYPE_USER_DEFINED: i32 = 4;
/// `tokenizer.ggml.token_type` of an unused token.
pub const TOKEN_TYPE_UNUSED: i32 = 5;
/// `tokenizer.ggml.token_type` of a byte token (`<0x0A>`).
pub const TOKEN_TYPE_BYTE: i32 = 6;

/// The tokenizer part of a GGUF file's metadata, as the GGUF reader hands it over.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GgufVocab {
    /// `tokenizer.ggml.model`: "gpt2" for byte-level BPE.
    pub model: String,
    /// `tokenizer.ggml.pre`: "smollm", "qwen2", "llama-bpe", ...
    #[serde(default)]
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`, indexed by id.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.merges`, best first, each "left right".
    #[serde(default)]
    pub merges: Vec<String>,
    /// `tokenizer.ggml.token_type`, one per token (see the `TOKEN_TYPE_*` constants).
    #[serde(default)]
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.bos_token_id`.
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    /// `tokenizer.ggml.unknown_token_id` (ignored by byte-level BPE, which needs no unknown).
    #[serde(default)]
    pub unknown_token_id: Option<u32>,
    /// `tokenizer.ggml.padding_token_id`.
    #[serde(default)]
    pub padding_token_id: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`. Recorded only: [`super::TextTokenizer::encode`] never
    /// adds BOS; a caller that wants it prepends [`super::TextTokenizer::bos_token_id`].
    #[serde(default)]
    pub add_bos_token: Option<bool>,
}

/// Builds the `tokenizers` tokenizer that `vocab` describes, after checking it.
///
/// Byte-level BPE from the vocabulary and merges (no unknown token, as in GPT-2 style
/// tokenizer.json files: a byte missing from the vocabulary is dropped), the pre-tokenizer
/// `vocab.pre` names, a ByteLevel decoder, and every control token added as a special token and
/// every user-defined token as a plain added token, both matched verbatim in the text.
pub(crate) fn build_tokenizer(vocab: &GgufVocab) -> Result<Tokenizer, TokenizerError> {
    if vocab.model != "gpt2" {
        return Err(TokenizerError::UnsupportedModel(vocab.model.clone()));
    }
    let kind = PreTokenizerKind::from_gguf_name(vocab.pre.as_deref())?;
    let ids = token_ids(vocab)?;
    check_special_ids(vocab)?;
    let merges = parse_merges(&vocab.merges, &ids)?;

    let bpe_vocab: Vocab = ids
        .iter()
        .map(|(token, id)| ((*token).to_owned(), *id))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(bpe_vocab, merges)
        .ignore_merges(kind.ignore_merges())
        .build()
        .map_err(|e| TokenizerError::backend("building the BPE model", e))?;

    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(kind.build()?));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    add_control_and_user_tokens(&mut tokenizer, vocab)?;
    Ok(tokenizer)
}

/// Token text -> id, refusing an empty, oversized or ambiguous vocabulary and mismatched types.
fn token_ids(vocab: &GgufVocab) -> Result<HashMap<&str, u32>, TokenizerError> {
    let count = vocab.tokens.len();
    if count == 0 {
        return Err(TokenizerError::EmptyVocabulary);
    }
    if u32::try_from(count).is_err() {
        return Err(TokenizerError::VocabularyTooLarge(count));
    }
    if vocab.token_types.len() != count {
        return Err(TokenizerError::TokenTypeCountMismatch {
            tokens: count,
            token_types: vocab.token_types.len(),
        });
    }
    let mut ids = HashMap::with_capacity(count);
    for (id, token) in (0u32..).zip(&vocab.tokens) {
        if let Some(first) = ids.insert(token.as_str(), id) {
            return Err(TokenizerError::DuplicateToken {
                token: token.clone(),
                first,
                second: id,
            });
        }
    }
    Ok(ids)
}

fn check_special_ids(vocab: &GgufVocab) -> Result<(), TokenizerError> {
    let specials = [
        ("bos", vocab.bos_token_id),
        ("eos", vocab.eos_token_id),
        ("unknown", vocab.unknown_token_id),
        ("padding", vocab.padding_token_id),
    ];
    for (which, id) in specials {
        if let Some(id) = id {
            check_id(which, id, vocab.tokens.len())?;
        }
    }
    Ok(())
}

/// Errors unless `id` names one of `vocab_size` tokens.
pub(crate) fn check_id(
    which: &'static str,
    id: u32,
    vocab_size: usize,
) -> Result<(), TokenizerError> {
    if usize::try_from(id).is_ok_and(|index| index < vocab_size) {
        Ok(())
    } else {
        Err(TokenizerError::SpecialTokenIdOutOfRange {
            which,
            id,
            vocab_size,
        })
    }
}

/// Splits each "left right" merge at its first space after the first character (as llama.cpp
/// does), and checks both sides and their join are tokens.
fn parse_merges(merges: &[String], ids: &HashMap<&str, u32>) -> Result<Merges, TokenizerError> {
    merges
        .iter()
        .enumerate()
        .map(|(index, merge)| {
            let malformed = || TokenizerError::MalformedMerge {
                index,
                merge: merge.clone(),
            };
            let first_len = merge.chars().next().map_or(0, char::len_utf8);
            let space = merge
                .get(first_len..)
                .and_then(|rest| rest.find(' '))
                .map(|at| at + first_len)
                .ok_or_else(malformed)?;
            let (left, right) = (&merge[..space], &merge[space + 1..]);
            if left.is_empty() || right.is_empty() {
                return Err(malformed());
            }
            let joined = format!("{left}{right}");
            for token in [left, right, joined.as_str()] {
                if !ids.contains_key(token) {
                    return Err(TokenizerError::MergeTokenNotInVocabulary {
                        index,
                        merge: merge.clone(),
                        token: token.to_owned(),
                    });
                }
            }
            Ok((left.to_owned(), right.to_owned()))
        })
        .collect()
}

/// Control tokens become special added tokens, user-defined ones plain added tokens; both are
/// matched whole in the raw text (`normalized=false`) and must keep their GGUF ids.
fn add_control_and_user_tokens(
    tokenizer: &mut Tokenizer,
    vocab: &GgufVocab,
) -> Result<(), TokenizerError> {
    let mut control = Vec::new();
    let mut user = Vec::new();
    let mut expected = Vec::new();
    for (id, (token, &token_type)) in (0u32..).zip(vocab.tokens.iter().zip(&vocab.token_types)) {
        let list = match token_type {
            TOKEN_TYPE_CONTROL => &mut control,
            TOKEN_TYPE_USER_DEFINED => &mut user,
            _ => continue,
        };
        if token.is_empty() {
            continue; // nothing to match in text
        }
        let special = token_type == TOKEN_TYPE_CONTROL;
        list.push(AddedToken::from(token.clone(), special).normalized(false));
        expected.push((token, id));
    }
    tokenizer.add_special_tokens(&control);
    tokenizer.add_tokens(&user);
    for (token, id) in expected {
        let actual = tokenizer.token_to_id(token);
        if actual != Some(id) {
            return Err(TokenizerError::AddedTokenIdMismatch {
                token: token.clone(),
                expected: id,
                actual,
            });
        }
    }
    Ok(())
}
