//! Integer matrix products `y = x·Wᵀ` on block-quantized weights, read in place.
//!
//! A weight `W: [n, k]` (PyTorch's and GGUF's `[out, in]`) is stored as ggml Q8_0 or Q4_1
//! blocks of 32 along k, repacked into 32-row interleaved panels ([`PackedWeights`]); the
//! packed bytes can be written to a file and multiplied by straight from a memory map through
//! a validated [`PackedView`]. An activation
//! `x: [m, k]` is quantized once per row to Q8 blocks ([`QuantizedActivations`]) and shared
//! by every weight it meets; [`qmatmul`] then computes
//!
//! ```text
//! y[i, j] (+)= Σ_b dx[i,b] · dw[j,b] · Σ_t qx[i,32b+t] · qw[j,32b+t]   (+ mw[j,b] · dx[i,b] · Σ_t qx[i,32b+t] for Q4_1)
//! ```
//!
//! with the inner sums in exact integer arithmetic and the scaling in f32.
//!
//! # Formats
//!
//! - Plain blocks: [`BlockQ8_0`] (34 bytes: f16 `d`, 32 × i8; `w = d·q`)
//!   and [`BlockQ4_1`] (20 bytes: f16 `d`, f16 `m`, 16 bytes of nibbles, element `j` low and
//!   `j + 16` high; `w = d·q + m`), byte for byte ggml's.
//! - Packed panels ([`PackedWeights`], [`PackedView`]): a 64-byte header (magic `RQPK`, format
//!   id [`Q8_0_X32_FORMAT_ID`] or [`Q4_1_X32_FORMAT_ID`], rows, cols), then 32-row panels of
//!   panel-blocks, each one 32-column block of the panel's 32 rows: the rows' f16 scales
//!   (Q8_0: 64 bytes) or scales and minimums (Q4_1: 128 bytes), then the quants interleaved
//!   4 bytes at a time: byte `t` of group `g` of row `r` at `4·(32g + r) + t` past them, holding
//!   `qs[4g + t]` of the row's plain block (8 groups for Q8_0, 4 nibble groups for Q4_1).
//!   A panel-block is 1088 (Q8_0) or 640 (Q4_1) bytes, a multiple of 64: the same bytes per
//!   weight as the plain blocks.
//!
//! # Instruction sets
//!
//! [`QKernel::best`] picks, once, the fastest of: AVX-512 VNNI (`vpdpbusd` on zmm, 6 × 32
//! tiles), AVX-VNNI (ymm `vpdpbusd`), AVX2 (`vpmaddubsw`/`vpmaddwd`), NEON i8mm (`smmla`,
//! 4 × 8 tiles of 2 × 2 blocks), NEON dotprod (`sdot` by lane), plain NEON (`smull` +
//! `sadalp`) and a portable path.
//!
//! # Threads
//!
//! Threads split the output columns (panels of weight rows), then rows if there are too few
//! panels, into a fixed grid of blocks that the threads of the current rayon pool take from an
//! atomic counter; products under about a million multiply-adds stay on the calling thread.
//!
//! # Exactness and determinism
//!
//! Every output is `fma(dot_b, dx·dw, acc)` (and, for Q4_1, `fma(mw, dx·Σqx, acc)`) over the
//! blocks in increasing order, with `dot_b` the exact integer block dot (see the portable
//! kernel). Every path computes the same integers and applies the same fused f32 operations in
//! the same order, so **the f32 results are bitwise the same on every path and for any thread
//! count**, and equal the portable path's.

/// Calls `kernel::<ROWS>(args)` for a run-time `rows`, one arm per listed row count.
macro_rules! dispatch_rows {
    ($rows:expr, Self::$kernel:ident $args:tt, [$($count:literal)*]) => {
        match $rows {
            $($count => Self::$kernel::<$count> $args,)*
            rows => unreachable!("tile rows {rows} outside the kernel's tile"),
        }
    };
    ($rows:expr, $kernel:ident $args:tt, [$($count:literal)*]) => {
        match $rows {
            $($count => $kernel::<$count> $args,)*
            rows => unreachable!("tile rows {rows} outside the kernel's tile"),
        }
    };
}

mod blocks;
mod driver;
#[cfg(target_arch = "aarch64")]
mod neon;
mod pack;
mod portable;
mod quantize;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::OnceLock;

