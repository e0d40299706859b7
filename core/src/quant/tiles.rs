//! The parallel driver both kernels share: W's rows are split into rayon tasks; a task
//! decodes its rows once into a scratch buffer, then sweeps the input rows in pairs across
//! them with the [`MR`] × [`NR`] micro-kernels of `dot`.

use std::array;

use rayon::prelude::*;

use super::dot::{MR, NR};
use super::error::QuantError;

/// Weight rows per rayon task: their decoded form (16 × 1536 × 4 B = 96 KiB at most for
/// SmolLM2) stays in L2 while every input row passes over it.
pub(crate) const TASK_ROWS: usize = 16;

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

/// Computes y `[n, rows]` by calling `task(scratch, first_row, out)` for each task of
/// weight rows, where `out` is that task's slab of yᵀ, `[rows_in_task, n]`.
pub(crate) fn par_row_tasks<S, I, F>(rows: usize, n: usize, init: I, task: F) -> Vec<f32>
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
        .for_each_init(init, |scratch, (index, slab)| {
            task(scratch, index * TASK_ROWS, slab)
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

/// Fills `out` (`[task_rows, n]`, yᵀ) with `tile(input_rows, weight_rows)` micro-tiles.
/// Edge tiles repeat the last row index and drop the repeated results.
pub(crate) fn for_each_micro_tile(
    n: usize,
    out: &mut [f32],
    mut tile: impl FnMut([usize; MR], [usize; NR]) -> [[f32; NR]; MR],
) {
    let task_rows = out.len() / n;
    for i0 in (0..n).step_by(MR) {
        let inputs = array::from_fn(|a| (i0 + a).min(n - 1));
        for j0 in (0..task_rows).step_by(NR) {
            let weights = array::from_fn(|b| (j0 + b).min(task_rows - 1));
            let values = tile(inputs, weights);
            for (a, row) in values.iter().enumerate().take(n - i0) {
                for (b, &v) in row.iter().enumerate().take(task_rows - j0) {
                    out[(j0 + b) * n + i0 + a] = v;
                }
            }
        }
    }
}
