//! Run-time instruction-set selection and the small vector abstraction that the attention,
//! norm, RoPE and SwiGLU kernels are written against once.
//!
//! It lives under `attention` because the crate root is not this module's to extend; the
//! other kernels reach it as `crate::attention::simd`.
//!
//! A kernel is a generic `#[inline(always)]` function over a [`Simd`] token. The
//! [`multiversion!`] macro stamps out one `#[target_feature]` copy per instruction set and a
//! dispatcher taking an [`Isa`]; because every generic function and every token method is
//! `#[inline(always)]`, the whole task body is compiled inside the feature-enabled copy and the
//! intrinsics inline. Dispatch happens per parallel task (rayon closures are separate
//! functions and would not inherit the features), so its cost is one `match` per task.

use std::sync::OnceLock;

#[cfg(target_arch = "aarch64")]
use std::arch::aarch64::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// The instruction sets a kernel can run with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IsaKind {
    /// Plain Rust on 4-wide arrays; LLVM vectorizes it for the target's baseline.
    Portable,
    /// 256-bit AVX2 with fused multiply-add.
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    /// 512-bit AVX-512F (with AVX2 and FMA).
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// 128-bit NEON (always present on aarch64).
    #[cfg(target_arch = "aarch64")]
    Neon,
}

/// An instruction set this CPU supports: a value exists only after detection said so, which
/// is what makes the dispatch in [`multiversion!`] sound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Isa {
    kind: IsaKind,
}

impl Isa {
    /// The portable path, available everywhere.
    pub(crate) const PORTABLE: Isa = Isa {
        kind: IsaKind::Portable,
    };

    /// The best instruction set of this CPU, detected once and cached.
    pub(crate) fn detected() -> Isa {
        static DETECTED: OnceLock<Isa> = OnceLock::new();
        *DETECTED.get_or_init(|| Self::available().last().copied().unwrap_or(Self::PORTABLE))
    }

    /// Every instruction set this CPU supports, portable first, best last.
    pub(crate) fn available() -> Vec<Isa> {
        #[allow(unused_mut)]
        let mut found = vec![Self::PORTABLE];
        #[cfg(target_arch = "x86_64")]
        {
            let avx2_fma = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
            if avx2_fma {
                found.push(Isa {
                    kind: IsaKind::Avx2Fma,
                });
                if is_x86_feature_detected!("avx512f") {
                    found.push(Isa {
                        kind: IsaKind::Avx512,
                    });
                }
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            if std::arch::is_aarch64_feature_detected!("neon") {
                found.push(Isa {
                    kind: IsaKind::Neon,
                });
            }
        }
        found
    }

    /// Which instruction set this is.
    pub(crate) fn kind(self) -> IsaKind {
        self.kind
    }

    /// A short name for logs and benchmarks.
    pub(crate) fn name(self) -> &'static str {
        match self.kind {
            IsaKind::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            IsaKind::Avx2Fma => "avx2+fma",
            #[cfg(target_arch = "x86_64")]
            IsaKind::Avx512 => "avx512f",
            #[cfg(target_arch = "aarch64")]
            IsaKind::Neon => "neon",
        }
    }
}

/// A vector instruction set, as a zero-sized token whose existence proves the CPU has it.
///
/// `mul_add` is fused where the instruction set has FMA (not on the portable path), so
/// results differ between instruction sets in the last bits, never between runs.
pub(crate) trait Simd: Copy {
    /// One vector of `LANES` floats.
    type V: Copy;
    /// Floats per vector.
    const LANES: usize;
    /// 32 architectural vector registers (AVX-512, NEON) rather than 16: wider register tiles.
    const WIDE_REGISTER_FILE: bool;

