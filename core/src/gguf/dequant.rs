//! Decoding tensor bytes to f32: the per-type dispatch, the size checks shared by all types,
//! and the plain float types. Quantized formats live in `dequant_legacy` and `dequant_kquants`.

use half::{bf16, f16};

use super::dequant_kquants::{
    dequantize_q2_k, dequantize_q3_k, dequantize_q4_k, dequantize_q5_k, dequantize_q6_k,
    dequantize_q8_k,
};
use super::dequant_legacy::{
    dequantize_q4_0, dequantize_q4_1, dequantize_q5_0, dequantize_q5_1, dequantize_q8_0,
};
use super::error::GgufError;
use super::ggml_type::GgmlType;

/// A tensor decoded to f32, row-major (`shape[0]` outermost; GGUF dims reversed).
#[derive(Debug, Clone, PartialEq)]
pub struct DequantizedTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Decodes `bytes` of `ggml_type` into `out`, bit-for-bit as ggml's `dequantize_row_*`.
///
/// `out.len()` must be a whole number of blocks and `bytes` exactly that many blocks long;
/// anything else is a [`GgufError::BufferSizeMismatch`], never a partial decode.
pub fn dequantize_into(
    ggml_type: GgmlType,
    bytes: &[u8],
    out: &mut [f32],
) -> Result<(), GgufError> {
    let decode: fn(&[u8], &mut [f32]) = match ggml_type {
        GgmlType::F32 => dequantize_f32,
        GgmlType::F16 => dequantize_f16,
        GgmlType::BF16 => dequantize_bf16,
        GgmlType::Q4_0 => dequantize_q4_0,
        GgmlType::Q4_1 => dequantize_q4_1,
        GgmlType::Q5_0 => dequantize_q5_0,
        GgmlType::Q5_1 => dequantize_q5_1,
        GgmlType::Q8_0 => dequantize_q8_0,
        GgmlType::Q2K => dequantize_q2_k,
        GgmlType::Q3K => dequantize_q3_k,
        GgmlType::Q4K => dequantize_q4_k,
        GgmlType::Q5K => dequantize_q5_k,
        GgmlType::Q6K => dequantize_q6_k,
        GgmlType::Q8K => dequantize_q8_k,
        _ => return Err(GgufError::UnsupportedGgmlType { ggml_type }),
    };
    check_buffer_sizes(ggml_type, bytes.len(), out.len())?;
    decode(bytes, out);
    Ok(())
}

/// The per-type decoders walk blocks with `as_chunks`, which silently drops a ragged tail;
/// this check makes such a tail impossible.
fn check_buffer_sizes(ggml_type: GgmlType, bytes: usize, values: usize) -> Result<(), GgufError> {
    let block_size = ggml_type.block_size();
    let expected_bytes = (values / block_size).checked_mul(ggml_type.type_size());
    if values.is_multiple_of(block_size) && expected_bytes == Some(bytes) {
        Ok(())
    } else {
        Err(GgufError::BufferSizeMismatch {
            ggml_type,
            bytes,
            values,
        })
    }
}

/// Reads a little-endian f16 (the scale type of every ggml block) as f32.
pub(crate) fn f16_le(lo: u8, hi: u8) -> f32 {
    f16::from_le_bytes([lo, hi]).to_f32()
}

fn dequantize_f32(bytes: &[u8], out: &mut [f32]) {
    let (words, _) = bytes.as_chunks::<4>();
    for (y, word) in out.iter_mut().zip(words) {
        *y = f32::from_le_bytes(*word);
    }
}

fn dequantize_f16(bytes: &[u8], out: &mut [f32]) {
    let (halves, _) = bytes.as_chunks::<2>();
    for (y, half) in out.iter_mut().zip(halves) {
        *y = f16::from_le_bytes(*half).to_f32();
    }
}

fn dequantize_bf16(bytes: &[u8], out: &mut [f32]) {
    let (halves, _) = bytes.as_chunks::<2>();
    for (y, half) in out.iter_mut().zip(halves) {
        *y = bf16::from_le_bytes(*half).to_f32();
    }
}
