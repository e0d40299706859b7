//! Tests of `quant` against independent references: hand-computed blocks, the GGUF
//! reader's ggml-exact dequantizers, and f64 products of the dequantized weights.

mod blocks;
mod errors;
mod ggml_compat;
mod kernels;
mod linear;
mod matmul;

use crate::rng::SplitMix64;

/// `len` values uniform in `[-scale, scale)`.
pub(super) fn random_values(seed: u64, len: usize, scale: f32) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..len)
        .map(|_| (rng.unit_f32() * 2.0 - 1.0) * scale)
        .collect()
}

/// y = x·Wᵀ in f64, with `|x|·|W|ᵀ` (the scale rounding errors are relative to).
///
/// # Shapes
/// - `x`: `[n, cols]`, `w`: `[rows, cols]`; both returns `[n, rows]`
pub(super) fn reference_matmul(x: &[f32], w: &[f32], cols: usize) -> (Vec<f64>, Vec<f64>) {
    let mut y = Vec::new();
    let mut magnitude = Vec::new();
    for xi in x.chunks_exact(cols) {
        for wr in w.chunks_exact(cols) {
            let (mut sum, mut abs) = (0.0f64, 0.0f64);
            for (&a, &b) in xi.iter().zip(wr) {
                sum += f64::from(a) * f64::from(b);
                abs += (f64::from(a) * f64::from(b)).abs();
            }
            y.push(sum);
            magnitude.push(abs);
        }
    }
    (y, magnitude)
}