    fn splat(self, x: f32) -> Self::V;
    /// # Safety
    /// `p` must be valid for reading `LANES` floats (no alignment needed).
    unsafe fn load(self, p: *const f32) -> Self::V;
    /// # Safety
    /// `p` must be valid for writing `LANES` floats (no alignment needed).
    unsafe fn store(self, p: *mut f32, v: Self::V);
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    fn abs(self, a: Self::V) -> Self::V;
    /// `a · b + c`.
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// Sum of the lanes, in a fixed order.
    fn reduce_add(self, v: Self::V) -> f32;
    /// `2^n` for `t = n + 1.5·2^23` with integral `n` in `[-126, 127]` (the bits of `t`
    /// hold `n` in the low mantissa bits).
    fn pow2_from_magic(self, t: Self::V) -> Self::V;
    /// `value` where `x >= bound`, exactly 0 where `x < bound`.
    fn zero_below(self, x: Self::V, bound: Self::V, value: Self::V) -> Self::V;
    /// `if_negative` where `x < 0`, `otherwise` elsewhere.
    fn select_negative(self, x: Self::V, if_negative: Self::V, otherwise: Self::V) -> Self::V;

    /// Loads the first `LANES` floats of `src`.
    #[inline(always)]
    fn load_from(self, src: &[f32]) -> Self::V {
        assert!(
            src.len() >= Self::LANES,
            "vector load past the end of a slice"
        );
        // SAFETY: `src` holds at least `LANES` floats (asserted).
        unsafe { self.load(src.as_ptr()) }
    }

    /// Stores into the first `LANES` floats of `dst`.
    #[inline(always)]
    fn store_to(self, dst: &mut [f32], v: Self::V) {
        assert!(
            dst.len() >= Self::LANES,
            "vector store past the end of a slice"
        );
        // SAFETY: `dst` holds at least `LANES` floats (asserted).
        unsafe { self.store(dst.as_mut_ptr(), v) }
    }
}

/// `exp(x)` lane-wise, for `x <= 88` (larger inputs give `exp(88)`).
///
/// Cephes-style: `n = round(x·log2 e)`, `r = x − n·ln 2` in two parts, a degree-7 polynomial
/// for `exp(r)` on `|r| <= ln2/2`, then scaling by `2^n` through the exponent bits. Relative
/// error below 2e-7 on `[-87.3, 88]` (tested); inputs below `ln(2^-126) ≈ -87.34` (where the
/// result would be subnormal), including `-inf`, give exactly 0, so masked softmax entries
/// vanish without branches.
#[inline(always)]
pub(crate) fn exp<S: Simd>(s: S, x: S::V) -> S::V {
    // Adding 1.5·2^23 rounds to an integer, which then sits in the low mantissa bits.
    const ROUNDING_MAGIC: f32 = 12_582_912.0;
    // ln 2 split so that n·LN2_HI is exact for |n| <= 2^15.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const SUBNORMAL_BOUND: f32 = -87.336_55;
    let clamped = s.min(s.max(x, s.splat(-87.5)), s.splat(88.0));
    let t = s.mul_add(
        clamped,
        s.splat(std::f32::consts::LOG2_E),
        s.splat(ROUNDING_MAGIC),
    );
    let n = s.sub(t, s.splat(ROUNDING_MAGIC));
    let r = s.mul_add(n, s.splat(-LN2_HI), clamped);
    let r = s.mul_add(n, s.splat(-LN2_LO), r);
    let mut p = s.splat(1.987_569_1e-4);
    p = s.mul_add(p, r, s.splat(1.398_2e-3));
    p = s.mul_add(p, r, s.splat(8.333_452e-3));
    p = s.mul_add(p, r, s.splat(4.166_579_6e-2));
    p = s.mul_add(p, r, s.splat(1.666_666_5e-1));
    p = s.mul_add(p, r, s.splat(0.5));
    let exp_r = s.add(s.mul_add(p, s.mul(r, r), r), s.splat(1.0));
    let y = s.mul(exp_r, s.pow2_from_magic(t));
    s.zero_below(x, s.splat(SUBNORMAL_BOUND), y)
}

