//! Activations quantized once per row to Q8 blocks, shared by every weight they multiply.

use std::sync::OnceLock;

use rayon::prelude::*;

use super::blocks::BLOCK;

/// Above this many elements rows are quantized in parallel.
const PARALLEL_MIN_ELEMS: usize = 1 << 16;

/// An activation matrix `x: [m, k]` quantized per row to 32-element Q8 blocks: `x ≈ d · q`
/// with an f32 scale `d = max|x| / 127` per block and `q = round(x / d)` (ties to even),
/// `|q| ≤ 127`.
///
/// Quantize a normalized input once and multiply it by several weights of the same input width
/// (q, k and v; gate and up). Besides the quants it keeps, per block, the sums the kernels
/// correct with: `−128 · Σq` (the unsigned-weight bias of `dpbusd`) and `d · Σq` (the Q4_1
/// minimum term).
///
/// Every value is computed with exact IEEE operations in a fixed order, so the quantization is
/// bitwise the same on every instruction set. A block holding an infinity or NaN gets a
/// non-finite scale, so the products it enters are non-finite (as in f32).
#[derive(Clone, Debug, Default)]
pub struct QuantizedActivations {
    pub(crate) m: usize,
    pub(crate) k: usize,
    /// `[m, k]` quants.
    pub(crate) qs: Vec<i8>,
    /// `[m, k / 32]` scales `d`.
    pub(crate) scales: Vec<f32>,
    /// `[m, k / 32]`: `−128 · Σq`.
    pub(crate) bias: Vec<i32>,
    /// `[m, k / 32]`: `d · Σq`.
    pub(crate) dsums: Vec<f32>,
}

impl QuantizedActivations {
    /// Quantizes `x`.
    ///
    /// # Shapes
    ///
    /// - `x`: `[m, k]` row-major, `k` a multiple of 32.
    ///
    /// # Panics
    ///
    /// If `k` is not a multiple of 32 or `x.len() != m · k`.
    pub fn quantize(x: &[f32], m: usize, k: usize) -> Self {
        let mut quantized = Self::default();
        quantized.quantize_into(x, m, k);
        quantized
    }

    /// Quantizes `x` into this value's buffers (reusing their capacity).
    ///
    /// # Shapes
    ///
    /// As [`QuantizedActivations::quantize`].
    ///
    /// # Panics
    ///
    /// As [`QuantizedActivations::quantize`].
    pub fn quantize_into(&mut self, x: &[f32], m: usize, k: usize) {
        assert!(
            k.is_multiple_of(BLOCK),
            "activation width {k} is not a multiple of {BLOCK}"
        );
        assert_eq!(x.len(), m * k, "activation slice is not [{m}, {k}]");
        let nb = k / BLOCK;
        (self.m, self.k) = (m, k);
        self.qs.resize(m * k, 0);
        self.scales.resize(m * nb, 0.0);
        self.bias.resize(m * nb, 0);
        self.dsums.resize(m * nb, 0.0);
        if m == 0 || k == 0 {
            return;
        }
        let quantize = row_quantizer();
        let run =
            |((((x, qs), scales), bias), dsums): RowOut<'_>| quantize(x, qs, scales, bias, dsums);
        if m * k >= PARALLEL_MIN_ELEMS {
            x.par_chunks_exact(k)
                .zip(self.qs.par_chunks_exact_mut(k))
                .zip(self.scales.par_chunks_exact_mut(nb))
                .zip(self.bias.par_chunks_exact_mut(nb))
                .zip(self.dsums.par_chunks_exact_mut(nb))
                .for_each(run);
        } else {
            x.chunks_exact(k)
                .zip(self.qs.chunks_exact_mut(k))
                .zip(self.scales.chunks_exact_mut(nb))
                .zip(self.bias.chunks_exact_mut(nb))
                .zip(self.dsums.chunks_exact_mut(nb))
                .for_each(run);
        }
    }

    /// Rows `m`.
    pub fn m(&self) -> usize {
        self.m
    }

    /// Width `k`.
    pub fn k(&self) -> usize {
        self.k
    }

