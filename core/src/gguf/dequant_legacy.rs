//! Dequantizers for ggml's 32-element "legacy" blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), ported
//! from `dequantize_row_*` in ggml-quants.c with the same operation order, so results match
//! ggml bit for bit. In the 4/5-bit types byte `j` holds element `j` in its low nibble and
//! element `j + 16` in its high nibble.
//!
//! Callers guarantee whole blocks (see `dequant::check_buffer_sizes`).

use super::block_layout::{
    Q4_0_BLOCK_BYTES, Q4_1_BLOCK_BYTES, Q5_0_BLOCK_BYTES, Q5_1_BLOCK_BYTES, Q8_0_BLOCK_BYTES,
    QK_LEGACY,
};
use super::dequant::f16_le;

const HALF: usize = QK_LEGACY / 2;

pub(crate) fn dequantize_q4_0(bytes: &[u8], out: &mut [f32]) {
    let (blocks, _) = bytes.as_chunks::<Q4_0_BLOCK_BYTES>();
    let (outs, _) = out.as_chunks_mut::<QK_LEGACY>();
    for (block, y) in blocks.iter().zip(outs) {
        let [d0, d1, qs @ ..] = block;
        let d = f16_le(*d0, *d1);
        let (low, high) = y.split_at_mut(HALF);
        for ((&q, y0), y1) in qs.iter().zip(low).zip(high) {
            *y0 = (i32::from(q & 0x0F) - 8) as f32 * d;
            *y1 = (i32::from(q >> 4) - 8) as f32 * d;
        }
    }
}

pub(crate) fn dequantize_q4_1(bytes: &[u8], out: &mut [f32]) {
    let (blocks, _) = bytes.as_chunks::<Q4_1_BLOCK_BYTES>();
    let (outs, _) = out.as_chunks_mut::<QK_LEGACY>();
    for (block, y) in blocks.iter().zip(outs) {
        let [d0, d1, m0, m1, qs @ ..] = block;
        let d = f16_le(*d0, *d1);
        let m = f16_le(*m0, *m1);
        let (low, high) = y.split_at_mut(HALF);
        for ((&q, y0), y1) in qs.iter().zip(low).zip(high) {
            *y0 = f32::from(q & 0x0F) * d + m;
            *y1 = f32::from(q >> 4) * d + m;
        }
    }
}

/// Element `j`'s fifth bit is bit `j` of the block's little-endian u32 `qh`.
fn fifth_bits(qh: u32, j: usize) -> (u8, u8) {
    let low = ((qh >> j) << 4) & 0x10;
    let high = (qh >> (j + 12)) & 0x10;
    (low as u8, high as u8)
}

pub(crate) fn dequantize_q5_0(bytes: &[u8], out: &mut [f32]) {
    let (blocks, _) = bytes.as_chunks::<Q5_0_BLOCK_BYTES>();
    let (outs, _) = out.as_chunks_mut::<QK_LEGACY>();
    for (block, y) in blocks.iter().zip(outs) {
        let [d0, d1, h0, h1, h2, h3, qs @ ..] = block;
        let d = f16_le(*d0, *d1);
        let qh = u32::from_le_bytes([*h0, *h1, *h2, *h3]);
        let (low, high) = y.split_at_mut(HALF);
        for (j, ((&q, y0), y1)) in qs.iter().zip(low).zip(high).enumerate() {
            let (xh0, xh1) = fifth_bits(qh, j);
            *y0 = (i32::from((q & 0x0F) | xh0) - 16) as f32 * d;
            *y1 = (i32::from((q >> 4) | xh1) - 16) as f32 * d;
        }
    }
}

pub(crate) fn dequantize_q5_1(bytes: &[u8], out: &mut [f32]) {
    let (blocks, _) = bytes.as_chunks::<Q5_1_BLOCK_BYTES>();
    let (outs, _) = out.as_chunks_mut::<QK_LEGACY>();
    for (block, y) in blocks.iter().zip(outs) {
        let [d0, d1, m0, m1, h0, h1, h2, h3, qs @ ..] = block;
        let d = f16_le(*d0, *d1);
        let m = f16_le(*m0, *m1);
        let qh = u32::from_le_bytes([*h0, *h1, *h2, *h3]);
        let (low, high) = y.split_at_mut(HALF);
        for (j, ((&q, y0), y1)) in qs.iter().zip(low).zip(high).enumerate() {
            let (xh0, xh1) = fifth_bits(qh, j);
            *y0 = f32::from((q & 0x0F) | xh0) * d + m;
            *y1 = f32::from((q >> 4) | xh1) * d + m;
        }
    }
}

pub(crate) fn dequantize_q8_0(bytes: &[u8], out: &mut [f32]) {
    let (blocks, _) = bytes.as_chunks::<Q8_0_BLOCK_BYTES>();
    let (outs, _) = out.as_chunks_mut::<QK_LEGACY>();
    for (block, y) in blocks.iter().zip(outs) {
        let [d0, d1, qs @ ..] = block;
        let d = f16_le(*d0, *d1);
        for (out, &q) in y.iter_mut().zip(qs) {
            *out = f32::from(q as i8) * d;
        }
    }
}
