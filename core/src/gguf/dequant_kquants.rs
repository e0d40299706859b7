//! Dequantizers for ggml's 256-element k-quant super-blocks (Q2_K … Q6_K, Q8_K), ported from
//! `dequantize_row_*` in ggml-quants.c with the same operation order, so results match ggml
//! bit for bit.
//!
//! Blocks are fixed-size arrays, so every `split_at` below uses a constant split point inside
//! the block (sizes asserted in `block_layout`) and cannot fail. Callers guarantee whole
//! blocks (see `dequant::check_buffer_sizes`).

use super::block_layout::{
    K_SCALE_BYTES, Q2_K_BLOCK_BYTES, Q3_K_BLOCK_BYTES, Q4_K_BLOCK_BYTES, Q5_K_BLOCK_BYTES,
    Q6_K_BLOCK_BYTES, Q8_K_BLOCK_BYTES, QK_K,
};
use super::dequant::f16_le;

pub(crate) fn dequantize_q2_k(bytes: &[u8], out: &mut [f32]) {
    let (blocks, _) = bytes.as_chunks::<Q2_K_BLOCK_BYTES>();
    let (outs, _) = out.as_chunks_mut::<QK_K>();
    for (block, y) in blocks.iter().zip(outs) {
        let [body @ .., d0, d1, m0, m1] = block;
        let d = f16_le(*d0, *d1);
        let dmin = f16_le(*m0, *m1);
        let (scales, qs) = body.split_at(QK_K / 16);
        // Each 128-element half uses 32 quant bytes four times (shifts 0, 2, 4, 6), and each
        // pass covers two 16-element groups with their own scale/min byte.
        let (half_scales, _) = scales.as_chunks::<8>();
        let (half_qs, _) = qs.as_chunks::<32>();
        let (half_ys, _) = y.as_chunks_mut::<128>();
        for ((sc8, q32), y128) in half_scales.iter().zip(half_qs).zip(half_ys) {
            let (groups, _) = y128.as_chunks_mut::<16>();
            for (group, (y16, &sc)) in groups.iter_mut().zip(sc8).enumerate() {
                let shift = 2 * (group / 2);
                let q16 = if group % 2 == 0 {
                    &q32[..16]
                } else {
                    &q32[16..]
                };
                let dl = d * f32::from(sc & 0x0F);
                let ml = dmin * f32::from(sc >> 4);
                for (out, &q) in y16.iter_mut().zip(q16) {
                    *out = dl * f32::from((q >> shift) & 3) - ml;
                }
            }
        }
    }
}

/// Unpacks Q3_K's sixteen 6-bit scales: low nibbles from bytes 0..8, top two bits from
/// bytes 8..12 (ggml's kmask shuffle, written per scale).
fn q3_k_scales(packed: &[u8; 12]) -> [i8; 16] {
    let mut scales = [0i8; 16];
    for (k, scale) in scales.iter_mut().enumerate() {
        let low = if k < 8 {
            packed[k] & 0x0F
        } else {
            packed[k - 8] >> 4
        };
        let high = (packed[8 + k % 4] >> (2 * (k / 4))) & 3;
        *scale = ((low | (high << 4)) as i8) - 32;
    }
    scales
}

