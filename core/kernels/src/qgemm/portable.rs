//! The portable kernel: plain Rust, and the reference every other path equals bit for bit.
//!
//! Output `(i, j)` is, over the blocks `b` in order, starting from 0 or from `C`:
//!
//! ```text
//! acc = fma(dot_b as f32, dx[i][b] · dw[j][b], acc)      dot_b = Σ_t qw[j][32b + t] · qx[i][32b + t]
//! acc = fma(mw[j][b], dx[i][b] · Σ_t qx[i][32b + t], acc)  (Q4_1 only: the minimum term)
//! ```
//!
//! with the integer dot exact (`|dot_b| ≤ 32 · 128 · 127 < 2²⁴`, so its conversion is exact too)
//! and every multiply-add fused. The vector kernels compute the same integers and apply the
//! same f32 operations in the same order, so their results are bitwise these.

use std::slice;

use super::blocks::BLOCK;
use super::driver::{QMicrokernel, XTile};
use super::pack::{
    GROUP_BYTES, PANEL_ROWS, Q4_M_OFFSET, Q4_QS_OFFSET, Q8_QS_OFFSET, QFormat, panel_scales,
};

const MR: usize = 4;

/// [`super::QKernel::Portable`]: a 4 × 32 tile.
#[derive(Debug)]
pub(crate) struct Portable;

impl QMicrokernel for Portable {
    const MR: usize = MR;
    const MC: usize = 64;

    unsafe fn tile(
        format: QFormat,
        rows: usize,
        x: &XTile,
        panel: *const u8,
        nb: usize,
        c: *mut f32,
        ldc: usize,
        load_c: bool,
    ) {
        let pb = format.panel_block_bytes();
        // SAFETY: the trait contract: `panel` holds `nb` panel-blocks.
        let panel = unsafe { slice::from_raw_parts(panel, nb * pb) };
        let mut acc = [[0.0f32; PANEL_ROWS]; MR];
        if load_c {
            for (i, acc_row) in acc.iter_mut().take(rows).enumerate() {
                // SAFETY: tile row i < rows has 32 valid floats that only this call touches.
                acc_row
                    .copy_from_slice(unsafe { slice::from_raw_parts(c.add(i * ldc), PANEL_ROWS) });
            }
        }
        for (b, block) in panel.chunks_exact(pb).enumerate() {
            let dw = panel_scales(block, 0);
            let (weights, mw) = match format {
                QFormat::Q8_0 => (q8_rows(block), None),
                QFormat::Q4_1 => (q4_rows(block), Some(panel_scales(block, Q4_M_OFFSET))),
            };
            for (i, acc_row) in acc.iter_mut().take(rows).enumerate() {
                // SAFETY: row i < rows of the tile has `nb` blocks of quants and scales.
                let (qx, dx, dsum) = unsafe {
                    (
                        slice::from_raw_parts(x.qs.add(i * x.ldq + b * BLOCK), BLOCK),
                        *x.scales.add(i * x.nb + b),
                        *x.dsums.add(i * x.nb + b),
                    )
                };
                for (j, out) in acc_row.iter_mut().enumerate() {
                    let dot: i32 = weights[j]
                        .iter()
                        .zip(qx)
                        .map(|(&w, &q)| i32::from(w) * i32::from(q))
                        .sum();
                    *out = (dot as f32).mul_add(dx * dw[j], *out);
                    if let Some(mw) = &mw {
                        *out = mw[j].mul_add(dsum, *out);
                    }
                }
            }
        }
        for (i, acc_row) in acc.iter().take(rows).enumerate() {
            // SAFETY: as for the load.
            unsafe { slice::from_raw_parts_mut(c.add(i * ldc), PANEL_ROWS) }
                .copy_from_slice(acc_row);
        }
    }
}

/// The 32 rows' quants of a Q8_0 panel-block, element order.
fn q8_rows(block: &[u8]) -> [[i8; BLOCK]; PANEL_ROWS] {
    std::array::from_fn(|r| {
        std::array::from_fn(|t| block[Q8_QS_OFFSET + (t / 4) * GROUP_BYTES + 4 * r + t % 4] as i8)
    })
}

/// The 32 rows' nibbles (0..=15) of a Q4_1 panel-block, element order.
fn q4_rows(block: &[u8]) -> [[i8; BLOCK]; PANEL_ROWS] {
    std::array::from_fn(|r| {
        std::array::from_fn(|t| {
            let j = t % (BLOCK / 2);
            let byte = block[Q4_QS_OFFSET + (j / 4) * GROUP_BYTES + 4 * r + j % 4];
            (if t < BLOCK / 2 {
                byte & 0x0F
            } else {
                byte >> 4
            }) as i8
        })
    })
}
