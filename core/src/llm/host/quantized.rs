//! Projections over packed weights on the int8 GEMM (`reclora_kernels::qgemm`): the input
//! is quantized to Q8 blocks once and shared by every projection that reads it (q, k and v;
//! gate and up), the weights are read in place from the bundle's map, and the kernel's
//! threads split the output columns.
//!
//! The weights live on the host, so on any device but plain flex the activations are
//! copied to the host and the outputs back (what [`QuantLinear`](crate::quant::QuantLinear)
//! does); a bundle builds packed projections only for the CPU.

use std::cell::OnceCell;

use burn::tensor::{Device, Tensor, TensorData};
use reclora_kernels::gemm::Accumulate;
use reclora_kernels::qgemm::{PackedView, QuantizedActivations, qmatmul, qmatmul_uninit};

use super::packed::add_bias;
use super::{
    Route, contiguous, flex_from_vec, from_flex, host_copy, into_flex, values, written_by,
};
use crate::quant::PackedLinear;

/// One projection input and, once a packed projection has asked for them, its Q8 blocks
/// and their residual's: the projections of one normalized input share one quantization.
#[derive(Debug)]
pub struct ProjectionInput<const D: usize> {
    x: Tensor<D>,
    quantized: OnceCell<QuantizedActivations>,
    residual: OnceCell<QuantizedActivations>,
}

impl<const D: usize> ProjectionInput<D> {
    /// `x`, not yet quantized.
    pub fn new(x: Tensor<D>) -> Self {
        Self {
            x,
            quantized: OnceCell::new(),
            residual: OnceCell::new(),
        }
    }

    /// The f32 input.
    pub fn tensor(&self) -> &Tensor<D> {
        &self.x
    }

    /// The input as Q8 blocks, quantized on first use.
    ///
    /// # Panics
    /// If the last axis is not a multiple of 32 (a packed weight's width always is), or the
    /// tensor cannot be read back to the host (it can on the CPU device packed models run on).
    fn quantized(&self) -> &QuantizedActivations {
        self.quantized
            .get_or_init(|| self.with_values(QuantizedActivations::quantize))
    }

    /// What the Q8 blocks miss, `x − dequantize(blocks)`, as Q8 blocks of its own: the two
    /// products sum to the product of an input with about 15 bits per block.
    ///
    /// # Panics
    /// As [`Self::quantized`].
    fn residual(&self) -> &QuantizedActivations {
        self.residual.get_or_init(|| {
            let coarse = self.quantized();
            self.with_values(|x, _, _| coarse.residual_of(x))
        })
    }

    /// `f(values, rows, width)` on the input's host values.
    fn with_values<R>(&self, f: impl FnOnce(&[f32], usize, usize) -> R) -> R {
        let k = self.x.dims()[D - 1];
        match Route::of(&self.x.device()) {
            Route::Host => {
                let input = contiguous(into_flex(self.x.clone()));
                let values = values(&input);
                f(values, values.len() / k.max(1), k)
            }
            _ => {
                let values = host_copy(self.x.clone());
                f(&values, values.len() / k.max(1), k)
            }
        }
    }
}

/// `x·Wᵀ + b` for a packed `linear` on the input's shared Q8 blocks.
///
/// # Shapes
/// - `input`: `[..., in_features]`; returns `[..., out_features]` on the input's device
///
/// # Panics
/// If the input's last axis is not `in_features`.
pub(crate) fn packed_projection<const D: usize>(
    linear: &PackedLinear,
    input: &ProjectionInput<D>,
) -> Tensor<D> {
    let mut dims = input.x.dims();
    assert_eq!(
        dims[D - 1],
        linear.in_features(),
        "packed projection: input width"
    );
    let weight = linear.weight().view();
    let mut out = packed_product(input.quantized(), weight);
    if linear.with_residual() {
        let n = weight.rows();
        qmatmul(input.residual(), weight, &mut out, n, Accumulate::Add);
    }
    if let Some(bias) = linear.bias() {
        add_bias(&mut out, bias);
    }
    dims[D - 1] = linear.out_features();
    on_device(&input.x.device(), out, &dims)
}

/// `acts · Wᵀ` into a fresh vector (every element written by the kernel).
///
/// # Shapes
/// - `acts`: `[m, k]`, `w`: `[n, k]`; returns `[m, n]`
fn packed_product(acts: &QuantizedActivations, w: PackedView<'_>) -> Vec<f32> {
    let n = w.rows();
    written_by(acts.m() * n, |out| qmatmul_uninit(acts, w, out, n))
}

/// A tensor of `values` on `device` (a flex tensor around them without a copy on plain flex).
pub(crate) fn on_device<const D: usize>(
    device: &Device,
    values: Vec<f32>,
    dims: &[usize; D],
) -> Tensor<D> {
    match Route::of(device) {
        Route::Host => from_flex(flex_from_vec(values, dims)),
        _ => Tensor::from_data(TensorData::new(values, dims.to_vec()), device),
    }
}
