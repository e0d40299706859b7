//! x86_64 kernels: AVX-512 VNNI, AVX-VNNI and AVX2, one generic tile over the three.
//!
//! A vector of `LANES` i32 accumulators holds `LANES` consecutive weight rows; one integer
//! step adds, to each row's lane, the 4-quant dot of that row's 4-byte group (one vector load
//! of the interleaved panel) with the same 4 activation quants (a 32-bit broadcast from
//! memory). Eight steps finish a 32-element block, whose integer dots are then scaled and
//! added into f32 accumulators that stay in registers for all of k.
//!
//! - VNNI (`vpdpbusd`, u8 × i8): Q8_0 weights are made unsigned by flipping their sign bit
//!   (`q + 128`), and the accumulator starts at `−128 · Σ qx` (kept with the activations).
//!   Q4_1 nibbles are unsigned already.
//! - AVX2 (`vpmaddubsw` + `vpmaddwd`): Q8_0 uses the sign trick, `|w| · (x · sign w)`, whose
//!   pair sums (at most 2 · 128 · 127) cannot saturate i16 because activations keep
//!   `|q| ≤ 127`. Q4_1 pair sums are at most 2 · 15 · 127, so a whole block's eight steps
//!   accumulate in i16 and widen once.

use std::arch::x86_64::*;

use super::blocks::BLOCK;
use super::driver::{QMicrokernel, XTile};
use super::pack::{
    GROUP_BYTES, PANEL_ROWS, Q4_1_PANEL_BLOCK_BYTES, Q4_M_OFFSET, Q4_QS_OFFSET,
    Q8_0_PANEL_BLOCK_BYTES, Q8_QS_OFFSET, QFormat,
};

/// One x86 flavour of the block dot, and the float operations at its width.
///
/// A value of an implementing type exists only on a CPU with its instruction set, which is
/// what makes the safe methods sound.
trait Isa: Copy {
    /// A vector of `LANES` i32 (or bytes).
    type I: Copy;
    /// A vector of `LANES` f32.
    type F: Copy;
    /// A vector of Q8_0 weights prepared for [`Isa::q8_dot`].
    type W8: Copy;
    /// i32 (and f32) lanes: weight rows per vector.
    const LANES: usize;

    fn zero_f(self) -> Self::F;
    fn splat(self, value: f32) -> Self::F;
    fn mul(self, a: Self::F, b: Self::F) -> Self::F;
    /// `a · b + c`, fused.
    fn fma(self, a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    fn to_f32(self, v: Self::I) -> Self::F;
    /// # Safety
    /// `p` is valid for reading `LANES` floats.
    unsafe fn load_f(self, p: *const f32) -> Self::F;
    /// # Safety
    /// `p` is valid for writing `LANES` floats.
    unsafe fn store_f(self, p: *mut f32, v: Self::F);
    /// `LANES` f16 (raw, little-endian) as f32.
    ///
    /// # Safety
    /// `p` is valid for reading `2 · LANES` bytes.
    unsafe fn load_f16(self, p: *const u8) -> Self::F;
    /// # Safety
    /// `p` is valid for reading `4 · LANES` bytes.
    unsafe fn load_i(self, p: *const u8) -> Self::I;
    /// Four activation quants broadcast to every 32-bit lane.
    ///
    /// # Safety
    /// `p` is valid for reading 4 bytes.
    unsafe fn broadcast4(self, p: *const i8) -> Self::I;

    fn q8_weights(self, w: Self::I) -> Self::W8;
    /// The accumulator a Q8_0 block starts from, given `−128 · Σ qx`.
    fn q8_start(self, bias: i32) -> Self::I;
    fn q8_dot(self, acc: Self::I, w: Self::W8, x: Self::I) -> Self::I;
    fn q4_start(self) -> Self::I;
    /// `w`: unsigned nibbles (0..=15) per byte.
    fn q4_dot(self, acc: Self::I, w: Self::I, x: Self::I) -> Self::I;
    /// A Q4_1 block's accumulator as i32 dots.
    fn q4_finish(self, acc: Self::I) -> Self::I;
    /// The low and the high nibbles of every byte.
    fn nibbles(self, raw: Self::I) -> (Self::I, Self::I);
}

/// AVX-512F + BW + VNNI: 16 lanes, `vpdpbusd` on zmm.
#[derive(Clone, Copy, Debug)]
struct Avx512VnniIsa(());

// SAFETY (for every `unsafe` block in this impl): an `Avx512VnniIsa` exists only on CPUs with
// AVX-512F, AVX-512BW and AVX-512 VNNI (see `Avx512Vnni::tile`), and pointer arguments follow
// the trait's contracts.
impl Isa for Avx512VnniIsa {
    type I = __m512i;
    type F = __m512;
    type W8 = __m512i;
    const LANES: usize = 16;