    /// What these blocks of `x` miss, `x − dequantize(self)`, quantized to Q8 blocks of its
    /// own. A block's residual is at most half a step `d / 2`, so its scale is at most
    /// `d / 254`: `dequantize(self) + dequantize(residual)` is within `max|x| / (127 · 508)`
    /// of `x` per block, and the two blocks' products sum to that of a ~15-bit input.
    ///
    /// # Shapes
    ///
    /// - `x`: the `[m, k]` these blocks were quantized from.
    ///
    /// # Panics
    ///
    /// If `x.len() != m · k`.
    pub fn residual_of(&self, x: &[f32]) -> Self {
        assert_eq!(
            x.len(),
            self.m * self.k,
            "residual of a different activation"
        );
        let (k, nb) = (self.k, self.k / BLOCK);
        let mut rest = vec![0.0f32; x.len()];
        if k == 0 {
            return Self::quantize(&rest, self.m, k);
        }
        // One row at a time, block by block: `x − d·q`, as `dequantize` rounds `d·q`.
        let row = |((rest, x), (qs, scales)): ResidualRow<'_>| {
            let blocks = rest
                .chunks_exact_mut(BLOCK)
                .zip(x.chunks_exact(BLOCK))
                .zip(qs.chunks_exact(BLOCK).zip(scales));
            for ((rest, x), (qs, &d)) in blocks {
                for ((r, &v), &q) in rest.iter_mut().zip(x).zip(qs) {
                    *r = v - f32::from(q) * d;
                }
            }
        };
        let inputs = (self.qs.as_slice(), self.scales.as_slice());
        if x.len() >= PARALLEL_MIN_ELEMS {
            rest.par_chunks_exact_mut(k)
                .zip(x.par_chunks_exact(k))
                .zip(
                    inputs
                        .0
                        .par_chunks_exact(k)
                        .zip(inputs.1.par_chunks_exact(nb)),
                )
                .for_each(row);
        } else {
            rest.chunks_exact_mut(k)
                .zip(x.chunks_exact(k))
                .zip(inputs.0.chunks_exact(k).zip(inputs.1.chunks_exact(nb)))
                .for_each(row);
        }
        Self::quantize(&rest, self.m, k)
    }

    /// The quantized values decoded, `d · q`.
    ///
    /// # Shapes
    ///
    /// Returns `[m, k]` row-major.
    pub fn dequantize(&self) -> Vec<f32> {
        self.qs
            .chunks_exact(BLOCK)
            .zip(&self.scales)
            .flat_map(|(qs, &d)| qs.iter().map(move |&q| f32::from(q) * d))
            .collect()
    }
}

type RowOut<'a> = (
    (((&'a [f32], &'a mut [i8]), &'a mut [f32]), &'a mut [i32]),
    &'a mut [f32],
);

/// One row of `residual_of`: (output, input) and (the row's quants, its block scales).
type ResidualRow<'a> = ((&'a mut [f32], &'a [f32]), (&'a [i8], &'a [f32]));

pub(crate) type RowQuantizer = fn(&[f32], &mut [i8], &mut [f32], &mut [i32], &mut [f32]);

/// The row quantizer compiled for the best vector unit of this CPU, chosen once. All copies
/// give the same bits; only their speed differs.
pub(crate) fn row_quantizer() -> RowQuantizer {
    static QUANTIZER: OnceLock<RowQuantizer> = OnceLock::new();
    *QUANTIZER.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
            {
                return |x, qs, scales, bias, dsums| {
                    // SAFETY: AVX-512F and AVX-512BW were detected just above.
                    unsafe { quantize_row_avx512(x, qs, scales, bias, dsums) }
                };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return |x, qs, scales, bias, dsums| {
                    // SAFETY: AVX2 was detected just above.
                    unsafe { quantize_row_avx2(x, qs, scales, bias, dsums) }
                };
            }
        }
        quantize_row
    })
}

