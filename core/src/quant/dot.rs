//! Dot products written so LLVM vectorizes them: fixed-width lane arrays give it
//! independent accumulators (it may not reorder a single f32 sum on its own).

use super::block::QK;

/// f32 accumulator lanes (two SSE / one AVX / two NEON registers).
const LANES: usize = 8;

/// Σ a·b.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (a_chunks, a_tail) = a.as_chunks::<LANES>();
    let (b_chunks, b_tail) = b.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (x, w) in a_chunks.iter().zip(b_chunks) {
        for l in 0..LANES {
            acc[l] += x[l] * w[l];
        }
    }
    let tail: f32 = a_tail.iter().zip(b_tail).map(|(x, w)| x * w).sum();
    acc.iter().sum::<f32>() + tail
}

/// `[Σ x·w0, Σ x·w1, Σ x·w2, Σ x·w3]`, reading `x` once.
pub(crate) fn dot4(x: &[f32], w: [&[f32]; 4]) -> [f32; 4] {
    let (x_chunks, x_tail) = x.as_chunks::<LANES>();
    let w_chunks = w.map(|row| row.as_chunks::<LANES>().0);
    // Equal lengths let LLVM drop the bounds checks in the loop.
    assert!(w_chunks.iter().all(|c| c.len() == x_chunks.len()));
    let mut acc = [[0.0f32; LANES]; 4];
    for (c, xv) in x_chunks.iter().enumerate() {
        for (acc_j, w_j) in acc.iter_mut().zip(&w_chunks) {
            let wv = &w_j[c];
            for l in 0..LANES {
                acc_j[l] += xv[l] * wv[l];
            }
        }
    }
    let head = x.len() - x_tail.len();
    let mut out = [0.0f32; 4];
    for ((o, acc_j), w_j) in out.iter_mut().zip(&acc).zip(w) {
        let tail: f32 = x_tail.iter().zip(&w_j[head..]).map(|(a, b)| a * b).sum();
        *o = acc_j.iter().sum::<f32>() + tail;
    }
    out
}

/// Σ a·b over one block, exactly (|Σ| ≤ 32·128² fits an i32).
pub(crate) fn dot_i8(a: &[i8; QK], b: &[i8; QK]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &w)| i32::from(i16::from(x) * i16::from(w)))
        .sum()
}
