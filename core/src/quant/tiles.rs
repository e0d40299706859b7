//! The parallel driver both kernels share: W's rows are split into rayon tasks, each task
//! into tiles of [`TILE`] rows that are decoded once and then dotted with every input row.

use rayon::prelude::*;

use super::error::QuantError;

/// Weight rows per rayon task: enough work to amortize scheduling, small enough to balance
/// a 576-row projection over a phone's cores.
const TASK_ROWS: usize = 16;
/// Weight rows decoded together, so each input row is loaded once per `TILE` outputs.
pub(crate) const TILE: usize = 4;

/// Input rows in `x` for a weight of width `cols`.
pub(crate) fn input_rows(x: &[f32], cols: usize) -> Result<usize, QuantError> {
    let whole = if cols == 0 {
        x.is_empty()
    } else {
        x.len().is_multiple_of(cols)
    };
    if whole {
        Ok(x.len().checked_div(cols).unwrap_or(0))
    } else {
        Err(QuantError::InputLength { len: x.len(), cols })
    }
}

/// Computes y `[n, rows]` by calling `tile(scratch, first_row, out)` for each tile of
/// weight rows, where `out` is that tile's slab of yᵀ, `[rows_in_tile, n]`.
pub(crate) fn par_row_tiles<S, I, F>(rows: usize, n: usize, init: I, tile: F) -> Vec<f32>
where
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut [f32]) + Sync + Send,
{
    if rows == 0 || n == 0 {
        return vec![0.0; rows * n];
    }
    // Tasks write disjoint row slabs of yᵀ; one transpose at the end gives y.
    let mut y_t = vec![0.0f32; rows * n];
    y_t.par_chunks_mut(TASK_ROWS * n)
        .enumerate()
        .for_each_init(init, |scratch, (task, slab)| {
            for (t, out) in slab.chunks_mut(TILE * n).enumerate() {
                tile(scratch, task * TASK_ROWS + t * TILE, out);
            }
        });
    if n == 1 {
        return y_t;
    }
    let mut y = vec![0.0f32; rows * n];
    for (r, column) in y_t.chunks_exact(n).enumerate() {
        for (i, &v) in column.iter().enumerate() {
            y[i * rows + r] = v;
        }
    }
    y
}
