//! Plain (row-major) quantization blocks, byte for byte ggml's `block_q8_0` and `block_q4_1`,
//! their quantizers and decoders, and the f16 conversions the scales need.
//!
//! # Byte layouts (little-endian)
//!
//! A row of `cols` weights is `cols / 32` consecutive blocks; a matrix `[rows, cols]` is its
//! rows one after another (ggml's and GGUF's order).
//!
//! - **Q8_0**, [`Q8_0_BLOCK_BYTES`] = 34: `d: f16` at 0, `qs: [i8; 32]` at 2.
//!   Element `j` is `d · qs[j]`.
//! - **Q4_1**, [`Q4_1_BLOCK_BYTES`] = 20: `d: f16` at 0, `m: f16` at 2, `qs: [u8; 16]` at 4.
//!   Byte `j` holds element `j` in its low nibble and element `j + 16` in its high nibble;
//!   element `j` is `d · q + m`, `q ∈ 0..=15`.

use rayon::prelude::*;

/// Elements per quantization block (ggml's `QK8_0` and `QK4_1`).
pub const BLOCK: usize = 32;

/// Bytes of one plain Q8_0 block: an f16 scale and 32 signed bytes.
pub const Q8_0_BLOCK_BYTES: usize = 2 + BLOCK;

/// Bytes of one plain Q4_1 block: f16 scale and minimum, and 32 nibbles.
pub const Q4_1_BLOCK_BYTES: usize = 2 + 2 + BLOCK / 2;

/// One Q8_0 block, `#[repr(C)]` exactly as ggml lays it out (the scale as raw f16 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockQ8_0 {
    /// The scale, f16 bits.
    pub d: u16,
    /// The quantized values.
    pub qs: [i8; BLOCK],
}

/// One Q4_1 block, `#[repr(C)]` exactly as ggml lays it out (scale and minimum as f16 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockQ4_1 {
    /// The scale, f16 bits.
    pub d: u16,
    /// The minimum (the value of nibble 0), f16 bits.
    pub m: u16,
    /// Byte `j`: element `j` in the low nibble, element `j + 16` in the high nibble.
    pub qs: [u8; BLOCK / 2],
}

const _: () = assert!(size_of::<BlockQ8_0>() == Q8_0_BLOCK_BYTES);
const _: () = assert!(align_of::<BlockQ8_0>() == 2);
const _: () = assert!(size_of::<BlockQ4_1>() == Q4_1_BLOCK_BYTES);
const _: () = assert!(align_of::<BlockQ4_1>() == 2);

/// Above this many elements the row quantizers run in parallel over rows.
const PARALLEL_MIN_ELEMS: usize = 1 << 16;

impl BlockQ8_0 {
    /// Reads a block from its 34 bytes.
    pub fn from_bytes(bytes: &[u8; Q8_0_BLOCK_BYTES]) -> Self {
        Self {
            d: u16::from_le_bytes([bytes[0], bytes[1]]),
            qs: std::array::from_fn(|j| bytes[2 + j] as i8),
        }
    }

    /// The block's 34 bytes.
    pub fn to_bytes(&self) -> [u8; Q8_0_BLOCK_BYTES] {
        let mut out = [0u8; Q8_0_BLOCK_BYTES];
        out[..2].copy_from_slice(&self.d.to_le_bytes());
        for (dst, &q) in out[2..].iter_mut().zip(&self.qs) {
            *dst = q as u8;
        }
        out
    }

    /// ggml's `quantize_row_q8_0_ref`: `d = max|x| / 127`, `q = round(x / d)` (halves away
    /// from zero, with the f32 reciprocal of the f32 scale), `d` stored as f16.
    pub fn quantize(x: &[f32; BLOCK]) -> Self {
        let amax = x.iter().fold(0.0f32, |acc, v| acc.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        Self {
            d: f32_to_f16(d),
            // The cast saturates (and maps NaN to 0) where C's would be undefined.
            qs: x.map(|v| (v * id).round() as i8),
        }
    }

    /// The block's 32 values (`d · q`, as ggml's `dequantize_row_q8_0`).
    pub fn dequantize(&self) -> [f32; BLOCK] {
        let d = f16_to_f32(self.d);
        self.qs.map(|q| f32::from(q) * d)
    }
}

impl BlockQ4_1 {
    /// Reads a block from its 20 bytes.
    pub fn from_bytes(bytes: &[u8; Q4_1_BLOCK_BYTES]) -> Self {
        Self {
            d: u16::from_le_bytes([bytes[0], bytes[1]]),
            m: u16::from_le_bytes([bytes[2], bytes[3]]),
            qs: std::array::from_fn(|j| bytes[4 + j]),
        }
    }