pub use blocks::{
    BLOCK, BlockQ4_1, BlockQ8_0, Q4_1_BLOCK_BYTES, Q8_0_BLOCK_BYTES, dequantize_q4_1_blocks,
    dequantize_q8_0_blocks, f16_to_f32, f32_to_f16, quantize_q4_1_blocks,
    quantize_q4_1_blocks_minmax, quantize_q8_0_blocks,
};
pub use pack::{
    PACKED_HEADER_BYTES, PACKED_MAGIC, PANEL_ROWS, PackedView, PackedWeights,
    Q4_1_PANEL_BLOCK_BYTES, Q4_1_X32_FORMAT_ID, Q8_0_PANEL_BLOCK_BYTES, Q8_0_X32_FORMAT_ID,
    QFormat, QuantError, pack_q4, pack_q8, packed_len, quantize_q4, quantize_q8,
};
pub use quantize::QuantizedActivations;

pub use crate::gemm::Accumulate;

/// An integer kernel: the instruction set and register tile a product runs with.
///
/// [`QKernel::best`] is what [`qmatmul`] uses; [`qmatmul_with`] forces another (tests,
/// benchmarks). All give bitwise the same results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QKernel {
    /// Plain Rust (no run-time features): the reference.
    Portable,
    /// x86_64 AVX2 + FMA + F16C: `vpmaddubsw` + `vpmaddwd`, 4 × 8 tiles.
    Avx2,
    /// x86_64 AVX-VNNI (VEX `vpdpbusd` on ymm) + AVX2 + FMA + F16C, 4 × 8 tiles.
    AvxVnni,
    /// x86_64 AVX-512F + BW + VNNI: `vpdpbusd` on zmm, 6 × 32 tiles.
    Avx512Vnni,
    /// aarch64 NEON: `smull` + `sadalp`, 4 × 4 tiles.
    Neon,
    /// aarch64 NEON with the dot-product extension: `sdot` by lane, 4 × 8 tiles.
    NeonDot,
    /// aarch64 NEON with the int8 matrix multiply extension: `smmla`, 4 × 8 tiles.
    NeonI8mm,
}

impl QKernel {
    /// Every variant, fastest first within each architecture.
    pub const ALL: [QKernel; 7] = [
        QKernel::Avx512Vnni,
        QKernel::AvxVnni,
        QKernel::Avx2,
        QKernel::NeonI8mm,
        QKernel::NeonDot,
        QKernel::Neon,
        QKernel::Portable,
    ];

    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        let avx2 = || {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c")
        };
        match self {
            QKernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            QKernel::Avx2 => avx2(),
            #[cfg(target_arch = "x86_64")]
            QKernel::AvxVnni => avx2() && std::arch::is_x86_feature_detected!("avxvnni"),
            #[cfg(target_arch = "x86_64")]
            QKernel::Avx512Vnni => {
                avx2()
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "aarch64")]
            QKernel::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[cfg(target_arch = "aarch64")]
            QKernel::NeonDot => {
                std::arch::is_aarch64_feature_detected!("neon")
                    && std::arch::is_aarch64_feature_detected!("dotprod")
            }
            #[cfg(target_arch = "aarch64")]
            QKernel::NeonI8mm => {
                std::arch::is_aarch64_feature_detected!("neon")
                    && std::arch::is_aarch64_feature_detected!("i8mm")
            }
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The kernels this CPU can run, fastest first (always ends with [`QKernel::Portable`]).
    pub fn available() -> impl Iterator<Item = QKernel> {
        QKernel::ALL
            .into_iter()
            .filter(|kernel| kernel.is_available())
    }

    /// The fastest kernel this CPU can run, detected once.
    pub fn best() -> QKernel {
        static BEST: OnceLock<QKernel> = OnceLock::new();
        *BEST.get_or_init(|| QKernel::available().next().unwrap_or(QKernel::Portable))
    }

    /// A short name for logs and benchmarks.
    pub const fn name(self) -> &'static str {
        match self {
            QKernel::Portable => "portable",
            QKernel::Avx2 => "avx2",
            QKernel::AvxVnni => "avx-vnni",
            QKernel::Avx512Vnni => "avx512-vnni",
            QKernel::Neon => "neon",
            QKernel::NeonDot => "neon-dotprod",
            QKernel::NeonI8mm => "neon-i8mm",
        }
    }

    /// The kernel named `name` (as [`QKernel::name`] spells it).
    pub fn from_name(name: &str) -> Option<QKernel> {
        QKernel::ALL
            .into_iter()
            .find(|kernel| kernel.name() == name)
    }

    fn assert_available(self) {
        assert!(
            self.is_available(),
            "qgemm kernel {self:?} is not available on this CPU"
        );
    }
}

