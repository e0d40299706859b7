//! aarch64 kernels: plain NEON, the dot-product extension (`sdot` by lane) and the int8 matrix
//! multiply extension (`smmla`).
//!
//! - Plain NEON and `sdot` read the interleaved panel as x86 does: a q register holds one
//!   4-quant group of 4 consecutive weight rows, and each row's 32-bit lane gains the dot with
//!   4 activation quants (`sdot v.4s, w.16b, x.4b[lane]`; without the extension, `smull` and
//!   `sadalp` into two accumulators whose pairs `addp` joins after the block).
//! - `smmla` multiplies a 2 × 8 block of activations (two rows, 8 quants) by an 8 × 2 block of
//!   weights (two rows, 8 quants) into a 2 × 2 tile of i32. Two 4-quant groups of the panel
//!   are zipped (`zip1`/`zip2` of 32-bit lanes) into that pairing, and the activations are
//!   laid out in row pairs once per block of rows (`pack_tiles`), with their scales already
//!   spread over the 2 × 2 lanes.
//!
//! The two extensions' instructions are not stable intrinsics in Rust 1.95 (`vdotq_laneq_s32`
//! and `vmmlaq_s32` are behind `stdarch_neon_dotprod` / `stdarch_neon_i8mm`), so they are
//! emitted with `asm!` inside `#[target_feature]` functions.

use std::arch::aarch64::*;
use std::arch::asm;
use std::ops::Range;

use super::blocks::BLOCK;
use super::driver::{QMicrokernel, XTile};
use super::pack::{
    GROUP_BYTES, PANEL_ROWS, Q4_1_PANEL_BLOCK_BYTES, Q4_M_OFFSET, Q4_QS_OFFSET,
    Q8_0_PANEL_BLOCK_BYTES, Q8_QS_OFFSET, QFormat,
};
use super::quantize::QuantizedActivations;

/// `2^112`: see `blocks::f16_to_f32`.
const F16_TO_F32_SCALE: f32 = f32::from_bits((127 + 112) << 23);

/// Four f16 (raw little-endian bytes) as f32: exact for finite halves (which validation
/// guarantees), like `blocks::f16_to_f32`.
///
/// # Safety
///
/// `p` is valid for reading 8 bytes.
#[inline(always)]
unsafe fn f16x4(p: *const u8) -> float32x4_t {
    // SAFETY: the caller guarantees 8 readable bytes; NEON is part of the aarch64 baseline.
    unsafe {
        let h = vmovl_u16(vreinterpret_u16_u8(vld1_u8(p)));
        let magnitude = vshlq_n_u32::<13>(vandq_u32(h, vdupq_n_u32(0x7fff)));
        let sign = vshlq_n_u32::<16>(vandq_u32(h, vdupq_n_u32(0x8000)));
        let value = vmulq_f32(
            vreinterpretq_f32_u32(magnitude),
            vdupq_n_f32(F16_TO_F32_SCALE),
        );
        vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(value), sign))
    }
}

/// One flavour of the 4-row group dot.
///
/// A value of an implementing type exists only on a CPU with its instruction set.
trait Dot: Copy {
    /// The i32 accumulator(s) of 4 weight rows.
    type Acc: Copy;
    fn zero(self) -> Self::Acc;
    /// Adds, to each of the 4 rows in `w` (4 quants each), the dot with quants
    /// `4·LANE .. 4·LANE + 4` of `x`.
    fn dot<const LANE: i32>(self, acc: Self::Acc, w: int8x16_t, x: int8x16_t) -> Self::Acc;
    /// The 4 rows' i32 dots.
    fn finish(self, acc: Self::Acc) -> int32x4_t;
}

/// Plain NEON: `smull`/`smull2` of the group with the broadcast quants, `sadalp` into two
/// accumulators (lanes: row 0, row 0, row 1, row 1 and rows 2, 3 likewise).
#[derive(Clone, Copy, Debug)]
struct Plain(());

