//! A projection whose weight stays quantized: the drop-in for burn's `Linear` on the CPU
//! backend. burn-flex would dequantize a quantized weight whole at every matmul (see
//! `mod.rs`), so the product runs here instead.
//!
//! Cost: every call copies x to the host and y back into a tensor. On flex both copies are
//! memcpys of activations (280 × 1536 × 4 B = 1.7 MB at most for SmolLM2), small next to
//! the weight read; on wgpu they are device round trips and this type is the wrong tool.

use burn::tensor::{Tensor, TensorData};

use super::error::QuantError;
use super::matmul::matmul_transposed;
use super::matmul_int8::matmul_transposed_int8;
use super::matrix::QuantizedMatrix;
use super::matrix_buf::QuantizedMatrixBuf;
use super::scheme::WeightQuant;
use super::shared::SharedMatrix;

/// Which kernel computes the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuantKernel {
    /// As exact as the weights: row-major blocks are decoded to f32 for f32 dots; on packed
    /// blocks (q8, q4 bundles) the int8 GEMM runs on the input's Q8 blocks and again on their
    /// residual's, so the activations keep about 15 bits (twice the integer work).
    #[default]
    Dequant,
    /// Quantize x to 8 bits per block and use integer dots once (Q8/Q4 weights only), as
    /// llama.cpp does: about twice as fast on packed blocks, and |ΔP| grows to a few 1e-2.
    Int8,
}

impl QuantKernel {
    /// y = x·Wᵀ with this kernel.
    ///
    /// # Shapes
    /// - `x`: `[n, w.cols()]`; returns `[n, w.rows()]`
    pub fn matmul_transposed(
        self,
        x: &[f32],
        w: &QuantizedMatrix<'_>,
    ) -> Result<Vec<f32>, QuantError> {
        match self {
            QuantKernel::Dequant => matmul_transposed(x, w),
            QuantKernel::Int8 => matmul_transposed_int8(x, w),
        }
    }
}

/// Where a projection's weight lives.
#[derive(Debug, Clone)]
pub enum QuantWeight {
    /// Quantized in memory (tests, or a model quantized at load).
    Owned(QuantizedMatrixBuf),
    /// Inside shared bytes, typically the bundle's mmap.
    Shared(SharedMatrix),
}

impl QuantWeight {
    /// The view kernels take.
    pub fn view(&self) -> QuantizedMatrix<'_> {
        match self {
            QuantWeight::Owned(buf) => buf.view(),
            QuantWeight::Shared(shared) => shared.view(),
        }
    }
}

/// How to build a [`QuantLinear`] from f32 weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantLinearConfig {
    /// Weight storage.
    pub quant: WeightQuant,
    /// Product kernel.
    pub kernel: QuantKernel,
}

impl QuantLinearConfig {
    /// Quantizes a PyTorch-layout weight `[out_features, in_features]` (row-major).
    pub fn init(
        &self,
        weight_out_in: &[f32],
        out_features: usize,
        in_features: usize,
        bias: Option<Vec<f32>>,
    ) -> Result<QuantLinear, QuantError> {
        let weight =
            QuantizedMatrixBuf::quantize(self.quant, out_features, in_features, weight_out_in)?;
        QuantLinear::new(QuantWeight::Owned(weight), bias, self.kernel)
    }
}

/// y = x·Wᵀ + b with W `[out_features, in_features]` kept quantized.
#[derive(Debug, Clone)]
pub struct QuantLinear {
    weight: QuantWeight,
    bias: Option<Vec<f32>>,
    kernel: QuantKernel,
}

impl QuantLinear {
    /// A projection over `weight`; `bias` must have `out_features` values.
    pub fn new(
        weight: QuantWeight,
        bias: Option<Vec<f32>>,
        kernel: QuantKernel,
    ) -> Result<Self, QuantError> {
        let out_features = weight.view().rows();
        if let Some(b) = &bias
            && b.len() != out_features
        {
            return Err(QuantError::BiasLength {
                expected: out_features,
                found: b.len(),
            });
        }
        Ok(Self {
            weight,
            bias,
            kernel,
        })
    }

    /// The weight.
    pub fn weight(&self) -> &QuantWeight {
        &self.weight
    }

    /// Applies the projection to the last axis, returning a tensor on `x`'s device.
    ///
    /// # Shapes
    /// - `x`: `[..., in_features]`
    /// - returns `[..., out_features]`
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Result<Tensor<D>, QuantError> {
        let device = x.device();
        let mut dims = x.dims();
        let w = self.weight.view();
        let values = x.try_into_vec_as::<f32>()?;
        let mut y = self.kernel.matmul_transposed(&values, &w)?;
        if let Some(bias) = &self.bias {
            for row in y.chunks_exact_mut(bias.len().max(1)) {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v += b;
                }
            }
        }
        if let Some(last) = dims.last_mut() {
            *last = w.rows();
        }
        Ok(Tensor::from_data(TensorData::new(y, dims), &device))
    }
}
