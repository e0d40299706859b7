//! Block-quantized weights read in place: the bundle's `llm.safetensors` is memory-mapped
//! and the matmul reads its quantized bytes straight from the map, decoding one block at a
//! time, so opening a model never dequantizes it into RAM.
//!
//! - [`BlockQ8`], [`BlockQ4`]: ggml's `block_q8_0` / `block_q4_0`, byte for byte.
//! - [`WeightQuant`]: a matrix's format as the bundle manifest names it.
//! - [`QuantizedMatrix`]: a validated view of `[out, in]` bytes (an mmap slice);
//!   [`QuantizedMatrixBuf`] owns them, [`SharedMatrix`] shares them (an `Arc<Mmap>`).
//! - [`matmul_transposed`] (decode per block, f32 dots) and [`matmul_transposed_int8`]
//!   (integer dots against 8-bit activations): y = x·Wᵀ, parallel over W's rows.
//! - [`QuantLinear`]: the projection on burn tensors (host copy per call).
//! - [`SharedPacked`], [`PackedLinear`]: weights in the int8 GEMM's packed panels
//!   (`reclora_kernels::qgemm`), what a bundle stores since format 2; [`MatrixFormat`] names
//!   each matrix's storage in the manifest.
//!
//! Why not burn's own quantization (0.22.1): its `QuantScheme` has 32-wide blocks with f16
//! scales, but burn-flex unpacks a quantized tensor to one i8 per value plus f32 scales at
//! load and its `q_matmul` dequantizes the whole weight to f32 before every matmul; only
//! the cubecl backends (wgpu) fuse the scales into the matmul. Its byte layout (values
//! packed in u32, all scales after all values, two's-complement nibbles in order) also
//! differs from ggml's interleaved blocks.

mod block;
mod dot;
mod error;
mod linear;
mod matmul;
mod matmul_int8;
mod matrix;
mod matrix_buf;
mod packed;
mod plain;
mod scheme;
mod shared;
mod tiles;

#[cfg(test)]
mod tests;

pub use block::{BlockQ4, BlockQ8, QK};
pub use error::QuantError;
pub use linear::{QuantKernel, QuantLinear, QuantLinearConfig, QuantWeight};
pub use matmul::matmul_transposed;
pub use matmul_int8::matmul_transposed_int8;
pub use matrix::{QuantizedMatrix, WeightRows, expected_bytes};
pub use matrix_buf::QuantizedMatrixBuf;
pub use packed::{MatrixFormat, PackedLinear, SharedPacked, SharedWeight};
pub use scheme::WeightQuant;
pub use shared::{SharedBytes, SharedMatrix};
