//! y = x·Wᵀ with W decoded block by block on the fly: each task decodes [`TILE`] weight
//! rows into a small f32 buffer (L1-sized: 4 × 1536 × 4 B = 24 KiB at most for SmolLM2)
//! and dots them with every input row, so the weight is decoded once per call, never
//! materialized whole.

use super::dot::{dot, dot4};
use super::error::QuantError;
use super::matrix::QuantizedMatrix;
use super::tiles::{TILE, input_rows, par_row_tiles};

/// y = x·Wᵀ, decoding W per block.
///
/// # Shapes
/// - `x`: `[n, w.cols()]` row-major
/// - returns `[n, w.rows()]` row-major
pub fn matmul_transposed(x: &[f32], w: &QuantizedMatrix<'_>) -> Result<Vec<f32>, QuantError> {
    let cols = w.cols();
    let n = input_rows(x, cols)?;
    let init = || vec![0.0f32; TILE * cols];
    Ok(par_row_tiles(w.rows(), n, init, |buf, first_row, out| {
        let tile_rows = out.len() / n;
        for (j, row) in buf.chunks_exact_mut(cols).take(tile_rows).enumerate() {
            w.decode_row(first_row + j, row);
        }
        if tile_rows == TILE && cols > 0 {
            let (w0, rest) = buf.split_at(cols);
            let (w1, rest) = rest.split_at(cols);
            let (w2, w3) = rest.split_at(cols);
            for (i, xi) in x.chunks_exact(cols).enumerate() {
                let d = dot4(xi, [w0, w1, w2, w3]);
                for (j, v) in d.into_iter().enumerate() {
                    out[j * n + i] = v;
                }
            }
        } else {
            for (j, out_j) in out.chunks_exact_mut(n).enumerate() {
                let w_j = &buf[j * cols..(j + 1) * cols];
                for (o, xi) in out_j.iter_mut().zip(x.chunks(cols.max(1))) {
                    *o = dot(xi, w_j);
                }
            }
        }
    }))
}