// SAFETY (for every `unsafe` block in this impl): NEON is part of the aarch64 baseline.
impl Dot for Plain {
    type Acc = (int32x4_t, int32x4_t);

    #[inline(always)]
    fn zero(self) -> Self::Acc {
        // SAFETY: see the impl.
        unsafe { (vdupq_n_s32(0), vdupq_n_s32(0)) }
    }
    #[inline(always)]
    fn dot<const LANE: i32>(self, (low, high): Self::Acc, w: int8x16_t, x: int8x16_t) -> Self::Acc {
        // SAFETY: see the impl.
        unsafe {
            let xg = vreinterpretq_s8_s32(vdupq_laneq_s32::<LANE>(vreinterpretq_s32_s8(x)));
            // |w · x| ≤ 128 · 127, two of them fit i16; `sadalp` widens the pairs to i32.
            let products_low = vmull_s8(vget_low_s8(w), vget_low_s8(xg));
            let products_high = vmull_high_s8(w, xg);
            (
                vpadalq_s16(low, products_low),
                vpadalq_s16(high, products_high),
            )
        }
    }
    #[inline(always)]
    fn finish(self, (low, high): Self::Acc) -> int32x4_t {
        // SAFETY: see the impl.
        unsafe { vpaddq_s32(low, high) }
    }
}

/// The dot-product extension: `sdot` by lane.
#[derive(Clone, Copy, Debug)]
struct Sdot(());

// SAFETY (for every `unsafe` block in this impl): an `Sdot` exists only on CPUs with NEON and
// the dot-product extension (see `NeonDot::tile_rows`).
impl Dot for Sdot {
    type Acc = int32x4_t;

    #[inline(always)]
    fn zero(self) -> int32x4_t {
        // SAFETY: see the impl.
        unsafe { vdupq_n_s32(0) }
    }
    #[inline(always)]
    fn dot<const LANE: i32>(self, acc: int32x4_t, w: int8x16_t, x: int8x16_t) -> int32x4_t {
        let mut acc = acc;
        macro_rules! sdot {
            ($lane:literal) => {
                // SAFETY: see the impl; register operands only.
                unsafe {
                    asm!(
                        concat!("sdot {acc:v}.4s, {w:v}.16b, {x:v}.4b[", $lane, "]"),
                        acc = inout(vreg) acc,
                        w = in(vreg) w,
                        x = in(vreg) x,
                        options(pure, nomem, nostack, preserves_flags),
                    )
                }
            };
        }
        match LANE {
            0 => sdot!("0"),
            1 => sdot!("1"),
            2 => sdot!("2"),
            _ => sdot!("3"),
        }
        acc
    }
    #[inline(always)]
    fn finish(self, acc: int32x4_t) -> int32x4_t {
        acc
    }
}

/// Runs `$body` with `$lane` bound to the constants 0, 1, 2, 3 in turn.
macro_rules! for_lanes {
    ($lane:ident => $body:block) => {{
        {
            const $lane: i32 = 0;
            $body
        }
        {
            const $lane: i32 = 1;
            $body
        }
        {
            const $lane: i32 = 2;
            $body
        }
        {
            const $lane: i32 = 3;
            $body
        }
    }};
}

/// Loads the `ROWS × 4·VECS` output tile at rows' column `r0`.
///
/// # Safety
///
/// Each of the `ROWS` rows (`ldc` apart) has `r0 + 4·VECS` readable floats.
#[inline(always)]
unsafe fn load_tile<const ROWS: usize, const VECS: usize>(
    c: *const f32,
    ldc: usize,
    r0: usize,
    load_c: bool,
) -> [[float32x4_t; VECS]; ROWS] {
    // SAFETY: NEON is baseline; the loads are in the tile (contract).
    unsafe {
        let mut acc = [[vdupq_n_f32(0.0); VECS]; ROWS];
        if load_c {
            for (i, row) in acc.iter_mut().enumerate() {
                for (v, sum) in row.iter_mut().enumerate() {
                    *sum = vld1q_f32(c.add(i * ldc + r0 + 4 * v));
                }
            }
        }
        acc
    }
}

