//! x86_64 microkernels: AVX-512F and AVX2 + FMA.
//!
//! Each step of k loads NR floats of the packed `B` panel into registers, broadcasts each of the
//! tile's MR `A` values from memory (a load-port operation, no shuffle) and runs MR × NR / lanes
//! FMAs into accumulators that stay in registers for the whole K block.

use std::arch::x86_64::*;

use std::ops::Range;

use super::driver::Microkernel;
use super::{Kernel, Layout, MatRef, pack};

const AVX512_MR: usize = Kernel::Avx512.tile().0;
const AVX512_NR: usize = Kernel::Avx512.tile().1;
const AVX512_VECS: usize = AVX512_NR / 16;

/// [`Kernel::Avx512`].
#[derive(Debug)]
pub(crate) struct Avx512;

impl Microkernel for Avx512 {
    const MR: usize = AVX512_MR;
    const NR: usize = AVX512_NR;
    // A 256 × 32 panel slice is 32 KB of the 48 KB L1d.
    const KC: usize = 256;
    const MC: usize = 6 * AVX512_MR;

    unsafe fn tile(
        rows: usize,
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        load_c: bool,
    ) {
        // SAFETY: forwarded trait contract (AVX-512F present, pointers valid).
        unsafe {
            dispatch_rows!(
                rows,
                avx512_tile(kc, a, b, c, ldc, load_c),
                [1 2 3 4 5 6 7 8 9 10 11 12 13 14]
            )
        }
    }

    unsafe fn pack_a(a: MatRef<'_>, rows: Range<usize>, ks: Range<usize>, out: &mut [f32]) {
        if a.layout != Layout::RowMajor {
            return pack::pack_a(a, rows, ks, AVX512_MR, out);
        }
        let kc = ks.len();
        for (t, dst) in out.chunks_exact_mut(AVX512_MR * kc).enumerate() {
            let row0 = rows.start + t * AVX512_MR;
            let tile_rows = AVX512_MR.min(rows.end - row0);
            let last_row = row0 + tile_rows - 1;
            let tile = &a.data[row0 * a.stride + ks.start..last_row * a.stride + ks.end];
            // SAFETY: the caller guarantees AVX-512F; `tile` spans the tile's rows' `kc` columns
            // at stride `a.stride`, and `dst` is `kc · MR` long.
            unsafe { pack_a_tile_avx512(tile.as_ptr(), a.stride, tile_rows, kc, dst.as_mut_ptr()) };
        }
    }
}

/// Packs a tile of `rows ≤ MR` rows of row-major `A` (`src` at its first element, rows `lda`
/// apart) into `dst` as `[kc][MR]`, rows past `rows` zero: 16 × 16 blocks transposed in
/// registers, so a block costs MR loads and 16 stores instead of a store per element.
///
/// # Safety
///
/// AVX-512F is present; `src` is valid for reads of `rows` rows of `kc` floats `lda` apart, and
/// `dst` for `kc · MR` writes.
#[target_feature(enable = "avx512f")]
unsafe fn pack_a_tile_avx512(src: *const f32, lda: usize, rows: usize, kc: usize, dst: *mut f32) {
    const MR: usize = AVX512_MR;
    const { assert!(MR <= 16) };
    let mut p = 0;
    while p < kc {
        let width = (kc - p).min(16);
        // Masked loads stop at the end of the row; lanes past it (and rows past `rows`) are zero.
        let load_mask = (((1u32 << width) - 1) & 0xffff) as __mmask16;
        let mut block = [_mm512_setzero_ps(); 16];
        // A fixed trip count keeps `block` in registers; rows past `rows` load nothing (mask 0,
        // and an in-bounds address).
        for (i, row) in block.iter_mut().take(MR).enumerate() {
            let (mask, offset) = if i < rows {
                (load_mask, i * lda + p)
            } else {
                (0, 0)
            };
            // SAFETY: for row i < rows, columns p..p + width < kc of that row (the rest masked
            // off); otherwise no lane is loaded.
            *row = unsafe { _mm512_maskz_loadu_ps(mask, src.add(offset)) };
        }
        transpose_16x16(&mut block);
        let store_mask = ((1u32 << MR) - 1) as __mmask16;
        for (q, &column) in block.iter().enumerate() {
            if q < width {
                // SAFETY: step p + q < kc of the packed tile: MR floats at (p + q) · MR.
                unsafe { _mm512_mask_storeu_ps(dst.add((p + q) * MR), store_mask, column) };
            }
        }
        p += width;
    }
}

