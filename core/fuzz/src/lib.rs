//! What the fuzz targets and the seed generator share: the fixed tiny configs the
//! safetensors target parses against, and the selector byte that picks among them.
//!
//! Every `bundle_safetensors` input is one selector byte followed by the file:
//! bits 0-1 pick the [`QuantScheme`] (`q8x32`, `q4x32`, `f16`, `f32`), bit 2 ties the
//! embeddings, bit 3 adds q/k/v biases; the other bits are ignored.

use std::collections::BTreeMap;

use reclora_core::crm::DinConfig;
use reclora_core::llm::LlamaConfig;
use reclora_core::plora::PloraConfig;
use reclora_core::bundle::QuantScheme;
use reclora_core::quant::MatrixFormat;

/// The scheme each value of the selector's low two bits stands for.
pub const QUANTS: [QuantScheme; 4] = [
    QuantScheme::Q8,
    QuantScheme::Q4,
    QuantScheme::F16,
    QuantScheme::F32,
];

/// How the file after the selector byte is read as `llm.safetensors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selector {
    /// Storage of the matrices.
    pub quant: QuantScheme,
    /// `tie_word_embeddings`: no `lm_head.weight`.
    pub tied: bool,
    /// `attention_bias`: q/k/v biases.
    pub bias: bool,
}

impl Selector {
    /// The selector a first input byte encodes.
    pub fn from_byte(byte: u8) -> Self {
        Self {
            quant: QUANTS[usize::from(byte & 0b11)],
            tied: byte & 0b100 != 0,
            bias: byte & 0b1000 != 0,
        }
    }

    /// The byte [`from_byte`](Self::from_byte) reads back as `self`.
    pub fn byte(self) -> u8 {
        let quant = QUANTS.iter().position(|q| *q == self.quant).unwrap_or(0) as u8;
        quant | u8::from(self.tied) << 2 | u8::from(self.bias) << 3
    }

    /// The per-matrix formats (the manifest's `matrices`) the file is checked against.
    pub fn formats(self) -> BTreeMap<String, MatrixFormat> {
        self.quant.plan(&self.llm_config())
    }

    /// The LLM config the file is checked against.
    pub fn llm_config(self) -> LlamaConfig {
        LlamaConfig {
            tie_word_embeddings: self.tied,
            attention_bias: self.bias,
            ..llm_config()
        }
    }
}

/// One decoder block, every width a whole number of 32-value quant blocks, so each quant
/// fits; a Q8 file is about 8 KB, an f32 one about 30 KB.
pub fn llm_config() -> LlamaConfig {
    LlamaConfig {
        vocab_size: 16,
        hidden_size: 32,
        intermediate_size: 32,
        num_layers: 1,
        num_heads: 2,
        num_kv_heads: 1,
        head_dim: 16,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        max_position_embeddings: 64,
        tie_word_embeddings: false,
        attention_bias: false,
    }
}

/// A DIN of a few hundred parameters.
pub fn din_config() -> DinConfig {
    DinConfig {
        embed_dim: 4,
        attention_hidden: 6,
        mlp_hidden: 8,
        mlp_layers: 2,
        ..DinConfig::new(30, 5, 1)
    }
}

/// A gated PLoRA over [`llm_config`] reading [`din_config`]'s representation.
pub fn plora_config() -> PloraConfig {
    PloraConfig {
        num_meta: 2,
        rank: 2,
        alpha: 4.0,
        gate_hidden: 4,
        crm_dim: din_config().representation_dim(),
        ..PloraConfig::default()
    }
}

/// A copy of some bytes starting at a 16-byte boundary, as a memory map would: the
/// quantized views are read in place and refuse misaligned data.
#[derive(Debug)]
pub struct AlignedBytes {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBytes {
    const ALIGN: usize = 16;

    /// Copies `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        let mut buf = vec![0; bytes.len() + Self::ALIGN];
        // `align_offset` may in principle give up (usize::MAX); misaligned bytes are then
        // only refused by the parser, never out of bounds.
        let start = buf.as_ptr().align_offset(Self::ALIGN).min(Self::ALIGN);
        buf[start..start + bytes.len()].copy_from_slice(bytes);
        Self {
            buf,
            start,
            len: bytes.len(),
        }
    }

    /// The copied bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
}
