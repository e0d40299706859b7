//! The aarch64 NEON microkernel.
//!
//! Each step of k loads the tile's 8 `A` values (two q registers) and 12 `B` values (three),
//! then runs 24 by-lane FMAs (`fmla v.4s, v.4s, v.s[lane]`) into 24 accumulators.

use std::arch::aarch64::*;

use super::Kernel;
use super::driver::Microkernel;

const MR: usize = Kernel::Neon.tile().0;
const NR: usize = Kernel::Neon.tile().1;
const VECS: usize = NR / 4;

/// [`Kernel::Neon`].
#[derive(Debug)]
pub(crate) struct Neon;

impl Microkernel for Neon {
    const MR: usize = MR;
    const NR: usize = NR;
    const KC: usize = 256;
    const MC: usize = 16 * MR;

    unsafe fn tile(
        rows: usize,
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        load_c: bool,
    ) {
        // SAFETY: forwarded trait contract (NEON present, pointers valid).
        unsafe { dispatch_rows!(rows, neon_tile(kc, a, b, c, ldc, load_c), [1 2 3 4 5 6 7 8]) }
    }
}

/// The NEON tile for `ROWS ≤ MR` rows (see [`Microkernel::tile`]).
#[target_feature(enable = "neon")]
unsafe fn neon_tile<const ROWS: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    load_c: bool,
) {
    let mut acc = [[vdupq_n_f32(0.0); VECS]; MR];
    if load_c {
        for (i, acc_row) in acc.iter_mut().take(ROWS).enumerate() {
            for (v, sum) in acc_row.iter_mut().enumerate() {
                // SAFETY: tile row i < ROWS has NR valid floats (contract).
                *sum = unsafe { vld1q_f32(c.add(i * ldc + v * 4)) };
            }
        }
    }
    for p in 0..kc {
        // SAFETY: step p < kc of the tile (MR = 8 floats) and of the panel (NR = 12) lie in `a`
        // (kc · MR) and `b` (kc · NR).
        let (a_low, a_high, b_p) = unsafe {
            let a_p = a.add(p * MR);
            let b_p = b.add(p * NR);
            (
                vld1q_f32(a_p),
                vld1q_f32(a_p.add(4)),
                [vld1q_f32(b_p), vld1q_f32(b_p.add(4)), vld1q_f32(b_p.add(8))],
            )
        };
        // Row i takes lane i % 4 of a_low or a_high; rows past ROWS compile away.
        macro_rules! row {
            ($i:literal, $a:ident, $lane:literal) => {
                if $i < ROWS {
                    for (sum, &b_vec) in acc[$i].iter_mut().zip(&b_p) {
                        *sum = vfmaq_laneq_f32::<$lane>(*sum, b_vec, $a);
                    }
                }
            };
        }
        row!(0, a_low, 0);
        row!(1, a_low, 1);
        row!(2, a_low, 2);
        row!(3, a_low, 3);
        row!(4, a_high, 0);
        row!(5, a_high, 1);
        row!(6, a_high, 2);
        row!(7, a_high, 3);
    }
    for (i, acc_row) in acc.iter().take(ROWS).enumerate() {
        for (v, &sum) in acc_row.iter().enumerate() {
            // SAFETY: as for the load.
            unsafe { vst1q_f32(c.add(i * ldc + v * 4), sum) };
        }
    }
}
