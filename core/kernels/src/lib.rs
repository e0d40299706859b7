//! reclora's CPU compute kernels on plain `f32` slices.
//!
//! No burn dependency: the kernels build, test and cross-compile (aarch64 under qemu) in
//! seconds, and `reclora-core` wires them into its burn model as custom operations on the
//! CPU backend. Every kernel picks its instruction set at run time (AVX-512, AVX2 + FMA,
//! NEON, or a portable path) and gives bitwise the same result whatever the thread count.
//!
//! - [`gemm`]: f32 matrix products, with the constant operand (a weight) packed once.
//! - [`qgemm`]: int8 products on block-quantized (Q8_0, Q4_1) weights packed in place.
//! - [`attention`]: causal grouped-query attention with padding, forward and backward.
//! - [`norm`]: RMSNorm, forward and backward.
//! - [`rope`]: rotary position embedding (rotate-half), and its inverse.
//! - [`swiglu`]: silu(gate) ⊙ up, forward and backward.

pub mod attention;
pub mod gemm;
pub mod norm;
pub mod qgemm;
pub mod rope;
pub mod swiglu;
