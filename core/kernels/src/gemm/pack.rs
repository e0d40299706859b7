//! Packing the operands into the microkernels' layouts, and the buffers they are packed into.

use std::cell::Cell;
use std::ops::Range;
use std::thread::LocalKey;

use rayon::prelude::*;

use super::{Layout, MatRef};

/// Packed buffers start on a cache line, so a 64-byte vector load never straddles two.
const ALIGN_FLOATS: usize = 16;

/// Above this many elements `B` is packed in parallel, one panel per task.
const PARALLEL_PACK_MIN: usize = 1 << 16;

/// A heap `f32` buffer whose contents start 64-byte aligned.
#[derive(Debug)]
pub(crate) struct AlignedBuf {
    buf: Vec<f32>,
    offset: usize,
    len: usize,
}

impl AlignedBuf {
    pub(crate) fn zeroed(len: usize) -> Self {
        let buf = vec![0.0; len + ALIGN_FLOATS];
        let offset = align_offset(&buf);
        Self { buf, offset, len }
    }

    pub(crate) fn as_slice(&self) -> &[f32] {
        &self.buf[self.offset..self.offset + self.len]
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.buf[self.offset..self.offset + self.len]
    }

    pub(crate) fn allocated_bytes(&self) -> usize {
        self.buf.capacity() * size_of::<f32>()
    }
}

impl Clone for AlignedBuf {
    // A derived clone would copy the offset of the old allocation into the new one.
    fn clone(&self) -> Self {
        let mut copy = Self::zeroed(self.len);
        copy.as_mut_slice().copy_from_slice(self.as_slice());
        copy
    }
}

/// Elements to skip from the start of `buf` to reach a 64-byte boundary.
fn align_offset(buf: &[f32]) -> usize {
    let misalignment = buf.as_ptr().addr() % (ALIGN_FLOATS * size_of::<f32>());
    (ALIGN_FLOATS * size_of::<f32>() - misalignment) % (ALIGN_FLOATS * size_of::<f32>())
        / size_of::<f32>()
}

thread_local! {
    /// Packed blocks of `A`, reused by every product this thread runs a block of.
    static SCRATCH_A: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    /// `B` packed by `matmul` on the calling thread.
    static SCRATCH_B: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` on an aligned thread-local scratch slice of `len` elements (contents unspecified).
///
/// The buffer is taken out of its slot while `f` runs, so a nested call gets a fresh one.
fn with_scratch<R>(
    slot: &'static LocalKey<Cell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    let mut buf = slot.take();
    if buf.len() < len + ALIGN_FLOATS {
        buf.resize(len + ALIGN_FLOATS, 0.0);
    }
    let offset = align_offset(&buf);
    let result = f(&mut buf[offset..offset + len]);
    slot.set(buf);
    result
}

pub(crate) fn with_scratch_a<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_scratch(&SCRATCH_A, len, f)
}

pub(crate) fn with_scratch_b<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_scratch(&SCRATCH_B, len, f)
}

/// Length of `[k, n]` packed in `nr`-wide panels.
pub(crate) fn packed_b_len(k: usize, n: usize, nr: usize) -> usize {
    n.div_ceil(nr) * nr * k
}

/// Packs `b` (logical `[k, n]`) into `nr`-wide column panels: panel `j` is `[k][nr]` at
/// `j · k · nr`, columns past `n` zero.
pub(crate) fn pack_b(b: MatRef<'_>, nr: usize, out: &mut [f32]) {
    let (k, n) = (b.rows, b.cols);
    assert_eq!(out.len(), packed_b_len(k, n, nr));
    if k == 0 || n == 0 {
        return;
    }
    let pack = |(panel, dst): (usize, &mut [f32])| pack_b_panel(b, panel, nr, dst);
    if k * n >= PARALLEL_PACK_MIN {
        out.par_chunks_mut(k * nr).enumerate().for_each(pack);
    } else {
        out.chunks_mut(k * nr).enumerate().for_each(pack);
    }
}

fn pack_b_panel(b: MatRef<'_>, panel: usize, nr: usize, dst: &mut [f32]) {
    let col0 = panel * nr;
    let cols = nr.min(b.cols - col0);
    match b.layout {
        Layout::RowMajor => {
            for (p, dst_row) in dst.chunks_exact_mut(nr).enumerate() {
                let src = &b.data[p * b.stride + col0..][..cols];
                dst_row[..cols].copy_from_slice(src);
                dst_row[cols..].fill(0.0);
            }
        }
        Layout::Transposed => {
            // Column j of B is stored row j: read it along k, write it down the panel.
            for c in 0..cols {
                let src = &b.data[(col0 + c) * b.stride..][..b.rows];
                for (dst_row, &value) in dst.chunks_exact_mut(nr).zip(src) {
                    dst_row[c] = value;
                }
            }
            for dst_row in dst.chunks_exact_mut(nr) {
                dst_row[cols..].fill(0.0);
            }
        }
    }
}

/// Packs `a[rows, ks]` into `mr`-row tiles: tile `t` is `[ks.len()][mr]` at `t · mr · ks.len()`,
/// rows past the end of `rows` zero.
pub(crate) fn pack_a(
    a: MatRef<'_>,
    rows: Range<usize>,
    ks: Range<usize>,
    mr: usize,
    out: &mut [f32],
) {
    let kc = ks.len();
    debug_assert_eq!(out.len(), rows.len().div_ceil(mr) * mr * kc);
    for (t, dst) in out.chunks_exact_mut(mr * kc).enumerate() {
        let row0 = rows.start + t * mr;
        let tile_rows = mr.min(rows.end - row0);
        match a.layout {
            Layout::RowMajor => {
                for i in 0..tile_rows {
                    let src = &a.data[(row0 + i) * a.stride + ks.start..][..kc];
                    for (dst_p, &value) in dst.chunks_exact_mut(mr).zip(src) {
                        dst_p[i] = value;
                    }
                }
            }
            Layout::Transposed => {
                for (dst_p, p) in dst.chunks_exact_mut(mr).zip(ks.clone()) {
                    dst_p[..tile_rows].copy_from_slice(&a.data[p * a.stride + row0..][..tile_rows]);
                }
            }
        }
        if tile_rows < mr {
            for dst_p in dst.chunks_exact_mut(mr) {
                dst_p[tile_rows..].fill(0.0);
            }
        }
    }
}
