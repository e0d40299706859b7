//! The micro-kernels: 2 input rows × 4 weight rows of dot products at once, so each load
//! feeds several multiply-adds. Fixed-width lane arrays give LLVM independent
//! accumulators to vectorize (it may not reorder a single f32 sum on its own).
//!
//! x86-64's baseline is SSE2, so on x86-64 each kernel is also compiled for AVX2 + FMA
//! and picked at run time; aarch64 (phones) has NEON and fused multiply-add as baseline.

use std::array;

use super::block::QK;

/// f32 accumulator lanes: one AVX register, two NEON / SSE registers.
const LANES: usize = 8;
/// Input rows per micro-tile.
pub(crate) const MR: usize = 2;
/// Weight rows per micro-tile.
pub(crate) const NR: usize = 4;

/// Whether `f32::mul_add` is one instruction in the baseline target.
const BASELINE_FMA: bool = cfg!(target_arch = "aarch64");

#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    // std caches the CPUID answer: an atomic load per call.
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// `acc + a·b`, fused where fusing is one instruction.
#[inline(always)]
fn madd<const FMA: bool>(acc: f32, a: f32, b: f32) -> f32 {
    if FMA { a.mul_add(b, acc) } else { acc + a * b }
}

/// `out[i][j] = Σ_k x[i][k] · w[j][k]`.
///
/// # Shapes
/// - every row of `x` and `w` has the same length
pub(crate) fn dot_tile(x: [&[f32]; MR], w: [&[f32]; NR]) -> [[f32; NR]; MR] {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        return unsafe { dot_tile_avx2(x, w) };
    }
    dot_tile_impl::<BASELINE_FMA>(x, w)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_tile_avx2(x: [&[f32]; MR], w: [&[f32]; NR]) -> [[f32; NR]; MR] {
    dot_tile_impl::<true>(x, w)
}

#[inline(always)]
fn dot_tile_impl<const FMA: bool>(x: [&[f32]; MR], w: [&[f32]; NR]) -> [[f32; NR]; MR] {
    let len = x[0].len();
    assert!(
        x.iter().chain(&w).all(|row| row.len() == len),
        "dot_tile: ragged rows"
    );
    let chunks = len / LANES;
    // Slicing to exactly `chunks` lets LLVM drop the bounds checks; constant trip counts
    // below let it unroll into registers.
    let xc = x.map(|row| &row.as_chunks::<LANES>().0[..chunks]);
    let wc = w.map(|row| &row.as_chunks::<LANES>().0[..chunks]);
    let mut acc = [[[0.0f32; LANES]; NR]; MR];
    for c in 0..chunks {
        let xv: [[f32; LANES]; MR] = array::from_fn(|i| xc[i][c]);
        let wv: [[f32; LANES]; NR] = array::from_fn(|j| wc[j][c]);
        for i in 0..MR {
            for j in 0..NR {
                for l in 0..LANES {
                    acc[i][j][l] = madd::<FMA>(acc[i][j][l], xv[i][l], wv[j][l]);
                }
            }
        }
    }
    let head = chunks * LANES;
    array::from_fn(|i| {
        array::from_fn(|j| {
            let tail: f32 = x[i][head..]
                .iter()
                .zip(&w[j][head..])
                .map(|(a, b)| a * b)
                .sum();
            acc[i][j].iter().sum::<f32>() + tail
        })
    })
}

/// The portable kernels whatever this CPU has, so tests cover the path phones take.
#[cfg(test)]
pub(crate) fn dot_tile_portable<const FMA: bool>(
    x: [&[f32]; MR],
    w: [&[f32]; NR],
) -> [[f32; NR]; MR] {
    dot_tile_impl::<FMA>(x, w)
}

/// Rows of 8-bit block quants with one f32 scale per block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QRow<'a> {
    pub quants: &'a [[i8; QK]],
    pub scales: &'a [f32],
}

/// `out[i][j] = Σ_blocks d_x·d_w·Σ q_x·q_w`, the integer sums exact.
///
/// # Shapes
/// - every row has the same number of blocks
pub(crate) fn dot_tile_i8(x: [QRow<'_>; MR], w: [QRow<'_>; NR]) -> [[f32; NR]; MR] {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        return unsafe { dot_tile_i8_avx2(x, w) };
    }
    dot_tile_i8_impl::<BASELINE_FMA>(x, w)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_tile_i8_avx2(x: [QRow<'_>; MR], w: [QRow<'_>; NR]) -> [[f32; NR]; MR] {
    dot_tile_i8_impl::<true>(x, w)
}

#[inline(always)]
fn dot_tile_i8_impl<const FMA: bool>(x: [QRow<'_>; MR], w: [QRow<'_>; NR]) -> [[f32; NR]; MR] {
    let blocks = x[0].quants.len();
    assert!(
        x.iter()
            .chain(&w)
            .all(|r| r.quants.len() == blocks && r.scales.len() == blocks),
        "dot_tile_i8: ragged rows"
    );
    let xq = x.map(|r| &r.quants[..blocks]);
    let xd = x.map(|r| &r.scales[..blocks]);
    let wq = w.map(|r| &r.quants[..blocks]);
    let wd = w.map(|r| &r.scales[..blocks]);
    // Lane-wise partial sums stay in vectors across blocks: no horizontal add per block.
    let mut acc = [[[0.0f32; LANES]; NR]; MR];
    for b in 0..blocks {
        let xb: [&[i8; QK]; MR] = array::from_fn(|i| &xq[i][b]);
        let wb: [&[i8; QK]; NR] = array::from_fn(|j| &wq[j][b]);
        for i in 0..MR {
            for j in 0..NR {
                // q_x·q_w fits i16 (|·| ≤ 128²); |Σ| ≤ 4 · 128² per lane fits i32.
                let mut partial = [0i32; LANES];
                let (x_k, _) = xb[i].as_chunks::<LANES>();
                let (w_k, _) = wb[j].as_chunks::<LANES>();
                for (xv, wv) in x_k.iter().zip(w_k) {
                    for ((p, &a), &b) in partial.iter_mut().zip(xv).zip(wv) {
                        *p += i32::from(i16::from(a) * i16::from(b));
                    }
                }
                let d = xd[i][b] * wd[j][b];
                for l in 0..LANES {
                    acc[i][j][l] = madd::<FMA>(acc[i][j][l], d, partial[l] as f32);
                }
            }
        }
    }
    acc.map(|acc_i| acc_i.map(|acc_ij| acc_ij.iter().sum()))
}

/// See [`dot_tile_portable`].
#[cfg(test)]
pub(crate) fn dot_tile_i8_portable<const FMA: bool>(
    x: [QRow<'_>; MR],
    w: [QRow<'_>; NR],
) -> [[f32; NR]; MR] {
    dot_tile_i8_impl::<FMA>(x, w)
}
