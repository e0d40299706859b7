//! Llama-family weights and config from a GGUF file (llama.cpp naming).

use crate::gguf::{GgufError, GgufFile};

use super::config::LlamaConfig;
use super::error::LlmError;
use super::weights::{HostTensor, WeightSource};

/// A GGUF checkpoint seen through Hugging Face weight names.
#[derive(Debug)]
pub struct GgufWeights {
    file: GgufFile,
    path: String,
    architecture: String,
    num_heads: usize,
    num_kv_heads: usize,
}

impl GgufWeights {
    /// Wraps an opened GGUF file; `path` is only used in messages.
    pub fn new(file: GgufFile, path: impl Into<String>) -> Result<Self, LlmError> {
        let architecture = file.architecture()?.to_string();
        check_architecture(&architecture)?;
        let num_heads = file.get_u32(&format!("{architecture}.attention.head_count"))? as usize;
        let num_kv_heads = match file.get_u32(&format!("{architecture}.attention.head_count_kv")) {
            Ok(n) => n as usize,
            Err(GgufError::MissingKey(_)) => num_heads,
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            file,
            path: path.into(),
            architecture,
            num_heads,
            num_kv_heads,
        })
    }

    /// The underlying file (metadata for the tokenizer, tensor list...).
    pub fn file(&self) -> &GgufFile {
        &self.file
    }

    /// The model config stored in the GGUF header.
    pub fn config(&self) -> Result<LlamaConfig, LlmError> {
        let arch = &self.architecture;
        let key = |suffix: &str| format!("{arch}.{suffix}");
        let get = |suffix: &str| -> Result<usize, LlmError> {
            Ok(self.file.get_u32(&key(suffix))? as usize)
        };
        let hidden_size = get("embedding_length")?;
        let embed =
            self.file
                .tensor("token_embd.weight")
                .ok_or_else(|| LlmError::MissingWeight {
                    name: "token_embd.weight".into(),
                    source_name: self.path.clone(),
                })?;
        let vocab_size = embed.shape().first().copied().unwrap_or(0);
        let head_dim = match self.file.get_u32(&key("rope.dimension_count")) {
            Ok(n) => n as usize,
            Err(GgufError::MissingKey(_)) if self.num_heads > 0 => hidden_size / self.num_heads,
            Err(GgufError::MissingKey(_)) => 0,
            Err(e) => return Err(e.into()),
        };
        let optional_f32 = |suffix: &str, default: f64| -> Result<f64, LlmError> {
            match self.file.get_f32(&key(suffix)) {
                Ok(v) => Ok(f64::from(v)),
                Err(GgufError::MissingKey(_)) => Ok(default),
                Err(e) => Err(e.into()),
            }
        };
        let config = LlamaConfig {
            vocab_size,
            hidden_size,
            intermediate_size: get("feed_forward_length")?,
            num_layers: get("block_count")?,
            num_heads: self.num_heads,
            num_kv_heads: self.num_kv_heads,
            head_dim,
            rms_norm_eps: optional_f32("attention.layer_norm_rms_epsilon", 1e-6)?,
            rope_theta: optional_f32("rope.freq_base", 10_000.0)?,
            max_position_embeddings: get("context_length").unwrap_or(2048),
            tie_word_embeddings: self.file.tensor("output.weight").is_none(),
            attention_bias: self.file.tensor("blk.0.attn_q.bias").is_some(),
        };
        config.validate()?;
        Ok(config)
    }

    /// Undoes llama.cpp's Q/K row permutation for `llama` GGUFs.
    ///
    /// convert_hf_to_gguf.py reorders each head's rows from rotate-half pairs
    /// `(i, i + half)` to interleaved pairs `(2i, 2i + 1)`; Qwen2 files are not permuted.
    fn unpermute(&self, gguf_name: &str, tensor: HostTensor) -> HostTensor {
        let heads = if gguf_name.contains("attn_q.") {
            self.num_heads
        } else if gguf_name.contains("attn_k.") {
            self.num_kv_heads
        } else {
            return tensor;
        };
        if self.architecture != "llama" || heads == 0 {
            return tensor;
        }
        let rows = tensor.shape[0];
        let cols = tensor.values.len() / rows.max(1);
        let head_dim = rows / heads;
        let half = head_dim / 2;
        let mut out = vec![0.0f32; tensor.values.len()];
        for head in 0..heads {
            for i in 0..half {
                for (pair, target) in [(0, i), (1, i + half)] {
                    let src = head * head_dim + 2 * i + pair;
                    let dst = head * head_dim + target;
                    out[dst * cols..(dst + 1) * cols]
                        .copy_from_slice(&tensor.values[src * cols..(src + 1) * cols]);
                }
            }
        }
        HostTensor {
            shape: tensor.shape,
            values: out,
        }
    }
}

fn check_architecture(architecture: &str) -> Result<(), LlmError> {
    match architecture {
        "llama" | "qwen2" | "mistral" => Ok(()),
        other => Err(LlmError::UnsupportedArchitecture(other.to_string())),
    }
}

/// Maps a Hugging Face weight name to llama.cpp's.
fn gguf_name(hf_name: &str) -> Option<String> {
    match hf_name {
        "model.embed_tokens.weight" => return Some("token_embd.weight".into()),
        "model.norm.weight" => return Some("output_norm.weight".into()),
        "lm_head.weight" => return Some("output.weight".into()),
        _ => {}
    }
    let rest = hf_name.strip_prefix("model.layers.")?;
    let (layer, suffix) = rest.split_once('.')?;
    let (module, kind) = suffix.rsplit_once('.')?;
    let gguf_module = match module {
        "input_layernorm" => "attn_norm",
        "post_attention_layernorm" => "ffn_norm",
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        _ => return None,
    };
    Some(format!("blk.{layer}.{gguf_module}.{kind}"))
}

impl WeightSource for GgufWeights {
    fn source_name(&self) -> String {
        self.path.clone()
    }

    fn load(&self, name: &str) -> Result<Option<HostTensor>, LlmError> {
        let Some(gguf_name) = gguf_name(name) else {
            return Ok(None);
        };
        if self.file.tensor(&gguf_name).is_none() {
            return Ok(None);
        }
        let dequantized = self.file.dequantize(&gguf_name)?;
        let tensor = HostTensor {
            shape: dequantized.shape,
            values: dequantized.data,
        };
        Ok(Some(self.unpermute(&gguf_name, tensor)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_hf_names_to_llama_cpp_names() {
        assert_eq!(
            gguf_name("model.layers.12.self_attn.k_proj.weight").as_deref(),
            Some("blk.12.attn_k.weight")
        );
        assert_eq!(
            gguf_name("model.layers.0.self_attn.q_proj.bias").as_deref(),
            Some("blk.0.attn_q.bias")
        );
        assert_eq!(
            gguf_name("model.layers.3.post_attention_layernorm.weight").as_deref(),
            Some("blk.3.ffn_norm.weight")
        );
        assert_eq!(gguf_name("model.layers.3.unknown.weight"), None);
    }
}