/// Stores what [`load_tile`] loaded.
///
/// # Safety
///
/// As [`load_tile`], for writes.
#[inline(always)]
unsafe fn store_tile<const ROWS: usize, const VECS: usize>(
    acc: &[[float32x4_t; VECS]; ROWS],
    c: *mut f32,
    ldc: usize,
    r0: usize,
) {
    for (i, row) in acc.iter().enumerate() {
        for (v, &sum) in row.iter().enumerate() {
            // SAFETY: in the tile (contract); NEON is baseline.
            unsafe { vst1q_f32(c.add(i * ldc + r0 + 4 * v), sum) };
        }
    }
}

/// Rows `r0 .. r0 + 4·VECS` of a Q8_0 panel against `ROWS` activation rows, all of k.
///
/// # Safety
///
/// The [`QMicrokernel::tile`] contract, with `r0 + 4·VECS ≤ 32`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn q8_tile<D: Dot, const ROWS: usize, const VECS: usize>(
    d: D,
    x: &XTile,
    panel: *const u8,
    nb: usize,
    r0: usize,
    c: *mut f32,
    ldc: usize,
    load_c: bool,
) {
    // SAFETY: the contract covers every access below (block b < nb of the panel and of the
    // activations, rows i < ROWS, the tile's outputs); NEON is baseline.
    unsafe {
        let mut acc = load_tile::<ROWS, VECS>(c, ldc, r0, load_c);
        for b in 0..nb {
            let block = panel.add(b * Q8_0_PANEL_BLOCK_BYTES);
            let mut dw = [vdupq_n_f32(0.0); VECS];
            for (v, scale) in dw.iter_mut().enumerate() {
                *scale = f16x4(block.add(2 * (r0 + 4 * v)));
            }
            let qs = block.add(Q8_QS_OFFSET + 4 * r0);
            let mut dots = [[d.zero(); VECS]; ROWS];
            for half in 0..2 {
                let mut xs = [vdupq_n_s8(0); ROWS];
                for (i, xs) in xs.iter_mut().enumerate() {
                    *xs = vld1q_s8(x.qs.add(i * x.ldq + b * BLOCK + 16 * half));
                }
                for_lanes!(LANE => {
                    let group = qs.add((4 * half + LANE as usize) * GROUP_BYTES);
                    let mut w = [vdupq_n_s8(0); VECS];
                    for (v, w) in w.iter_mut().enumerate() {
                        *w = vld1q_s8(group.add(16 * v).cast());
                    }
                    for (row, &xs) in dots.iter_mut().zip(&xs) {
                        for (dot, &w) in row.iter_mut().zip(&w) {
                            *dot = d.dot::<LANE>(*dot, w, xs);
                        }
                    }
                });
            }
            for (i, (row, dot_row)) in acc.iter_mut().zip(&dots).enumerate() {
                let dx = vdupq_n_f32(*x.scales.add(i * x.nb + b));
                for ((sum, &dot), &dw) in row.iter_mut().zip(dot_row).zip(&dw) {
                    *sum = vfmaq_f32(*sum, vcvtq_f32_s32(d.finish(dot)), vmulq_f32(dx, dw));
                }
            }
        }
        store_tile(&acc, c, ldc, r0);
    }
}

