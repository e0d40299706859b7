//! A loaded LLM with its tokenizer: scoring, greedy generation and perplexity.

use std::path::Path;

use burn::tensor::Device;

use crate::gguf::{GgufError, GgufFile};
use crate::tokenizer::{GgufVocab, PromptTemplate, TextTokenizer};

use super::config::LlamaConfig;
use super::error::LlmError;
use super::gguf_source::GgufWeights;
use super::hf_source::{SafetensorsWeights, read_hf_config};
use super::model::LlamaModel;
use super::scoring::YesNoScore;
use super::weights::WeightSource;

/// The LLM and its tokenizer, ready to score prompts.
#[derive(Debug)]
pub struct LanguageModel {
    model: LlamaModel,
    tokenizer: TextTokenizer,
}

/// What a `--model` path holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelFormat {
    /// A folder with `config.json`, safetensors and `tokenizer.json`.
    HfFolder,
    /// A `.gguf` file.
    Gguf,
}

fn model_format(path: &Path) -> Result<ModelFormat, LlmError> {
    if path.is_dir() && path.join("config.json").is_file() {
        return Ok(ModelFormat::HfFolder);
    }
    let is_gguf = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
    if path.is_file() && is_gguf {
        Ok(ModelFormat::Gguf)
    } else {
        Err(LlmError::UnknownModelFormat {
            path: path.display().to_string(),
        })
    }
}

/// Reads every tokenizer field a GGUF header carries.
pub fn gguf_vocab(file: &GgufFile) -> Result<GgufVocab, GgufError> {
    let optional_u32 = |key: &str| match file.get_u32(key) {
        Ok(v) => Ok(Some(v)),
        Err(GgufError::MissingKey(_)) => Ok(None),
        Err(e) => Err(e),
    };
    let optional_str = |key: &str| match file.get_str(key) {
        Ok(v) => Ok(Some(v.to_string())),
        Err(GgufError::MissingKey(_)) => Ok(None),
        Err(e) => Err(e),
    };
    let add_bos_token = match file.get("tokenizer.ggml.add_bos_token") {
        Some(crate::gguf::MetadataValue::Bool(b)) => Some(*b),
        _ => None,
    };
    Ok(GgufVocab {
        model: file.get_str("tokenizer.ggml.model")?.to_string(),
        pre: optional_str("tokenizer.ggml.pre")?,
        tokens: file
            .get_string_array("tokenizer.ggml.tokens")?
            .iter()
            .map(|s| s.to_string())
            .collect(),
        merges: match file.get_string_array("tokenizer.ggml.merges") {
            Ok(m) => m.iter().map(|s| s.to_string()).collect(),
            Err(GgufError::MissingKey(_)) => Vec::new(),
            Err(e) => return Err(e),
        },
        token_types: match file.get_i32_array("tokenizer.ggml.token_type") {
            Ok(t) => t,
            Err(GgufError::MissingKey(_)) => Vec::new(),
            Err(e) => return Err(e),
        },
        bos_token_id: optional_u32("tokenizer.ggml.bos_token_id")?,
        eos_token_id: optional_u32("tokenizer.ggml.eos_token_id")?,
        unknown_token_id: optional_u32("tokenizer.ggml.unknown_token_id")?,
        padding_token_id: optional_u32("tokenizer.ggml.padding_token_id")?,
        add_bos_token,
    })
}