/// `Σ a ⊙ b` in a fixed order: 4 vector accumulators, then lanes, then the scalar tail.
#[inline(always)]
pub(crate) fn dot<S: Simd>(s: S, a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [s.splat(0.0); 4];
    let block = 4 * S::LANES;
    let body = a.len() / block * block;
    for (a4, b4) in a[..body]
        .chunks_exact(block)
        .zip(b[..body].chunks_exact(block))
    {
        let parts = a4.chunks_exact(S::LANES).zip(b4.chunks_exact(S::LANES));
        for (slot, (x, y)) in acc.iter_mut().zip(parts) {
            *slot = s.mul_add(s.load_from(x), s.load_from(y), *slot);
        }
    }
    let mut a_rest = a[body..].chunks_exact(S::LANES);
    let mut b_rest = b[body..].chunks_exact(S::LANES);
    for (x, y) in (&mut a_rest).zip(&mut b_rest) {
        acc[0] = s.mul_add(s.load_from(x), s.load_from(y), acc[0]);
    }
    let lanes = s.add(s.add(acc[0], acc[1]), s.add(acc[2], acc[3]));
    let mut sum = s.reduce_add(lanes);
    for (&x, &y) in a_rest.remainder().iter().zip(b_rest.remainder()) {
        sum += x * y;
    }
    sum
}

/// The portable path: 4-wide arrays that LLVM maps onto the baseline vector unit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Portable;

impl Simd for Portable {
    type V = [f32; 4];
    const LANES: usize = 4;
    const WIDE_REGISTER_FILE: bool = false;

    #[inline(always)]
    fn splat(self, x: f32) -> Self::V {
        [x; 4]
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> Self::V {
        // SAFETY: the caller guarantees 4 readable floats at `p`.
        unsafe { p.cast::<[f32; 4]>().read_unaligned() }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: Self::V) {
        // SAFETY: the caller guarantees 4 writable floats at `p`.
        unsafe { p.cast::<[f32; 4]>().write_unaligned(v) }
    }
    #[inline(always)]
    fn add(self, a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|i| a[i] + b[i])
    }
    #[inline(always)]
    fn sub(self, a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|i| a[i] - b[i])
    }
    #[inline(always)]
    fn mul(self, a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|i| a[i] * b[i])
    }
    #[inline(always)]
    fn div(self, a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|i| a[i] / b[i])
    }
    #[inline(always)]
    fn max(self, a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|i| if a[i] > b[i] { a[i] } else { b[i] })
    }
    #[inline(always)]
    fn min(self, a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|i| if a[i] < b[i] { a[i] } else { b[i] })
    }
    #[inline(always)]
    fn abs(self, a: Self::V) -> Self::V {
        std::array::from_fn(|i| a[i].abs())
    }
    #[inline(always)]
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        // Unfused: without an FMA unit `f32::mul_add` is a slow libm call.
        std::array::from_fn(|i| a[i] * b[i] + c[i])
    }
    #[inline(always)]
    fn reduce_add(self, v: Self::V) -> f32 {
        (v[0] + v[2]) + (v[1] + v[3])
    }
    #[inline(always)]
    fn pow2_from_magic(self, t: Self::V) -> Self::V {
        std::array::from_fn(|i| f32::from_bits((t[i].to_bits() << 23).wrapping_add(127 << 23)))
    }
    #[inline(always)]
    fn zero_below(self, x: Self::V, bound: Self::V, value: Self::V) -> Self::V {
        std::array::from_fn(|i| if x[i] < bound[i] { 0.0 } else { value[i] })
    }
    #[inline(always)]
    fn select_negative(self, x: Self::V, if_negative: Self::V, otherwise: Self::V) -> Self::V {
        std::array::from_fn(|i| {
            if x[i] < 0.0 {
                if_negative[i]
            } else {
                otherwise[i]
            }
        })
    }
}

/// AVX2 + FMA, 8 lanes.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2Fma(());

#[cfg(target_arch = "x86_64")]
impl Avx2Fma {
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked() -> Self {
        Avx2Fma(())
    }
}

// SAFETY (for every `unsafe` block in this impl): an `Avx2Fma` token exists only on CPUs with
// AVX2 and FMA (see `new_unchecked`), and pointer arguments follow the trait's contract.
#[cfg(target_arch = "x86_64")]
impl Simd for Avx2Fma {
    type V = __m256;
    const LANES: usize = 8;
    const WIDE_REGISTER_FILE: bool = false;