    #[inline(always)]
    fn zero_f(self) -> __m512 {
        // SAFETY: see the impl.
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    fn splat(self, value: f32) -> __m512 {
        // SAFETY: see the impl.
        unsafe { _mm512_set1_ps(value) }
    }
    #[inline(always)]
    fn mul(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: see the impl.
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    fn fma(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: see the impl.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn to_f32(self, v: __m512i) -> __m512 {
        // SAFETY: see the impl.
        unsafe { _mm512_cvtepi32_ps(v) }
    }
    #[inline(always)]
    unsafe fn load_f(self, p: *const f32) -> __m512 {
        // SAFETY: see the impl.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store_f(self, p: *mut f32, v: __m512) {
        // SAFETY: see the impl.
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn load_f16(self, p: *const u8) -> __m512 {
        // SAFETY: see the impl.
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())) }
    }
    #[inline(always)]
    unsafe fn load_i(self, p: *const u8) -> __m512i {
        // SAFETY: see the impl.
        unsafe { _mm512_loadu_si512(p.cast()) }
    }
    #[inline(always)]
    unsafe fn broadcast4(self, p: *const i8) -> __m512i {
        // SAFETY: see the impl.
        unsafe { _mm512_set1_epi32(p.cast::<i32>().read_unaligned()) }
    }
    #[inline(always)]
    fn q8_weights(self, w: __m512i) -> __m512i {
        // SAFETY: see the impl.
        unsafe { _mm512_xor_si512(w, _mm512_set1_epi8(i8::MIN)) }
    }
    #[inline(always)]
    fn q8_start(self, bias: i32) -> __m512i {
        // SAFETY: see the impl.
        unsafe { _mm512_set1_epi32(bias) }
    }
    #[inline(always)]
    fn q8_dot(self, acc: __m512i, w: __m512i, x: __m512i) -> __m512i {
        // SAFETY: see the impl.
        unsafe { _mm512_dpbusd_epi32(acc, w, x) }
    }
    #[inline(always)]
    fn q4_start(self) -> __m512i {
        // SAFETY: see the impl.
        unsafe { _mm512_setzero_si512() }
    }
    #[inline(always)]
    fn q4_dot(self, acc: __m512i, w: __m512i, x: __m512i) -> __m512i {
        // SAFETY: see the impl.
        unsafe { _mm512_dpbusd_epi32(acc, w, x) }
    }
    #[inline(always)]
    fn q4_finish(self, acc: __m512i) -> __m512i {
        acc
    }
    #[inline(always)]
    fn nibbles(self, raw: __m512i) -> (__m512i, __m512i) {
        // SAFETY: see the impl.
        unsafe {
            let mask = _mm512_set1_epi8(0x0F);
            (
                _mm512_and_si512(raw, mask),
                _mm512_and_si512(_mm512_srli_epi16::<4>(raw), mask),
            )
        }
    }
}

/// The f32 side and the loads of the two 256-bit flavours.
macro_rules! avx256_common {
    () => {
        type I = __m256i;
        type F = __m256;
        const LANES: usize = 8;

        #[inline(always)]
        fn zero_f(self) -> __m256 {
            // SAFETY: see the impl.
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        fn splat(self, value: f32) -> __m256 {
            // SAFETY: see the impl.
            unsafe { _mm256_set1_ps(value) }
        }
        #[inline(always)]
        fn mul(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: see the impl.
            unsafe { _mm256_mul_ps(a, b) }
        }
        #[inline(always)]
        fn fma(self, a: __m256, b: __m256, c: __m256) -> __m256 {
            // SAFETY: see the impl.
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        fn to_f32(self, v: __m256i) -> __m256 {
            // SAFETY: see the impl.
            unsafe { _mm256_cvtepi32_ps(v) }
        }
        #[inline(always)]
        unsafe fn load_f(self, p: *const f32) -> __m256 {
            // SAFETY: see the impl.
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store_f(self, p: *mut f32, v: __m256) {
            // SAFETY: see the impl.
            unsafe { _mm256_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn load_f16(self, p: *const u8) -> __m256 {
            // SAFETY: see the impl.
            unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
        }
        #[inline(always)]
        unsafe fn load_i(self, p: *const u8) -> __m256i {
            // SAFETY: see the impl.
            unsafe { _mm256_loadu_si256(p.cast()) }
        }
        #[inline(always)]
        unsafe fn broadcast4(self, p: *const i8) -> __m256i {
            // SAFETY: see the impl.
            unsafe { _mm256_set1_epi32(p.cast::<i32>().read_unaligned()) }
        }
        #[inline(always)]
        fn nibbles(self, raw: __m256i) -> (__m256i, __m256i) {
            // SAFETY: see the impl.
            unsafe {
                let mask = _mm256_set1_epi8(0x0F);
                (
                    _mm256_and_si256(raw, mask),
                    _mm256_and_si256(_mm256_srli_epi16::<4>(raw), mask),
                )
            }
        }
    };
}

/// AVX-VNNI (VEX-encoded `vpdpbusd` on ymm) with AVX2, FMA and F16C: 8 lanes.
#[derive(Clone, Copy, Debug)]
struct AvxVnniIsa(());

// SAFETY (for every `unsafe` block in this impl): an `AvxVnniIsa` exists only on CPUs with
// AVX-VNNI, AVX2, FMA and F16C (see `AvxVnni::tile`), and pointer arguments follow the
// trait's contracts.
impl Isa for AvxVnniIsa {
    avx256_common!();
    type W8 = __m256i;

    #[inline(always)]
    fn q8_weights(self, w: __m256i) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_xor_si256(w, _mm256_set1_epi8(i8::MIN)) }
    }
    #[inline(always)]
    fn q8_start(self, bias: i32) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_set1_epi32(bias) }
    }
    #[inline(always)]
    fn q8_dot(self, acc: __m256i, w: __m256i, x: __m256i) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_dpbusd_avx_epi32(acc, w, x) }
    }
    #[inline(always)]
    fn q4_start(self) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_setzero_si256() }
    }
    #[inline(always)]
    fn q4_dot(self, acc: __m256i, w: __m256i, x: __m256i) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_dpbusd_avx_epi32(acc, w, x) }
    }
    #[inline(always)]
    fn q4_finish(self, acc: __m256i) -> __m256i {
        acc
    }
}