impl LanguageModel {
    /// Loads a `.gguf` file or a Hugging Face folder onto `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Self, LlmError> {
        if model_format(path)? == ModelFormat::HfFolder {
            let config = read_hf_config(path)?;
            let weights = SafetensorsWeights::open(path)?;
            let model = config.init_from(&weights, device)?;
            let tokenizer = TextTokenizer::from_file(path.join("tokenizer.json"))?;
            return Ok(Self { model, tokenizer });
        }
        let file = GgufFile::open(path)?;
        let weights = GgufWeights::new(file, path.display().to_string())?;
        let config = weights.config()?;
        let tokenizer = TextTokenizer::from_gguf_vocab(&gguf_vocab(weights.file())?)?;
        let model = config.init_from(&weights, device)?;
        Ok(Self { model, tokenizer })
    }

    /// The weights (read on demand), config and tokenizer of a `.gguf` file or Hugging
    /// Face folder, without building a model: what an exporter streams from.
    pub fn open_source(
        path: &Path,
    ) -> Result<(Box<dyn WeightSource>, LlamaConfig, TextTokenizer), LlmError> {
        if model_format(path)? == ModelFormat::HfFolder {
            let config = read_hf_config(path)?;
            let weights = SafetensorsWeights::open(path)?;
            let tokenizer = TextTokenizer::from_file(path.join("tokenizer.json"))?;
            return Ok((Box::new(weights), config, tokenizer));
        }
        let file = GgufFile::open(path)?;
        let weights = GgufWeights::new(file, path.display().to_string())?;
        let config = weights.config()?;
        let tokenizer = TextTokenizer::from_gguf_vocab(&gguf_vocab(weights.file())?)?;
        Ok((Box::new(weights), config, tokenizer))
    }

    /// Only the tokenizer of a `.gguf` file or Hugging Face folder: no weight is read.
    pub fn load_tokenizer(path: &Path) -> Result<TextTokenizer, LlmError> {
        if model_format(path)? == ModelFormat::HfFolder {
            return Ok(TextTokenizer::from_file(path.join("tokenizer.json"))?);
        }
        let file = GgufFile::open(path)?;
        Ok(TextTokenizer::from_gguf_vocab(&gguf_vocab(&file)?)?)
    }

    /// Pairs an already-built model and tokenizer.
    pub fn from_parts(model: LlamaModel, tokenizer: TextTokenizer) -> Self {
        Self { model, tokenizer }
    }

    /// The decoder and the tokenizer, owned (e.g. to freeze the decoder for training).
    pub fn into_parts(self) -> (LlamaModel, TextTokenizer) {
        (self.model, self.tokenizer)
    }

    /// The decoder.
    pub fn model(&self) -> &LlamaModel {
        &self.model
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// Token ids of `text`, with special tokens recognized and no BOS added.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        Ok(self.tokenizer.encode(text)?)
    }

    fn pad_id(&self) -> u32 {
        self.tokenizer.eos_token_id().unwrap_or(0)
    }

    /// Logits of `token_ids` at the last position of every row.
    pub fn last_position_logits(
        &self,
        rows: &[Vec<u32>],
        token_ids: &[u32],
    ) -> Result<Vec<Vec<f32>>, LlmError> {
        self.model
            .last_position_logits(rows, token_ids, self.pad_id())
    }

    /// P(yes) for each prompt, wrapped in `template`, in one batched forward.
    pub fn score_yes_no(
        &self,
        prompts: &[&str],
        template: PromptTemplate,
    ) -> Result<Vec<YesNoScore>, LlmError> {
        let (yes_word, no_word) = template.answer_words();
        let answer_ids = [
            self.tokenizer.single_token_id(yes_word)?,
            self.tokenizer.single_token_id(no_word)?,
        ];
        let rows = prompts
            .iter()
            .map(|p| self.tokenize(&template.render(p)))
            .collect::<Result<Vec<_>, _>>()?;
        let logits = self.last_position_logits(&rows, &answer_ids)?;
        Ok(rows
            .iter()
            .zip(logits)
            .map(|(row, l)| YesNoScore::from_logits(l[0], l[1], row.len()))
            .collect())
    }

    /// Greedy continuation of `prompt_ids`, at most `max_new_tokens`, stopping at EOS.
    pub fn generate_greedy(
        &self,
        prompt_ids: &[u32],
        max_new_tokens: usize,
    ) -> Result<Vec<u32>, LlmError> {
        self.model
            .generate_greedy(prompt_ids, max_new_tokens, self.tokenizer.eos_token_id())
    }

    /// Mean next-token negative log-likelihood of `ids`, in nats.
    pub fn mean_nll(&self, ids: &[u32]) -> Result<f64, LlmError> {
        self.model.mean_nll(ids)
    }
}
