//! Byte layouts of ggml's quantization blocks (ggml-common.h), shared by the type table,
//! the dequantizers and the quantizers so the sizes are written down exactly once.
//!
//! Every size is asserted at compile time against the number ggml's `static_assert`s use.

/// Elements per block of the "legacy" quant types (Q4_0 … Q8_1).
pub const QK_LEGACY: usize = 32;
/// Elements per super-block of the k-quant types (Q2_K … Q8_K).
pub const QK_K: usize = 256;
/// Bytes of the packed 6-bit scales/mins in Q4_K and Q5_K.
pub const K_SCALE_BYTES: usize = 12;

/// f16 `d`, then 16 bytes of nibbles.
pub const Q4_0_BLOCK_BYTES: usize = 2 + QK_LEGACY / 2;
/// f16 `d`, f16 `m`, then 16 bytes of nibbles.
pub const Q4_1_BLOCK_BYTES: usize = 2 + 2 + QK_LEGACY / 2;
/// f16 `d`, u32 high bits `qh`, then 16 bytes of low nibbles.
pub const Q5_0_BLOCK_BYTES: usize = 2 + 4 + QK_LEGACY / 2;
/// f16 `d`, f16 `m`, u32 `qh`, then 16 bytes of low nibbles.
pub const Q5_1_BLOCK_BYTES: usize = 2 + 2 + 4 + QK_LEGACY / 2;
/// f16 `d`, then 32 signed bytes.
pub const Q8_0_BLOCK_BYTES: usize = 2 + QK_LEGACY;
/// f16 `d`, f16 `s` (= d * sum(qs)), then 32 signed bytes.
pub const Q8_1_BLOCK_BYTES: usize = 2 + 2 + QK_LEGACY;
/// 16 scale/min bytes, 64 bytes of 2-bit quants, f16 `d`, f16 `dmin`.
pub const Q2_K_BLOCK_BYTES: usize = QK_K / 16 + QK_K / 4 + 2 + 2;
/// 32 bytes high-bit mask, 64 bytes of 2-bit quants, 12 bytes of 6-bit scales, f16 `d`.
pub const Q3_K_BLOCK_BYTES: usize = QK_K / 8 + QK_K / 4 + 12 + 2;
/// f16 `d`, f16 `dmin`, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles.
pub const Q4_K_BLOCK_BYTES: usize = 2 + 2 + K_SCALE_BYTES + QK_K / 2;
/// f16 `d`, f16 `dmin`, 12 bytes of scales/mins, 32 bytes of high bits, 128 bytes of nibbles.
pub const Q5_K_BLOCK_BYTES: usize = 2 + 2 + K_SCALE_BYTES + QK_K / 8 + QK_K / 2;
/// 128 bytes of low nibbles, 64 bytes of high 2-bit pairs, 16 i8 scales, f16 `d`.
pub const Q6_K_BLOCK_BYTES: usize = QK_K / 2 + QK_K / 4 + QK_K / 16 + 2;
/// f32 `d`, 256 signed bytes, 16 i16 partial sums.
pub const Q8_K_BLOCK_BYTES: usize = 4 + QK_K + 2 * (QK_K / 16);

const _: () = assert!(Q4_0_BLOCK_BYTES == 18);
const _: () = assert!(Q4_1_BLOCK_BYTES == 20);
const _: () = assert!(Q5_0_BLOCK_BYTES == 22);
const _: () = assert!(Q5_1_BLOCK_BYTES == 24);
const _: () = assert!(Q8_0_BLOCK_BYTES == 34);
const _: () = assert!(Q8_1_BLOCK_BYTES == 36);
const _: () = assert!(Q2_K_BLOCK_BYTES == 84);
const _: () = assert!(Q3_K_BLOCK_BYTES == 110);
const _: () = assert!(Q4_K_BLOCK_BYTES == 144);
const _: () = assert!(Q5_K_BLOCK_BYTES == 176);
const _: () = assert!(Q6_K_BLOCK_BYTES == 210);
const _: () = assert!(Q8_K_BLOCK_BYTES == 292);
