//! A bundle's quantization scheme: how `export` stores each of the LLM's matrices. The
//! manifest records the scheme and, per matrix, the format it chose, which is what the
//! runtime reads.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::llm_file::llm_tensors;
use crate::llm::LlamaConfig;
use crate::quant::MatrixFormat;

/// How `export` stores the LLM's matrices (norms and biases stay f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum QuantScheme {
    /// Every matrix Q8_0 in the int8 GEMM's 32-row panels (8.5 bits per weight).
    #[serde(rename = "q8x32")]
    Q8,
    /// Mixed: the projections Q4_1 (scale and minimum, 5 bits per weight) and the token
    /// embeddings and output head (tied or not) Q8_0, all in 32-row panels. The head
    /// decides every score and SmolLM2's GGUF ships it at Q8_0, so Q4 there would lose
    /// what the projections keep (their GGUF blocks are Q4_1, repacked losslessly).
    #[serde(rename = "q4x32")]
    Q4,
    /// Every matrix row-major f16, decoded per product.
    #[serde(rename = "f16")]
    F16,
    /// Every matrix row-major f32: the runtime builds a dense model.
    #[serde(rename = "f32")]
    F32,
}

impl QuantScheme {
    /// Every scheme.
    pub const ALL: [QuantScheme; 4] = [
        QuantScheme::Q8,
        QuantScheme::Q4,
        QuantScheme::F16,
        QuantScheme::F32,
    ];

    /// The manifest name.
    pub fn name(self) -> &'static str {
        match self {
            QuantScheme::Q8 => "q8x32",
            QuantScheme::Q4 => "q4x32",
            QuantScheme::F16 => "f16",
            QuantScheme::F32 => "f32",
        }
    }

    /// The short name `export --quant` takes: `q8`, `q4`, `f16`, `f32`.
    pub fn short_name(self) -> &'static str {
        match self {
            QuantScheme::Q8 => "q8",
            QuantScheme::Q4 => "q4",
            QuantScheme::F16 => "f16",
            QuantScheme::F32 => "f32",
        }
    }

    /// The scheme a short or manifest name names.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|scheme| scheme.name() == name || scheme.short_name() == name)
    }

    /// The format of matrix `name` (a Hugging Face weight name) under this scheme.
    pub fn format_of(self, name: &str) -> MatrixFormat {
        let vocab = name == "model.embed_tokens.weight" || name == "lm_head.weight";
        match self {
            QuantScheme::Q8 => MatrixFormat::Q8Packed,
            QuantScheme::Q4 if vocab => MatrixFormat::Q8Packed,
            QuantScheme::Q4 => MatrixFormat::Q4Packed,
            QuantScheme::F16 => MatrixFormat::F16,
            QuantScheme::F32 => MatrixFormat::F32,
        }
    }

    /// The format of every matrix of `config`, by name: what the manifest records.
    pub fn plan(self, config: &LlamaConfig) -> BTreeMap<String, MatrixFormat> {
        llm_tensors(config)
            .into_iter()
            .filter(|tensor| tensor.is_matrix())
            .map(|tensor| {
                let format = self.format_of(&tensor.name);
                (tensor.name, format)
            })
            .collect()
    }

    /// Whether the runtime keeps the matrices in the map (anything but f32).
    pub fn in_place(self) -> bool {
        self != QuantScheme::F32
    }
}

impl fmt::Display for QuantScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
