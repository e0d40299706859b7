//! Reference quantizers for Q8_0 and Q4_0, ported from `quantize_row_*_ref` in ggml-quants.c
//! so that files we write decode in ggml exactly as they would had ggml written them.

use super::block_layout::{Q4_0_BLOCK_BYTES, Q8_0_BLOCK_BYTES, QK_LEGACY};
use super::error::GgufError;
use super::ggml_type::GgmlType;
use crate::quant::{BlockQ4, BlockQ8};

/// Quantizes `values` (a whole number of 32-element blocks) to Q8_0 bytes.
pub fn quantize_q8_0(values: &[f32]) -> Result<Vec<u8>, GgufError> {
    let blocks = whole_blocks(GgmlType::Q8_0, values)?;
    let mut out = Vec::with_capacity(blocks.len() * Q8_0_BLOCK_BYTES);
    for block in blocks {
        // The one quantizer, shared with the bundle's matrices (`crate::quant`).
        let quantized = BlockQ8::quantize(block);
        out.extend_from_slice(&quantized.d.to_le_bytes());
        out.extend(quantized.qs.iter().map(|&q| q as u8));
    }
    Ok(out)
}

/// Quantizes `values` (a whole number of 32-element blocks) to Q4_0 bytes.
pub fn quantize_q4_0(values: &[f32]) -> Result<Vec<u8>, GgufError> {
    let blocks = whole_blocks(GgmlType::Q4_0, values)?;
    let mut out = Vec::with_capacity(blocks.len() * Q4_0_BLOCK_BYTES);
    for block in blocks {
        let quantized = BlockQ4::quantize(block);
        out.extend_from_slice(&quantized.d.to_le_bytes());
        out.extend_from_slice(&quantized.qs);
    }
    Ok(out)
}

fn whole_blocks(ggml_type: GgmlType, values: &[f32]) -> Result<&[[f32; QK_LEGACY]], GgufError> {
    let (blocks, tail) = values.as_chunks::<QK_LEGACY>();
    if tail.is_empty() {
        Ok(blocks)
    } else {
        Err(GgufError::BufferSizeMismatch {
            ggml_type,
            bytes: blocks.len() * ggml_type.type_size(),
            values: values.len(),
        })
    }
}
