//! y = x·Wᵀ with W decoded block by block on the fly: each task decodes
//! [`TASK_ROWS`](super::tiles::TASK_ROWS) weight rows into an f32 buffer and multiplies
//! every input row against them, so the weight is decoded once per call, never
//! materialized whole.

use super::dot::dot_tile;
use super::error::QuantError;
use super::matrix::QuantizedMatrix;
use super::tiles::{TASK_ROWS, for_each_micro_tile, input_rows, par_row_tasks};

/// y = x·Wᵀ, decoding W per block.
///
/// # Shapes
/// - `x`: `[n, w.cols()]` row-major
/// - returns `[n, w.rows()]` row-major
pub fn matmul_transposed(x: &[f32], w: &QuantizedMatrix<'_>) -> Result<Vec<f32>, QuantError> {
    let cols = w.cols();
    let n = input_rows(x, cols)?;
    let init = || vec![0.0f32; TASK_ROWS * cols];
    Ok(par_row_tasks(w.rows(), n, init, |buf, first_row, out| {
        let task_rows = out.len() / n;
        for (j, row) in buf
            .chunks_exact_mut(cols.max(1))
            .take(task_rows)
            .enumerate()
        {
            w.decode_row(first_row + j, &mut row[..cols]);
        }
        let x_row = |i: usize| &x[i * cols..(i + 1) * cols];
        let w_row = |j: usize| &buf[j * cols..(j + 1) * cols];
        for_each_micro_tile(n, out, |inputs, weights| {
            dot_tile(inputs.map(x_row), weights.map(w_row))
        });
    }))
}
