//! y = x·Wᵀ with integer dot products, like ggml's q8_0 × q8_0: x is quantized per
//! 32-block to i8 (f32 scale), W's quants are used as they are (Q4 nibbles unpacked to
//! i8), and each block contributes d_x·d_w·Σ q_x·q_w.
//!
//! Quantizing x adds an error of up to half an x step per element, so this kernel trades
//! accuracy for fewer float operations; `matmul_transposed` is the exact one.

use super::block::QK;
use super::dot::{QRow, dot_tile_i8};
use super::error::QuantError;
use super::matmul::matmul_transposed;
use super::matrix::{QuantizedMatrix, WeightRows};
use super::tiles::{TASK_ROWS, for_each_micro_tile, input_rows, par_row_tasks};

/// Rows of 8-bit quants and their per-block scales.
#[derive(Debug, Clone)]
struct QuantRows {
    quants: Vec<[i8; QK]>,
    scales: Vec<f32>,
}

impl QuantRows {
    fn zeros(blocks: usize) -> Self {
        Self {
            quants: vec![[0; QK]; blocks],
            scales: vec![0.0; blocks],
        }
    }

    /// Row `row` of rows `per_row` blocks wide.
    fn row(&self, row: usize, per_row: usize) -> QRow<'_> {
        let span = row * per_row..(row + 1) * per_row;
        QRow {
            quants: &self.quants[span.clone()],
            scales: &self.scales[span],
        }
    }
}

/// x per block: scale max|x|/127 kept in f32 (it never hits a file), round to nearest.
fn quantize_input(x: &[f32]) -> QuantRows {
    let (blocks, _) = x.as_chunks::<QK>();
    let mut out = QuantRows::zeros(blocks.len());
    for ((block, q), d) in blocks.iter().zip(&mut out.quants).zip(&mut out.scales) {
        let amax = block.iter().fold(0.0f32, |acc, v| acc.max(v.abs()));
        *d = amax / 127.0;
        let id = if *d != 0.0 { 1.0 / *d } else { 0.0 };
        *q = block.map(|v| (v * id).round() as i8);
    }
    out
}

/// y = x·Wᵀ with x quantized to 8 bits per block and integer block dots. Float weights
/// (F16/F32) have no integer quants and go through [`matmul_transposed`].
///
/// # Shapes
/// - `x`: `[n, w.cols()]` row-major
/// - returns `[n, w.rows()]` row-major
pub fn matmul_transposed_int8(x: &[f32], w: &QuantizedMatrix<'_>) -> Result<Vec<f32>, QuantError> {
    if matches!(w.data(), WeightRows::F16(_) | WeightRows::F32(_)) {
        return matmul_transposed(x, w);
    }
    let cols = w.cols();
    let n = input_rows(x, cols)?;
    let per_row = cols / QK;
    let x_q = quantize_input(x);
    let init = || QuantRows::zeros(TASK_ROWS * per_row);
    Ok(par_row_tasks(
        w.rows(),
        n,
        init,
        |scratch, first_row, out| {
            let task_rows = out.len() / n;
            let span = first_row * per_row..(first_row + task_rows) * per_row;
            let quants = scratch.quants.iter_mut();
            let scales = scratch.scales.iter_mut();
            match w.data() {
                WeightRows::Q8(blocks) => {
                    for ((block, q), d) in blocks[span].iter().zip(quants).zip(scales) {
                        (*q, *d) = (block.qs, block.d.to_f32());
                    }
                }
                WeightRows::Q4(blocks) => {
                    for ((block, q), d) in blocks[span].iter().zip(quants).zip(scales) {
                        block.unpack(q);
                        *d = block.d.to_f32();
                    }
                }
                WeightRows::F16(_) | WeightRows::F32(_) => {
                    unreachable!("float weights returned early")
                }
            }
            let scratch = &*scratch;
            for_each_micro_tile(n, out, |inputs, weights| {
                dot_tile_i8(
                    inputs.map(|i| x_q.row(i, per_row)),
                    weights.map(|j| scratch.row(j, per_row)),
                )
            });
        },
    ))
}