/// AVX2 with FMA and F16C (`vpmaddubsw` + `vpmaddwd`): 8 lanes.
#[derive(Clone, Copy, Debug)]
struct Avx2Isa(());

// SAFETY (for every `unsafe` block in this impl): an `Avx2Isa` exists only on CPUs with AVX2,
// FMA and F16C (see `Avx2::tile`), and pointer arguments follow the trait's contracts.
impl Isa for Avx2Isa {
    avx256_common!();
    /// The signed weights and their magnitudes.
    type W8 = (__m256i, __m256i);

    #[inline(always)]
    fn q8_weights(self, w: __m256i) -> (__m256i, __m256i) {
        // SAFETY: see the impl.
        unsafe { (w, _mm256_abs_epi8(w)) }
    }
    #[inline(always)]
    fn q8_start(self, _bias: i32) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_setzero_si256() }
    }
    #[inline(always)]
    fn q8_dot(self, acc: __m256i, (w, w_abs): (__m256i, __m256i), x: __m256i) -> __m256i {
        // SAFETY: see the impl.
        unsafe {
            // |w| · (x · sign w) = w · x; |w| ≤ 128 and |x| ≤ 127 keep the pair sums in i16.
            let pairs = _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(x, w));
            _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
        }
    }
    #[inline(always)]
    fn q4_start(self) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_setzero_si256() }
    }
    #[inline(always)]
    fn q4_dot(self, acc: __m256i, w: __m256i, x: __m256i) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_add_epi16(acc, _mm256_maddubs_epi16(w, x)) }
    }
    #[inline(always)]
    fn q4_finish(self, acc: __m256i) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_madd_epi16(acc, _mm256_set1_epi16(1)) }
    }
}

