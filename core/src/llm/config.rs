//! Sizes and constants of a Llama-family decoder.

use serde::{Deserialize, Serialize};

use super::error::LlmError;

/// Hyper-parameters of a Llama-family decoder (Llama, SmolLM2, Qwen2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Number of token embeddings.
    pub vocab_size: usize,
    /// Model width d.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Number of decoder blocks.
    pub num_layers: usize,
    /// Number of query heads.
    pub num_heads: usize,
    /// Number of key/value heads (GQA when smaller than `num_heads`).
    pub num_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base frequency.
    pub rope_theta: f64,
    /// Longest sequence the RoPE tables cover.
    pub max_position_embeddings: usize,
    /// Whether the output projection reuses the token embeddings.
    pub tie_word_embeddings: bool,
    /// Whether q/k/v projections carry a bias (Qwen2).
    pub attention_bias: bool,
}

impl LlamaConfig {
    /// Checks that the sizes fit together, so a bad config fails here and not mid-forward.
    pub fn validate(&self) -> Result<(), LlmError> {
        let fail = |reason: String| Err(LlmError::InvalidConfig { reason });
        if self.vocab_size == 0 || self.hidden_size == 0 || self.num_layers == 0 {
            return fail(format!(
                "vocab_size ({}), hidden_size ({}) and num_layers ({}) must be positive",
                self.vocab_size, self.hidden_size, self.num_layers
            ));
        }
        if self.num_heads == 0 || self.num_kv_heads == 0 || self.head_dim == 0 {
            return fail("num_heads, num_kv_heads and head_dim must be positive".into());
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return fail(format!(
                "num_heads ({}) must be a multiple of num_kv_heads ({})",
                self.num_heads, self.num_kv_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return fail(format!(
                "head_dim ({}) must be even for RoPE",
                self.head_dim
            ));
        }
        if !(self.rms_norm_eps > 0.0 && self.rope_theta > 0.0) {
            return fail("rms_norm_eps and rope_theta must be positive".into());
        }
        Ok(())
    }

    /// Width of the query projection output.
    pub fn q_dim(&self) -> usize {
        self.num_heads * self.head_dim
    }

    /// Width of the key/value projection outputs.
    pub fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// A tiny random-weight configuration for tests: GQA, untied head, fast on any backend.
    pub fn tiny_for_tests() -> Self {
        Self {
            vocab_size: 97,
            hidden_size: 32,
            intermediate_size: 48,
            num_layers: 2,
            num_heads: 4,
            num_kv_heads: 2,
            head_dim: 8,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            max_position_embeddings: 128,
            tie_word_embeddings: false,
            attention_bias: false,
        }
    }
}

/// The subset of a Hugging Face `config.json` that a Llama-family model needs.
#[derive(Debug, Clone, Deserialize)]
pub struct HfLlamaConfig {
    /// "llama", "qwen2", "mistral"...
    #[serde(default)]
    pub model_type: Option<String>,
    /// See [`LlamaConfig::vocab_size`].
    pub vocab_size: usize,
    /// See [`LlamaConfig::hidden_size`].
    pub hidden_size: usize,
    /// See [`LlamaConfig::intermediate_size`].
    pub intermediate_size: usize,
    /// See [`LlamaConfig::num_layers`].
    pub num_hidden_layers: usize,
    /// See [`LlamaConfig::num_heads`].
    pub num_attention_heads: usize,
    /// Defaults to `num_attention_heads` (no GQA).
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Defaults to hidden_size / num_attention_heads.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// See [`LlamaConfig::rms_norm_eps`].
    #[serde(default = "default_rms_eps")]
    pub rms_norm_eps: f64,
    /// See [`LlamaConfig::rope_theta`] (transformers < 5 writes it here).
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// transformers ≥ 5 writes `{"rope_theta": .., "rope_type": "default"}` here.
    #[serde(default)]
    pub rope_parameters: Option<HfRopeParameters>,
    /// See [`LlamaConfig::max_position_embeddings`].
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    /// See [`LlamaConfig::tie_word_embeddings`].
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Llama's flag for q/k/v/o bias; Qwen2 always has q/k/v bias.
    #[serde(default)]
    pub attention_bias: bool,
    /// RoPE scaling variants (Llama 3.1 "llama3", YaRN) are not implemented.
    #[serde(default)]
    pub rope_scaling: Option<serde_json::Value>,
}

fn default_rms_eps() -> f64 {
    1e-6
}
/// `rope_parameters` of a transformers ≥ 5 config.
#[derive(Debug, Clone, Deserialize)]
pub struct HfRopeParameters {
    /// RoPE base frequency.
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// Only "default" (plain RoPE) is implemented.
    #[serde(default)]
    pub rope_type: Option<String>,
}

const DEFAULT_ROPE_THETA: f64 = 10_000.0;
fn default_max_positions() -> usize {
    2048
}

impl HfLlamaConfig {
    /// Converts to the runtime config, rejecting model types we cannot run faithfully.
    pub fn into_config(self) -> Result<LlamaConfig, LlmError> {
        let model_type = self.model_type.clone().unwrap_or_else(|| "llama".into());
        let qkv_bias = match model_type.as_str() {
            "llama" | "mistral" => self.attention_bias,
            "qwen2" => true,
            other => return Err(LlmError::UnsupportedArchitecture(other.to_string())),
        };
        if let Some(scaling) = self.rope_scaling.as_ref().filter(|v| !v.is_null()) {
            return Err(LlmError::InvalidConfig {
                reason: format!("rope_scaling {scaling} is not supported"),
            });
        }
        let mut rope_theta = self.rope_theta;
        if let Some(parameters) = &self.rope_parameters {
            if let Some(kind) = parameters.rope_type.as_deref().filter(|k| *k != "default") {
                return Err(LlmError::InvalidConfig {
                    reason: format!("rope_type `{kind}` is not supported"),
                });
            }
            rope_theta = parameters.rope_theta.or(rope_theta);
        }
        let head_dim = match self.head_dim {
            Some(d) => d,
            None if self.num_attention_heads > 0 => self.hidden_size / self.num_attention_heads,
            None => 0,
        };
        let config = LlamaConfig {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            num_layers: self.num_hidden_layers,
            num_heads: self.num_attention_heads,
            num_kv_heads: self.num_key_value_heads.unwrap_or(self.num_attention_heads),
            head_dim,
            rms_norm_eps: self.rms_norm_eps,
            rope_theta: rope_theta.unwrap_or(DEFAULT_ROPE_THETA),
            max_position_embeddings: self.max_position_embeddings,
            tie_word_embeddings: self.tie_word_embeddings,
            attention_bias: qkv_bias,
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smollm2_hf_config_converts() {
        let json = r#"{"model_type":"llama","vocab_size":49152,"hidden_size":576,
            "intermediate_size":1536,"num_hidden_layers":30,"num_attention_heads":9,
            "num_key_value_heads":3,"rms_norm_eps":1e-5,"rope_theta":100000,
            "max_position_embeddings":8192,"tie_word_embeddings":true,"rope_scaling":null}"#;
        let hf: HfLlamaConfig = serde_json::from_str(json).expect("valid json");
        let config = hf.into_config().expect("valid config");
        assert_eq!(config.head_dim, 64);
        assert_eq!(config.q_dim(), 576);
        assert_eq!(config.kv_dim(), 192);
        assert!(config.tie_word_embeddings);
        assert!(!config.attention_bias);
    }

    #[test]
    fn qwen2_gets_qkv_bias_and_bad_heads_are_rejected() {
        let json = r#"{"model_type":"qwen2","vocab_size":10,"hidden_size":8,
            "intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,
            "num_key_value_heads":1}"#;
        let hf: HfLlamaConfig = serde_json::from_str(json).expect("valid json");
        assert!(hf.into_config().expect("valid").attention_bias);

        let v5 = r#"{"model_type":"qwen2","vocab_size":10,"hidden_size":8,
            "intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,
            "rope_parameters":{"rope_theta":1000000.0,"rope_type":"default"}}"#;
        let hf: HfLlamaConfig = serde_json::from_str(v5).expect("valid json");
        assert_eq!(hf.into_config().expect("valid").rope_theta, 1e6);
        let yarn = v5.replace("\"default\"", "\"yarn\"");
        let hf: HfLlamaConfig = serde_json::from_str(&yarn).expect("valid json");
        assert!(matches!(
            hf.into_config(),
            Err(LlmError::InvalidConfig { .. })
        ));

        let mut bad = LlamaConfig::tiny_for_tests();
        bad.num_kv_heads = 3;
        assert!(matches!(
            bad.validate(),
            Err(LlmError::InvalidConfig { .. })
        ));
    }

    #[test]
    fn unknown_architecture_is_rejected() {
        let json = r#"{"model_type":"gpt_neox","vocab_size":10,"hidden_size":8,
            "intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2}"#;
        let hf: HfLlamaConfig = serde_json::from_str(json).expect("valid json");
        assert!(matches!(
            hf.into_config(),
            Err(LlmError::UnsupportedArchitecture(name)) if name == "gpt_neox"
        ));
    }
}
