//! A 262-token byte-level BPE for tests and examples of tiny models: every text encodes
//! (one token per byte), and the ChatML markers and the answers "Yes" / "No" are single
//! tokens, so tiny random models run the real prompt pipeline.

use super::gguf_bpe::GgufVocab;
use super::{TOKEN_TYPE_CONTROL, TOKEN_TYPE_NORMAL, TextTokenizer, TokenizerError};

/// Vocabulary size of [`byte_level_tokenizer`].
pub const BYTE_LEVEL_VOCAB: usize = 262;

/// GPT-2's byte → printable character map.
fn byte_chars() -> Vec<char> {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    let mut extra = 0;
    (0u32..256)
        .filter_map(|b| {
            if printable(b) {
                char::from_u32(b)
            } else {
                extra += 1;
                char::from_u32(255 + extra)
            }
        })
        .collect()
}

/// Control tokens 0–2 (`<|endoftext|>`, `<|im_start|>`, `<|im_end|>` = EOS), the 256
/// bytes at 3..259, then "Ye", "Yes", "No": [`BYTE_LEVEL_VOCAB`] ids.
pub fn byte_level_tokenizer() -> Result<TextTokenizer, TokenizerError> {
    let mut tokens: Vec<(String, i32)> = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        .iter()
        .map(|t| ((*t).to_owned(), TOKEN_TYPE_CONTROL))
        .collect();
    tokens.extend(
        byte_chars()
            .into_iter()
            .map(|c| (c.to_string(), TOKEN_TYPE_NORMAL)),
    );
    for word in ["Ye", "Yes", "No"] {
        tokens.push((word.to_owned(), TOKEN_TYPE_NORMAL));
    }
    let vocab = GgufVocab {
        model: "gpt2".to_owned(),
        pre: None,
        tokens: tokens.iter().map(|(t, _)| t.clone()).collect(),
        merges: ["Y e", "Ye s", "N o"].map(str::to_owned).to_vec(),
        token_types: tokens.iter().map(|(_, k)| *k).collect(),
        bos_token_id: Some(1),
        eos_token_id: Some(2),
        unknown_token_id: None,
        padding_token_id: Some(2),
        add_bos_token: Some(false),
    };
    TextTokenizer::from_gguf_vocab(&vocab)
}