/// Transposes 16 rows of 16 floats in place: unpack pairs, then pairs of pairs, then 128-bit
/// lanes twice.
#[target_feature(enable = "avx512f")]
fn transpose_16x16(r: &mut [__m512; 16]) {
    let pd = _mm512_castps_pd;
    let ps = _mm512_castpd_ps;
    let mut t = [_mm512_setzero_ps(); 16];
    for j in 0..8 {
        t[2 * j] = _mm512_unpacklo_ps(r[2 * j], r[2 * j + 1]);
        t[2 * j + 1] = _mm512_unpackhi_ps(r[2 * j], r[2 * j + 1]);
    }
    for g in 0..4 {
        let b = 4 * g;
        r[b] = ps(_mm512_unpacklo_pd(pd(t[b]), pd(t[b + 2])));
        r[b + 1] = ps(_mm512_unpackhi_pd(pd(t[b]), pd(t[b + 2])));
        r[b + 2] = ps(_mm512_unpacklo_pd(pd(t[b + 1]), pd(t[b + 3])));
        r[b + 3] = ps(_mm512_unpackhi_pd(pd(t[b + 1]), pd(t[b + 3])));
    }
    for h in 0..2 {
        let b = 8 * h;
        for j in 0..4 {
            t[b + j] = _mm512_shuffle_f32x4::<0x88>(r[b + j], r[b + 4 + j]);
            t[b + 4 + j] = _mm512_shuffle_f32x4::<0xdd>(r[b + j], r[b + 4 + j]);
        }
    }
    for j in 0..8 {
        r[j] = _mm512_shuffle_f32x4::<0x88>(t[j], t[8 + j]);
        r[8 + j] = _mm512_shuffle_f32x4::<0xdd>(t[j], t[8 + j]);
    }
}

/// The AVX-512 tile for `ROWS ≤ MR` rows (see [`Microkernel::tile`]).
#[target_feature(enable = "avx512f")]
unsafe fn avx512_tile<const ROWS: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    load_c: bool,
) {
    const MR: usize = AVX512_MR;
    const NR: usize = AVX512_NR;
    let mut acc = [[_mm512_setzero_ps(); AVX512_VECS]; MR];
    if load_c {
        for (i, acc_row) in acc.iter_mut().take(ROWS).enumerate() {
            for (v, sum) in acc_row.iter_mut().enumerate() {
                // SAFETY: tile row i < ROWS has NR valid floats (contract).
                *sum = unsafe { _mm512_loadu_ps(c.add(i * ldc + v * 16)) };
            }
        }
    } else {
        // The tile is only stored, after the k loop: fetch its lines meanwhile so
        // the stores do not stall on misses (C is often cold on the first K block).
        for i in 0..ROWS {
            for v in 0..AVX512_VECS {
                _mm_prefetch::<_MM_HINT_T0>(c.wrapping_add(i * ldc + v * 16).cast::<i8>());
            }
        }
    }
    for p in 0..kc {
        // SAFETY: step p < kc of the tile and the panel lie in `a` (kc · MR) and `b` (kc · NR).
        let (a_p, b_p) = unsafe { (a.add(p * MR), b.add(p * NR)) };
        let mut b_p_vecs = [_mm512_setzero_ps(); AVX512_VECS];
        for (v, b_vec) in b_p_vecs.iter_mut().enumerate() {
            // SAFETY: as above.
            *b_vec = unsafe { _mm512_loadu_ps(b_p.add(v * 16)) };
        }
        for (i, acc_row) in acc.iter_mut().take(ROWS).enumerate() {
            // SAFETY: as above.
            let a_ip = _mm512_set1_ps(unsafe { *a_p.add(i) });
            for (sum, &b_vec) in acc_row.iter_mut().zip(&b_p_vecs) {
                *sum = _mm512_fmadd_ps(a_ip, b_vec, *sum);
            }
        }
    }
    for (i, acc_row) in acc.iter().take(ROWS).enumerate() {
        for (v, &sum) in acc_row.iter().enumerate() {
            // SAFETY: as for the load.
            unsafe { _mm512_storeu_ps(c.add(i * ldc + v * 16), sum) };
        }
    }
}