/// Rows `r0 .. r0 + VECS · LANES` of a Q8_0 panel against `ROWS` activation rows, all of k.
///
/// # Safety
///
/// The [`super::driver::QMicrokernel::tile`] contract, with `r0 + VECS · LANES ≤ 32`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn q8_tile<D: Isa, const ROWS: usize, const VECS: usize>(
    d: D,
    x: &XTile,
    panel: *const u8,
    nb: usize,
    r0: usize,
    c: *mut f32,
    ldc: usize,
    load_c: bool,
) {
    let lanes = D::LANES;
    let mut acc = [[d.zero_f(); VECS]; ROWS];
    if load_c {
        for (i, acc_row) in acc.iter_mut().enumerate() {
            for (v, sum) in acc_row.iter_mut().enumerate() {
                // SAFETY: tile row i < ROWS has 32 valid floats (contract).
                *sum = unsafe { d.load_f(c.add(i * ldc + r0 + v * lanes)) };
            }
        }
    }
    for b in 0..nb {
        // SAFETY: block b < nb of the panel (contract).
        let block = unsafe { panel.add(b * Q8_0_PANEL_BLOCK_BYTES) };
        let mut dw = [d.zero_f(); VECS];
        for (v, scale) in dw.iter_mut().enumerate() {
            // SAFETY: the scales of rows r0 + v·LANES.. are inside the block's first 64 bytes.
            *scale = unsafe { d.load_f16(block.add(2 * (r0 + v * lanes))) };
        }
        let mut dots = [[d.q4_start(); VECS]; ROWS];
        for (i, row) in dots.iter_mut().enumerate() {
            // SAFETY: row i < ROWS, block b < nb of the activations (contract).
            let bias = unsafe { *x.bias.add(i * x.nb + b) };
            *row = [d.q8_start(bias); VECS];
        }
        // SAFETY: the quants start 64 bytes into the block; rows r0.. are 4 · r0 further.
        let qs = unsafe { block.add(Q8_QS_OFFSET + 4 * r0) };
        for g in 0..BLOCK / 4 {
            let mut w = [d.q8_weights(d.q4_start()); VECS];
            for (v, w) in w.iter_mut().enumerate() {
                // SAFETY: group g's LANES rows at r0 + v·LANES lie in the block.
                *w = d.q8_weights(unsafe { d.load_i(qs.add(g * GROUP_BYTES + v * 4 * lanes)) });
            }
            for (i, row) in dots.iter_mut().enumerate() {
                // SAFETY: quants 4g..4g + 4 of block b of row i.
                let xg = unsafe { d.broadcast4(x.qs.add(i * x.ldq + b * BLOCK + 4 * g)) };
                for (dot, &w) in row.iter_mut().zip(&w) {
                    *dot = d.q8_dot(*dot, w, xg);
                }
            }
        }
        for (i, (acc_row, dot_row)) in acc.iter_mut().zip(&dots).enumerate() {
            // SAFETY: row i < ROWS, block b < nb.
            let dx = d.splat(unsafe { *x.scales.add(i * x.nb + b) });
            for ((sum, &dot), &dw) in acc_row.iter_mut().zip(dot_row).zip(&dw) {
                *sum = d.fma(d.to_f32(dot), d.mul(dx, dw), *sum);
            }
        }
    }
    for (i, acc_row) in acc.iter().enumerate() {
        for (v, &sum) in acc_row.iter().enumerate() {
            // SAFETY: as for the load.
            unsafe { d.store_f(c.add(i * ldc + r0 + v * lanes), sum) };
        }
    }
}

