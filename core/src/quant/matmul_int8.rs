//! y = x·Wᵀ with integer dot products, like ggml's q8_0 × q8_0: x is quantized per
//! 32-block to i8 (f32 scale), W's quants are used as they are (Q4 nibbles unpacked to
//! i8), and each block contributes d_x·d_w·Σ q_x·q_w.
//!
//! Quantizing x adds an error of up to half an x step per element, so this kernel trades
//! accuracy for fewer float operations; `matmul_transposed` is the exact one.

use super::block::{BlockQ8, QK};
use super::dot::dot_i8;
use super::error::QuantError;
use super::matmul::matmul_transposed;
use super::matrix::{QuantizedMatrix, WeightRows};
use super::tiles::{TILE, input_rows, par_row_tiles};

/// An activation block: like [`BlockQ8`] with an f32 scale, since it never hits a file.
#[derive(Debug, Clone, Copy)]
struct ActBlock {
    d: f32,
    qs: [i8; QK],
}

impl ActBlock {
    fn quantize(x: &[f32; QK]) -> Self {
        let amax = x.iter().fold(0.0f32, |acc, v| acc.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        Self {
            d,
            qs: x.map(|v| (v * id).round() as i8),
        }
    }
}

/// Per-task buffers: [`TILE`] weight rows as i8 quants and their f32 block scales.
struct Scratch {
    quants: Vec<[i8; QK]>,
    scales: Vec<f32>,
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
    let (x_blocks, _) = x.as_chunks::<QK>();
    let x_blocks: Vec<ActBlock> = x_blocks.iter().map(ActBlock::quantize).collect();
    let init = || Scratch {
        quants: vec![[0; QK]; TILE * per_row],
        scales: vec![0.0; TILE * per_row],
    };
    Ok(par_row_tiles(
        w.rows(),
        n,
        init,
        |scratch, first_row, out| {
            let tile_rows = out.len() / n;
            let rows = first_row * per_row..(first_row + tile_rows) * per_row;
            let quants = &mut scratch.quants[..rows.len()];
            let scales = &mut scratch.scales[..rows.len()];
            match w.data() {
                WeightRows::Q8(blocks) => unpack(&blocks[rows], quants, scales, |b, q| *q = b.qs),
                WeightRows::Q4(blocks) => unpack(&blocks[rows], quants, scales, |b, q| b.unpack(q)),
                WeightRows::F16(_) | WeightRows::F32(_) => {
                    unreachable!("float weights returned early")
                }
            }
            for (j, out_j) in out.chunks_exact_mut(n).enumerate() {
                let w_q = &quants[j * per_row..(j + 1) * per_row];
                let w_d = &scales[j * per_row..(j + 1) * per_row];
                for (o, x_i) in out_j.iter_mut().zip(x_blocks.chunks_exact(per_row.max(1))) {
                    *o = x_i
                        .iter()
                        .zip(w_q)
                        .zip(w_d)
                        .map(|((xb, q), &d)| xb.d * d * dot_i8(&xb.qs, q) as f32)
                        .sum();
                }
            }
        },
    ))
}

/// Copies blocks' quants (via `quants_of`) and f32 scales into the scratch buffers.
fn unpack<B: Scale>(
    blocks: &[B],
    quants: &mut [[i8; QK]],
    scales: &mut [f32],
    quants_of: impl Fn(&B, &mut [i8; QK]),
) {
    for ((block, q), d) in blocks.iter().zip(quants).zip(scales) {
        quants_of(block, q);
        *d = block.scale();
    }
}

/// A block with an f16 scale.
trait Scale {
    fn scale(&self) -> f32;
}

impl Scale for BlockQ8 {
    fn scale(&self) -> f32 {
        self.d.to_f32()
    }
}

impl Scale for super::block::BlockQ4 {
    fn scale(&self) -> f32 {
        self.d.to_f32()
    }
}