/// `y = x·Wᵀ` or `y += x·Wᵀ` in [`QKernel::best`].
///
/// # Shapes
///
/// - `acts`: `x`, `[m, k]`.
/// - `w`: `[n, k]` (`n = w.rows()`, `k = w.cols()`).
/// - `y`: `[m, n]` row-major, row stride `ldy ≥ n`; columns past `n` are untouched.
///
/// # Panics
///
/// If `acts.k() != w.cols()`, `ldy < n`, or `y` is shorter than `[m, n]` at stride `ldy`.
pub fn qmatmul(
    acts: &QuantizedActivations,
    w: PackedView<'_>,
    y: &mut [f32],
    ldy: usize,
    mode: Accumulate,
) {
    qmatmul_with(QKernel::best(), acts, w, y, ldy, mode);
}

/// [`qmatmul`] in a given kernel.
///
/// # Shapes
///
/// As [`qmatmul`].
///
/// # Panics
///
/// As [`qmatmul`], and if `kernel` is not available on this CPU.
pub fn qmatmul_with(
    kernel: QKernel,
    acts: &QuantizedActivations,
    w: PackedView<'_>,
    y: &mut [f32],
    ldy: usize,
    mode: Accumulate,
) {
    let output = Output {
        ptr: y.as_mut_ptr(),
        len: y.len(),
        _borrow: PhantomData,
    };
    run(kernel, acts, w, output, ldy, mode);
}

/// [`qmatmul`] with [`Accumulate::Overwrite`] into memory that need not be initialized:
/// every element of the `[m, n]` output is written, and none is read.
///
/// # Shapes
///
/// As [`qmatmul`].
///
/// # Panics
///
/// As [`qmatmul`].
pub fn qmatmul_uninit(
    acts: &QuantizedActivations,
    w: PackedView<'_>,
    y: &mut [MaybeUninit<f32>],
    ldy: usize,
) {
    let output = Output {
        ptr: y.as_mut_ptr().cast::<f32>(),
        len: y.len(),
        _borrow: PhantomData,
    };
    run(QKernel::best(), acts, w, output, ldy, Accumulate::Overwrite);
}

/// The output of a product: a raw view, so uninitialized memory is never behind a
/// `&mut [f32]`.
struct Output<'a> {
    ptr: *mut f32,
    len: usize,
    _borrow: PhantomData<&'a mut [f32]>,
}

fn run(
    kernel: QKernel,
    acts: &QuantizedActivations,
    w: PackedView<'_>,
    y: Output<'_>,
    ldy: usize,
    mode: Accumulate,
) {
    kernel.assert_available();
    let (m, n) = (acts.m(), w.rows());
    assert_eq!(
        acts.k(),
        w.cols(),
        "activations are [{m}, {}], the weight is [{n}, {}]",
        acts.k(),
        w.cols()
    );
    assert!(ldy >= n, "output stride {ldy} < n {n}");
    if m > 0 && n > 0 {
        let needed = (m - 1) * ldy + n;
        assert!(
            y.len >= needed,
            "output slice has {} elements, needs {needed}",
            y.len
        );
    } else {
        return;
    }
    let problem = driver::Problem::new(acts, w, y.ptr, y.len, ldy, mode);
    match kernel {
        // SAFETY: the portable kernel needs no CPU feature.
        QKernel::Portable => unsafe { driver::run::<portable::Portable>(&problem) },
        // SAFETY: `assert_available` checked the kernel's features (for all arms below).
        #[cfg(target_arch = "x86_64")]
        QKernel::Avx2 => unsafe { driver::run::<x86::Avx2>(&problem) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        QKernel::AvxVnni => unsafe { driver::run::<x86::AvxVnni>(&problem) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        QKernel::Avx512Vnni => unsafe { driver::run::<x86::Avx512Vnni>(&problem) },
        // SAFETY: as above.
        #[cfg(target_arch = "aarch64")]
        QKernel::Neon => unsafe { driver::run::<neon::Neon>(&problem) },
        // SAFETY: as above.
        #[cfg(target_arch = "aarch64")]
        QKernel::NeonDot => unsafe { driver::run::<neon::NeonDot>(&problem) },
        // SAFETY: as above.
        #[cfg(target_arch = "aarch64")]
        QKernel::NeonI8mm => unsafe { driver::run::<neon::NeonI8mm>(&problem) },
        #[allow(unreachable_patterns)]
        _ => unreachable!("qgemm kernel {kernel:?} is available but not built"),
    }
}
