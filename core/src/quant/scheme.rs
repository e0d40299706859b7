//! How a bundle stores one weight matrix; the name is what the bundle manifest records.

use std::fmt;
use std::mem::{align_of, size_of};

use half::f16;

use super::block::{BlockQ4, BlockQ8, QK};

/// Storage format of a weight matrix `[rows, cols]`, row-major.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightQuant {
    /// [`BlockQ8`] blocks, 8.5 bits per weight.
    Q8,
    /// [`BlockQ4`] blocks (ggml Q4_0), 4.5 bits per weight.
    Q4,
    /// Little-endian IEEE half floats.
    F16,
    /// Little-endian f32.
    F32,
}

impl WeightQuant {
    /// Elements per storage unit: a block for Q8/Q4, one value for floats.
    pub fn block_len(self) -> usize {
        match self {
            WeightQuant::Q8 | WeightQuant::Q4 => QK,
            WeightQuant::F16 | WeightQuant::F32 => 1,
        }
    }

    /// Bytes per storage unit.
    pub fn unit_bytes(self) -> usize {
        match self {
            WeightQuant::Q8 => size_of::<BlockQ8>(),
            WeightQuant::Q4 => size_of::<BlockQ4>(),
            WeightQuant::F16 => size_of::<f16>(),
            WeightQuant::F32 => size_of::<f32>(),
        }
    }

    /// Alignment the bytes must start at to be read in place.
    pub fn align(self) -> usize {
        match self {
            WeightQuant::Q8 => align_of::<BlockQ8>(),
            WeightQuant::Q4 => align_of::<BlockQ4>(),
            WeightQuant::F16 => align_of::<f16>(),
            WeightQuant::F32 => align_of::<f32>(),
        }
    }

    /// Bytes of one row of `cols` values, or `None` when `cols` is not a whole number of
    /// units or the size overflows.
    pub fn row_bytes(self, cols: usize) -> Option<usize> {
        if !cols.is_multiple_of(self.block_len()) {
            return None;
        }
        (cols / self.block_len()).checked_mul(self.unit_bytes())
    }

    /// The manifest name ("q8", "q4", "f16", "f32").
    pub fn name(self) -> &'static str {
        match self {
            WeightQuant::Q8 => "q8",
            WeightQuant::Q4 => "q4",
            WeightQuant::F16 => "f16",
            WeightQuant::F32 => "f32",
        }
    }
}

impl fmt::Display for WeightQuant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