/// Rows `r0 .. r0 + 4·VECS` of a Q4_1 panel against `ROWS` activation rows, all of k.
///
/// # Safety
///
/// As [`q8_tile`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn q4_tile<D: Dot, const ROWS: usize, const VECS: usize>(
    d: D,
    x: &XTile,
    panel: *const u8,
    nb: usize,
    r0: usize,
    c: *mut f32,
    ldc: usize,
    load_c: bool,
) {
    // SAFETY: as in `q8_tile`.
    unsafe {
        let mut acc = load_tile::<ROWS, VECS>(c, ldc, r0, load_c);
        let mask = vdupq_n_u8(0x0F);
        for b in 0..nb {
            let block = panel.add(b * Q4_1_PANEL_BLOCK_BYTES);
            let (mut dw, mut mw) = ([vdupq_n_f32(0.0); VECS], [vdupq_n_f32(0.0); VECS]);
            for (v, (scale, min)) in dw.iter_mut().zip(&mut mw).enumerate() {
                *scale = f16x4(block.add(2 * (r0 + 4 * v)));
                *min = f16x4(block.add(Q4_M_OFFSET + 2 * (r0 + 4 * v)));
            }
            let qs = block.add(Q4_QS_OFFSET + 4 * r0);
            let mut dots = [[d.zero(); VECS]; ROWS];
            // Low nibbles are quants 0..16 (lanes of the first 16 activations), high nibbles
            // quants 16..32: two passes over the group bytes keep the registers for the tile.
            for half in 0..2 {
                let mut xs = [vdupq_n_s8(0); ROWS];
                for (i, xs) in xs.iter_mut().enumerate() {
                    *xs = vld1q_s8(x.qs.add(i * x.ldq + b * BLOCK + 16 * half));
                }
                for_lanes!(LANE => {
                    let group = qs.add(LANE as usize * GROUP_BYTES);
                    let mut w = [vdupq_n_s8(0); VECS];
                    for (v, w) in w.iter_mut().enumerate() {
                        let raw = vld1q_u8(group.add(16 * v));
                        let nibbles = if half == 0 {
                            vandq_u8(raw, mask)
                        } else {
                            vshrq_n_u8::<4>(raw)
                        };
                        *w = vreinterpretq_s8_u8(nibbles);
                    }
                    for (row, &xs) in dots.iter_mut().zip(&xs) {
                        for (dot, &w) in row.iter_mut().zip(&w) {
                            *dot = d.dot::<LANE>(*dot, w, xs);
                        }
                    }
                });
            }
            for (i, (row, dot_row)) in acc.iter_mut().zip(&dots).enumerate() {
                let dx = vdupq_n_f32(*x.scales.add(i * x.nb + b));
                let dsum = vdupq_n_f32(*x.dsums.add(i * x.nb + b));
                for (((sum, &dot), &dw), &mw) in row.iter_mut().zip(dot_row).zip(&dw).zip(&mw) {
                    let scaled = vfmaq_f32(*sum, vcvtq_f32_s32(d.finish(dot)), vmulq_f32(dx, dw));
                    *sum = vfmaq_f32(scaled, mw, dsum);
                }
            }
        }
        store_tile(&acc, c, ldc, r0);
    }
}

/// Defines a kernel type over a [`Dot`] flavour: `MR = 4` rows, `4·VECS` weight rows per step.
macro_rules! dot_kernel {
    ($(#[$attr:meta])* $kernel:ident, $dot:ident, $features:literal, vecs = $vecs:literal) => {
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
                let dot = $dot(());
                for r0 in (0..PANEL_ROWS).step_by(4 * $vecs) {
                    // SAFETY: forwarded contract; r0 + 4·VECS ≤ 32.
                    unsafe {
                        match format {
                            QFormat::Q8_0 => q8_tile::<$dot, ROWS, $vecs>(
                                dot, x, panel, nb, r0, c, ldc, load_c,
                            ),
                            QFormat::Q4_1 => q4_tile::<$dot, ROWS, $vecs>(
                                dot, x, panel, nb, r0, c, ldc, load_c,
                            ),
                        }
                    }
                }
            }
        }

        impl QMicrokernel for $kernel {
            const MR: usize = 4;
            const MC: usize = 48;

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
                // SAFETY: the trait contract (features checked by the public entry points).
                unsafe {
                    dispatch_rows!(
                        rows,
                        Self::tile_rows(format, x, panel, nb, c, ldc, load_c),
                        [1 2 3 4]
                    )
                }
            }
        }
    };
}

dot_kernel! {
    /// [`super::QKernel::Neon`]: 4 activation rows × 4 weight rows per step.
    Neon, Plain, "neon", vecs = 1
}