    /// The block's 20 bytes.
    pub fn to_bytes(&self) -> [u8; Q4_1_BLOCK_BYTES] {
        let mut out = [0u8; Q4_1_BLOCK_BYTES];
        out[..2].copy_from_slice(&self.d.to_le_bytes());
        out[2..4].copy_from_slice(&self.m.to_le_bytes());
        out[4..].copy_from_slice(&self.qs);
        out
    }

    /// The 32 nibbles, element order.
    pub fn nibbles(&self) -> [u8; BLOCK] {
        std::array::from_fn(|j| {
            let byte = self.qs[j % (BLOCK / 2)];
            if j < BLOCK / 2 {
                byte & 0x0F
            } else {
                byte >> 4
            }
        })
    }

    /// A block from its scale, minimum (f16 bits) and 32 nibbles in element order.
    pub fn from_nibbles(d: u16, m: u16, nibbles: &[u8; BLOCK]) -> Self {
        let half = BLOCK / 2;
        Self {
            d,
            m,
            qs: std::array::from_fn(|j| (nibbles[j] & 0x0F) | ((nibbles[j + half] & 0x0F) << 4)),
        }
    }

    /// ggml's `quantize_row_q4_1_ref`: `m = min x`, `d = (max x − m) / 15`, nibble
    /// `min(15, trunc((x − m) / d + 0.5))` with the f32 reciprocal of the f32 scale.
    ///
    /// On values that are already a Q4_1 block's decoded values (a GGUF's), this gives the
    /// block back: its minimum and maximum are nibbles 0 and 15.
    pub fn quantize_minmax(x: &[f32; BLOCK]) -> Self {
        let (min, max) = x.iter().fold((f32::MAX, -f32::MAX), |(lo, hi), &v| {
            (if v < lo { v } else { lo }, if v > hi { v } else { hi })
        });
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let nibbles = x.map(|v| (((v - min) * id + 0.5) as i8).min(15) as u8);
        Self::from_nibbles(f32_to_f16(d), f32_to_f16(min), &nibbles)
    }

    /// The Q4_1 block of least squared error this quantizer finds: ggml's min/max choice and a
    /// few scale candidates around it, each refitted by least squares (scale and minimum for
    /// the nibbles it assigns), rounded to f16 and its nibbles re-assigned to the nearest level;
    /// the candidate of least error (evaluated on the stored f16 values) wins.
    ///
    /// Never worse than [`BlockQ4_1::quantize_minmax`] (which is the first candidate, with its
    /// nibbles re-assigned to the nearest stored level), so on a Q4_1 block's decoded values it
    /// also returns the block itself.
    pub fn quantize(x: &[f32; BLOCK]) -> Self {
        let start = Self::quantize_minmax(x);
        let (min, max) = (
            f16_to_f32(start.m),
            x.iter().fold(-f32::MAX, |a, &v| a.max(v)),
        );
        let mut best = nearest_q4_1(x, start.d, start.m);
        let mut best_error = q4_1_error(x, &best);
        if !best_error.is_finite() || best_error == 0.0 {
            return best;
        }
        let range = max - min;
        for steps in [14.0f32, 14.5, 15.5, 16.0, 15.0] {
            let d = range / steps;
            if d.is_nan() || d <= 0.0 {
                continue;
            }
            // Nibbles for this scale with the minimum at the block's minimum, then the least
            // squares (d, m) for those nibbles.
            let id = 1.0 / d;
            let q = x.map(|v| ((v - min) * id).round().clamp(0.0, 15.0));
            let Some((d_fit, m_fit)) = least_squares(x, &q) else {
                continue;
            };
            let candidate = nearest_q4_1(x, f32_to_f16(d_fit), f32_to_f16(m_fit));
            let error = q4_1_error(x, &candidate);
            if error < best_error {
                (best, best_error) = (candidate, error);
            }
        }
        best
    }

