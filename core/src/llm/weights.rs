//! Where weights come from: a GGUF file, Hugging Face safetensors, or a seeded generator.
//!
//! Every source answers in Hugging Face names and PyTorch layout (`[out, in]`), so the
//! model builder has one code path.

use super::config::LlamaConfig;
use super::error::LlmError;
use crate::quant::SharedWeight;
use crate::rng::SplitMix64;

/// A dense f32 weight with its row-major shape.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Row-major shape.
    pub shape: Vec<usize>,
    /// Values, `shape.iter().product()` of them.
    pub values: Vec<f32>,
}

/// Supplies weights by Hugging Face name, e.g. `model.layers.3.self_attn.q_proj.weight`.
pub trait WeightSource {
    /// Human-readable origin, for error messages.
    fn source_name(&self) -> String;
    /// The weight, or `None` when absent (optional weights such as biases may be).
    fn load(&self, name: &str) -> Result<Option<HostTensor>, LlmError>;

    /// The weight, which must exist and have exactly `shape`.
    fn require(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, LlmError> {
        let tensor = self.load(name)?.ok_or_else(|| LlmError::MissingWeight {
            name: name.to_string(),
            source_name: self.source_name(),
        })?;
        check_shape(name, &tensor, shape)?;
        Ok(tensor.values)
    }

    /// The weight if present, checked against `shape`.
    fn optional(&self, name: &str, shape: &[usize]) -> Result<Option<Vec<f32>>, LlmError> {
        match self.load(name)? {
            Some(tensor) => {
                check_shape(name, &tensor, shape)?;
                Ok(Some(tensor.values))
            }
            None => Ok(None),
        }
    }
}

/// A source whose matrices can be shared in place, undecoded: a bundle's mapped
/// `llm.safetensors`. Vectors (norms, biases) still come through [`WeightSource`].
pub trait SharedMatrixSource: WeightSource {
    /// Matrix `name` (PyTorch layout `[rows, cols]`) viewed where it is stored, packed or
    /// row-major, or `None` when absent.
    fn shared_matrix(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<Option<SharedWeight>, LlmError>;
}

fn check_shape(name: &str, tensor: &HostTensor, expected: &[usize]) -> Result<(), LlmError> {
    let count: usize = tensor.shape.iter().product();
    if tensor.shape != expected || count != tensor.values.len() {
        return Err(LlmError::WeightShape {
            name: name.to_string(),
            expected: expected.to_vec(),
            found: tensor.shape.clone(),
        });
    }
    Ok(())
}

/// Deterministic pseudo-random weights, the same on every backend and machine.
///
/// Used by tests (one body, every backend) and benchmarks; norms are near 1 so
/// activations stay in a realistic range.
#[derive(Debug, Clone)]
pub struct SeededWeights {
    config: LlamaConfig,
    seed: u64,
}

impl SeededWeights {
    /// A generator for `config`'s shapes.
    pub fn new(config: LlamaConfig, seed: u64) -> Self {
        Self { config, seed }
    }

    fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        let c = &self.config;
        let d = c.hidden_size;
        if name == "model.embed_tokens.weight" || name == "lm_head.weight" {
            return (name != "lm_head.weight" || !c.tie_word_embeddings)
                .then(|| vec![c.vocab_size, d]);
        }
        if name == "model.norm.weight" {
            return Some(vec![d]);
        }
        let rest = name.strip_prefix("model.layers.")?;
        let (_, suffix) = rest.split_once('.')?;
        let shape = match suffix {
            "input_layernorm.weight" | "post_attention_layernorm.weight" => vec![d],
            "self_attn.q_proj.weight" => vec![c.q_dim(), d],
            "self_attn.k_proj.weight" | "self_attn.v_proj.weight" => vec![c.kv_dim(), d],
            "self_attn.o_proj.weight" => vec![d, c.q_dim()],
            "self_attn.q_proj.bias" if c.attention_bias => vec![c.q_dim()],
            "self_attn.k_proj.bias" | "self_attn.v_proj.bias" if c.attention_bias => {
                vec![c.kv_dim()]
            }
            "mlp.gate_proj.weight" | "mlp.up_proj.weight" => vec![c.intermediate_size, d],
            "mlp.down_proj.weight" => vec![d, c.intermediate_size],
            _ => return None,
        };
        Some(shape)
    }
}

impl WeightSource for SeededWeights {
    fn source_name(&self) -> String {
        format!("seeded random weights (seed {})", self.seed)
    }

    fn load(&self, name: &str) -> Result<Option<HostTensor>, LlmError> {
        let Some(shape) = self.shape_of(name) else {
            return Ok(None);
        };
        let count: usize = shape.iter().product();
        let mut stream = SplitMix64::new(self.seed ^ fnv1a(name.as_bytes()));
        let is_norm = name.ends_with("norm.weight");
        let fan_in = *shape.last().unwrap_or(&1) as f32;
        let scale = if is_norm { 0.1 } else { 1.0 / fan_in.sqrt() };
        let values = (0..count)
            .map(|_| {
                let uniform = stream.unit_f32() * 2.0 - 1.0;
                if is_norm {
                    1.0 + scale * uniform
                } else {
                    scale * uniform * 1.7
                }
            })
            .collect();
        Ok(Some(HostTensor { shape, values }))
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_weights_are_deterministic_and_shaped() {
        let config = LlamaConfig::tiny_for_tests();
        let source = SeededWeights::new(config.clone(), 7);
        let a = source
            .require("model.layers.1.self_attn.k_proj.weight", &[16, 32])
            .expect("present");
        let b = source
            .require("model.layers.1.self_attn.k_proj.weight", &[16, 32])
            .expect("present");
        assert_eq!(a, b);
        assert!(a.iter().all(|v| v.abs() <= 1.7 / 32f32.sqrt()));
        let err = source
            .require("model.layers.1.self_attn.k_proj.weight", &[32, 32])
            .unwrap_err();
        assert!(matches!(err, LlmError::WeightShape { .. }));
        assert!(
            source
                .load("model.layers.0.self_attn.q_proj.bias")
                .expect("ok")
                .is_none()
        );
    }
}