dot_kernel! {
    /// [`super::QKernel::NeonDot`]: 4 activation rows × 8 weight rows per step (8 `sdot`
    /// accumulators, 8 f32 accumulators).
    NeonDot, Sdot, "neon,dotprod", vecs = 2
}

/// Bytes of one activation row pair per block in the `smmla` layout: four 8-quant chunks of
/// both rows (`[row 0: 8][row 1: 8]` each), then `[d0, d0, d1, d1]` and `[s0, s0, s1, s1]`
/// (`s = d · Σq`) as f32.
const PAIR_BLOCK_BYTES: usize = 4 * 16 + 16 + 16;

/// Activation rows per `smmla` tile (two pairs).
const I8MM_MR: usize = 4;

/// The int8 matrix multiply extension: `smmla`.
#[derive(Clone, Copy, Debug)]
struct Smmla(());

impl Smmla {
    /// `acc (2 × 2) += a (2 × 8) · bᵀ (8 × 2)`, the rows of `a` and `b` 8 bytes each.
    #[inline(always)]
    fn mmla(self, acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        let mut acc = acc;
        // SAFETY: an `Smmla` exists only on CPUs with the i8mm extension (see
        // `NeonI8mm::tile_rows`); register operands only.
        unsafe {
            asm!(
                "smmla {acc:v}.4s, {a:v}.16b, {b:v}.16b",
                acc = inout(vreg) acc,
                a = in(vreg) a,
                b = in(vreg) b,
                options(pure, nomem, nostack, preserves_flags),
            )
        };
        acc
    }
}

/// Four weight-row pairs (rows `r, r+1`, …, `r+6, r+7`) × 8 quants from the 4-quant groups `g`
/// (`first_*`) and `g + 1` (`second_*`) of rows `r..r+4` (`*_low`) and `r+4..r+8` (`*_high`).
#[inline(always)]
fn zip_pairs(
    first_low: int8x16_t,
    first_high: int8x16_t,
    second_low: int8x16_t,
    second_high: int8x16_t,
) -> [int8x16_t; 4] {
    // SAFETY: NEON is baseline.
    unsafe {
        let zip = |a: int8x16_t, b: int8x16_t| {
            let (a, b) = (vreinterpretq_s32_s8(a), vreinterpretq_s32_s8(b));
            (
                vreinterpretq_s8_s32(vzip1q_s32(a, b)),
                vreinterpretq_s8_s32(vzip2q_s32(a, b)),
            )
        };
        let (p0, p1) = zip(first_low, second_low);
        let (p2, p3) = zip(first_high, second_high);
        [p0, p1, p2, p3]
    }
}

/// Per-pair f32 lanes `[v0, v1, v0, v1]` for weight-row pairs 0, 1 (from rows 0..4) and 2, 3
/// (from rows 4..8), matching the `smmla` result lanes `[x0·w0, x0·w1, x1·w0, x1·w1]`.
#[inline(always)]
fn spread_pairs(low: float32x4_t, high: float32x4_t) -> [float32x4_t; 4] {
    // SAFETY: NEON is baseline.
    unsafe {
        let twice = |v: float32x2_t| vcombine_f32(v, v);
        [
            twice(vget_low_f32(low)),
            twice(vget_high_f32(low)),
            twice(vget_low_f32(high)),
            twice(vget_high_f32(high)),
        ]
    }
}