    /// The block's 32 values (`d · q + m`, as ggml's `dequantize_row_q4_1`: product, then sum).
    pub fn dequantize(&self) -> [f32; BLOCK] {
        let (d, m) = (f16_to_f32(self.d), f16_to_f32(self.m));
        self.nibbles().map(|q| f32::from(q) * d + m)
    }
}

/// The Q4_1 block with scale `d` and minimum `m` (f16 bits) whose nibbles are each the nearest
/// level to `x` (`q = clamp(round((x − m) / d), 0, 15)`).
fn nearest_q4_1(x: &[f32; BLOCK], d: u16, m: u16) -> BlockQ4_1 {
    let (d_f, m_f) = (f16_to_f32(d), f16_to_f32(m));
    let nibbles = x.map(|v| {
        if d_f > 0.0 && d_f.is_finite() {
            // Rounding (v − m) / d picks the nearer of the two levels around v, up to a tie.
            let q = ((v - m_f) / d_f).round().clamp(0.0, 15.0) as u8;
            // The division rounds: check the neighbours on the decoded values themselves.
            let level = |q: u8| (f32::from(q) * d_f + m_f - v).abs();
            let mut best = q;
            if q > 0 && level(q - 1) < level(best) {
                best = q - 1;
            }
            if q < 15 && level(q + 1) < level(best) {
                best = q + 1;
            }
            best
        } else {
            0
        }
    });
    BlockQ4_1::from_nibbles(d, m, &nibbles)
}

/// Σ (decoded − x)², in f64.
fn q4_1_error(x: &[f32; BLOCK], block: &BlockQ4_1) -> f64 {
    block
        .dequantize()
        .iter()
        .zip(x)
        .map(|(&y, &v)| (f64::from(y) - f64::from(v)).powi(2))
        .sum()
}

/// The `(d, m)` minimizing Σ (d·q + m − x)², or `None` where the nibbles are all equal or the
/// fit is not a positive finite scale.
fn least_squares(x: &[f32; BLOCK], q: &[f32; BLOCK]) -> Option<(f32, f32)> {
    let n = BLOCK as f64;
    let (mut sq, mut sx, mut sqq, mut sqx) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (&v, &level) in x.iter().zip(q) {
        let (v, level) = (f64::from(v), f64::from(level));
        sq += level;
        sx += v;
        sqq += level * level;
        sqx += level * v;
    }
    let det = n * sqq - sq * sq;
    if det <= 0.0 {
        return None;
    }
    let d = (n * sqx - sq * sx) / det;
    let m = (sx - d * sq) / n;
    (d > 0.0 && d.is_finite() && m.is_finite()).then_some((d as f32, m as f32))
}

/// Quantizes a row-major `[rows, cols]` matrix to plain Q8_0 blocks (ggml's quantizer).
///
/// # Shapes
///
/// - `w`: `[rows, cols]` row-major, `cols` a multiple of 32.
/// - returns `rows · cols / 32` blocks of [`Q8_0_BLOCK_BYTES`], row after row.
///
/// # Panics
///
/// If `w.len() != rows · cols` or `cols` is not a multiple of 32.
pub fn quantize_q8_0_blocks(w: &[f32], rows: usize, cols: usize) -> Vec<u8> {
    quantize_blocks(w, rows, cols, Q8_0_BLOCK_BYTES, |x| {
        BlockQ8_0::quantize(x).to_bytes().to_vec()
    })
}

/// Quantizes a row-major `[rows, cols]` matrix to plain Q4_1 blocks with the least-error
/// search of [`BlockQ4_1::quantize`].
///
/// # Shapes
///
/// As [`quantize_q8_0_blocks`], with blocks of [`Q4_1_BLOCK_BYTES`].
///
/// # Panics
///
/// As [`quantize_q8_0_blocks`].
pub fn quantize_q4_1_blocks(w: &[f32], rows: usize, cols: usize) -> Vec<u8> {
    quantize_blocks(w, rows, cols, Q4_1_BLOCK_BYTES, |x| {
        BlockQ4_1::quantize(x).to_bytes().to_vec()
    })
}

/// Quantizes a row-major `[rows, cols]` matrix to plain Q4_1 blocks exactly as ggml's
/// `quantize_row_q4_1_ref` does (min/max).
///
/// # Shapes
///
/// As [`quantize_q4_1_blocks`].
///
/// # Panics
///
/// As [`quantize_q8_0_blocks`].
pub fn quantize_q4_1_blocks_minmax(w: &[f32], rows: usize, cols: usize) -> Vec<u8> {
    quantize_blocks(w, rows, cols, Q4_1_BLOCK_BYTES, |x| {
        BlockQ4_1::quantize_minmax(x).to_bytes().to_vec()
    })
}

fn quantize_blocks(
    w: &[f32],
    rows: usize,
    cols: usize,
    block_bytes: usize,
    quantize: impl Fn(&[f32; BLOCK]) -> Vec<u8> + Sync,
) -> Vec<u8> {
    assert!(
        cols.is_multiple_of(BLOCK),
        "cols {cols} is not a multiple of {BLOCK}"
    );
    assert_eq!(w.len(), rows * cols, "weight slice is not [{rows}, {cols}]");
    let mut out = vec![0u8; rows * cols / BLOCK * block_bytes];
    if out.is_empty() {
        return out;
    }
    let row_bytes = cols / BLOCK * block_bytes;
    let quantize_row = |(src, dst): (&[f32], &mut [u8])| {
        for (x, block) in src
            .chunks_exact(BLOCK)
            .zip(dst.chunks_exact_mut(block_bytes))
        {
            let x: &[f32; BLOCK] = x.try_into().unwrap_or_else(|_| unreachable!());
            block.copy_from_slice(&quantize(x));
        }
    };
    if w.len() >= PARALLEL_MIN_ELEMS {
        w.par_chunks(cols)
            .zip(out.par_chunks_mut(row_bytes))
            .for_each(quantize_row);
    } else {
        w.chunks(cols)
            .zip(out.chunks_mut(row_bytes))
            .for_each(quantize_row);
    }
    out
}

/// Decodes plain Q8_0 blocks (any whole number of them) to f32.
///
/// # Panics
///
/// If `blocks` is not a whole number of blocks.
pub fn dequantize_q8_0_blocks(blocks: &[u8]) -> Vec<f32> {
    assert!(
        blocks.len().is_multiple_of(Q8_0_BLOCK_BYTES),
        "not a whole number of Q8_0 blocks"
    );
    blocks
        .chunks_exact(Q8_0_BLOCK_BYTES)
        .flat_map(|b| {
            BlockQ8_0::from_bytes(b.try_into().unwrap_or_else(|_| unreachable!())).dequantize()
        })
        .collect()
}

/// Decodes plain Q4_1 blocks (any whole number of them) to f32.
///
/// # Panics
///
/// If `blocks` is not a whole number of blocks.
pub fn dequantize_q4_1_blocks(blocks: &[u8]) -> Vec<f32> {
    assert!(
        blocks.len().is_multiple_of(Q4_1_BLOCK_BYTES),
        "not a whole number of Q4_1 blocks"
    );
    blocks
        .chunks_exact(Q4_1_BLOCK_BYTES)
        .flat_map(|b| {
            BlockQ4_1::from_bytes(b.try_into().unwrap_or_else(|_| unreachable!())).dequantize()
        })
        .collect()
}

/// `2^112`: scales an f16's exponent-and-mantissa bits, shifted into an f32, to its value.
const F16_TO_F32_SCALE: f32 = f32::from_bits((127 + 112) << 23);

/// An IEEE half (raw bits) as f32, exactly (subnormals, infinities and NaN included).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let magnitude = u32::from(h & 0x7fff);
    if magnitude >= 0x7c00 {
        // Infinity or NaN: all exponent bits set, the mantissa (NaN payload) kept.
        return f32::from_bits(sign | 0x7f80_0000 | ((magnitude & 0x03ff) << 13));
    }
    // Exponent and mantissa shifted into place read as an f32 2^112 times too small, a
    // subnormal half as an f32 subnormal: the product is exact.
    let value = f32::from_bits(magnitude << 13) * F16_TO_F32_SCALE;
    f32::from_bits(sign | value.to_bits())
}