    #[inline(always)]
    fn splat(self, x: f32) -> Self::V {
        // SAFETY: the token proves AVX is available.
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> Self::V {
        // SAFETY: the caller guarantees 8 readable floats; the token proves AVX.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: Self::V) {
        // SAFETY: the caller guarantees 8 writable floats; the token proves AVX.
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    fn add(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves AVX.
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves AVX.
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves AVX.
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    fn div(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves AVX.
        unsafe { _mm256_div_ps(a, b) }
    }
    #[inline(always)]
    fn max(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves AVX.
        unsafe { _mm256_max_ps(a, b) }
    }
    #[inline(always)]
    fn min(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves AVX.
        unsafe { _mm256_min_ps(a, b) }
    }
    #[inline(always)]
    fn abs(self, a: Self::V) -> Self::V {
        // SAFETY: the token proves AVX.
        unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), a) }
    }
    #[inline(always)]
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        // SAFETY: the token proves FMA.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn reduce_add(self, v: Self::V) -> f32 {
        // SAFETY: the token proves AVX (and so SSE).
        unsafe {
            let quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
            _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps::<1>(pair, pair)))
        }
    }
    #[inline(always)]
    fn pow2_from_magic(self, t: Self::V) -> Self::V {
        // SAFETY: the token proves AVX2.
        unsafe {
            let shifted = _mm256_slli_epi32::<23>(_mm256_castps_si256(t));
            _mm256_castsi256_ps(_mm256_add_epi32(shifted, _mm256_set1_epi32(127 << 23)))
        }
    }
    #[inline(always)]
    fn zero_below(self, x: Self::V, bound: Self::V, value: Self::V) -> Self::V {
        // SAFETY: the token proves AVX.
        unsafe { _mm256_andnot_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(x, bound), value) }
    }
    #[inline(always)]
    fn select_negative(self, x: Self::V, if_negative: Self::V, otherwise: Self::V) -> Self::V {
        // SAFETY: the token proves AVX.
        unsafe {
            let negative = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_setzero_ps());
            _mm256_blendv_ps(otherwise, if_negative, negative)
        }
    }
}

/// AVX-512F, 16 lanes.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512(());

#[cfg(target_arch = "x86_64")]
impl Avx512 {
    /// # Safety
    /// The CPU must support AVX-512F, AVX2 and FMA.
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked() -> Self {
        Avx512(())
    }
}

#[cfg(target_arch = "x86_64")]
impl Simd for Avx512 {
    type V = __m512;
    const LANES: usize = 16;
    const WIDE_REGISTER_FILE: bool = true;

    #[inline(always)]
    fn splat(self, x: f32) -> Self::V {
        // SAFETY: the token proves AVX-512F.
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> Self::V {
        // SAFETY: the caller guarantees 16 readable floats; the token proves AVX-512F.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: Self::V) {
        // SAFETY: the caller guarantees 16 writable floats; the token proves AVX-512F.
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    fn add(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves AVX-512F.
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves AVX-512F.
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves AVX-512F.
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    fn div(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves AVX-512F.
        unsafe { _mm512_div_ps(a, b) }
    }
    #[inline(always)]
    fn max(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves AVX-512F.
        unsafe { _mm512_max_ps(a, b) }
    }
    #[inline(always)]
    fn min(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves AVX-512F.
        unsafe { _mm512_min_ps(a, b) }
    }
    #[inline(always)]
    fn abs(self, a: Self::V) -> Self::V {
        // SAFETY: the token proves AVX-512F.
        unsafe { _mm512_abs_ps(a) }
    }
    #[inline(always)]
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        // SAFETY: the token proves AVX-512F.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn reduce_add(self, v: Self::V) -> f32 {
        // SAFETY: the token proves AVX-512F.
        unsafe { _mm512_reduce_add_ps(v) }
    }
    #[inline(always)]
    fn pow2_from_magic(self, t: Self::V) -> Self::V {
        // SAFETY: the token proves AVX-512F.
        unsafe {
            let shifted = _mm512_slli_epi32::<23>(_mm512_castps_si512(t));
            _mm512_castsi512_ps(_mm512_add_epi32(shifted, _mm512_set1_epi32(127 << 23)))
        }
    }
    #[inline(always)]
    fn zero_below(self, x: Self::V, bound: Self::V, value: Self::V) -> Self::V {
        // SAFETY: the token proves AVX-512F.
        unsafe {
            let below = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, bound);
            _mm512_maskz_mov_ps(!below, value)
        }
    }
    #[inline(always)]
    fn select_negative(self, x: Self::V, if_negative: Self::V, otherwise: Self::V) -> Self::V {
        // SAFETY: the token proves AVX-512F.
        unsafe {
            let negative = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, _mm512_setzero_ps());
            _mm512_mask_blend_ps(negative, otherwise, if_negative)
        }
    }
}