const AVX2_MR: usize = Kernel::Avx2Fma.tile().0;
const AVX2_NR: usize = Kernel::Avx2Fma.tile().1;
const AVX2_VECS: usize = AVX2_NR / 8;

/// [`Kernel::Avx2Fma`].
#[derive(Debug)]
pub(crate) struct Avx2Fma;

impl Microkernel for Avx2Fma {
    const MR: usize = AVX2_MR;
    const NR: usize = AVX2_NR;
    // A 256 × 16 panel slice is 16 KB.
    const KC: usize = 256;
    const MC: usize = 24 * AVX2_MR;

    unsafe fn tile(
        rows: usize,
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        load_c: bool,
    ) {
        // SAFETY: forwarded trait contract (AVX2 and FMA present, pointers valid).
        unsafe { dispatch_rows!(rows, avx2_tile(kc, a, b, c, ldc, load_c), [1 2 3 4 5 6]) }
    }
}

/// The AVX2 + FMA tile for `ROWS ≤ MR` rows (see [`Microkernel::tile`]).
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_tile<const ROWS: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    load_c: bool,
) {
    const MR: usize = AVX2_MR;
    const NR: usize = AVX2_NR;
    let mut acc = [[_mm256_setzero_ps(); AVX2_VECS]; MR];
    if load_c {
        for (i, acc_row) in acc.iter_mut().take(ROWS).enumerate() {
            for (v, sum) in acc_row.iter_mut().enumerate() {
                // SAFETY: tile row i < ROWS has NR valid floats (contract).
                *sum = unsafe { _mm256_loadu_ps(c.add(i * ldc + v * 8)) };
            }
        }
    } else {
        // As in the AVX-512 tile: fetch the lines the tile will store.
        for i in 0..ROWS {
            for v in 0..AVX2_VECS {
                _mm_prefetch::<_MM_HINT_T0>(c.wrapping_add(i * ldc + v * 8).cast::<i8>());
            }
        }
    }
    for p in 0..kc {
        // SAFETY: step p < kc of the tile and the panel lie in `a` (kc · MR) and `b` (kc · NR).
        let (a_p, b_p) = unsafe { (a.add(p * MR), b.add(p * NR)) };
        let mut b_p_vecs = [_mm256_setzero_ps(); AVX2_VECS];
        for (v, b_vec) in b_p_vecs.iter_mut().enumerate() {
            // SAFETY: as above.
            *b_vec = unsafe { _mm256_loadu_ps(b_p.add(v * 8)) };
        }
        for (i, acc_row) in acc.iter_mut().take(ROWS).enumerate() {
            // SAFETY: as above.
            let a_ip = _mm256_set1_ps(unsafe { *a_p.add(i) });
            for (sum, &b_vec) in acc_row.iter_mut().zip(&b_p_vecs) {
                *sum = _mm256_fmadd_ps(a_ip, b_vec, *sum);
            }
        }
    }
    for (i, acc_row) in acc.iter().take(ROWS).enumerate() {
        for (v, &sum) in acc_row.iter().enumerate() {
            // SAFETY: as for the load.
            unsafe { _mm256_storeu_ps(c.add(i * ldc + v * 8), sum) };
        }
    }
}