/// [`quantize_row`] in AVX-512 registers, one 32-block (two zmm) at a time, with the same
/// IEEE operations in the same order (max on the bits, `d = amax / 127`, `id = 1 / d`,
/// `v · id` rounded to nearest even, clamped to ±127, NaN to 0), so the same bits.
/// The compiler does not vectorize the plain loop's saturating float-to-int casts well:
/// this runs several times faster.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx2")]
fn quantize_row_avx512(
    x: &[f32],
    qs: &mut [i8],
    scales: &mut [f32],
    bias: &mut [i32],
    dsums: &mut [f32],
) {
    use std::arch::x86_64::*;
    let blocks = x
        .chunks_exact(BLOCK)
        .zip(qs.chunks_exact_mut(BLOCK))
        .zip(scales.iter_mut().zip(bias.iter_mut().zip(dsums)));
    let magnitude = _mm512_set1_epi32(0x7fff_ffff);
    let (low, high) = (_mm512_set1_ps(-127.0), _mm512_set1_ps(127.0));
    for ((x, qs), (scale, (bias, dsum))) in blocks {
        // SAFETY: `x` and `qs` are one block (32 values) each: two 16-lane loads and two
        // 16-byte stores stay inside them.
        unsafe {
            let (x0, x1) = (
                _mm512_loadu_ps(x.as_ptr()),
                _mm512_loadu_ps(x.as_ptr().add(16)),
            );
            let bits = _mm512_max_epu32(
                _mm512_and_si512(_mm512_castps_si512(x0), magnitude),
                _mm512_and_si512(_mm512_castps_si512(x1), magnitude),
            );
            let d = f32::from_bits(_mm512_reduce_max_epu32(bits)) / 127.0;
            let id = _mm512_set1_ps(if d > 0.0 { 1.0 / d } else { 0.0 });
            let level = |v: __m512| {
                let scaled = _mm512_mul_ps(v, id);
                // Clamping before rounding gives the same integers (the bounds are
                // integers); `max` returns its second operand for a NaN, so NaN lanes are
                // zeroed by the ordered mask instead, as the plain cast maps NaN to 0.
                let clamped = _mm512_min_ps(_mm512_max_ps(scaled, low), high);
                let ints = _mm512_cvt_roundps_epi32::<
                    { _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC },
                >(clamped);
                _mm512_maskz_mov_epi32(_mm512_cmp_ps_mask::<_CMP_ORD_Q>(scaled, scaled), ints)
            };
            let (q0, q1) = (level(x0), level(x1));
            _mm_storeu_si128(qs.as_mut_ptr().cast(), _mm512_cvtepi32_epi8(q0));
            _mm_storeu_si128(qs.as_mut_ptr().add(16).cast(), _mm512_cvtepi32_epi8(q1));
            let sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
            *scale = d;
            *bias = -128 * sum;
            *dsum = d * sum as f32;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn quantize_row_avx2(
    x: &[f32],
    qs: &mut [i8],
    scales: &mut [f32],
    bias: &mut [i32],
    dsums: &mut [f32],
) {
    quantize_row(x, qs, scales, bias, dsums);
}

/// Quantizes one row: plain Rust the compiler vectorizes for the enclosing target features.
#[inline(always)]
pub(crate) fn quantize_row(
    x: &[f32],
    qs: &mut [i8],
    scales: &mut [f32],
    bias: &mut [i32],
    dsums: &mut [f32],
) {
    let blocks = x
        .chunks_exact(BLOCK)
        .zip(qs.chunks_exact_mut(BLOCK))
        .zip(scales.iter_mut().zip(bias.iter_mut().zip(dsums)));
    for ((x, qs), (scale, (bias, dsum))) in blocks {
        // max|x| on the bits: the order of non-negative floats is that of their bits, and a
        // NaN (bits above infinity's) wins, so it reaches the scale.
        let amax_bits = x
            .iter()
            .fold(0u32, |acc, v| acc.max(v.to_bits() & 0x7fff_ffff));
        let d = f32::from_bits(amax_bits) / 127.0;
        let id = if d > 0.0 { 1.0 / d } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in qs.iter_mut().zip(x) {
            // |v · id| ≤ 127 up to rounding; the clamp keeps |q| ≤ 127 (the AVX2 kernel's
            // sign trick needs it) and the cast maps NaN to 0.
            let level = (v * id).round_ties_even().clamp(-127.0, 127.0) as i32;
            *q = level as i8;
            sum += level;
        }
        *scale = d;
        *bias = -128 * sum;
        *dsum = d * sum as f32;
    }
}