/// Rows `r0 .. r0 + VECS · LANES` of a Q4_1 panel against `ROWS` activation rows, all of k.
///
/// # Safety
///
/// As [`q8_tile`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn q4_tile<D: Isa, const ROWS: usize, const VECS: usize>(
    d: D,
    x: &XTile,
    panel: *const u8,
    nb: usize,
    r0: usize,
    c: *mut f32,
    ldc: usize,
    load_c: bool,
) {
    let lanes = D::LANES;
    let mut acc = [[d.zero_f(); VECS]; ROWS];
    if load_c {
        for (i, acc_row) in acc.iter_mut().enumerate() {
            for (v, sum) in acc_row.iter_mut().enumerate() {
                // SAFETY: tile row i < ROWS has 32 valid floats (contract).
                *sum = unsafe { d.load_f(c.add(i * ldc + r0 + v * lanes)) };
            }
        }
    }
    for b in 0..nb {
        // SAFETY: block b < nb of the panel (contract).
        let block = unsafe { panel.add(b * Q4_1_PANEL_BLOCK_BYTES) };
        let (mut dw, mut mw) = ([d.zero_f(); VECS], [d.zero_f(); VECS]);
        for (v, (scale, min)) in dw.iter_mut().zip(&mut mw).enumerate() {
            // SAFETY: scales and minimums of rows r0 + v·LANES.. lie in the block's first
            // 128 bytes.
            unsafe {
                *scale = d.load_f16(block.add(2 * (r0 + v * lanes)));
                *min = d.load_f16(block.add(Q4_M_OFFSET + 2 * (r0 + v * lanes)));
            }
        }
        let mut dots = [[d.q4_start(); VECS]; ROWS];
        // SAFETY: the nibbles start 128 bytes into the block; rows r0.. are 4 · r0 further.
        let qs = unsafe { block.add(Q4_QS_OFFSET + 4 * r0) };
        for p in 0..BLOCK / 8 {
            let mut low = [d.q4_start(); VECS];
            let mut high = [d.q4_start(); VECS];
            for (v, (low, high)) in low.iter_mut().zip(&mut high).enumerate() {
                // SAFETY: group p's LANES rows at r0 + v·LANES lie in the block.
                (*low, *high) =
                    d.nibbles(unsafe { d.load_i(qs.add(p * GROUP_BYTES + v * 4 * lanes)) });
            }
            for (i, row) in dots.iter_mut().enumerate() {
                // SAFETY: quants 4p.. and 16 + 4p.. of block b of row i.
                let (x_low, x_high) = unsafe {
                    let xb = x.qs.add(i * x.ldq + b * BLOCK + 4 * p);
                    (d.broadcast4(xb), d.broadcast4(xb.add(BLOCK / 2)))
                };
                for ((dot, &low), &high) in row.iter_mut().zip(&low).zip(&high) {
                    *dot = d.q4_dot(d.q4_dot(*dot, low, x_low), high, x_high);
                }
            }
        }
        for (i, (acc_row, dot_row)) in acc.iter_mut().zip(&dots).enumerate() {
            // SAFETY: row i < ROWS, block b < nb.
            let (dx, dsum) = unsafe {
                (
                    d.splat(*x.scales.add(i * x.nb + b)),
                    d.splat(*x.dsums.add(i * x.nb + b)),
                )
            };
            for (((sum, &dot), &dw), &mw) in acc_row.iter_mut().zip(dot_row).zip(&dw).zip(&mw) {
                let scaled = d.fma(d.to_f32(d.q4_finish(dot)), d.mul(dx, dw), *sum);
                *sum = d.fma(mw, dsum, scaled);
            }
        }
    }
    for (i, acc_row) in acc.iter().enumerate() {
        for (v, &sum) in acc_row.iter().enumerate() {
            // SAFETY: as for the load.
            unsafe { d.store_f(c.add(i * ldc + r0 + v * lanes), sum) };
        }
    }
}