pub(crate) fn dequantize_q3_k(bytes: &[u8], out: &mut [f32]) {
    let (blocks, _) = bytes.as_chunks::<Q3_K_BLOCK_BYTES>();
    let (outs, _) = out.as_chunks_mut::<QK_K>();
    for (block, y) in blocks.iter().zip(outs) {
        let [body @ .., d0, d1] = block;
        let d_all = f16_le(*d0, *d1);
        let (hmask, rest) = body.split_at(QK_K / 8);
        let (qs, packed) = rest.split_at(QK_K / 4);
        let mut packed_scales = [0u8; 12];
        packed_scales.copy_from_slice(packed);
        let scales = q3_k_scales(&packed_scales);

        let (half_qs, _) = qs.as_chunks::<32>();
        let (half_ys, _) = y.as_chunks_mut::<128>();
        for (half, (q32, y128)) in half_qs.iter().zip(half_ys).enumerate() {
            let (groups, _) = y128.as_chunks_mut::<16>();
            for (group, y16) in groups.iter_mut().enumerate() {
                let pass = group / 2;
                let shift = 2 * pass;
                let mask = 1u8 << (4 * half + pass);
                let lane = if group % 2 == 0 { 0..16 } else { 16..32 };
                let dl = d_all * f32::from(scales[8 * half + group]);
                let (q16, h16) = (&q32[lane.clone()], &hmask[lane]);
                for ((out, &q), &h) in y16.iter_mut().zip(q16).zip(h16) {
                    // The high bit is stored inverted: a set bit means "no -4 offset".
                    let offset = if h & mask != 0 { 0 } else { 4 };
                    *out = dl * f32::from(((q >> shift) & 3) as i8 - offset);
                }
            }
        }
    }
}

/// ggml's `get_scale_min_k4`: the eight 6-bit (scale, min) pairs of Q4_K/Q5_K.
fn k4_scale_mins(packed: &[u8; K_SCALE_BYTES]) -> [(u8, u8); 8] {
    let mut pairs = [(0u8, 0u8); 8];
    for (j, pair) in pairs.iter_mut().enumerate() {
        *pair = if j < 4 {
            (packed[j] & 63, packed[j + 4] & 63)
        } else {
            (
                (packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4),
                (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4),
            )
        };
    }
    pairs
}

pub(crate) fn dequantize_q4_k(bytes: &[u8], out: &mut [f32]) {
    let (blocks, _) = bytes.as_chunks::<Q4_K_BLOCK_BYTES>();
    let (outs, _) = out.as_chunks_mut::<QK_K>();
    for (block, y) in blocks.iter().zip(outs) {
        let [d0, d1, m0, m1, rest @ ..] = block;
        let d = f16_le(*d0, *d1);
        let dmin = f16_le(*m0, *m1);
        let (packed, qs) = rest.split_at(K_SCALE_BYTES);
        let mut packed_scales = [0u8; K_SCALE_BYTES];
        packed_scales.copy_from_slice(packed);
        let pairs = k4_scale_mins(&packed_scales);

        // 64 outputs per 32 quant bytes: low nibbles with one scale, high with the next.
        let (q_chunks, _) = qs.as_chunks::<32>();
        let (y_chunks, _) = y.as_chunks_mut::<64>();
        let (pair_chunks, _) = pairs.as_chunks::<2>();
        for ((q32, y64), [(sc1, m1), (sc2, m2)]) in q_chunks.iter().zip(y_chunks).zip(pair_chunks) {
            let (d1, min1) = (d * f32::from(*sc1), dmin * f32::from(*m1));
            let (d2, min2) = (d * f32::from(*sc2), dmin * f32::from(*m2));
            let (low, high) = y64.split_at_mut(32);
            for ((&q, y0), y1) in q32.iter().zip(low).zip(high) {
                *y0 = d1 * f32::from(q & 0x0F) - min1;
                *y1 = d2 * f32::from(q >> 4) - min2;
            }
        }
    }
}