/// NEON, 4 lanes.
#[cfg(target_arch = "aarch64")]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Neon(());

#[cfg(target_arch = "aarch64")]
impl Neon {
    /// # Safety
    /// The CPU must support NEON (every aarch64 Linux CPU does).
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked() -> Self {
        Neon(())
    }
}

#[cfg(target_arch = "aarch64")]
impl Simd for Neon {
    type V = float32x4_t;
    const LANES: usize = 4;
    const WIDE_REGISTER_FILE: bool = true;

    #[inline(always)]
    fn splat(self, x: f32) -> Self::V {
        // SAFETY: the token proves NEON.
        unsafe { vdupq_n_f32(x) }
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> Self::V {
        // SAFETY: the caller guarantees 4 readable floats; the token proves NEON.
        unsafe { vld1q_f32(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: Self::V) {
        // SAFETY: the caller guarantees 4 writable floats; the token proves NEON.
        unsafe { vst1q_f32(p, v) }
    }
    #[inline(always)]
    fn add(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves NEON.
        unsafe { vaddq_f32(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves NEON.
        unsafe { vsubq_f32(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves NEON.
        unsafe { vmulq_f32(a, b) }
    }
    #[inline(always)]
    fn div(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves NEON.
        unsafe { vdivq_f32(a, b) }
    }
    #[inline(always)]
    fn max(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves NEON.
        unsafe { vmaxq_f32(a, b) }
    }
    #[inline(always)]
    fn min(self, a: Self::V, b: Self::V) -> Self::V {
        // SAFETY: the token proves NEON.
        unsafe { vminq_f32(a, b) }
    }
    #[inline(always)]
    fn abs(self, a: Self::V) -> Self::V {
        // SAFETY: the token proves NEON.
        unsafe { vabsq_f32(a) }
    }
    #[inline(always)]
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        // SAFETY: the token proves NEON.
        unsafe { vfmaq_f32(c, a, b) }
    }
    #[inline(always)]
    fn reduce_add(self, v: Self::V) -> f32 {
        // SAFETY: the token proves NEON.
        unsafe { vaddvq_f32(v) }
    }
    #[inline(always)]
    fn pow2_from_magic(self, t: Self::V) -> Self::V {
        // SAFETY: the token proves NEON.
        unsafe {
            let shifted = vshlq_n_s32::<23>(vreinterpretq_s32_f32(t));
            vreinterpretq_f32_s32(vaddq_s32(shifted, vdupq_n_s32(127 << 23)))
        }
    }
    #[inline(always)]
    fn zero_below(self, x: Self::V, bound: Self::V, value: Self::V) -> Self::V {
        // SAFETY: the token proves NEON.
        unsafe {
            let below = vcltq_f32(x, bound);
            vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(value), below))
        }
    }
    #[inline(always)]
    fn select_negative(self, x: Self::V, if_negative: Self::V, otherwise: Self::V) -> Self::V {
        // SAFETY: the token proves NEON.
        unsafe { vbslq_f32(vcltq_f32(x, vdupq_n_f32(0.0)), if_negative, otherwise) }
    }
}

/// Defines `fn $name(isa: Isa, args...)` that runs the generic `$generic(simd, args...)`
/// compiled for `isa`: one `#[target_feature]` copy per instruction set.
macro_rules! multiversion {
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $generic:ident;
    ) => {
        $(#[$attr])*
        $vis fn $name(isa: $crate::attention::simd::Isa, $($arg: $ty),*) {
            match isa.kind() {
                $crate::attention::simd::IsaKind::Portable => {
                    $generic($crate::attention::simd::Portable, $($arg),*)
                }
                #[cfg(target_arch = "x86_64")]
                $crate::attention::simd::IsaKind::Avx2Fma => {
                    #[target_feature(enable = "avx2,fma")]
                    fn with_avx2_fma($($arg: $ty),*) {
                        // SAFETY: this copy is only called where the CPU has AVX2 and FMA.
                        let simd = unsafe { $crate::attention::simd::Avx2Fma::new_unchecked() };
                        $generic(simd, $($arg),*)
                    }
                    // SAFETY: an `Isa` of kind `Avx2Fma` exists only on CPUs with AVX2 + FMA.
                    unsafe { with_avx2_fma($($arg),*) }
                }
                #[cfg(target_arch = "x86_64")]
                $crate::attention::simd::IsaKind::Avx512 => {
                    #[target_feature(enable = "avx512f,avx2,fma")]
                    fn with_avx512($($arg: $ty),*) {
                        // SAFETY: this copy is only called where the CPU has AVX-512F.
                        let simd = unsafe { $crate::attention::simd::Avx512::new_unchecked() };
                        $generic(simd, $($arg),*)
                    }
                    // SAFETY: an `Isa` of kind `Avx512` exists only on CPUs with AVX-512F,
                    // AVX2 and FMA.
                    unsafe { with_avx512($($arg),*) }
                }
                #[cfg(target_arch = "aarch64")]
                $crate::attention::simd::IsaKind::Neon => {
                    #[target_feature(enable = "neon")]
                    fn with_neon($($arg: $ty),*) {
                        // SAFETY: this copy is only called where the CPU has NEON.
                        let simd = unsafe { $crate::attention::simd::Neon::new_unchecked() };
                        $generic(simd, $($arg),*)
                    }
                    // SAFETY: an `Isa` of kind `Neon` exists only on CPUs with NEON.
                    unsafe { with_neon($($arg),*) }
                }
            }
        }
    };
}
pub(crate) use multiversion;

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(always)]
    fn exp_lanes<S: Simd>(s: S, input: &[f32], output: &mut [f32]) {
        for (src, dst) in input
            .chunks_exact(S::LANES)
            .zip(output.chunks_exact_mut(S::LANES))
        {
            s.store_to(dst, exp(s, s.load_from(src)));
        }
    }

    multiversion! {
        fn exp_slice(input: &[f32], output: &mut [f32]) => exp_lanes;
    }

    fn exp_of(isa: Isa, input: &[f32]) -> Vec<f32> {
        let mut output = vec![f32::NAN; input.len()];
        exp_slice(isa, input, &mut output);
        output
    }

    /// Dense sweep of the softmax range and beyond: relative error <= 2e-7 against f64.
    #[test]
    fn exp_is_accurate_on_every_isa() {
        let count = 1 << 20;
        let input: Vec<f32> = (0..count)
            .map(|i| -87.3 + 175.2 * (i as f32 / count as f32))
            .collect();
        for isa in Isa::available() {
            let output = exp_of(isa, &input);
            let mut worst = 0.0f64;
            for (&x, &y) in input.iter().zip(&output) {
                let reference = (x as f64).exp();
                worst = worst.max(((y as f64) - reference).abs() / reference);
            }
            assert!(
                worst <= 2e-7,
                "{}: worst relative error {worst:e}",
                isa.name()
            );
        }
    }

    #[test]
    fn exp_is_exactly_zero_for_very_negative_inputs() {
        let values = [
            -87.4,
            -88.0,
            -100.0,
            -1e30,
            f32::NEG_INFINITY,
            -1e4,
            -87.34,
            -200.0,
        ];
        let input: Vec<f32> = values.iter().cycle().take(32).copied().collect();
        for isa in Isa::available() {
            let output = exp_of(isa, &input);
            assert!(
                output.iter().all(|&y| y == 0.0),
                "{}: {output:?}",
                isa.name()
            );
            let at_zero = exp_of(isa, &[0.0; 16]);
            assert!(
                at_zero.iter().all(|&y| y == 1.0),
                "{}: exp(0) = {at_zero:?}",
                isa.name()
            );
        }
    }
}