/// Weight rows `r0 .. r0 + 8` of a panel against `ROWS ≤ 4` activation rows, all of k.
///
/// # Safety
///
/// The [`QMicrokernel::tile`] contract, with `r0 + 8 ≤ 32` and `x.packed` at this tile's
/// `smmla` layout.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn i8mm_tile<const ROWS: usize, const Q4: bool>(
    s: Smmla,
    x: &XTile,
    panel: *const u8,
    nb: usize,
    r0: usize,
    c: *mut f32,
    ldc: usize,
    load_c: bool,
) {
    let pairs = ROWS.div_ceil(2);
    let has_second = |p: usize| 2 * p + 1 < ROWS;
    // SAFETY: the contract covers every access below; NEON is baseline.
    unsafe {
        let mut acc = [[vdupq_n_f32(0.0); 4]; 2];
        if load_c {
            for (p, row) in acc.iter_mut().enumerate().take(pairs) {
                for (q, sum) in row.iter_mut().enumerate() {
                    let first = vld1_f32(c.add(2 * p * ldc + r0 + 2 * q));
                    let second = if has_second(p) {
                        vld1_f32(c.add((2 * p + 1) * ldc + r0 + 2 * q))
                    } else {
                        vdup_n_f32(0.0)
                    };
                    *sum = vcombine_f32(first, second);
                }
            }
        }
        let block_bytes = if Q4 {
            Q4_1_PANEL_BLOCK_BYTES
        } else {
            Q8_0_PANEL_BLOCK_BYTES
        };
        let mask = vdupq_n_u8(0x0F);
        for b in 0..nb {
            let block = panel.add(b * block_bytes);
            let dw = spread_pairs(f16x4(block.add(2 * r0)), f16x4(block.add(2 * r0 + 8)));
            let x_block = |p: usize| x.packed.add((p * nb + b) * PAIR_BLOCK_BYTES);
            let mut dots = [[vdupq_n_s32(0); 4]; 2];
            let mut multiply = |chunk: usize, w: [int8x16_t; 4]| {
                for (p, row) in dots.iter_mut().enumerate().take(pairs) {
                    let a = vld1q_s8(x_block(p).add(16 * chunk).cast());
                    for (dot, &w) in row.iter_mut().zip(&w) {
                        *dot = s.mmla(*dot, a, w);
                    }
                }
            };
            if Q4 {
                let qs = block.add(Q4_QS_OFFSET + 4 * r0);
                // Byte groups 2h and 2h + 1: low nibbles are quants 8h..8h+8 (chunk h), high
                // nibbles quants 16 + 8h.. (chunk h + 2).
                for h in 0..2 {
                    let first = qs.add(2 * h * GROUP_BYTES);
                    let second = first.add(GROUP_BYTES);
                    let raw = [
                        vld1q_u8(first),
                        vld1q_u8(first.add(16)),
                        vld1q_u8(second),
                        vld1q_u8(second.add(16)),
                    ];
                    let low = raw.map(|r| vreinterpretq_s8_u8(vandq_u8(r, mask)));
                    let high = raw.map(|r| vreinterpretq_s8_u8(vshrq_n_u8::<4>(r)));
                    multiply(h, zip_pairs(low[0], low[1], low[2], low[3]));
                    multiply(h + 2, zip_pairs(high[0], high[1], high[2], high[3]));
                }
            } else {
                let qs = block.add(Q8_QS_OFFSET + 4 * r0);
                for chunk in 0..4 {
                    let first = qs.add(2 * chunk * GROUP_BYTES);
                    let second = first.add(GROUP_BYTES);
                    multiply(
                        chunk,
                        zip_pairs(
                            vld1q_s8(first.cast()),
                            vld1q_s8(first.add(16).cast()),
                            vld1q_s8(second.cast()),
                            vld1q_s8(second.add(16).cast()),
                        ),
                    );
                }
            }
            let mw = if Q4 {
                spread_pairs(
                    f16x4(block.add(Q4_M_OFFSET + 2 * r0)),
                    f16x4(block.add(Q4_M_OFFSET + 2 * r0 + 8)),
                )
            } else {
                [vdupq_n_f32(0.0); 4]
            };
            for (p, (row, dot_row)) in acc.iter_mut().zip(&dots).enumerate().take(pairs) {
                let scales = x_block(p).add(64).cast::<f32>();
                let dx = vld1q_f32(scales);
                let dsum = vld1q_f32(scales.add(4));
                for (q, (sum, &dot)) in row.iter_mut().zip(dot_row).enumerate() {
                    let scaled = vfmaq_f32(*sum, vcvtq_f32_s32(dot), vmulq_f32(dx, dw[q]));
                    *sum = if Q4 {
                        vfmaq_f32(scaled, mw[q], dsum)
                    } else {
                        scaled
                    };
                }
            }
        }
        for (p, row) in acc.iter().enumerate().take(pairs) {
            for (q, &sum) in row.iter().enumerate() {
                vst1_f32(c.add(2 * p * ldc + r0 + 2 * q), vget_low_f32(sum));
                if has_second(p) {
                    vst1_f32(c.add((2 * p + 1) * ldc + r0 + 2 * q), vget_high_f32(sum));
                }
            }
        }
    }
}