/// An f32 as the nearest IEEE half (raw bits), ties to even; overflow gives infinity, NaN
/// stays NaN.
pub fn f32_to_f16(value: f32) -> u16 {
    let x = value.to_bits();
    let sign = (x >> 16) & 0x8000;
    let exponent = ((x >> 23) & 0xff) as i32;
    let mantissa = x & 0x007f_ffff;
    if exponent == 0xff {
        let nan = if mantissa == 0 { 0 } else { 0x0200 };
        return (sign | 0x7c00 | nan | (mantissa >> 13)) as u16;
    }
    let half_exponent = exponent - 127 + 15;
    if half_exponent >= 0x1f {
        return (sign | 0x7c00) as u16;
    }
    // Round to nearest, ties to even: up when the first dropped bit is set and either a later
    // dropped bit or the kept last bit is set.
    let round = |kept: u32, full: u32, shift: u32| {
        let round_bit = 1u32 << (shift - 1);
        let up = (full & round_bit) != 0 && (full & (3 * round_bit - 1)) != 0;
        kept + u32::from(up)
    };
    if half_exponent <= 0 {
        // A half subnormal (or zero): the implicit bit joins the mantissa.
        let shift = (14 - half_exponent) as u32;
        if shift > 24 {
            return sign as u16;
        }
        let full = mantissa | 0x0080_0000;
        return (sign | round(full >> shift, full, shift)) as u16;
    }
    // A carry out of the mantissa correctly bumps the exponent (to infinity at the top).
    let kept = ((half_exponent as u32) << 10) | (mantissa >> 13);
    (sign | round(kept, mantissa, 13)) as u16
}
