//! The 32-element quantization blocks, laid out byte for byte like ggml's `block_q8_0` and
//! `block_q4_0` so a bundle's weights and a GGUF file's decode the same way.
//!
//! Quantizers follow `quantize_row_q8_0_ref` / `quantize_row_q4_0_ref` in ggml-quants.c:
//! the scale is computed in f32, stored as f16, and the values are rounded with the f32
//! scale (not the stored one), exactly as ggml does.

use std::mem::{align_of, size_of};

use half::f16;

/// Elements per block.
pub const QK: usize = 32;

/// Eight-bit block: value = `d` × `qs[j]`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct BlockQ8 {
    /// Scale.
    pub d: f16,
    /// Quantized values.
    pub qs: [i8; QK],
}

/// Four-bit block: value = `d` × (nibble − 8). Byte `j` holds element `j` in its low
/// nibble and element `j + 16` in its high nibble (ggml Q4_0).
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct BlockQ4 {
    /// Scale.
    pub d: f16,
    /// Packed nibbles.
    pub qs: [u8; QK / 2],
}

const _: () = assert!(size_of::<BlockQ8>() == 2 + QK);
const _: () = assert!(size_of::<BlockQ8>() == 34);
const _: () = assert!(align_of::<BlockQ8>() == 2);
const _: () = assert!(size_of::<BlockQ4>() == 2 + QK / 2);
const _: () = assert!(size_of::<BlockQ4>() == 18);
const _: () = assert!(align_of::<BlockQ4>() == 2);

impl BlockQ8 {
    /// Scale = max|x| / 127; q = round(x / scale), halves away from zero.
    pub fn quantize(x: &[f32; QK]) -> Self {
        let amax = x.iter().fold(0.0f32, |acc, v| acc.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        // `round` is C's roundf; the cast saturates where C's would be undefined.
        let qs = x.map(|v| (v * id).round() as i8);
        Self {
            d: f16::from_f32(d),
            qs,
        }
    }

    /// The block's 32 values.
    pub fn dequantize(&self, out: &mut [f32; QK]) {
        let d = self.d.to_f32();
        for (y, &q) in out.iter_mut().zip(&self.qs) {
            *y = f32::from(q) * d;
        }
    }
}

impl BlockQ4 {
    /// Scale = (signed value of largest magnitude) / −8, so that value maps to nibble 0;
    /// nibble = min(15, trunc(x / scale + 8.5)).
    pub fn quantize(x: &[f32; QK]) -> Self {
        // First value of largest magnitude on ties, as ggml's strict `<`.
        let (_, max) = x.iter().fold((0.0f32, 0.0f32), |(amax, max), &v| {
            if amax < v.abs() {
                (v.abs(), v)
            } else {
                (amax, max)
            }
        });
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let nibble = |v: f32| ((v * id + 8.5) as i8).min(15) as u8;
        let (low, high) = x.split_at(QK / 2);
        let mut qs = [0u8; QK / 2];
        for ((q, &x0), &x1) in qs.iter_mut().zip(low).zip(high) {
            *q = nibble(x0) | (nibble(x1) << 4);
        }
        Self {
            d: f16::from_f32(d),
            qs,
        }
    }

    /// The block's 32 values.
    pub fn dequantize(&self, out: &mut [f32; QK]) {
        let d = self.d.to_f32();
        let (low, high) = out.split_at_mut(QK / 2);
        for ((&q, y0), y1) in self.qs.iter().zip(low).zip(high) {
            *y0 = f32::from((q & 0x0F) as i8 - 8) * d;
            *y1 = f32::from((q >> 4) as i8 - 8) * d;
        }
    }

    /// The block's 32 signed quants (nibble − 8), for integer dot products.
    pub fn unpack(&self, out: &mut [i8; QK]) {
        let (low, high) = out.split_at_mut(QK / 2);
        for ((&q, y0), y1) in self.qs.iter().zip(low).zip(high) {
            *y0 = (q & 0x0F) as i8 - 8;
            *y1 = (q >> 4) as i8 - 8;
        }
    }
}