pub(crate) fn dequantize_q5_k(bytes: &[u8], out: &mut [f32]) {
    let (blocks, _) = bytes.as_chunks::<Q5_K_BLOCK_BYTES>();
    let (outs, _) = out.as_chunks_mut::<QK_K>();
    for (block, y) in blocks.iter().zip(outs) {
        let [d0, d1, m0, m1, rest @ ..] = block;
        let d = f16_le(*d0, *d1);
        let dmin = f16_le(*m0, *m1);
        let (packed, rest) = rest.split_at(K_SCALE_BYTES);
        let (qh, qs) = rest.split_at(QK_K / 8);
        let mut packed_scales = [0u8; K_SCALE_BYTES];
        packed_scales.copy_from_slice(packed);
        let pairs = k4_scale_mins(&packed_scales);

        let (q_chunks, _) = qs.as_chunks::<32>();
        let (y_chunks, _) = y.as_chunks_mut::<64>();
        let (pair_chunks, _) = pairs.as_chunks::<2>();
        for (chunk, ((q32, y64), [(sc1, m1), (sc2, m2)])) in
            q_chunks.iter().zip(y_chunks).zip(pair_chunks).enumerate()
        {
            let (d1, min1) = (d * f32::from(*sc1), dmin * f32::from(*m1));
            let (d2, min2) = (d * f32::from(*sc2), dmin * f32::from(*m2));
            let (bit_low, bit_high) = (1u8 << (2 * chunk), 2u8 << (2 * chunk));
            let (low, high) = y64.split_at_mut(32);
            for (((&q, &h), y0), y1) in q32.iter().zip(qh).zip(low).zip(high) {
                let h0 = if h & bit_low != 0 { 16 } else { 0 };
                let h1 = if h & bit_high != 0 { 16 } else { 0 };
                *y0 = d1 * f32::from((q & 0x0F) + h0) - min1;
                *y1 = d2 * f32::from((q >> 4) + h1) - min2;
            }
        }
    }
}

pub(crate) fn dequantize_q6_k(bytes: &[u8], out: &mut [f32]) {
    let (blocks, _) = bytes.as_chunks::<Q6_K_BLOCK_BYTES>();
    let (outs, _) = out.as_chunks_mut::<QK_K>();
    for (block, y) in blocks.iter().zip(outs) {
        let [body @ .., d0, d1] = block;
        let d = f16_le(*d0, *d1);
        let (ql, rest) = body.split_at(QK_K / 2);
        let (qh, scales) = rest.split_at(QK_K / 4);

        // Each 128-element half: 64 low-nibble bytes, 32 high-bit bytes, 8 scales.
        let (half_ql, _) = ql.as_chunks::<64>();
        let (half_qh, _) = qh.as_chunks::<32>();
        let (half_scales, _) = scales.as_chunks::<8>();
        let (half_ys, _) = y.as_chunks_mut::<128>();
        for (((ql64, qh32), sc8), y128) in half_ql.iter().zip(half_qh).zip(half_scales).zip(half_ys)
        {
            let sc = sc8.map(|s| f32::from(s as i8));
            let (ql_a, ql_b) = ql64.split_at(32);
            let (y_quarters, _) = y128.as_chunks_mut::<32>();
            let [y0, y1, y2, y3] = y_quarters else {
                continue;
            };
            for (l, ((&a, &b), &h)) in ql_a.iter().zip(ql_b).zip(qh32).enumerate() {
                let is = l / 16;
                let q1 = ((a & 0x0F) | ((h & 3) << 4)) as i8 - 32;
                let q2 = ((b & 0x0F) | (((h >> 2) & 3) << 4)) as i8 - 32;
                let q3 = ((a >> 4) | (((h >> 4) & 3) << 4)) as i8 - 32;
                let q4 = ((b >> 4) | (((h >> 6) & 3) << 4)) as i8 - 32;
                y0[l] = d * sc[is] * f32::from(q1);
                y1[l] = d * sc[is + 2] * f32::from(q2);
                y2[l] = d * sc[is + 4] * f32::from(q3);
                y3[l] = d * sc[is + 6] * f32::from(q4);
            }
        }
    }
}

pub(crate) fn dequantize_q8_k(bytes: &[u8], out: &mut [f32]) {
    let (blocks, _) = bytes.as_chunks::<Q8_K_BLOCK_BYTES>();
    let (outs, _) = out.as_chunks_mut::<QK_K>();
    for (block, y) in blocks.iter().zip(outs) {
        let [d0, d1, d2, d3, rest @ ..] = block;
        let d = f32::from_le_bytes([*d0, *d1, *d2, *d3]);
        // `rest` is the 256 quants followed by 16 i16 block sums that dequantizing ignores.
        for (out, &q) in y.iter_mut().zip(rest.iter()) {
            *out = d * f32::from(q as i8);
        }
    }
}