/// Defines a kernel type: its tile, and the `#[target_feature]` copy of the generic tiles for
/// each row count.
macro_rules! x86_kernel {
    (
        $(#[$attr:meta])*
        $kernel:ident, $isa:ident, $features:literal, mr = $mr:literal, mc = $mc:literal,
        vecs = $vecs:literal, rows = [$($rows:literal)*]
    ) => {
        $(#[$attr])*
        #[derive(Debug)]
        pub(crate) struct $kernel;

        impl $kernel {
            #[target_feature(enable = $features)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn tile_rows<const ROWS: usize>(
                format: QFormat,
                x: &XTile,
                panel: *const u8,
                nb: usize,
                c: *mut f32,
                ldc: usize,
                load_c: bool,
            ) {
                let isa = $isa(());
                let width = $vecs * <$isa as Isa>::LANES;
                for r0 in (0..PANEL_ROWS).step_by(width) {
                    // SAFETY: forwarded contract; r0 + width ≤ 32.
                    unsafe {
                        match format {
                            QFormat::Q8_0 => q8_tile::<$isa, ROWS, $vecs>(
                                isa, x, panel, nb, r0, c, ldc, load_c,
                            ),
                            QFormat::Q4_1 => q4_tile::<$isa, ROWS, $vecs>(
                                isa, x, panel, nb, r0, c, ldc, load_c,
                            ),
                        }
                    }
                }
            }
        }

        impl QMicrokernel for $kernel {
            const MR: usize = $mr;
            const MC: usize = $mc;

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
                // SAFETY: the trait contract: the CPU has the kernel's features (the public
                // entry points checked `QKernel::is_available`), pointers are valid.
                unsafe {
                    dispatch_rows!(
                        rows,
                        Self::tile_rows(format, x, panel, nb, c, ldc, load_c),
                        [$($rows)*]
                    )
                }
            }
        }
    };
}

x86_kernel! {
    /// [`super::QKernel::Avx512Vnni`]: 6 activation rows × 32 weight rows (two zmm) per tile:
    /// 12 i32 block accumulators and 12 f32 accumulators of the 32 zmm registers.
    Avx512Vnni, Avx512VnniIsa, "avx512f,avx512bw,avx512vnni,avx2,fma,f16c",
    mr = 6, mc = 48, vecs = 2, rows = [1 2 3 4 5 6]
}

x86_kernel! {
    /// [`super::QKernel::AvxVnni`]: 4 activation rows × 8 weight rows (one ymm) per step, four
    /// steps per panel (16 ymm registers).
    AvxVnni, AvxVnniIsa, "avxvnni,avx2,fma,f16c",
    mr = 4, mc = 48, vecs = 1, rows = [1 2 3 4]
}

x86_kernel! {
    /// [`super::QKernel::Avx2`]: 4 activation rows × 8 weight rows (one ymm) per step, four
    /// steps per panel.
    Avx2, Avx2Isa, "avx2,fma,f16c",
    mr = 4, mc = 48, vecs = 1, rows = [1 2 3 4]
}
