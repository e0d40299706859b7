//! Copies of strided head rows into the contiguous, zero-padded tiles the micro-kernels
//! read.

use super::layout::Heads;

/// `dst[c][g · count + i] = src[batch, first_head + g, start + i][c] · scale`, zero in the
/// padding columns up to `stride`.
#[allow(
    clippy::too_many_arguments,
    reason = "a strided block and its destination"
)]
#[inline(always)]
pub(crate) fn pack_transposed(
    src: &Heads<'_>,
    batch: usize,
    first_head: usize,
    group: usize,
    start: usize,
    count: usize,
    head_dim: usize,
    scale: f32,
    dst: &mut [f32],
    stride: usize,
) {
    // Sixteen source rows at a time: they stay in L1 while each destination row gets a
    // whole cache line, instead of one scattered store per element.
    const WIDTH: usize = 16;
    let dst = &mut dst[..head_dim * stride];
    let columns = group * count;
    let row_of = |column: usize| {
        src.row(
            batch,
            first_head + column / count,
            start + column % count,
            head_dim,
        )
    };
    for col0 in (0..columns).step_by(WIDTH) {
        let width = (columns - col0).min(WIDTH);
        let rows: [&[f32]; WIDTH] =
            std::array::from_fn(|w| if w < width { row_of(col0 + w) } else { &[] });
        let rows = &rows[..width];
        for (c, dst_row) in dst.chunks_exact_mut(stride).enumerate() {
            for (d, row) in dst_row[col0..col0 + width].iter_mut().zip(rows) {
                *d = row[c] * scale;
            }
        }
    }
    for dst_row in dst.chunks_exact_mut(stride) {
        dst_row[columns..].fill(0.0);
    }
}

/// Copies rows `key_start..key_start + key_count` of head `head` into `dst` (`rows` rows of
/// `stride` floats), zero-padding the columns past `head_dim` and the rows past `key_count`.
#[allow(
    clippy::too_many_arguments,
    reason = "a strided block and its destination"
)]
#[inline(always)]
pub(crate) fn pack_rows(
    src: &Heads<'_>,
    batch: usize,
    head: usize,
    key_start: usize,
    key_count: usize,
    rows: usize,
    head_dim: usize,
    dst: &mut [f32],
    stride: usize,
) {
    for (j, row) in dst[..rows * stride].chunks_exact_mut(stride).enumerate() {
        if j < key_count {
            row[..head_dim].copy_from_slice(src.row(batch, head, key_start + j, head_dim));
            row[head_dim..].fill(0.0);
        } else {
            row.fill(0.0);
        }
    }
}
