//! Reference quantizers for Q8_0 and Q4_0, ported from `quantize_row_*_ref` in ggml-quants.c
//! so that files we write decode in ggml exactly as they would had ggml written them.

use half::f16;

use super::block_layout::{Q4_0_BLOCK_BYTES, Q8_0_BLOCK_BYTES, QK_LEGACY};
use super::error::GgufError;
use super::ggml_type::GgmlType;

/// Quantizes `values` (a whole number of 32-element blocks) to Q8_0 bytes.
pub fn quantize_q8_0(values: &[f32]) -> Result<Vec<u8>, GgufError> {
    let blocks = whole_blocks(GgmlType::Q8_0, values)?;
    let mut out = Vec::with_capacity(blocks.len() * Q8_0_BLOCK_BYTES);
    for block in blocks {
        let amax = block.iter().fold(0.0f32, |acc, v| acc.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
        // `round` rounds half away from zero like C's roundf; the cast saturates.
        out.extend(block.iter().map(|&v| (v * id).round() as i8 as u8));
    }
    Ok(out)
}

/// Quantizes `values` (a whole number of 32-element blocks) to Q4_0 bytes.
pub fn quantize_q4_0(values: &[f32]) -> Result<Vec<u8>, GgufError> {
    let blocks = whole_blocks(GgmlType::Q4_0, values)?;
    let mut out = Vec::with_capacity(blocks.len() * Q4_0_BLOCK_BYTES);
    for block in blocks {
        // The signed value of largest magnitude (first one on ties) maps to -8.
        let (_, max) = block.iter().fold((0.0f32, 0.0f32), |(amax, max), &v| {
            if amax < v.abs() {
                (v.abs(), v)
            } else {
                (amax, max)
            }
        });
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
        let (low, high) = block.split_at(QK_LEGACY / 2);
        out.extend(low.iter().zip(high).map(|(&x0, &x1)| {
            // ggml truncates through int8_t, then clamps to 15.
            let q0 = ((x0 * id + 8.5) as i8).min(15) as u8;
            let q1 = ((x1 * id + 8.5) as i8).min(15) as u8;
            q0 | (q1 << 4)
        }));
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