/// [`super::QKernel::NeonI8mm`]: 4 activation rows (two pairs) × 8 weight rows (four pairs)
/// per step: 8 `smmla` accumulators and 8 f32 accumulators.
#[derive(Debug)]
pub(crate) struct NeonI8mm;

impl NeonI8mm {
    #[target_feature(enable = "neon,i8mm")]
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
        let s = Smmla(());
        for r0 in (0..PANEL_ROWS).step_by(8) {
            // SAFETY: forwarded contract; r0 + 8 ≤ 32.
            unsafe {
                match format {
                    QFormat::Q8_0 => i8mm_tile::<ROWS, false>(s, x, panel, nb, r0, c, ldc, load_c),
                    QFormat::Q4_1 => i8mm_tile::<ROWS, true>(s, x, panel, nb, r0, c, ldc, load_c),
                }
            }
        }
    }
}

impl QMicrokernel for NeonI8mm {
    const MR: usize = I8MM_MR;
    const MC: usize = 48;

    fn packed_tile_len(nb: usize) -> usize {
        I8MM_MR / 2 * nb * PAIR_BLOCK_BYTES
    }

    unsafe fn pack_tiles(acts: &QuantizedActivations, rows: Range<usize>, out: &mut [u8]) {
        let (k, nb) = (acts.k, acts.k / BLOCK);
        let tile_len = Self::packed_tile_len(nb);
        for (t, tile) in out.chunks_exact_mut(tile_len).enumerate() {
            for (p, pair) in tile.chunks_exact_mut(nb * PAIR_BLOCK_BYTES).enumerate() {
                let row = |h: usize| {
                    let row = rows.start + I8MM_MR * t + 2 * p + h;
                    (row < rows.end).then_some(row)
                };
                let both = [row(0), row(1)];
                for (b, dst) in pair.chunks_exact_mut(PAIR_BLOCK_BYTES).enumerate() {
                    for chunk in 0..4 {
                        for (h, row) in both.iter().enumerate() {
                            let dst = &mut dst[16 * chunk + 8 * h..][..8];
                            match row {
                                Some(row) => {
                                    let src = &acts.qs[row * k + b * BLOCK + 8 * chunk..][..8];
                                    for (d, &q) in dst.iter_mut().zip(src) {
                                        *d = q as u8;
                                    }
                                }
                                None => dst.fill(0),
                            }
                        }
                    }
                    let value =
                        |array: &[f32], h: usize| both[h].map_or(0.0, |row| array[row * nb + b]);
                    let spread = |array: &[f32]| {
                        [
                            value(array, 0),
                            value(array, 0),
                            value(array, 1),
                            value(array, 1),
                        ]
                    };
                    for (at, array) in [(64, &acts.scales), (80, &acts.dsums)] {
                        for (lane, v) in spread(array).into_iter().enumerate() {
                            dst[at + 4 * lane..][..4].copy_from_slice(&v.to_ne_bytes());
                        }
                    }
                }
            }
        }
    }

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
        // SAFETY: the trait contract (i8mm checked by the public entry points).
        unsafe {
            dispatch_rows!(
                rows,
                Self::tile_rows(format, x, panel, nb, c, ldc, load_c),
                [1 2 3 4]
            )
        }
    }
}
