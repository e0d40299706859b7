//! Text tokenization for the on-device LLM (SmolLM2-135M-Instruct and other byte-level BPE models).
//!
//! A [`TextTokenizer`] comes either from a Hugging Face `tokenizer.json`
//! ([`TextTokenizer::from_file`]) or from the tokenizer metadata of a GGUF file
//! ([`TextTokenizer::from_gguf_vocab`], rebuilt in `gguf_bpe`). Both encode like HF's
//! `tokenizer(text, add_special_tokens=False)`: no BOS is added, and special-token text such as
//! `<|im_start|>` becomes its single id. [`PromptTemplate`] wraps a prompt for the model and names
//! the answer words whose logits are read.
//!
//! Golden ids: `tests/fixtures/tokenizer_golden.json`, made by
//! `scripts/oracle/make_tokenizer_fixture.py`.

mod byte_vocab;
mod chat;
mod error;
mod gguf_bpe;
mod pre_tokenizer;
#[cfg(test)]
mod tests;

use std::path::Path;

use tokenizers::Tokenizer;

pub use byte_vocab::{BYTE_LEVEL_VOCAB, byte_level_tokenizer};
pub use chat::PromptTemplate;
pub use error::TokenizerError;
pub use gguf_bpe::{
    GgufVocab, TOKEN_TYPE_BYTE, TOKEN_TYPE_CONTROL, TOKEN_TYPE_NORMAL, TOKEN_TYPE_UNKNOWN,
    TOKEN_TYPE_UNUSED, TOKEN_TYPE_USER_DEFINED,
};
pub use pre_tokenizer::{LLAMA3_SPLIT_REGEX, PreTokenizerKind, QWEN2_SPLIT_REGEX};

/// A text tokenizer: a `tokenizers::Tokenizer` plus the model's BOS / EOS ids.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    bos_token_id: Option<u32>,
    eos_token_id: Option<u32>,
}

impl TextTokenizer {
    /// Loads a Hugging Face `tokenizer.json`. That file does not say which tokens are BOS and
    /// EOS; set them with [`Self::with_special_token_ids`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, TokenizerError> {
        let path = path.as_ref();
        let inner = Tokenizer::from_file(path).map_err(|e| TokenizerError::LoadFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(Self::from_tokenizer(inner))
    }

    /// Parses the bytes of a Hugging Face `tokenizer.json` (a bundle's mapped file), with
    /// no BOS / EOS ids; `path` names it in errors.
    pub fn from_json_bytes(bytes: &[u8], path: &Path) -> Result<Self, TokenizerError> {
        let inner = Tokenizer::from_bytes(bytes).map_err(|e| TokenizerError::LoadFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(Self::from_tokenizer(inner))
    }

    /// Wraps an already built `tokenizers::Tokenizer`, with no BOS / EOS ids.
    pub fn from_tokenizer(inner: Tokenizer) -> Self {
        Self {
            inner,
            bos_token_id: None,
            eos_token_id: None,
        }
    }

    /// Rebuilds the tokenizer from GGUF metadata (byte-level BPE only), taking BOS / EOS from it.
    pub fn from_gguf_vocab(vocab: &GgufVocab) -> Result<Self, TokenizerError> {
        let inner = gguf_bpe::build_tokenizer(vocab)?;
        Ok(Self {
            inner,
            bos_token_id: vocab.bos_token_id,
            eos_token_id: vocab.eos_token_id,
        })
    }

    /// Sets the BOS and EOS ids, which must name tokens of this vocabulary.
    pub fn with_special_token_ids(
        mut self,
        bos_token_id: Option<u32>,
        eos_token_id: Option<u32>,
    ) -> Result<Self, TokenizerError> {
        let vocab_size = self.vocab_size();
        for (which, id) in [("bos", bos_token_id), ("eos", eos_token_id)] {
            if let Some(id) = id {
                gguf_bpe::check_id(which, id, vocab_size)?;
            }
        }
        self.bos_token_id = bos_token_id;
        self.eos_token_id = eos_token_id;
        Ok(self)
    }

    /// Token ids of `text`, without BOS; special-token text becomes its single id.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| TokenizerError::backend("encoding text", e))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// [`Self::encode`] for several texts (in parallel where the backend can).
    pub fn encode_batch<S: AsRef<str>>(
        &self,
        texts: &[S],
    ) -> Result<Vec<Vec<u32>>, TokenizerError> {
        let inputs: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        let encodings = self
            .inner
            .encode_batch_fast(inputs, false)
            .map_err(|e| TokenizerError::backend("encoding a batch of texts", e))?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// The text of `ids`, special tokens included (HF `decode(ids)`); bytes that do not form
    /// UTF-8 become U+FFFD. An id outside the vocabulary is an error.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        let vocab_size = self.vocab_size();
        if let Some(&id) = ids
            .iter()
            .find(|&&id| usize::try_from(id).map_or(true, |index| index >= vocab_size))
        {
            return Err(TokenizerError::TokenIdOutOfRange { id, vocab_size });
        }
        self.inner
            .decode(ids, false)
            .map_err(|e| TokenizerError::backend("decoding token ids", e))
    }

    /// The id of a token given by its vocabulary spelling (`"Ġthe"`, `"<|im_end|>"`).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The vocabulary spelling of `id`.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The number of ids, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The end-of-sequence id, when known.
    pub fn eos_token_id(&self) -> Option<u32> {
        self.eos_token_id
    }

    /// The beginning-of-sequence id, when known. [`Self::encode`] never adds it.
    pub fn bos_token_id(&self) -> Option<u32> {
        self.bos_token_id
    }

    /// The id of `text`, which must encode to exactly one token (an answer word such as " Yes").
    pub fn single_token_id(&self, text: &str) -> Result<u32, TokenizerError> {
        match self.encode(text)?.as_slice() {
            [id] => Ok(*id),
            ids => Err(TokenizerError::NotSingleToken {
                text: text.to_owned(),
                ids: ids.to_vec(),
            }),
        }
    }

    /// The (positive, negative) answer ids of `template`, each a single token.
    pub fn answer_token_ids(&self, template: PromptTemplate) -> Result<(u32, u32), TokenizerError> {
        let (yes, no) = template.answer_words();
        Ok((self.single_token_id(yes)?, self.single_token_id(no)?))
    }

    /// The wrapped `tokenizers::Tokenizer`.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }
}
