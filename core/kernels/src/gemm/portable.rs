//! The portable microkernel: plain Rust, vectorized by the compiler for the build target.

use std::slice;

use super::Kernel;
use super::driver::Microkernel;

const MR: usize = Kernel::Portable.tile().0;
const NR: usize = Kernel::Portable.tile().1;

/// [`Kernel::Portable`]: a 4 × 16 tile of separate multiplies and adds (no `mul_add`, which is a
/// slow library call where the target has no FMA).
#[derive(Debug)]
pub(crate) struct Portable;

impl Microkernel for Portable {
    const MR: usize = MR;
    const NR: usize = NR;
    const KC: usize = 256;
    const MC: usize = 128;

    unsafe fn tile(
        rows: usize,
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        load_c: bool,
    ) {
        // SAFETY: the trait contract: `a` holds `kc · MR` floats, `b` `kc · NR`.
        let (a, b) = unsafe {
            (
                slice::from_raw_parts(a, kc * MR),
                slice::from_raw_parts(b, kc * NR),
            )
        };
        // SAFETY: each of the `rows` tile rows is NR valid floats that only this call touches.
        let c_row = |i: usize| unsafe { slice::from_raw_parts_mut(c.add(i * ldc), NR) };
        dispatch_rows!(rows, tile_rows(a, b, c_row, load_c), [1 2 3 4]);
    }
}

fn tile_rows<'c, const ROWS: usize>(
    a: &[f32],
    b: &[f32],
    c_row: impl Fn(usize) -> &'c mut [f32],
    load_c: bool,
) {
    let mut acc = [[0.0f32; NR]; ROWS];
    if load_c {
        for (i, acc_row) in acc.iter_mut().enumerate() {
            acc_row.copy_from_slice(c_row(i));
        }
    }
    for (a_p, b_p) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for (acc_row, &a_ip) in acc.iter_mut().zip(a_p) {
            for (sum, &b_pj) in acc_row.iter_mut().zip(b_p) {
                *sum += a_ip * b_pj;
            }
        }
    }
    for (i, acc_row) in acc.iter().enumerate() {
        c_row(i).copy_from_slice(acc_row);
    }
}
